"""Does `near train-energy` give the same model twice? The same seed and data, each run a fresh process
with the compilation cache off, under XLA settings given per variant; the DSM loss of every logged
chunk is compared with the first run's.

On the CPU the runs are bit-identical. On the GPU two 150 k-iteration spin-kick models of one seed ended
at DSM losses 21.5 and 40.1 (2026-12-02 and 12-03), annealed differently and trained different policies:
this measures whether that is the reductions' order (`--xla_gpu_deterministic_ops` removes it) or a
kernel choice (`--xla_gpu_autotune_level=0` fixes the choice), and what determinism costs.

    python benchmarks/bench_energy_repeat.py --motion .motion/amp_humanoid_spin_kick.yaml \
        --iterations 30000 --variants default default deterministic deterministic autotune0
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from _report import write_result  # noqa: E402

from near.utils.jax_setup import DETERMINISTIC_FLAG  # noqa: E402

XLA_FLAGS = {
    "default": "",
    "deterministic": DETERMINISTIC_FLAG,
    "autotune0": "--xla_gpu_autotune_level=0",
}


def train(motion: str, iterations: int, log_every: int, seed: int, flags: str, out: str, timeout: float) -> dict:
    # NEAR_GPU_DETERMINISTIC=off: `near train-energy` would add the deterministic flag to every variant
    env = dict(os.environ, NEAR_XLA_CACHE="off", NEAR_GPU_DETERMINISTIC="off")
    env["XLA_FLAGS"] = " ".join(x for x in (os.environ.get("XLA_FLAGS", ""), flags) if x)
    cmd = [sys.executable, "-m", "near.cli", "train-energy", "task=HumanoidNEAR", f"motion={motion}", f"seed={seed}",
           "progress=False", f"energy.iterations={iterations}", f"energy.log_every={log_every}",
           f"energy.checkpoint_every={iterations}", f"out={out}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"train-energy ({flags or 'default'}) failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    records = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    summary = json.load(open(os.path.join(out, "summary.json")))
    return {"wall_s": round(wall, 1), "train_seconds": summary.get("wall_seconds"),
            "losses": [r["loss"] for r in records], "steps": [r["step"] for r in records],
            "final_loss": summary.get("final_loss"), "test_loss": summary.get("test_loss"),
            "rank_accuracy_level_0": summary.get("rank_accuracy/level_0")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--motion", required=True)
    ap.add_argument("--iterations", type=int, default=30000)
    ap.add_argument("--log-every", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--variants", nargs="+", default=["default", "default", "deterministic", "deterministic"],
                    choices=sorted(XLA_FLAGS))
    ap.add_argument("--deadline", type=float, default=86400.0, help="seconds: skip the variants that would start after it")
    ap.add_argument("--name", default="energy_repeat")
    args = ap.parse_args()

    start = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, variant in enumerate(args.variants):
            left = args.deadline - (time.perf_counter() - start)
            if left < 60:
                print(f"{variant}: skipped ({left:.0f} s left)")
                continue
            run = train(args.motion, args.iterations, args.log_every, args.seed, XLA_FLAGS[variant],
                        os.path.join(tmp, f"run{i}"), timeout=left)
            runs.append({"variant": variant, **run})
            print(f"{variant}: final loss {run['final_loss']:.4f}, {run['wall_s']} s", flush=True)

    ref = runs[0]["losses"] if runs else []
    for r in runs:
        first = next(x for x in runs if x["variant"] == r["variant"])["losses"]
        # the largest relative gap over the logged chunks: to this variant's first run, and to run 1
        r["max_rel_gap_same_variant"] = max(abs(a - b) / abs(b) for a, b in zip(r["losses"], first))
        r["max_rel_gap_to_run_1"] = max(abs(a - b) / abs(b) for a, b in zip(r["losses"], ref))
    print(f"{'variant':<14} {'final loss':>11} {'gap, same variant':>18} {'gap to run 1':>13} {'train s':>8} {'process s':>10}")
    for r in runs:
        print(f"{r['variant']:<14} {r['final_loss']:>11.4f} {r['max_rel_gap_same_variant']:>18.2e} "
              f"{r['max_rel_gap_to_run_1']:>13.2e} {r['train_seconds']:>8} {r['wall_s']:>10}")
    print(write_result(args.name, "energy model repeatability: same seed, fresh processes, cache off",
                       [{"motion": os.path.basename(args.motion), "iterations": args.iterations, "seed": args.seed,
                         "xla_flags": XLA_FLAGS[r["variant"]], **r} for r in runs]))

if __name__ == "__main__":
    main()
