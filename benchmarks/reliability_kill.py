"""Kill at random moments, then resume (issue #17).

For each run kind a real `near` process is started, sent SIGKILL at a random moment (or the moment a
checkpoint write begins), and started again with resume=True, until it finishes; then again from
scratch until the kind has had its number of kills. After every kill:

* the run folder loads (config.yaml parses into a Config) and every checkpoint in it restores;
* at most one checkpoint interval is lost (the last logged step minus the last checkpoint's step);
* the checkpoint step never goes back (a restart goes on from the last checkpoint);
* metrics.jsonl is a prefix of the unkilled run's: no duplicate and no missing step.

Every finished run is compared with an unkilled run of the same seed: final parameters (every
checkpointed array) bit-identical, metrics identical but for wall-clock fields, and for the sweep
the same report.

    python benchmarks/reliability_kill.py                       # full: >= 20 kills per run kind
    python benchmarks/reliability_kill.py --kills 3 --kinds energy

Writes benchmarks/results/reliability_kill.json and prints a table; tests/test_reliability_kill.py
runs a small version.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

WALL_KEYS = ("wall_seconds", "seconds", "compile_seconds", "run_seconds", "seconds_per_step", "time", "date",
             "machine")  # when and where, not what

# tiny settings: runs of seconds, a checkpoint every interval
ENERGY_ARGS = ["task=mazeNEAR", "seed=3", "progress=False", "task.num_demo_episodes=20", "energy.iterations=1200",
               "energy.log_every=50", "energy.checkpoint_every=100", "energy.batch_size=64",
               "energy.encoder_hidden=[16,16]", "energy.latent_dim=16", "energy.decoder_hidden=[16,8]"]
MAZE_ARGS = ["task=mazeNEAR", "seed=1", "progress=False", "train.num_envs=8", "train.horizon=16",
             "train.minibatch_size=64", "train.iterations_per_log=1", "train.checkpoint_every=1",
             "train.actor_hidden=[16,16]", "train.critic_hidden=[16,16]", "train.eval_episodes=2",
             "task.max_episode_steps=50", "train.total_env_steps=5120"]
HUMANOID_ARGS = ["task=HumanoidAMP", "smoke=True", "seed=2", "progress=False", "train.iterations_per_log=1",
                 "train.checkpoint_every=1", "train.total_env_steps=1024"]
SWEEP_ARGS = ["algos=[NEAR,PPO]", "seeds=[5]", "smoke=True", "progress=False", "train.iterations_per_log=1",
              "train.checkpoint_every=1", "train.total_env_steps=1024", "energy.checkpoint_every=100"]


class Violation(AssertionError):
    pass


def near_cmd(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "near.cli", *args]


def write_clip(path: str) -> str:
    """A smooth walk-like poselib clip of the humanoid (the tests' kind of synthetic motion)."""
    import jax.numpy as jnp

    from near.motion import humanoid
    from near.motion.poselib import save_poselib
    from near.motion.skeleton import Skeleton, SkeletonMotion

    t = np.arange(61) / 30.0
    phase = np.random.default_rng(0).uniform(0, 2 * np.pi, humanoid.NUM_DOF)
    dof = 0.15 * np.sin(2 * np.pi * t[:, None] + phase)
    for g in humanoid.DOF_GROUPS:
        if g.size == 1:
            dof[:, g.start] = (0.55 if "knee" in g.name else -0.6) + 0.3 * np.sin(2 * np.pi * t + phase[g.start])
    local = np.array(humanoid.local_rot_from_dof(jnp.asarray(dof, jnp.float32)))
    local[:, 0] = [1.0, 0.0, 0.0, 0.0]
    root = np.stack([1.2 * t, 0 * t, 0.9 + 0 * t], -1)
    save_poselib(path, SkeletonMotion(Skeleton.amp_humanoid(), local.astype(np.float32), root.astype(np.float32), 30.0))
    return path


# ----------------------------------------------------------------------------------------------
# what a run folder must look like after any kill


def run_folders(target: str, reference: str | None = None) -> list[str]:
    """The run folders of a target: itself, or those of a sweep (<task>/<algo>/seed<k>/) that exist yet."""
    found = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(target, "*", "*", "seed*", "config.yaml")))
    is_sweep = reference is not None and os.path.exists(os.path.join(reference, "sweep.json"))
    return found if found or is_sweep else [target]


def checkpoint_steps(run: str) -> list[int]:
    folder = os.path.join(run, "checkpoints")
    return sorted(int(d) for d in os.listdir(folder) if d.isdigit()) if os.path.isdir(folder) else []


def writing_checkpoint(target: str) -> bool:
    """A checkpoint write is under way: Orbax's temporary step folder exists."""
    for folder in glob.glob(os.path.join(target, "checkpoints")) + glob.glob(os.path.join(target, "*", "*", "seed*", "checkpoints")):
        try:
            if any(not d.isdigit() for d in os.listdir(folder)):
                return True
        except OSError:
            pass
    return False


