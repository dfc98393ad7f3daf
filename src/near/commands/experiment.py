"""near experiment: tasks x algorithms x seeds (x ablations), resumable, then a report (PNG, Markdown, JSON;
near.eval.report).

Every (task, algorithm, ablation, seed) is an ordinary run folder; NEAR and CEM use an energy model
trained with the same seed, as in the original's experiment generator (one energy job per NEAR run).
Layout of ``out``:

    <task>/energy[-<ablation>]/seed<k>/   step 1 (an ablation that changes the energy model gets its own)
    <task>/<algo>[-<ablation>]/seed<k>/   step 2; summary.json marks a finished run
    report.md  report.json  curves_<task>.png
    .sweep/                               job lists and Hydra's logs (launcher=joblib | slurm)

Resuming: a finished run (summary.json) is never redone; an interrupted one continues from its last
checkpoint (or starts again if it has none); a finished run made with other settings stops the sweep
with an error instead of being mixed into the report. Runs go one after another in this process
(``launcher=local``), or as Hydra multirun jobs (``launcher=joblib``: parallel processes;
``launcher=slurm``: Hydra's Submitit launcher, conf/hydra/launcher/slurm.yaml), energy jobs first.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time

from near.config import ConfigError
from near.eval.report import aggregate
from near.utils.logging import write_json

SEEDS = (42, 700, 8125, 97, 3538)  # the original's five seeds
# Sweep task -> algorithm -> the overrides that select its run config. The humanoid's motion comes
# from the sweep: humanoid.motion=PATH (a clip or a motion-set yaml).
TASKS: dict[str, dict[str, list[str]]] = {
    "maze": {"NEAR": ["task=mazeNEAR"], "AMP": ["task=mazeAMP"], "CEM": ["task=mazeCEM", "train=mazeCEM"],
             "PPO": ["task=maze"]},
    "pushT": {"NEAR": ["task=pushTNEAR"], "AMP": ["task=pushTAMP"], "CEM": ["task=pushTCEM", "train=pushTCEM"],
              "PPO": ["task=pushT"]},
    "humanoid": {"NEAR": ["task=HumanoidNEAR"], "AMP": ["task=HumanoidAMP"], "PPO": ["task=Humanoid"]},
}
USES_ENERGY = ("NEAR", "CEM")
ENERGY_KEYS = ("task.", "energy.", "seed=", "smoke=")  # overrides that change the energy model
# compared between a finished run and the sweep's request; the rest is where and how it ran
IGNORED_KEYS = ("out", "progress", "resume", "checkpoint", "episodes", "video")


class SweepError(ConfigError):
    pass


@dataclasses.dataclass(frozen=True)
class Ablation:
    """A named override set, run for ``algos`` on top of the sweep's overrides."""

    name: str
    overrides: tuple[str, ...]
    algos: tuple[str, ...] = ("NEAR",)


@dataclasses.dataclass
class Sweep:
    out: str
    tasks: list[str] = dataclasses.field(default_factory=lambda: ["maze"])
    algos: list[str] = dataclasses.field(default_factory=lambda: ["NEAR", "AMP", "CEM", "PPO"])
    seeds: list[int] = dataclasses.field(default_factory=lambda: list(SEEDS))
    ablations: list[Ablation] = dataclasses.field(default_factory=list)
    overrides: list[str] = dataclasses.field(default_factory=list)  # every run
    task_overrides: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # maze.task.data=... -> maze


@dataclasses.dataclass(frozen=True)
class Job:
    name: str  # "maze/NEAR-sigma5/seed42"
    kind: str  # "energy" | "policy"
    run_dir: str
    overrides: tuple[str, ...]  # out=run_dir included
    task: str
    algo: str
    label: str  # row of the report: "NEAR", "NEAR [sigma5]"
    seed: int
    needs: str = ""  # run_dir of the energy job it needs


# ----------------------------------------------------------------------------------------------
# ablations


def load_ablations(path: str | None = None) -> dict[str, Ablation]:
    """The shipped named override sets (conf/experiment/ablations.yaml), or those of a YAML file."""
    import importlib.resources

    from omegaconf import OmegaConf

    if path:
        with open(path) as fh:
            text = fh.read()
    else:
        text = (importlib.resources.files("near.conf") / "experiment" / "ablations.yaml").read_text()
    data = OmegaConf.to_container(OmegaConf.create(text)) or {}
    out = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or "overrides" not in spec:
            raise SweepError(f"ablation {name!r} ({path or 'ablations.yaml'}) needs an 'overrides' list")
        out[name] = Ablation(name, tuple(spec["overrides"]), tuple(spec.get("algos", ["NEAR"])))
    return out


