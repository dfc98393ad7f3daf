"""Does compiling the evaluation ahead (train.compile_eval_ahead) bring training's first evaluation forward?

A short humanoid training (task reward alone, one clip, a few iterations, an evaluation every 2) with the
persistent compilation cache off, so that every program compiles cold, once with the evaluation's program
compiled in a background thread from the start (always) and once on the spot at the first evaluation
(never), alternating, `--repeats` times. From each run's metrics.jsonl, on the run's own clock (it starts
once the env is built, before any training compile): seconds to the first logged iteration (the training
program's compile) and to the first evaluation; and the process's whole wall time.
Writes benchmarks/results/compile_ahead_<backend>.json and prints a table:

    python benchmarks/bench_compile_ahead.py --motion .motion/amp_humanoid_mummy_walk.yaml [--repeats 2]
    (on the GPU machine, add the shipped sizes: --envs 4096 --horizon 16 --minibatch 8192)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from _report import write_result


def one_run(motion: str, mode: str, args: argparse.Namespace, out: str) -> dict:
    overrides = [f"motion={motion}", "task=Humanoid", "progress=False", "seed=0", f"train.num_envs={args.envs}",
                 f"train.horizon={args.horizon}", f"train.minibatch_size={args.minibatch}", "train.update_epochs=1",
                 "train.iterations_per_log=2", "train.eval_every=2", f"train.eval_episodes={args.episodes}",
                 f"train.total_env_steps={4 * args.envs * args.horizon}", f"task.max_episode_steps={args.episode_steps}",
                 "train.checkpoint_every=100", f"train.compile_eval_ahead={mode}", f"out={out}"]
    env = dict(os.environ, NEAR_XLA_CACHE="off")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "near.cli", "train", *overrides], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"near train ({mode}) failed:\n{done.stderr[-3000:]}")
    records = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    evals = [r["wall_seconds"] for r in records if "eval/episode_return" in r]
    return {"mode": mode, "first_iteration_s": records[0]["wall_seconds"], "first_eval_s": evals[0],
            "second_eval_s": evals[1] if len(evals) > 1 else None, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--motion", required=True, help="a motion yaml or clip (one short clip is enough)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--minibatch", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=4, help="evaluation episodes (the shipped humanoid: 64)")
    parser.add_argument("--episode-steps", type=int, default=20, help="task.max_episode_steps (the shipped: 300)")
    args = parser.parse_args()
    import jax

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for mode in ("always", "never"):
                row = one_run(args.motion, mode, args, os.path.join(tmp, f"{mode}_{repeat}"))
                rows.append(dict(row, repeat=repeat, envs=args.envs, eval_episodes=args.episodes,
                                 episode_steps=args.episode_steps, motion=os.path.basename(args.motion)))
                print(f"{mode:6s} repeat {repeat}: first iteration {row['first_iteration_s']:6.1f} s, first evaluation "
                      f"{row['first_eval_s']:6.1f} s, wall {row['wall_s']:6.1f} s", flush=True)
    path = write_result(f"compile_ahead_{jax.default_backend()}", "evaluation compiled ahead (train.compile_eval_ahead)",
                        rows)
    print("\n| compile_eval_ahead | runs | to the first iteration, s | to the first evaluation, s | process wall, s |\n"
          "|---|---:|---:|---:|---:|")
    for mode in ("always", "never"):
        mine = [r for r in rows if r["mode"] == mode]
        med = {k: float(np.median([r[k] for r in mine])) for k in ("first_iteration_s", "first_eval_s", "wall_s")}
        print(f"| {mode} | {len(mine)} | {med['first_iteration_s']:.1f} | {med['first_eval_s']:.1f} | {med['wall_s']:.1f} |")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
