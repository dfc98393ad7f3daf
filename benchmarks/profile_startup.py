"""Where the humanoid's start-up time goes (issue #20): `near train-energy` then `near train` (NEAR) in
one process, each phase timed, with JAX's own tracing / lowering / compilation times, persistent
cache hits, and how often (and how long) the environment's step and reset were called: under jit, traced.

Start-up is the time from launch to the first training iteration: everything before the first
compiled chunk, plus that chunk's time minus a steady chunk's. Run it twice with the same
``NEAR_XLA_CACHE`` to see a cold and a warm compilation cache. Each phase also counts the programs
XLA compiled in it (``programs``; cache hits are not compiled).

    python benchmarks/profile_startup.py --motion SET.yaml [--energy-iterations 3000] [--train-iterations 30]
        [--name startup_gpu] [--label cold]
    python benchmarks/profile_startup.py --task mazeNEAR --energy-only   # the energy model alone, e.g. on a CPU
    python benchmarks/profile_startup.py --task HumanoidAMP --train-only --motion SET.yaml   # `near train` alone (AMP, PPO)
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time

LAUNCH = time.perf_counter()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from near.cli import configure_jax

CACHE = configure_jax()
import jax
from jax import monitoring

JAX_SECONDS: collections.Counter = collections.Counter()
JAX_COUNTS: collections.Counter = collections.Counter()  # events per duration name: backend_compile = programs compiled
JAX_EVENTS: collections.Counter = collections.Counter()


def _duration(name, secs, **_):
    JAX_SECONDS.update({name.split("/")[-1]: secs})
    JAX_COUNTS.update({name.split("/")[-1]: 1})


ENV_CALLS: collections.Counter = collections.Counter()  # the environments' step / reset calls: under jit, one trace each
ENV_SECONDS: collections.Counter = collections.Counter()


def count_env_calls() -> None:
    """Count and time every call of the environments' ``step`` and ``reset``: inside a jitted program each call is
    one trace of the physics, so this says how often start-up traces it and what that costs."""
    from near.envs.humanoid.env import HumanoidEnv
    from near.envs.maze import MazeEnv
    from near.envs.pusht import PushTEnv

    for cls in (HumanoidEnv, MazeEnv, PushTEnv):
        for name in ("step", "reset"):
            def timed(self, *args, _original=getattr(cls, name), _name=name, **kwargs):
                start = time.perf_counter()
                try:
                    return _original(self, *args, **kwargs)
                finally:
                    ENV_CALLS[_name] += 1
                    ENV_SECONDS[_name] += time.perf_counter() - start
            setattr(cls, name, timed)


monitoring.register_event_duration_secs_listener(_duration)
monitoring.register_event_listener(lambda name, **_: JAX_EVENTS.update({name.split("/")[-1]: 1}))


class Phases:
    """Wall seconds per named phase, and the JAX compile time spent inside each."""

    def __init__(self):
        self.rows: list[dict] = []

    def wrap(self, name, fn, block=None):
        def timed(*args, **kwargs):
            before, compiled = dict(JAX_SECONDS), JAX_COUNTS["backend_compile_duration"]
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            if block is not None:
                jax.block_until_ready(block(out))
            row = {"phase": name, "start_s": round(start - LAUNCH, 2), "seconds": round(time.perf_counter() - start, 2)}
            for key in ("jaxpr_trace_duration", "jaxpr_to_mlir_module_duration", "backend_compile_duration"):
                row[key.replace("_duration", "_s")] = round(JAX_SECONDS[key] - before.get(key, 0.0), 2)
            row["programs"] = JAX_COUNTS["backend_compile_duration"] - compiled
            self.rows.append(row)
            print(json.dumps(row), flush=True)
            return out
        return timed


def profile_energy(phases: Phases, task: str, overrides: list[str]) -> dict:
    import near.commands.train_energy as te
    import near.energy.train as et
    from near.config import compose_config

    te.make_env = phases.wrap("energy: make_env (motion library, MJX model)", te.make_env)
    te.demo_pairs = phases.wrap("energy: demo pairs (compile + sample)", te.demo_pairs)
    make_trainer = et.make_trainer

    def traced_make_trainer(cfg, pair_dim, **options):  # options: make_trainer's keywords (min_std, ...)
        init, chunk, evaluate, net, sigmas = make_trainer(cfg, pair_dim, **options)
        calls = {"chunk": 0, "eval": 0}

        def chunk_timed(state, pairs, steps):
            calls["chunk"] += 1
            name = "energy: first chunk (compile + iterations)" if calls["chunk"] == 1 else "energy: chunk"
            return phases.wrap(f"{name} x{steps}", chunk, block=lambda o: o[1])(state, pairs, steps) \
                if calls["chunk"] <= 3 else chunk(state, pairs, steps)

        def eval_timed(*a):
            calls["eval"] += 1
            return phases.wrap("energy: first evaluation (compile)", evaluate, block=lambda o: o)(*a) \
                if calls["eval"] == 1 else evaluate(*a)
        return init, chunk_timed, eval_timed, net, sigmas

    et.make_trainer = traced_make_trainer
    for name in ("ranking_accuracies", "ranking_accuracy"):  # the command's (all levels at once; older trees: per level)
        if hasattr(et, name):
            setattr(et, name, phases.wrap(f"energy: {name.replace('_', ' ')}", getattr(et, name)))
            break
    cfg = compose_config([f"task={task}", "progress=False", *overrides])
    start = time.perf_counter()
    summary = phases.wrap("energy: train-energy in all", te.train_energy)(cfg)
    return {"energy_total_s": round(time.perf_counter() - start, 2), "energy_run": summary["run_dir"]}


def profile_train(phases: Phases, task: str, overrides: list[str]) -> dict:
    import near.commands.train as tr
    from near.config import compose_config
    from near.rl import ppo

    tr.make_env = phases.wrap("train: make_env", tr.make_env)
    tr.make_style = phases.wrap("train: make_style (energy model restore)", tr.make_style)
    tr.make_policy_evaluator = phases.wrap("train: build the evaluator", tr.make_policy_evaluator)
    tr.evaluate_policy = phases.wrap("train: final evaluation", tr.evaluate_policy)
    make_train = ppo.make_train
    marks: dict = {}

    def traced_make_train(*args, **kwargs):
        init, chunk = make_train(*args, **kwargs)
        calls = [0]

        def chunk_timed(state, n, *active):  # active: how many of the chunk's n iterations run
            calls[0] += 1
            if calls[0] == 1:
                marks["first_chunk_start"] = time.perf_counter() - LAUNCH
            if calls[0] <= 3:
                name = "train: first chunk (compile + iterations)" if calls[0] == 1 else "train: chunk"
                return phases.wrap(f"{name} x{n}", chunk, block=lambda o: o[1])(state, n, *active)
            return chunk(state, n, *active)
        return phases.wrap("train: initial state (reset compile)", init, block=lambda s: s), chunk_timed

    ppo.make_train = traced_make_train  # train_policy imports it from near.rl.ppo when called
    cfg = compose_config([f"task={task}", "progress=False", *overrides])
    start = time.perf_counter()
    phases.wrap("train: train in all", tr.train_policy)(cfg)
    return {"train_total_s": round(time.perf_counter() - start, 2), **marks}


def startup(rows: list[dict], prefix: str, begin: float) -> float | None:
    """Seconds from ``begin`` (since launch) to the first iteration: before the first chunk, plus its
    compile. None where the run had a single chunk (no steady chunk to tell compile from iterations)."""
    first = next(r for r in rows if r["phase"].startswith(f"{prefix}: first chunk"))
    steady = next((r for r in rows if r["phase"].startswith(f"{prefix}: chunk")), None)
    if steady is None:
        print(f"profile_startup: {prefix} ran one compiled chunk only; give it more iterations to separate "
              "its compilation from its iterations", file=sys.stderr)
        return None
    n_first = int(first["phase"].rsplit("x", 1)[1])
    n_steady = int(steady["phase"].rsplit("x", 1)[1])
    compile_part = first["seconds"] - steady["seconds"] * n_first / n_steady
    return round(first["start_s"] - begin + compile_part, 2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--motion", default="", help="the humanoid's motion set (needed by the humanoid tasks)")
    parser.add_argument("--task", default="HumanoidNEAR", help="a NEAR task: HumanoidNEAR (default), mazeNEAR, ...")
    parser.add_argument("--energy-only", action="store_true", help="profile `near train-energy` alone")
    parser.add_argument("--train-only", action="store_true",
                        help="profile `near train` alone: a task without an energy model (AMP, PPO)")
    parser.add_argument("--energy-iterations", type=int, default=3000)
    parser.add_argument("--energy-chunk", type=int, default=1000, help="energy iterations per compiled chunk")
    parser.add_argument("--train-iterations", type=int, default=30)
    parser.add_argument("--num-envs", type=int, default=4096)
    parser.add_argument("--out", default=None, help="run folders (default: a temporary folder)")
    parser.add_argument("--name", default="startup_profile")
    parser.add_argument("--label", default="", help="e.g. cold / warm (the compilation cache)")
    parser.add_argument("--eval-ahead", action="store_true",
                        help="compile the periodic evaluation in the background from the start, as a GPU run does "
                             "(train.compile_eval_ahead=auto): its tracing shares the GIL with the training program's")
    args = parser.parse_args(argv)
    if args.energy_only and args.train_only:
        parser.error("--energy-only and --train-only exclude each other")

    out = args.out or tempfile.mkdtemp(prefix="near_startup_")
    count_env_calls()
    phases = Phases()
    m = [f"motion={args.motion}"] if args.motion else []
    energy = {} if args.train_only else profile_energy(
        phases, args.task, [*m, f"energy.iterations={args.energy_iterations}", f"energy.log_every={args.energy_chunk}",
                            f"out={out}/energy"])
    energy_end = time.perf_counter() - LAUNCH
    restore = [f"energy.checkpoint={energy['energy_run']}"] if energy else []
    train = {} if args.energy_only else profile_train(
        phases, args.task, [*m, *restore, f"out={out}/train",
                        f"train.num_envs={args.num_envs}", f"train.minibatch_size={min(8192, args.num_envs * 16)}",
                        f"train.total_env_steps={args.train_iterations * args.num_envs * 16}",
                        "train.iterations_per_log=10", "train.eval_episodes=8",
                        # an evaluation past the profiled iterations: only its compile-ahead runs
                        *(["train.eval_every=100000", "train.compile_eval_ahead=always"] if args.eval_ahead
                          else ["train.eval_every=0"])])
    result = {
        "label": args.label, "eval_ahead": args.eval_ahead, "task": args.task, "motion": os.path.basename(args.motion), "cache": CACHE,
        "startup_seconds_energy": None if args.train_only else startup(phases.rows, "energy", 0.0),
        "startup_seconds_train": None if args.energy_only else startup(phases.rows, "train", energy_end if energy else 0.0),
        **energy, **train, "programs_compiled": JAX_COUNTS["backend_compile_duration"],
        "jax_seconds": dict(JAX_SECONDS), "jax_events": dict(JAX_EVENTS), "env_calls": dict(ENV_CALLS),
        "env_call_seconds": {k: round(v, 2) for k, v in ENV_SECONDS.items()}, "phases": phases.rows,
    }
    shown = ", ".join(f"{part} {result['startup_seconds_' + part]} s"
                      for part, skipped in (("energy", args.train_only), ("train", args.energy_only)) if not skipped)
    print(f"start-up to the first iteration: {shown} "
          f"(cache {CACHE}; hits {JAX_EVENTS.get('cache_hits', 0)}); {result['programs_compiled']} programs compiled "
          f"in {JAX_SECONDS['backend_compile_duration']:.1f} s; env step called (traced) {ENV_CALLS['step']} times in "
          f"{ENV_SECONDS['step']:.1f} s, reset {ENV_CALLS['reset']} times in {ENV_SECONDS['reset']:.1f} s")
    from _report import write_result

    print(write_result(args.name, "start-up profile", [result]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