# ----------------------------------------------------------------------------------------------
# planning


def plan(sweep: Sweep) -> tuple[list[Job], list[Job]]:
    """The energy jobs and policy jobs of a sweep (pure: touches no file)."""
    for task in sweep.tasks:
        if task not in TASKS:
            raise SweepError(f"unknown sweep task {task!r}; available: {', '.join(TASKS)}")
        for algo in sweep.algos:
            if algo not in TASKS[task]:
                raise SweepError(f"no {algo!r} task for {task!r}; available: {sorted(TASKS[task])}")
    if "humanoid" in sweep.tasks and not any(o.startswith("motion=") for o in
                                             sweep.overrides + sweep.task_overrides.get("humanoid", [])):
        raise SweepError("the humanoid sweep needs its motion: humanoid.motion=PATH (a clip or a motion-set yaml)")
    variants = [Ablation("", ())] + list(sweep.ablations)
    energy: dict[str, Job] = {}
    policy: list[Job] = []
    for task in sweep.tasks:
        common = list(sweep.overrides) + list(sweep.task_overrides.get(task, []))
        for variant in variants:
            algos = sweep.algos if not variant.name else [a for a in sweep.algos if a in variant.algos]
            if variant.name and not algos:
                raise SweepError(f"ablation {variant.name!r} runs {list(variant.algos)}, none of algos={sweep.algos}")
            energy_ov = [o for o in variant.overrides if o.startswith(ENERGY_KEYS)]
            energy_name = "energy" + (f"-{variant.name}" if energy_ov else "")
            for seed in sweep.seeds:
                energy_dir = os.path.join(sweep.out, task, energy_name, f"seed{seed}")
                needs_energy = [a for a in algos if a in USES_ENERGY]
                if needs_energy and energy_dir not in energy:
                    energy[energy_dir] = Job(
                        f"{task}/{energy_name}/seed{seed}", "energy", energy_dir,
                        # all the variant's overrides: the energy model's own, and the rest so that
                        # the config validates (no_ncsnv2's 10 levels need its reward level too)
                        tuple(TASKS[task][needs_energy[0]] + common + list(variant.overrides) +
                              [f"seed={seed}", f"out={energy_dir}"]),
                        task, "energy", energy_name, seed)
                for algo in algos:
                    name = algo + (f"-{variant.name}" if variant.name else "")
                    run_dir = os.path.join(sweep.out, task, name, f"seed{seed}")
                    extra = [f"energy.checkpoint={energy_dir}"] if algo in USES_ENERGY else []
                    policy.append(Job(
                        f"{task}/{name}/seed{seed}", "policy", run_dir,
                        tuple(TASKS[task][algo] + common + list(variant.overrides) + extra +
                              [f"seed={seed}", f"out={run_dir}"]),
                        task, algo, algo + (f" [{variant.name}]" if variant.name else ""), seed,
                        energy_dir if algo in USES_ENERGY else ""))
    return list(energy.values()), policy


def _settings(cfg) -> dict:
    """A run's config as plain data, without where/how it ran."""
    from omegaconf import OmegaConf

    from near.config import to_yaml

    data = OmegaConf.to_container(OmegaConf.create(to_yaml(cfg)))
    for key in IGNORED_KEYS:
        data.pop(key, None)
    data.get("energy", {}).pop("checkpoint", None)
    return data


def _saved_settings(run_dir: str) -> dict | None:
    from omegaconf import OmegaConf

    path = os.path.join(run_dir, "config.yaml")
    if not os.path.exists(path):
        return None
    from near.config import from_dict

    return _settings(from_dict(OmegaConf.to_container(OmegaConf.load(path))))


def _diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = []
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            keys += _diff(x, y, f"{prefix}{k}.")
        elif x != y:
            keys.append(f"{prefix}{k}: {x!r} (run) vs {y!r} (now)")
    return keys


def check_finished(jobs: list[Job]) -> None:
    """Refuse to mix a finished run made with other settings into this sweep's report."""
    from near.config import compose_config

    for job in jobs:
        cfg = compose_config(list(job.overrides))  # also validates every job before anything runs
        if not is_done(job):
            continue
        saved = _saved_settings(job.run_dir)
        if job.kind == "energy" and saved is not None:  # the energy model depends on these only
            saved = {k: saved.get(k) for k in ("task", "energy", "seed", "smoke")}
            want = {k: v for k, v in _settings(cfg).items() if k in ("task", "energy", "seed", "smoke")}
        else:
            want = _settings(cfg)
        if saved is not None and saved != want:
            changes = "; ".join(_diff(saved, want)[:4])
            raise SweepError(f"{job.run_dir} is a finished run made with other settings ({changes}); "
                             f"use another out=DIR, or delete that run folder to redo it")


