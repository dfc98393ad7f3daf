"""Several methods x several seeds on one environment, then curves and a table (PNG, Markdown, JSON).

Each (method, seed) is an ordinary run folder under ``<out>/<task>/seed<k>/``; a run whose
summary.json exists is not redone, so a killed comparison resumes where it stopped. NEAR and CEM
use an energy model trained with the same seed (``<out>/energy/seed<k>``), as in the original's
experiment generator (one energy-model job per NEAR run).
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from near.utils.logging import smoothed_metrics, write_json

SEEDS = (42, 700, 8125, 97, 3538)  # the original's five seeds
TASKS = {  # (env family, algorithm) -> (task, train config or None for the default)
    ("maze", "NEAR"): ("mazeNEAR", None),
    ("maze", "AMP"): ("mazeAMP", None),
    ("maze", "CEM"): ("mazeCEM", "mazeCEM"),
    ("maze", "PPO"): ("maze", None),
}
FINAL_KEYS = ("success_rate", "episode_length", "task_return", "wall_seconds", "env_steps")


def run_comparison(env: str, algos: list[str], seeds: int, out: str, overrides: list[str],
                   progress: bool = True) -> dict:
    from near import pipeline
    from near.config import ConfigError, compose_config

    if seeds < 1 or seeds > len(SEEDS):
        raise ConfigError(f"seeds must be between 1 and {len(SEEDS)}, got {seeds}")
    for algo in algos:
        if (env, algo) not in TASKS:
            known = sorted({a for e, a in TASKS if e == env})
            raise ConfigError(f"no {algo!r} task for env {env!r}; available: {known}")
    os.makedirs(out, exist_ok=True)
    runs: dict[str, list[dict]] = {algo: [] for algo in algos}
    for seed in SEEDS[:seeds]:
        energy_dir = os.path.join(out, "energy", f"seed{seed}")
        if any(a in ("NEAR", "CEM") for a in algos) and not os.path.exists(os.path.join(energy_dir, "summary.json")):
            base = compose_config(_task_overrides(env, "NEAR") + overrides +
                                  [f"seed={seed}", f"out={energy_dir}", f"progress={progress}"])
            _clean_unfinished(energy_dir)
            pipeline.train_energy(base)
        for algo in algos:
            task, _ = TASKS[(env, algo)]
            run_dir = os.path.join(out, task, f"seed{seed}")
            summary_path = os.path.join(run_dir, "summary.json")
            if not os.path.exists(summary_path):
                _clean_unfinished(run_dir)
                cfg = compose_config(_task_overrides(env, algo) + overrides +
                                     [f"seed={seed}", f"out={run_dir}", f"progress={progress}",
                                      f"energy.checkpoint={energy_dir}"])
                pipeline.train_policy(cfg)
            with open(summary_path) as fh:
                runs[algo].append(json.load(fh))
    return aggregate(out, env, runs)


def _task_overrides(env: str, algo: str) -> list[str]:
    task, train = TASKS[(env, algo)]
    return [f"task={task}"] + ([f"train={train}"] if train else [])


def _clean_unfinished(run_dir: str) -> None:
    """A run without summary.json was interrupted; start it again from scratch (it is ours to redo)."""
    import shutil

    if os.path.isdir(run_dir) and not os.path.exists(os.path.join(run_dir, "summary.json")):
        shutil.rmtree(run_dir)


def _curve(run_dir: str, key: str, x_key: str):
    m = smoothed_metrics(run_dir)
    if key not in m or x_key not in m:
        return None
    x, y = np.asarray(m[x_key], float), np.asarray(m[key], float)
    ok = np.isfinite(x) & np.isfinite(y)
    return (x[ok], y[ok]) if ok.sum() else None


def mean_std_curve(curves: list[tuple[np.ndarray, np.ndarray]], points: int = 100):
    """Interpolate each seed's curve onto a common grid over the range all seeds cover."""
    lo = max(c[0][0] for c in curves)
    hi = min(c[0][-1] for c in curves)
    if hi <= lo:
        hi = lo + 1e-9
    grid = np.linspace(lo, hi, points)
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    return grid, ys.mean(0), ys.std(0)


def aggregate(out: str, env: str, runs: dict[str, list[dict]]) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = {}
    for algo, summaries in runs.items():
        row = {}
        for key in FINAL_KEYS:
            values = np.asarray([s.get(key, np.nan) for s in summaries], float)
            row[key] = {"mean": float(np.nanmean(values)) if np.isfinite(values).any() else None,
                        "std": float(np.nanstd(values)) if np.isfinite(values).any() else None,
                        "values": values.tolist()}
        row["seeds"] = [s.get("seed") for s in summaries]
        table[algo] = row

    metrics = ["success_rate", "episode_return", "episode_length"]
    fig, axes = plt.subplots(2, len(metrics), figsize=(5 * len(metrics), 7.5), squeeze=False)
    for col, key in enumerate(metrics):
        for row, x_key in enumerate(("env_steps", "wall_seconds")):
            ax = axes[row, col]
            for algo, summaries in runs.items():
                curves = [c for c in (_curve(s["run_dir"], key, x_key) for s in summaries) if c is not None]
                curves = [c for c in curves if len(c[0]) > 1]
                if curves:
                    grid, mean, std = mean_std_curve(curves)
                    line, = ax.plot(grid, mean, label=f"{algo} ({len(curves)} seeds)")
                    ax.fill_between(grid, mean - std, mean + std, alpha=0.2, color=line.get_color())
                else:  # a planner (CEM) has no learning curve: its final value as a horizontal line
                    final = table[algo].get({"episode_return": "task_return"}.get(key, key), {}).get("mean")
                    if final is not None:
                        ax.axhline(final, ls="--", lw=1.2, label=f"{algo} (planner, final)", color="gray")
            ax.set_xlabel("env steps" if x_key == "env_steps" else "wall time (s)")
            ax.set_ylabel(key.replace("_", " "))
            ax.grid(alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=8)
    fig.suptitle(f"{env}: mean ± std over seeds")
    fig.tight_layout()
    png = os.path.join(out, "comparison.png")
    fig.savefig(png, dpi=110)
    plt.close(fig)

    lines = ["| method | seeds | success rate | episode length | task return | env steps | wall s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    def fmt(row, key, digits=2):
        r = row[key]
        return "n/a" if r["mean"] is None else f"{r['mean']:.{digits}f} ± {r['std']:.{digits}f}"

    for algo, row in table.items():
        lines.append(f"| {algo} | {len(row['seeds'])} | {fmt(row, 'success_rate')} | {fmt(row, 'episode_length', 0)} | "
                     f"{fmt(row, 'task_return', 0)} | {row['env_steps']['mean']:.0f} | {fmt(row, 'wall_seconds', 0)} |")
    markdown = "\n".join(lines) + "\n"
    with open(os.path.join(out, "comparison.md"), "w") as fh:
        fh.write(f"# {env}: {', '.join(runs)} ({time.strftime('%Y-%m-%d')})\n\n{markdown}\n![curves](comparison.png)\n")
    result = {"env": env, "date": time.strftime("%Y-%m-%d"), "table": table, "png": png,
              "markdown": os.path.join(out, "comparison.md")}
    write_json(os.path.join(out, "comparison.json"), result)
    result["table_markdown"] = markdown
    return result


__all__ = ["run_comparison", "aggregate", "mean_std_curve", "SEEDS"]
