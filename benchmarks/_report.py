"""What every benchmark writes: machine facts and a JSON file under benchmarks/results/."""

from __future__ import annotations

import datetime
import json
import os
import platform


def machine_info() -> dict:
    import jax

    return {"platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
            "device_kind": jax.devices()[0].device_kind, "jax": jax.__version__}


def result_path(name: str) -> str:
    """benchmarks/results/<name>.json (a name given with its .json keeps one)."""
    name = name.removesuffix(".json")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"{name}.json")


def read_result_rows(name: str) -> list[dict]:
    """The rows of an earlier benchmarks/results/<name>.json ([] if there is none)."""
    path = result_path(name)
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return json.load(fh).get("results", [])


def merge_rows(earlier: list[dict], new: list[dict], key=lambda r: r.get("label")) -> list[dict]:
    """The earlier rows, less those a new row replaces (the same ``key(row)``), then the new rows: results
    files that add up over sessions."""
    replaced = {key(r) for r in new}
    return [r for r in earlier if key(r) not in replaced] + new


def labelled_runs(specs: list[str]) -> list[tuple[str, str]]:
    """``LABEL=RUN_DIR`` arguments as (label, run folder) pairs; one clear error for a run folder without
    its ``metrics.jsonl`` or an argument without ``=``."""
    pairs = []
    for spec in specs:
        label, sep, run_dir = spec.partition("=")
        if not sep or not label:
            raise SystemExit(f"{spec!r}: expected LABEL=RUN_DIR")
        if not os.path.isfile(os.path.join(run_dir, "metrics.jsonl")):
            raise SystemExit(f"{spec!r}: {run_dir} has no metrics.jsonl (not a run folder?)")
        pairs.append((label, run_dir))
    return pairs


def physics_overrides(overrides) -> list[str]:
    """``overrides`` (task.physics.KEY=VALUE each) as a list; SystemExit naming any other kind."""
    bad = [o for o in overrides if not o.startswith("task.physics.") or "=" not in o]
    if bad:
        raise SystemExit(f"--physics takes task.physics.KEY=VALUE overrides, got {bad}")
    return list(overrides)


def policy_env(run_dir: str, motion: str, extra=()):
    """(cfg, env) where a trained humanoid run's policy plays: its task, ``motion``, its checkpoint, and the
    physics it trained with unless ``extra`` overrides them (near.eval.policy_eval.with_run_physics)."""
    from near.config import compose_config
    from near.eval.policy_eval import with_run_physics
    from near.factories import make_env

    overrides = [f"task={run_task(run_dir)}", f"motion={motion}", f"checkpoint={run_dir}", *extra]
    cfg = with_run_physics(compose_config(overrides), overrides)
    return cfg, make_env(cfg)


def run_task(run_dir: str) -> str:
    """The task a run folder trained (HumanoidNEAR, HumanoidAMP, HumanoidTrack, ...), from its config.yaml."""
    import yaml

    with open(os.path.join(run_dir, "config.yaml")) as fh:
        return yaml.safe_load(fh)["task"]["name"]


def write_result(name: str, benchmark: str, rows: list[dict]) -> str:
    """benchmarks/results/<name>.json with the date, the machine and the rows; returns the path."""
    result = {"benchmark": benchmark, "date": datetime.date.today().isoformat(), "machine": machine_info(),
              "results": rows}
    path = result_path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(result, fh, indent=2)
    return path


def time_train_chunks(train_chunk, state, iterations: int, repeats: int, batch_size: int) -> tuple[list[float], float]:
    """Env steps/s of ``repeats`` timed calls of a compiled PPO chunk after a first (compiling) call;
    returns (rates, first call seconds)."""
    import time

    import jax

    start = time.perf_counter()
    state, _ = train_chunk(state, iterations)
    jax.block_until_ready(state.params)
    first = time.perf_counter() - start
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        state, metrics = train_chunk(state, iterations)
        jax.block_until_ready(metrics)
        rates.append(iterations * batch_size / (time.perf_counter() - start))
    return rates, first


def untrained_style(cfg, env):
    """The style reward of ``cfg.task.algo`` for timing: NEAR with a freshly initialised energy model
    (speed does not depend on its weights, and no checkpoint is needed), others as training builds them."""
    import jax

    from near.factories import make_style

    if cfg.task.algo != "NEAR":
        return make_style(cfg, env)[0]
    from near.energy.train import make_trainer, model_from_state
    from near.rl.near import NEARReward

    init, *_ = make_trainer(cfg.energy, 2 * env.pair_state_dim)
    return NEARReward(model_from_state(cfg.energy, init(jax.random.PRNGKey(0))), cfg.reward)


HUMANOID_SETS = ("walk", "run", "mummy_walk", "crane_pose", "single_left_punch", "spin_kick")


def add_motion_set_args(parser) -> None:
    """``--data`` (the folder of the amp_humanoid_*.yaml sets; default ../shared/data/humanoid) and ``--sets``."""
    shared = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "humanoid")
    parser.add_argument("--data", default=shared, help="the folder of the amp_humanoid_*.yaml motion sets")
    parser.add_argument("--sets", nargs="+", default=list(HUMANOID_SETS))


def motion_set_paths(args, columns: int):
    """(name, path) of each of ``args.sets`` in ``args.data``; prints a table row of ``columns`` cells
    saying where a set is missing, and goes on."""
    for name in args.sets:
        path = os.path.join(args.data, f"amp_humanoid_{name}.yaml")
        if not os.path.exists(path):
            print(f"| {name} | missing: {path} |" + " |" * (columns - 2))
            continue
        yield name, path
