"""How far NEAR's noise annealing got in trained runs (issue #16): the level over env steps.

Reads each run's ``metrics.jsonl`` (the ``sigma_level``, ``sigma`` and batch ``energy`` logged every
``train.iterations_per_log`` iterations) and reports the final level, the level at 10 M steps, when
each level was entered, and how much the batch energy rose at the last level (the annealing rule
moves on when it has risen by ``reward.anneal_threshold``, 2 %, since the level was entered).

    python benchmarks/report_anneal_levels.py "walk (53 M)=RUN" "run (60 M)=RUN" ...

Merges the runs into ``benchmarks/results/anneal_levels_humanoid.json`` (rows of earlier sessions, whose run
folders may be gone, are kept; a row with the same label is replaced) and prints the table of them all.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import labelled_runs, merge_rows, read_result_rows, write_result

from near.utils.logging import read_metrics


def level_history(run_dir: str) -> dict:
    """Level changes ``[(level, sigma, env steps)]``, the final row, and the energy rise at the last level."""
    columns = read_metrics(run_dir)
    rows = [dict(zip(("sigma_level", "sigma", "energy", "env_steps"), values))
            for values in zip(*(columns.get(k, []) for k in ("sigma_level", "sigma", "energy", "env_steps")))
            if math.isfinite(values[0])]
    if not rows:
        raise SystemExit(f"{run_dir}/metrics.jsonl: no sigma_level logged (not a NEAR run with annealing?)")
    changes = []
    for r in rows:
        if not changes or r["sigma_level"] != changes[-1][0]:
            changes.append((int(r["sigma_level"]), float(r["sigma"]), int(r["env_steps"])))
    final = rows[-1]
    entered = next(r for r in rows if r["sigma_level"] == final["sigma_level"])
    after_10m = next((r for r in rows if r["env_steps"] >= 10_000_000), None)  # None: a run shorter than 10 M
    # relative to the entry value's size: energies below zero (no final ELU) rise towards zero
    rise = (final["energy"] - entered["energy"]) / abs(entered["energy"]) if entered["energy"] else float("nan")
    return {"run": run_dir, "env_steps": int(final["env_steps"]), "final_level": int(final["sigma_level"]),
            "final_sigma": float(final["sigma"]),
            "level_at_10m": None if after_10m is None else int(after_10m["sigma_level"]),
            "level_changes": changes, "energy_rise_at_last_level": rise}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--device", default="", help="where the runs trained, stored with them")
    args = parser.parse_args(argv)
    new = [{"label": label, "trained_on": args.device, **level_history(run_dir)} for label, run_dir in labelled_runs(args.runs)]
    rows = merge_rows(read_result_rows("anneal_levels_humanoid"), new)
    path = write_result("anneal_levels_humanoid", "NEAR's annealing: noise level over training", rows)
    print("| run | final level (sigma) | level at 10 M steps | entered at (M env steps) | batch energy rise at the last level |")
    print("|---|---:|---:|---|---:|")
    for r in rows:
        entered = ", ".join(f"{lvl}: {steps / 1e6:.1f}" for lvl, _, steps in r["level_changes"][1:])
        at_10m = "–" if r["level_at_10m"] is None else r["level_at_10m"]
        print(f"| {r['label']} | {r['final_level']} ({r['final_sigma']:.3g}) | {at_10m} | {entered} "
              f"| {100 * r['energy_rise_at_last_level']:.1f} % |")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