def is_done(job: Job) -> bool:
    return os.path.exists(os.path.join(job.run_dir, "summary.json"))


# ----------------------------------------------------------------------------------------------
# running


def run_job(job: Job, progress: bool = True) -> dict:
    """Run one job to its summary.json: skip it if done, resume it if interrupted, else start it."""
    from near.commands import train, train_energy
    from near.config import compose_config
    from near.utils.checkpoint import CheckpointError
    from near.utils.logging import RunFolderError

    if is_done(job):
        return _read(os.path.join(job.run_dir, "summary.json"))
    run = train_energy.train_energy if job.kind == "energy" else train.train_policy  # looked up now: tests patch them
    overrides = list(job.overrides) + [f"progress={progress}"]
    if _resumable(job, compose_config(overrides)):
        try:
            return run(compose_config(overrides + ["resume=True"]))
        except (CheckpointError, RunFolderError):
            pass  # an unreadable checkpoint: start again below
    if os.path.isdir(job.run_dir):
        shutil.rmtree(job.run_dir)  # an unfinished run of ours, not resumable
    return run(compose_config(overrides))


def _resumable(job: Job, cfg) -> bool:
    ckpt = os.path.join(job.run_dir, "checkpoints")
    if job.algo == "CEM" or not os.path.isdir(ckpt) or not any(d.isdigit() for d in os.listdir(ckpt)):
        return False
    try:
        return _saved_settings(job.run_dir) == _settings(cfg)
    except Exception:  # noqa: BLE001 - an unreadable config.yaml: the run starts again
        return False


def _read(path: str) -> dict:
    with open(path) as fh:
        return json.load(fh)


def run_local(energy: list[Job], policy: list[Job], progress: bool = True) -> dict[str, str]:
    """Run the jobs one after another in this process; returns {job name: error} of the failed ones."""
    failures: dict[str, str] = {}
    failed_dirs = set()
    for job in energy + policy:
        if job.needs in failed_dirs:
            failures[job.name] = "skipped: its energy model failed"
            continue
        try:
            run_job(job, progress)
        except Exception as exc:  # noqa: BLE001 - one failed run must not stop a long sweep
            failures[job.name] = f"{type(exc).__name__}: {exc}"
            failed_dirs.add(job.run_dir)
            print(f"near experiment: {job.name} failed: {failures[job.name]}")
    return failures


def run_hydra(energy: list[Job], policy: list[Job], out: str, launcher: str, n_jobs: int = 2,
              hydra_overrides: list[str] = ()) -> dict[str, str]:
    """Run the pending jobs as a Hydra multirun of ``near.commands.sweep_job`` (energy jobs first)."""
    import subprocess
    import sys

    failures: dict[str, str] = {}
    for phase, jobs in (("energy", energy), ("policy", policy)):
        # a policy job whose energy model is missing (failed above) is reported as skipped below
        pending = [j for j in jobs if not is_done(j) and (not j.needs or os.path.exists(os.path.join(j.needs, "summary.json")))]
        if not pending:
            continue
        stamp = time.strftime("%Y%m%d-%H%M%S")
        sweep_dir = os.path.abspath(os.path.join(out, ".sweep", f"{phase}-{stamp}"))
        os.makedirs(sweep_dir, exist_ok=True)
        jobs_file = os.path.join(sweep_dir, "jobs.json")
        write_json(jobs_file, {"jobs": [dataclasses.asdict(j) for j in pending]})
        cmd = [sys.executable, "-m", "near.commands.sweep_job", "--multirun", f"hydra/launcher={launcher}",
               f"jobs_file={jobs_file}", "index=" + ",".join(str(i) for i in range(len(pending))),
               f"hydra.sweep.dir={sweep_dir}"]
        if launcher == "joblib":
            cmd.append(f"hydra.launcher.n_jobs={n_jobs}")
        print(f"near experiment: {len(pending)} {phase} jobs through hydra/launcher={launcher} (logs: {sweep_dir})")
        subprocess.run(cmd + list(hydra_overrides), check=False)
        for job in pending:
            if not is_done(job):
                failures[job.name] = f"no summary.json after the {launcher} launcher; see {sweep_dir}"
    for job in energy + policy:
        if not is_done(job) and job.name not in failures:
            failures[job.name] = "skipped: its energy model failed"
    return failures


