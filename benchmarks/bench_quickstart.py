"""Quickstart wall time and success: generated demos and (if given) the real human maze demos.

    python benchmarks/bench_quickstart.py [--real ../shared/data/maze/maze_motions.zarr] [--seeds 42] [--out NAME] [--label TEXT]

Runs `near quickstart` in a subprocess per case (cold start, as a user would), writes
benchmarks/results/quickstart_cpu.json (or NAME there) and prints a table. The subprocess imports
`near` as this process would: PYTHONPATH=other/src times another checkout's code.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time


def run(extra: list[str], seed: int) -> dict:
    out = tempfile.mkdtemp(prefix="near-qs-")
    load = round(os.getloadavg()[0], 2)  # the machine may be shared: a busy one slows the run
    start = time.time()
    cmd = [sys.executable, "-m", "near.cli", "quickstart", f"out={out}/qs", "progress=False", f"seed={seed}", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - start
    if proc.returncode != 0:
        return {"args": extra, "seed": seed, "error": proc.stderr[-2000:], "process_seconds": wall, "load_average_1m": load}
    summary = json.load(open(os.path.join(out, "qs", "summary.json")))
    return {"args": extra, "seed": seed, "process_seconds": round(wall, 1), "load_average_1m": load, **{k: summary[k] for k in (
        "success_rate", "episode_length", "eval_episodes", "env_steps", "wall_seconds", "energy_seconds",
        "policy_seconds")}, **{k: summary[k] for k in ("played", "final_policy_success_rate") if k in summary},
            "report": os.path.join(out, "qs")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--real", default="", help="path of the real maze_motions.zarr")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--out", default="quickstart_cpu.json", help="file name under benchmarks/results/")
    parser.add_argument("--label", default="", help="what was measured (e.g. the commit), stored in the JSON")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        rows.append({"demos": "generated", **run([], seed)})
        if args.real:
            rows.append({"demos": "human (maze_motions.zarr)", **run([f"task.data={args.real}"], seed)})
    result = {"benchmark": "near quickstart (maze, CPU)", "date": datetime.date.today().isoformat(),
              **({"label": args.label} if args.label else {}),
              "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                          "python": platform.python_version()}, "results": rows}
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    path = os.path.join(os.path.dirname(__file__), "results", args.out)
    with open(path, "w") as fh:
        json.dump(result, fh, indent=2)
    print("| demos | seed | success | episode length | env steps | wall s (process) |\n|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['demos']} | {r['seed']} | error | | | {r['process_seconds']:.0f} |")
        else:
            print(f"| {r['demos']} | {r['seed']} | {r['success_rate']:.2f} | {r['episode_length']:.0f} | "
                  f"{r['env_steps']} | {r['process_seconds']:.0f} |")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