def metric_steps(run: str) -> list[int]:
    from near.utils.logging import read_metrics

    return [int(s) for s in read_metrics(run).get("step", [])]


def metric_records(run: str) -> list[dict]:
    path = os.path.join(run, "metrics.jsonl")
    out = []
    if os.path.exists(path):
        for line in open(path):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            out.append({k: v for k, v in r.items() if k not in WALL_KEYS})
    return out


def step_units(run: str) -> tuple[int, int]:
    """(metric steps per checkpoint interval, metric steps per checkpoint step) of a finished
    (reference) run: energy runs count both in DSM steps, policy runs checkpoint by iteration and
    log by env step."""
    from near.config import from_dict
    from omegaconf import OmegaConf

    cfg = from_dict(OmegaConf.to_container(OmegaConf.load(os.path.join(run, "config.yaml"))))
    with open(os.path.join(run, "summary.json")) as fh:
        kind = json.load(fh)["kind"]
    if kind == "energy":
        return cfg.energy.checkpoint_every, 1
    return cfg.train.checkpoint_every * cfg.train.batch_size, cfg.train.batch_size


def check_after_kill(target: str, reference: str, state: dict) -> dict:
    """Every check of the module docstring on every run folder of ``target``; returns facts."""
    from near.config import from_dict
    from near.utils.checkpoint import load, stored_items
    from omegaconf import OmegaConf

    facts = {"lost_intervals": 0.0, "checkpoints_checked": 0}
    for run in run_folders(target, reference):
        name = os.path.relpath(run, target)
        ref_run = os.path.join(reference, name) if name != "." else reference
        cfg_path = os.path.join(run, "config.yaml")
        if os.path.exists(cfg_path):
            try:
                from_dict(OmegaConf.to_container(OmegaConf.load(cfg_path)))
            except Exception as e:  # noqa: BLE001
                raise Violation(f"{name}: config.yaml does not load after the kill: {type(e).__name__}: {e}") from None
        steps = checkpoint_steps(run)
        for step in steps:
            try:
                where = os.path.join(run, "checkpoints", str(step))
                load(where, items=("model", "train", "meta") + (("rollout",) if "rollout" in stored_items(where) else ()))
            except Exception as e:  # noqa: BLE001
                raise Violation(f"{name}: checkpoint {step} is corrupt after the kill: {type(e).__name__}: {str(e)[:300]}") from None
            facts["checkpoints_checked"] += 1
        last = steps[-1] if steps else 0
        previous = state.setdefault("last_checkpoint", {}).get(name, 0)
        if last < previous:
            raise Violation(f"{name}: the last checkpoint went back from {previous} to {last}")
        state["last_checkpoint"][name] = last
        got, want = metric_steps(run), metric_steps(ref_run)
        if got != want[: len(got)]:
            dup = sorted({s for s in got if got.count(s) > 1})
            raise Violation(f"{name}: metrics.jsonl steps are not the unkilled run's (duplicates {dup[:5]}; "
                            f"got {got[:3]}...{got[-3:]}, want {want[:3]}...)")
        interval, scale = step_units(ref_run)
        if got and not os.path.exists(os.path.join(run, "summary.json")):
            # logged but not checkpointed: what the kill lost (logged again after the resume)
            lost = (got[-1] - last * scale) / interval
            if lost > 1 + 1e-9:
                raise Violation(f"{name}: {got[-1] - last * scale} steps after the last checkpoint ({last}) were "
                                f"lost on the kill: more than one checkpoint interval ({interval})")
            facts["lost_intervals"] = max(facts["lost_intervals"], lost)
    return facts


def final_arrays(run: str) -> dict[str, np.ndarray]:
    import jax

    from near.utils.checkpoint import load, stored_items

    step = checkpoint_steps(run)[-1]
    where = os.path.join(run, "checkpoints", str(step))
    items = ("model", "train") + (("rollout",) if "rollout" in stored_items(where) else ())
    restored = load(where, items=items)
    return {jax.tree_util.keystr(p): np.asarray(x) for p, x in
            jax.tree_util.tree_leaves_with_path({k: restored[k] for k in items})}


def _strip(x):
    """A document without what differs between two runs of the same work: wall times, folders."""
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in WALL_KEYS and k != "run_dir"}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    if isinstance(x, str) and "| wall" in x:  # a Markdown table with a wall-time column
        return _drop_wall_column(x)
    if isinstance(x, str) and os.sep in x:  # paths differ between the two run folders
        return os.path.basename(x)
    return x


