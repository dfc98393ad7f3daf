"""Throughput of the JAX maze env on CPU: batched env steps per second.

For each batch size, ``jit(vmap(env.step))`` is scanned over 50 steps with ``lax.scan`` (random
actions in [-1, 1], states from ``vmap(env.reset)``), compiled and warmed up once, then timed 3
times; the median is reported. Also sweeps the ``unroll`` factor of the 100-substep ``fori_loop`` at
one batch size, and (in a subprocess pinned to one core) repeats the batch table: XLA:CPU splits
large elementwise kernels across threads, which on a small machine costs more than it gains.
Writes benchmarks/results/maze_env_cpu.json and prints tables.

    PYTHONPATH=src python benchmarks/bench_maze_env.py [--batches 1,16,64,256,1024] [--unrolls 1,2,4,10]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

STEPS = 50
REPEATS = 3


def time_batch(env, batch: int, seed: int = 0) -> dict:
    import jax

    vstep = jax.vmap(env.step)

    @jax.jit
    def rollout(state, actions):
        def body(s, a):
            s, obs, reward, done, _ = vstep(s, a)
            return s, (obs, reward, done)

        return jax.lax.scan(body, state, actions)

    key_reset, key_act = jax.random.split(jax.random.PRNGKey(seed))
    state, _ = jax.jit(jax.vmap(env.reset))(jax.random.split(key_reset, batch))
    actions = jax.random.uniform(key_act, (STEPS, batch, 2), minval=-1.0, maxval=1.0)
    t0 = time.perf_counter()
    jax.block_until_ready(rollout(state, actions))  # compile + warm-up
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        jax.block_until_ready(rollout(state, actions))
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {
        "batch": batch,
        "steps_per_call": STEPS,
        "times_s": times,
        "median_s": med,
        "env_steps_per_s": batch * STEPS / med,
        "substeps_per_s": batch * STEPS * env.config.substeps / med,
        "compile_and_first_call_s": compile_s,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def print_table(title: str, rows: list[dict]) -> None:
    print(title)
    print(f"{'batch':>6} {'env steps/s':>13} {'substeps/s':>14} {'ms/call':>9} {'compile s':>10}")
    for r in rows:
        print(
            f"{r['batch']:>6} {r['env_steps_per_s']:>13,.0f} {r['substeps_per_s']:>14,.0f} "
            f"{1e3 * r['median_s']:>9.2f} {r['compile_and_first_call_s']:>10.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default="1,16,64,256,1024")
    ap.add_argument("--unrolls", default="1,2,4,10", help="unroll factors to sweep ('' to skip)")
    ap.add_argument("--unroll-batch", type=int, default=256)
    ap.add_argument("--no-one-core", action="store_true", help="skip the run pinned to one core")
    ap.add_argument("--one-core", action="store_true", help=argparse.SUPPRESS)  # subprocess mode
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "maze_env_cpu.json"))
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    if args.one_core:  # before jax starts its thread pools
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    from near.envs import maze
    from near.envs.maze import MazeEnv

    load_before = os.getloadavg()
    rows = [time_batch(MazeEnv(), b) for b in batches]
    if args.one_core:
        print(json.dumps(rows))
        return

    print_table(f"maze env, CPU ({os.cpu_count()} cores), unroll={maze.DEFAULT_UNROLL}, "
                f"{STEPS} steps per call, median of {REPEATS}", rows)

    sweep = []
    if args.unrolls:
        default = maze.DEFAULT_UNROLL
        try:
            for u in (int(x) for x in args.unrolls.split(",")):
                maze.DEFAULT_UNROLL = u  # read when physics_step is traced
                r = time_batch(MazeEnv(), args.unroll_batch)
                r["unroll"] = u
                sweep.append(r)
        finally:
            maze.DEFAULT_UNROLL = default
        print(f"\nunroll sweep at batch {args.unroll_batch}")
        print(f"{'unroll':>6} {'env steps/s':>13} {'compile s':>10}")
        for r in sweep:
            print(f"{r['unroll']:>6} {r['env_steps_per_s']:>13,.0f} {r['compile_and_first_call_s']:>10.2f}")

    one_core = []
    if not args.no_one_core and (os.cpu_count() or 1) > 1:
        cmd = [sys.executable, __file__, "--one-core", "--batches", args.batches]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        one_core = json.loads(out.strip().splitlines()[-1])
        print()
        print_table("same, process pinned to one core (XLA then does not split kernels across threads)", one_core)

    result = {
        "benchmark": "maze_env_cpu",
        "what": "jit(vmap(MazeEnv.step)) scanned over 50 steps with lax.scan, random actions; "
        "median of 3 timed calls after a compile/warm-up call",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "processor": platform.processor(),
            "cpu_model": cpu_model(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jax_backend": jax.default_backend(),
        },
        "default_unroll": maze.DEFAULT_UNROLL,
        "results": rows,
        "unroll_sweep": {"batch": args.unroll_batch, "results": sweep},
        "results_one_core": one_core,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
