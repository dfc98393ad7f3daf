"""The periodic evaluations of trained runs side by side: one row per evaluation, one column per run.

Reads each run's ``metrics.jsonl`` (the ``eval/...`` scalars that ``train.eval_every`` logs) and
writes them, with the run's summary, to ``benchmarks/results/<name>.json``; prints a table of one
metric (default ``success_rate``) and of the final coverage where the runs have it:

    python benchmarks/report_run_evals.py "original=RUN" "success bonus=RUN" --name pusht_success_bonus \\
        [--after 20000000] [--metric success_rate] [--plot docs/NAME.png --plot-metrics a,b,...]

``--plot`` draws the named metrics (default: ``--metric``) against env steps, one panel each, one line per run.
``--training energy,style_reward,...`` adds to each evaluation the mean of those training scalars over the
iterations since the previous one, as ``train/KEY`` (with ``energy`` and ``sigma``: ``train/g``, the level-free
energy E * sigma, comparable within a noise level); ``--metric`` takes several, comma-separated.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result

from near.utils.logging import read_metrics


def evaluations(run_dir: str, after: int = 0, training: tuple[str, ...] = ()) -> list[dict]:
    """``[{"env_steps": n, metric: value, ...}]`` of every periodic evaluation past ``after`` steps, each with
    the mean of the ``training`` scalars logged since the previous evaluation (``train/KEY``)."""
    columns = read_metrics(run_dir)
    evals = {k[5:]: v for k, v in columns.items() if k.startswith("eval/")}
    missing = [k for k in training if k not in columns]
    if missing:
        raise SystemExit(f"{run_dir}/metrics.jsonl: no training scalar {missing}; it logs {sorted(k for k in columns if '/' not in k)}")
    level_free = "energy" in training and "sigma" in columns  # E = g / sigma: g carries across level switches
    wanted = set(training) | ({"sigma"} if level_free else set())
    out, window = [], {k: [] for k in wanted}
    for i, steps in enumerate(columns.get("env_steps", [])):
        for k in wanted:
            window[k].append(columns[k][i])
        if not any(math.isfinite(v[i]) for v in evals.values()):
            continue
        row = {"env_steps": int(steps), **{k: v[i] for k, v in evals.items() if math.isfinite(v[i])}}
        for k, values in window.items():
            finite = [x for x in values if math.isfinite(x)]
            if finite:
                row[f"train/{k}"] = sum(finite) / len(finite)
        if level_free:
            g = [e * s for e, s in zip(window["energy"], window["sigma"]) if math.isfinite(e * s)]
            if g:
                row["train/g"] = sum(g) / len(g)
        window = {k: [] for k in wanted}
        if steps > after:
            out.append(row)
    if not out:
        raise SystemExit(f"{run_dir}/metrics.jsonl: no periodic evaluation after {after} env steps (train.eval_every=0?)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--name", required=True, help="results file name (benchmarks/results/NAME.json)")
    parser.add_argument("--after", type=int, default=0, help="only evaluations past this many env steps")
    parser.add_argument("--metric", default="success_rate")
    parser.add_argument("--note", default="", help="how the runs were made, stored with them")
    parser.add_argument("--plot", default="", help="a PNG of the metrics against env steps")
    parser.add_argument("--plot-metrics", default="", help="comma-separated eval metrics to plot (default: --metric)")
    parser.add_argument("--training", default="", help="comma-separated training scalars to average between evaluations")
    args = parser.parse_args()
    training = tuple(k for k in args.training.split(",") if k)
    rows = []
    for spec in args.runs:
        label, run_dir = spec.split("=", 1)
        with open(os.path.join(run_dir, "summary.json")) as fh:
            summary = json.load(fh)
        rows.append({"label": label, "run": run_dir, "note": args.note, "summary": summary,
                     "evaluations": evaluations(run_dir, args.after, training)})
    path = write_result(args.name, "periodic evaluations of trained runs", rows)
    steps = sorted({e["env_steps"] for r in rows for e in r["evaluations"]})
    for metric in (*args.metric.split(","), "final_coverage"):
        if not any(metric in e for r in rows for e in r["evaluations"]):
            continue
        print(f"\n{metric}\n\n| run | " + " | ".join(f"{s / 1e6:.1f} M" for s in steps) + " |")
        print("|---|" + "---:|" * len(steps))
        for r in rows:
            at = {e["env_steps"]: e.get(metric) for e in r["evaluations"]}
            print(f"| {r['label']} | " + " | ".join("-" if at.get(s) is None else f"{at[s]:.3f}" for s in steps) + " |")
    print(f"\nwrote {path}")
    if args.plot:
        print(f"wrote {plot(rows, (args.plot_metrics or args.metric).split(','), args.plot)}")


def plot(rows: list[dict], metrics: list[str], path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # the legend goes under the plots, so it hides no curve: two runs a line, or one where labels are long
    columns = 1 if max((len(r["label"]) for r in rows), default=0) > 60 else 2
    legend_rows = -(-len(rows) // columns)
    height = 3.2 + 0.2 * legend_rows
    # past the default cycle's 10 colours two runs would share one: tab20 then, and a second line style
    colours = plt.get_cmap("tab10" if len(rows) <= 10 else "tab20").colors
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), height), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for i, r in enumerate(rows):
            points = [(e["env_steps"] / 1e6, e[metric]) for e in r["evaluations"] if metric in e]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=r["label"], color=colours[i % len(colours)],
                        linestyle="-" if i < len(colours) else "--")
        ax.set_xlabel("env steps (M)")
        ax.set_title(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=columns, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, (0.2 * legend_rows + 0.1) / height, 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
