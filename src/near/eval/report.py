"""Reports: the metrics table of one evaluation (near eval) and the report of a sweep of runs
(near experiment): mean ± std over seeds, learning curves (PNG), Markdown and JSON.

Reads run folders' summary.json and metrics; runs nothing.
"""

from __future__ import annotations

import os
import time

import numpy as np

from near.envs.humanoid.model import KEY_BODIES
from near.eval.gait import imitation_flags
from near.motion.humanoid import BODY_PARTS
from near.utils.logging import smoothed_metrics, write_json

# ----------------------------------------------------------------------------------------------
# one evaluation (near eval)

ROWS = (("success_rate", "success rate", "{:.2f}"), ("final_coverage", "final goal coverage", "{:.3f}"),
        ("pose_error", "pose error (DTW / joint)", "{:.4f}"), ("task_return", "task return", "{:.1f}"),
        ("episode_length", "episode length", "{:.1f}"), ("fall_rate", "fall rate", "{:.2f}"),
        ("path_sparc", "path SPARC (higher = smoother)", "{:.3f}"), ("path_speed", "path speed (px/s)", "{:.2f}"),
        ("sparc", "root SPARC (higher = smoother)", "{:.3f}"), ("root_velocity", "root velocity", "{:.3f}"),
        ("root_acceleration", "root acceleration", "{:.3f}"), ("root_jerk", "root jerk", "{:.2f}"),
        ("root_height_ratio", "root height / clips' (1 = upright as the clips)", "{:.3f}"),
        ("root_speed_ratio", "root speed / clips' (0 = stands still)", "{:.3f}"),
        ("joint_angle_distance", "joint-angle distance to the clips (rad)", "{:.3f}"),
        *((f"joint_angle_distance_{part}", f"  of the {part.replace('_', ' ')}", "{:.3f}")
          for part in BODY_PARTS),
        ("pose_reach", "pose reach: the clips' poses to the policy's nearest (rad)", "{:.3f}"),
        *((f"pose_reach_{part}", f"  of the {part.replace('_', ' ')}", "{:.3f}") for part in BODY_PARTS),
        ("statue_pose_reach", "  a statue in the clips' mean pose, for scale", "{:.3f}"),
        ("window_sparc", "root SPARC over clip-length windows", "{:.3f}"),
        ("window_sparc_clips", "the clips' SPARC over the same windows", "{:.3f}"),
        ("step_frequency", "steps per second", "{:.2f}"),
        ("cadence_ratio", "cadence / clips' (above 1 = quicker steps)", "{:.2f}"),
        ("stride_length", "stride length (m)", "{:.2f}"),
        ("stride_length_ratio", "stride length / clips' (below 1 = shorter steps)", "{:.2f}"),
        ("landing_rate", "foot landings per second", "{:.2f}"),
        ("landing_rate_clips", "the clips' foot landings per second", "{:.2f}"),
        ("foot_slide", "speed of the feet while down (m/s)", "{:.3f}"),
        ("foot_slide_clips", "the clips' feet while down (m/s)", "{:.3f}"),
        ("key_height_distance", "hands' and feet's height distance to the clips (m)", "{:.3f}"),
        *((f"key_height_distance_{body}", f"  of the {body.replace('_', ' ')}", "{:.3f}")
          for body in KEY_BODIES))


def metrics_table(summary: dict, title: str) -> str:
    """The metrics a summary has, with ± std where it has one, as a terminal table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, name, fmt in ROWS:
        if summary.get(key) is None:
            continue
        value = fmt.format(summary[key])
        if summary.get(f"{key}_std") is not None:
            value += " ± " + fmt.format(summary[f"{key}_std"])
        table.add_row(name, value)
    table.add_row("episodes", str(summary.get("episodes")))
    console = Console(width=100)
    with console.capture() as capture:
        console.print(table)
    flags = imitation_flags(summary)
    if flags:  # what the numbers above pass but a look at the video would not (issue #16)
        return capture.get() + "unlike the clips: " + "; ".join(flags) + "\n"
    return capture.get()


# ----------------------------------------------------------------------------------------------
# a sweep (near experiment): runs[task][method label] = the runs' summaries

# final-table columns, in order, shown when some run reports them: (key, header, decimals)
COLUMNS = (("success_rate", "success rate", 2), ("final_coverage", "final coverage", 2),
           ("pose_error", "pose error (DTW)", 3), ("sparc", "SPARC", 2), ("path_sparc", "path SPARC", 2),
           ("root_velocity", "root velocity", 2), ("root_acceleration", "root acceleration", 2),
           ("root_jerk", "root jerk", 0), ("root_height_ratio", "height ratio", 3),
           ("root_speed_ratio", "speed ratio", 2), ("joint_angle_distance", "joint-angle dist.", 3),
           ("pose_reach", "pose reach", 3),
           ("window_sparc", "SPARC, clip-length windows", 2), ("cadence_ratio", "cadence ratio", 2),
           ("stride_length_ratio", "stride ratio", 2),
           ("fall_rate", "fall rate", 2), ("episode_length", "episode length", 0),
           ("task_return", "task return", 0),
           ("env_steps", "env steps", 0), ("wall_seconds", "wall s", 0))
CURVES = ("success_rate", "episode_return", "episode_length", "style_reward", "eval/fall_rate", "eval/pose_error")


def _stats(values) -> dict:
    values = np.asarray(values, float)
    ok = np.isfinite(values)
    return {"mean": float(values[ok].mean()) if ok.any() else None,
            "std": float(values[ok].std()) if ok.any() else None, "values": values.tolist()}


def summarize(summaries: list[dict]) -> dict:
    """mean, std and per-seed values of every final number of a method's runs."""
    row = {key: _stats([s.get(key, np.nan) if s.get(key) is not None else np.nan for s in summaries])
           for key, _, _ in COLUMNS}
    row["seeds"] = [s.get("seed") for s in summaries]
    return row


