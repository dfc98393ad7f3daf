"""Issue #20's speed figures from one gpu_speed.sh bundle: benchmarks/results/speed_h200.json and a table
with the issue's targets.

    cat speed.tgz.part* | tar xz -C DIR
    python benchmarks/report_speed.py DIR [--name speed_h200] [--device "one NVIDIA H200, DATE"]

Reads what the stages wrote into DIR: speed_train.json (NEAR end to end at 4k / 16k envs and the physics
alone in the same process), speed_physics.json (physics alone, shipped setting and candidates),
speed_startup_{walk,run}_{cold,warm}.json (start-up profiles) and energy_wall_seconds.txt (150 k
energy iterations from launch). A missing stage leaves its keys out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import merge_rows, read_result_rows, write_result

TARGETS = {  # key: (target, "le" | "ge")
    "startup_seconds_energy": (20.0, "le"), "startup_seconds_train": (20.0, "le"), "energy_150k_seconds": (90.0, "le"),
    "near_env_steps_per_s_4k": (175_000.0, "ge"), "near_env_steps_per_s_16k": (250_000.0, "ge"),
    "training_over_physics_16k": (0.7, "ge"), "nan_resets_per_million": (1.0, "le"),
}


def _rows(folder: str, name: str) -> list[dict]:
    path = os.path.join(folder, f"{name}.json")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return json.load(fh)["results"]


TRAIN_VARIANTS = {  # gpu_speed.sh's train stages besides the shipped one: what each overrides
    "tf32": "train.network_precision=tensorfloat32", "warp": "task.physics.impl=warp"}


def _train_figures(folder: str, name: str) -> dict:
    """NEAR's env steps/s at 4k and 16k envs, the physics alone beside it and their ratio, from one train stage."""
    out = {}
    for row in _rows(folder, name):
        if row.get("devices") == 1 and row.get("algo") == "NEAR":
            tag = {4096: "4k", 16384: "16k"}.get(row["num_envs"])
            if tag:
                out[f"near_env_steps_per_s_{tag}"] = row["env_steps_per_s"]
                if "physics_only_steps_per_s" in row:
                    out[f"physics_env_steps_per_s_{tag}"] = row["physics_only_steps_per_s"]
                    out[f"training_over_physics_{tag}"] = row["training_over_physics"]
    return out


def speed_figures(folder: str) -> dict:
    """The issue's keys (and a few more) from the stage outputs in ``folder``."""
    out: dict = _train_figures(folder, "speed_train")
    variants = {stage: _train_figures(folder, f"speed_train_{stage}") for stage in TRAIN_VARIANTS}
    variants = {stage: figures for stage, figures in variants.items() if figures}
    if variants:
        out["train_variants"] = {f"{stage}: {TRAIN_VARIANTS[stage]}": figures for stage, figures in variants.items()}
    candidates = {}
    for row in _rows(folder, "speed_physics"):
        candidates[row["variant"]] = {k: row[k] for k in ("num_envs", "control_steps_per_s", "nonfinite_per_1m_steps",
                                                          "falls_per_1k_steps", "substeps", "solver", "iterations",
                                                          "ls_iterations")}
        if row["variant"] == "default":
            out["nan_resets_per_million"] = row["nonfinite_per_1m_steps"]
            out.setdefault("physics_env_steps_per_s_16k", row["control_steps_per_s"])
    if candidates:
        out["physics_candidates"] = candidates
    for motion in ("walk", "run"):
        for label in ("cold", "warm"):
            for row in _rows(folder, f"speed_startup_{motion}_{label}"):
                for key in ("startup_seconds_energy", "startup_seconds_train"):
                    out.setdefault("startup_profiles", {})[f"{motion}_{label}_{key}"] = row[key]
    profiles = out.get("startup_profiles", {})
    for key in ("startup_seconds_energy", "startup_seconds_train"):  # the figure: warm cache, worse set
        warm = [v for k, v in profiles.items() if k.endswith(f"warm_{key}")]
        if warm:
            out[key] = max(warm)
    wall = os.path.join(folder, "energy_wall_seconds.txt")
    if os.path.exists(wall):
        with open(wall) as fh:
            out["energy_150k_seconds"] = float(fh.read().strip())
    return out


def check(figures: dict) -> list[tuple[str, float, str]]:
    """(key, value, "meets" | "misses TARGET") for every target key present."""
    rows = []
    for key, (target, sense) in TARGETS.items():
        if key in figures:
            value = figures[key]
            ok = value <= target if sense == "le" else value >= target
            rows.append((key, value, "meets" if ok else f"misses {'<=' if sense == 'le' else '>='} {target:g}"))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="where the speed bundle was unpacked")
    parser.add_argument("--name", default="speed_h200")
    parser.add_argument("--device", default="", help="machine and date, for the record")
    args = parser.parse_args(argv)
    figures = speed_figures(args.folder)
    if not figures:
        print(f"no stage results in {args.folder}", file=sys.stderr)
        return 1
    figures["device"] = args.device
    print("| figure | value | issue #20's target |\n|---|---:|---|")
    for key, value, verdict in check(figures):
        print(f"| {key} | {value:,.2f} | {verdict} |")
    for variant, row in figures.get("physics_candidates", {}).items():
        print(f"| physics `{variant}` at {row['num_envs']} envs | {row['control_steps_per_s']:,.0f} steps/s, "
              f"{row['nonfinite_per_1m_steps']:.1f} NaN / 1 M | |")
    for stage, row in figures.get("train_variants", {}).items():
        print(f"| NEAR with {stage} | 4k: {row.get('near_env_steps_per_s_4k', float('nan')):,.0f}, "
              f"16k: {row.get('near_env_steps_per_s_16k', float('nan')):,.0f} env steps/s; physics alone 16k: "
              f"{row.get('physics_env_steps_per_s_16k', float('nan')):,.0f} (ratio "
              f"{row.get('training_over_physics_16k', float('nan')):.2f}) | |")
    earlier = read_result_rows(args.name)  # earlier leases kept; a lease's row again replaces it
    rows = merge_rows(earlier, [figures], key=lambda r: r.get("device")) if args.device else earlier + [figures]
    print(write_result(args.name, "issue #20 speed figures (gpu_speed.sh stages)", rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