def _drop_wall_column(text: str) -> str:
    lines = text.split("\n")
    header = next(line for line in lines if "| wall" in line)
    drop = {i for i, cell in enumerate(header.split("|")) if "wall" in cell}
    return "\n".join("|".join(c for i, c in enumerate(line.split("|")) if i not in drop) if line.startswith("|")
                     else line for line in lines)


def first_difference(a, b, path: str = "") -> str | None:
    """The first path where two JSON documents differ (NaN equals NaN), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            d = first_difference(a.get(k), b.get(k), f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{path}[{i}]"))), None)
    if json.dumps(a) != json.dumps(b):
        return f"{path}: {str(a)[:60]} vs {str(b)[:60]}"
    return None


def compare_finished(target: str, reference: str) -> dict:
    """A finished killed run against the unkilled one: arrays, metrics, summaries, the sweep report."""
    arrays = records = 0
    for run in run_folders(target, reference):
        name = os.path.relpath(run, target)
        ref_run = os.path.join(reference, name) if name != "." else reference
        a, b = final_arrays(run), final_arrays(ref_run)
        if a.keys() != b.keys():
            raise Violation(f"{name}: the final checkpoint holds other arrays than the unkilled run's")
        for key in a:
            if a[key].shape != b[key].shape or not np.array_equal(a[key], b[key], equal_nan=True):
                diff = np.max(np.abs(a[key].astype(np.float64) - b[key].astype(np.float64))) if a[key].shape == b[key].shape else "shape"
                raise Violation(f"{name}: final {key} differs from the unkilled run's (max |diff| {diff})")
        arrays += len(a)
        ra, rb = metric_records(run), metric_records(ref_run)
        if len(ra) != len(rb) or (d := first_difference(ra, rb)):
            raise Violation(f"{name}: metrics differ from the unkilled run's ({len(ra)} vs {len(rb)} records; "
                            f"{d if len(ra) == len(rb) else 'count'})")
        records += len(ra)
        sa, sb = (_strip(json.load(open(os.path.join(r, "summary.json")))) for r in (run, ref_run))
        if (d := first_difference(sa, sb)):
            raise Violation(f"{name}: summary.json differs from the unkilled run's at {d}")
    report = os.path.join(target, "report.json")
    if os.path.exists(report):
        d = first_difference(_strip(json.load(open(report))), _strip(json.load(open(os.path.join(reference, "report.json")))))
        if d:
            raise Violation(f"the sweep's report.json differs from the uninterrupted sweep's at {d}")
    return {"arrays_compared": arrays, "metric_records_compared": records}


# ----------------------------------------------------------------------------------------------
# the loop


def run_to_end(args: list[str], env: dict, log) -> float:
    start = time.time()
    rc = subprocess.run(near_cmd(args), env=env, stdout=log, stderr=log, check=False).returncode
    if rc != 0:
        raise RuntimeError(f"the unkilled run `near {' '.join(args)}` exited with {rc}")
    return time.time() - start


def kill_loop(kind: str, first_args: list[str], restart_args: list[str], target: str, reference: str,
              ref_seconds: float, kills: int, env: dict, log, rng: random.Random, write_fraction: float = 0.35) -> dict:
    """Start, kill, check, resume; until ``kills`` kills, each finished run compared with the reference."""
    import shutil

    out = {"kind": kind, "kills": 0, "kills_during_checkpoint_write": 0, "restarts": 0, "finished_runs": 0,
           "max_lost_intervals": 0.0, "checkpoints_checked": 0, "arrays_compared": 0, "metric_records_compared": 0,
           "violations": []}
    state: dict = {}
    start = time.time()
    attempt = 0
    while out["kills"] < kills:
        args = first_args if not state.get("started") else restart_args
        state["started"] = True
        proc = subprocess.Popen(near_cmd(args), env=env, stdout=log, stderr=log, start_new_session=True)
        out["restarts"] += attempt > 0
        attempt += 1
        at_write = rng.random() < write_fraction
        deadline = time.time() + (rng.uniform(0.0, ref_seconds * 1.1) if not at_write else ref_seconds * 3)
        during_write = False
        while proc.poll() is None and time.time() < deadline:
            if at_write and writing_checkpoint(target):
                during_write = True
                break
            time.sleep(0.002 if at_write else 0.02)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # our own process group, started above
            proc.wait()
            out["kills"] += 1
            out["kills_during_checkpoint_write"] += during_write and writing_checkpoint(target)
            try:
                facts = check_after_kill(target, reference, state)
                out["max_lost_intervals"] = max(out["max_lost_intervals"], facts["lost_intervals"])
                out["checkpoints_checked"] += facts["checkpoints_checked"]
            except Violation as v:
                out["violations"].append(f"after kill {out['kills']}: {v}")
            continue
        if proc.returncode != 0:
            out["violations"].append(f"`near {' '.join(args)}` exited with {proc.returncode} after {out['kills']} kills")
            break
        try:  # finished: compare with the unkilled run, then start a fresh one
            facts = compare_finished(target, reference)
            out["arrays_compared"] += facts["arrays_compared"]
            out["metric_records_compared"] += facts["metric_records_compared"]
        except Violation as v:
            out["violations"].append(f"finished run {out['finished_runs'] + 1}: {v}")
        out["finished_runs"] += 1
        shutil.rmtree(target)
        state = {}
    # the last run, killed, goes on to its end and is compared too
    if os.path.exists(target) and not out["violations"]:
        rc = subprocess.run(near_cmd(restart_args), env=env, stdout=log, stderr=log, check=False).returncode
        if rc != 0:
            out["violations"].append(f"the last resume exited with {rc}")
        else:
            try:
                facts = compare_finished(target, reference)
                out["arrays_compared"] += facts["arrays_compared"]
                out["metric_records_compared"] += facts["metric_records_compared"]
                out["finished_runs"] += 1
            except Violation as v:
                out["violations"].append(f"last run: {v}")
    out["seconds"] = round(time.time() - start, 1)
    return out


def run_kind(kind: str, kills: int, work: str, env: dict, rng: random.Random, log) -> dict:
    folder = os.path.join(work, kind)
    os.makedirs(folder, exist_ok=True)
    if kind == "energy":
        base = ["train-energy", *ENERGY_ARGS]
    elif kind == "maze_near":
        energy = os.path.join(work, "maze_energy")
        if not os.path.exists(os.path.join(energy, "summary.json")):
            run_to_end(["train-energy", *ENERGY_ARGS, f"out={energy}"], env, log)
        base = ["train", *MAZE_ARGS, f"energy.checkpoint={energy}"]
    elif kind == "humanoid_amp":
        clip = write_clip(os.path.join(work, "walk.npy"))
        base = ["train", *HUMANOID_ARGS, f"motion={clip}"]
    elif kind == "experiment":
        base = ["experiment", *SWEEP_ARGS]
    else:
        raise ValueError(f"unknown run kind {kind!r}")
    reference, target = os.path.join(folder, "unkilled"), os.path.join(folder, "killed")
    ref_seconds = run_to_end(base + [f"out={reference}"], env, log)
    first = base + [f"out={target}"]
    restart = first if kind == "experiment" else first + ["resume=True"]  # a sweep resumes by running again
    result = kill_loop(kind, first, restart, target, reference, ref_seconds, kills, env, log, rng)
    result["unkilled_seconds"] = round(ref_seconds, 1)
    return result


KINDS = ["energy", "maze_near", "humanoid_amp", "experiment"]


def save(rows: list[dict], args) -> str:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _report import write_result

    return write_result(args.out, "reliability_kill", rows + [{"seed": args.seed, "kills_per_kind": args.kills}])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="kills per run kind")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--out", default="reliability_kill")
    parser.add_argument("--work", default="", help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="near-kill-") as tmp:
        work = args.work or tmp
        os.makedirs(work, exist_ok=True)
        env = dict(os.environ, NEAR_XLA_CACHE=os.environ.get("NEAR_XLA_CACHE", os.path.join(work, "xla")),
                   TF_CPP_MIN_LOG_LEVEL="3")
        with open(os.path.join(work, "near.log"), "ab") as log:
            for kind in args.kinds.split(","):
                try:
                    row = run_kind(kind, args.kills, work, env, rng, log)
                except Exception as e:  # noqa: BLE001 - a harness error ends this kind, not the others
                    row = {"kind": kind, "kills": 0, "kills_during_checkpoint_write": 0, "finished_runs": 0,
                           "max_lost_intervals": 0.0, "checkpoints_checked": 0, "seconds": 0,
                           "violations": [f"harness error: {type(e).__name__}: {e}"]}
                rows.append(row)
                save(rows, args)  # after every kind: a later failure keeps the rows before it
                print(f"{kind:13s} {row['kills']:3d} kills ({row['kills_during_checkpoint_write']} during a checkpoint "
                      f"write), {row['finished_runs']} finished runs, max lost {row['max_lost_intervals']:.2f} "
                      f"intervals, {row['seconds']} s, violations: {row['violations'] or 'none'}", flush=True)
    path = save(rows, args)
    print("\n| run kind | kills survived | during a checkpoint write | finished runs = unkilled run | "
          "max lost (checkpoint intervals) | checkpoints checked | seconds |\n|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        survived = r["kills"] if not r["violations"] else f"{r['kills']} ({len(r['violations'])} violations)"
        print(f"| {r['kind']} | {survived} | {r['kills_during_checkpoint_write']} | {r['finished_runs']} | "
              f"{r['max_lost_intervals']:.2f} | {r['checkpoints_checked']} | {r['seconds']} |")
    print(f"\n{path}")
    return 1 if any(r["violations"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