def _curve(run_dir: str, key: str, x_key: str):
    m = smoothed_metrics(run_dir)
    if key not in m or x_key not in m:
        return None
    x, y = np.asarray(m[x_key], float), np.asarray(m[key], float)
    ok = np.isfinite(x) & np.isfinite(y)
    return (x[ok], y[ok]) if ok.sum() > 1 else None


def mean_std_curve(curves: list[tuple[np.ndarray, np.ndarray]], points: int = 100):
    """Interpolate each seed's curve onto a common grid over the range all seeds cover."""
    lo = max(c[0][0] for c in curves)
    hi = min(c[0][-1] for c in curves)
    if hi <= lo:
        hi = lo + 1e-9
    grid = np.linspace(lo, hi, points)
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    return grid, ys.mean(0), ys.std(0)


def plot_curves(task: str, methods: dict[str, list[dict]], table: dict, path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in CURVES if any(_curve(s["run_dir"], k, "env_steps") for ss in methods.values() for s in ss)]
    keys = keys or list(CURVES[:1])
    fig, axes = plt.subplots(2, len(keys), figsize=(4.6 * len(keys), 7.5), squeeze=False)
    for col, key in enumerate(keys):
        for row, x_key in enumerate(("env_steps", "wall_seconds")):
            ax = axes[row, col]
            for label, summaries in methods.items():
                curves = [c for c in (_curve(s["run_dir"], key, x_key) for s in summaries) if c is not None]
                if curves:
                    grid, mean, std = mean_std_curve(curves)
                    line, = ax.plot(grid, mean, label=f"{label} ({len(curves)} seeds)")
                    ax.fill_between(grid, mean - std, mean + std, alpha=0.2, color=line.get_color())
                else:  # a planner (CEM) has no learning curve: its final value as a horizontal line
                    final = table[label].get({"episode_return": "task_return"}.get(key, key), {}).get("mean")
                    if final is not None:
                        ax.axhline(final, ls="--", lw=1.2, color="gray", label=f"{label} (final)")
            ax.set_xlabel("env steps" if x_key == "env_steps" else "wall time (s)")
            ax.set_ylabel(key.replace("_", " "))
            ax.grid(alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=8)
    fig.suptitle(f"{task}: mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def expert_reference(summaries: list[dict]) -> tuple[str, dict] | None:
    """The original's expert values for a humanoid sweep's motion (read from a run's config.yaml)."""
    from near.eval.metrics import expert_values_for

    for summary in summaries:
        path = os.path.join(summary.get("run_dir", ""), "config.yaml")
        if os.path.exists(path):
            from omegaconf import OmegaConf

            motion = OmegaConf.load(path).get("motion")
            return expert_values_for(motion) if motion else None
    return None


def table_markdown(table: dict, expert: tuple[str, dict] | None = None) -> str:
    cols = [(k, h, d) for k, h, d in COLUMNS if any(row[k]["mean"] is not None for row in table.values())]
    lines = ["| method | seeds | " + " | ".join(h for _, h, _ in cols) + " |",
             "|---|---:|" + "---:|" * len(cols)]
    for label, row in table.items():
        cells = []
        for key, _, digits in cols:
            r = row[key]
            if r["mean"] is None:
                cells.append("n/a")
            elif key == "env_steps":
                cells.append(f"{r['mean']:.0f}")
            else:
                cells.append(f"{r['mean']:.{digits}f} ± {r['std']:.{digits}f}")
        lines.append(f"| {label} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    if expert:
        name, values = expert
        cells = [f"{values[k]:.{d}f}" if k in values else "" for k, _, d in cols]
        lines.append(f"| expert ({name}) | | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> dict:
    import platform

    import jax

    return {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "jax": jax.__version__, "devices": [str(d.device_kind) for d in jax.devices()]}


def aggregate(out: str, runs: dict[str, dict[str, list[dict]]], failures: dict[str, str] | None = None) -> dict:
    """runs[task][method label] = the runs' summaries -> report.md, report.json, curves_<task>.png."""
    date = time.strftime("%Y-%m-%d")
    info = machine()
    result = {"date": date, "machine": info, "tasks": {}, "failures": dict(failures or {})}
    md = [f"# Experiment report ({date})", "",
          (f"Machine: {info['platform']}, {info['cpu_count']} CPUs, JAX {info['jax']} on {', '.join(info['devices'])}. "
           "Mean ± std over seeds; final numbers are the runs' evaluation episodes (summary.json)."), ""]
    for task, methods in runs.items():
        table = {label: summarize(summaries) for label, summaries in methods.items()}
        png = plot_curves(task, methods, table, os.path.join(out, f"curves_{task}.png"))
        expert = expert_reference([s for ss in methods.values() for s in ss]) if task == "humanoid" else None
        text = table_markdown(table, expert)
        result["tasks"][task] = {"table": table, "png": png, "table_markdown": text,
                                 "expert": dict(zip(("motion", "values"), expert)) if expert else None}
        md += [f"## {task}", "", text, f"![{task} learning curves]({os.path.basename(png)})", ""]
    if failures:
        md += ["## Failed runs", ""] + [f"- {name}: {err}" for name, err in failures.items()] + [""]
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write("\n".join(md))
    write_json(os.path.join(out, "report.json"), result)
    result["markdown"] = os.path.join(out, "report.md")
    return result


__all__ = ["COLUMNS", "aggregate", "mean_std_curve", "metrics_table", "plot_curves", "summarize", "table_markdown"]