def run_experiment(sweep: Sweep, launcher: str = "local", n_jobs: int = 2, hydra_overrides: list[str] = (),
                   progress: bool = True) -> dict:
    energy, policy = plan(sweep)
    check_finished(energy + policy)
    os.makedirs(sweep.out, exist_ok=True)
    write_json(os.path.join(sweep.out, "sweep.json"), {
        "tasks": sweep.tasks, "algos": sweep.algos, "seeds": sweep.seeds, "overrides": sweep.overrides,
        "task_overrides": sweep.task_overrides, "ablations": [dataclasses.asdict(a) for a in sweep.ablations]})
    if launcher == "local":
        failures = run_local(energy, policy, progress)
    else:
        failures = run_hydra(energy, policy, sweep.out, launcher, n_jobs, hydra_overrides)
    runs: dict[str, dict[str, list[dict]]] = {}
    for job in policy:
        if is_done(job):
            runs.setdefault(job.task, {}).setdefault(job.label, []).append(_read(os.path.join(job.run_dir, "summary.json")))
    result = aggregate(sweep.out, runs, failures)
    result["failures"] = failures
    return result


# ----------------------------------------------------------------------------------------------
# the command line: near experiment / near compare


def _split_list(value: str) -> list[str]:
    """'[a,b=[1,2],c]' -> ['a', 'b=[1,2]', 'c'] (commas inside brackets stay)."""
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    items, depth, cur = [], 0, ""
    for ch in value:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    items.append(cur.strip())
    return [i for i in items if i]


def parse_args(args: list[str], *, default_seeds: int = len(SEEDS)) -> tuple[Sweep, dict]:
    """`near experiment` arguments -> a Sweep and the launcher options."""
    opts = {"launcher": "local", "jobs": 2, "progress": True, "hydra": []}
    sweep = Sweep(out="", seeds=list(SEEDS[:default_seeds]))
    names: list[str] = []
    custom: dict[str, Ablation] = {}
    ablations_file = None
    for arg in args:
        key, eq, value = arg.partition("=")
        if not eq:
            raise SweepError(f"expected key=value, got {arg!r}")
        if key == "tasks":
            sweep.tasks = _split_list(value)
        elif key == "algos":
            sweep.algos = _split_list(value)
        elif key == "seeds":
            if value.isdigit():
                if not 1 <= int(value) <= len(SEEDS):
                    raise SweepError(f"seeds=N takes the first N of {list(SEEDS)} (1-5); "
                                     f"give a list for others: seeds=[1,2,3]")
                sweep.seeds = list(SEEDS[: int(value)])
            else:
                try:
                    sweep.seeds = [int(s) for s in _split_list(value)]
                except ValueError:
                    raise SweepError(f"seeds must be a number (1-5) or a list of seeds, got {value!r}") from None
        elif key == "ablations":
            names = _split_list(value)
        elif key == "ablations_file":
            ablations_file = value
        elif key.startswith("ablation."):
            name = key.split(".", 1)[1]
            custom[name] = Ablation(name, tuple(_split_list(value)))
        elif key == "out":
            sweep.out = value
        elif key == "launcher":
            opts["launcher"] = value
        elif key == "jobs":
            opts["jobs"] = int(value)
        elif key == "progress":
            opts["progress"] = value.lower() in ("true", "1", "yes")
        elif key.startswith("hydra."):
            opts["hydra"].append(arg)
        elif "." in key and key.split(".", 1)[0] in TASKS:
            task, rest = key.split(".", 1)
            sweep.task_overrides.setdefault(task, []).append(f"{rest}={value}")
        else:
            sweep.overrides.append(arg)
    known = dict(load_ablations(ablations_file) if ablations_file else load_ablations(), **custom)
    for name in names + [n for n in custom if n not in names]:
        if name not in known:
            raise SweepError(f"unknown ablation {name!r}; named sets: {', '.join(sorted(known))} "
                             f"(src/near/conf/experiment/ablations.yaml), or define one: ablation.NAME=[key=value,...]")
        sweep.ablations.append(known[name])
    sweep.out = sweep.out or os.path.join("runs", f"experiment-{time.strftime('%Y%m%d-%H%M%S')}")
    return sweep, opts


def main(args: list[str], *, default_seeds: int = len(SEEDS)) -> dict:
    sweep, opts = parse_args(args, default_seeds=default_seeds)
    return run_experiment(sweep, opts["launcher"], opts["jobs"], opts["hydra"], opts["progress"])


__all__ = ["SEEDS", "TASKS", "Ablation", "Job", "Sweep", "SweepError", "aggregate", "load_ablations",
           "parse_args", "plan", "run_experiment", "run_job"]
