"""The `near` command: one entry point, sub-commands, Hydra-style key=value overrides."""

from __future__ import annotations

import os
import sys

from near.utils.jax_setup import cache_note, configure_jax

USAGE = """usage: near COMMAND [key=value ...]

commands:
  quickstart                      the whole maze pipeline on CPU: demos -> energy -> NEAR policy -> report
  train-energy task=TASK          step 1: train the energy model on the task's demonstrations
  train task=TASK                 step 2: train a policy (NEAR needs energy.checkpoint=RUN_DIR)
  play task=TASK checkpoint=RUN   roll a trained policy out: video, trajectories PNG, eval.json
  eval task=TASK checkpoint=RUN   metrics of a trained policy (episodes=N): table + eval.json
  viz energy checkpoint=RUN       energy landscape over the maze plane at several noise levels (PNG; in out=DIR
                                  if given, else the run folder); a humanoid model: energy along its clips
                                  (policy=RUN: and that policy's episode)
  experiment tasks=[maze] algos=[NEAR,AMP,CEM,PPO] seeds=5 ablations=[sigma5] out=DIR
                                  tasks x methods x seeds (x ablations), resumable; report: curves
                                  (PNG), table (Markdown, JSON); launcher=joblib jobs=2 | launcher=slurm
  compare ...                     experiment with seeds=3 by default
  viz disc checkpoint=RUN         AMP discriminator reward over the maze plane (PNG); a humanoid AMP run: along
                                  its clips and its own episode
  motion import|tpose|retarget|view|list|yaml ...
                                  the motion-data pipeline: BVH import, retargeting (IK), playback (near motion help)

tasks: {tasks}
train configs (train=NAME; default <task>PPO): {trains}

common keys: out=DIR  smoke=True  resume=True  seed=N  progress=False  task.data=PATH.zarr
examples:
  near quickstart
  near train-energy task=mazeNEAR out=runs/energy
  near train task=mazeNEAR energy.checkpoint=runs/energy out=runs/near
  near train task=mazeNEAR energy.checkpoint=runs/energy reward.sigma_level=5   # fixed noise level
  near play task=mazeNEAR checkpoint=runs/near
"""


def _usage() -> str:
    from near.config import available

    return USAGE.format(tasks=", ".join(available("task")), trains=", ".join(available("train")))


def summary_table(summary: dict, title: str) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if isinstance(value, (int, float, str)) or value is None:
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console = Console()
    with console.capture() as capture:
        console.print(table)
    return capture.get()


def _print_summary(summary: dict, title: str) -> None:
    print(summary_table(summary, title))


def _experiment(args: list[str], command: str) -> int:
    """near experiment / near compare (the same sweep; compare defaults to 3 seeds): table + report files."""
    from near.commands.experiment import main as experiment

    result = experiment(args, default_seeds=3 if command == "compare" else 5)
    for task, part in result["tasks"].items():
        print(f"{task}\n{part['table_markdown']}")
    print(f"report: {result['markdown']}")
    for name, error in result["failures"].items():
        print(f"near {command}: {name}: {error}", file=sys.stderr)
    return 1 if result["failures"] else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    command, args = argv[0], argv[1:]
    if command == "motion":  # the motion-data pipeline: no run config, its own usage (near.cli_motion)
        from near.cli_motion import main as motion_main

        return motion_main(args)
    if any(a in ("-h", "--help") for a in args):
        print(_usage())
        return 0
    try:
        configure_jax(command)
    except ValueError as exc:
        print(f"near: {exc}", file=sys.stderr)
        return 2
    from near.config import ConfigError, compose_config
    from near.data.demos import DemoDataError
    from near.motion.skeleton import MotionDataError
    from near.utils.checkpoint import CheckpointError
    from near.utils.interrupt import RunInterrupted
    from near.utils.logging import NonFiniteError, RunFolderError

    sub = None
    if command == "viz":
        if not args or "=" in args[0]:
            print("near viz: say what to draw: `near viz energy checkpoint=RUN_DIR`", file=sys.stderr)
            return 2
        sub, args = args[0], args[1:]
    try:
        if command == "quickstart":
            from near.commands.quickstart import quickstart

            cfg = compose_config(args)
            summary = quickstart(cfg)
            _print_summary(summary, "NEAR quickstart (maze)")
            print(f"report: {os.path.dirname(summary['files']['energy_landscape'])}")
        elif command == "train-energy":
            from near.commands.train_energy import ranking_warning, train_energy

            summary = train_energy(compose_config(args))
            _print_summary(summary, "energy model")
            if warning := ranking_warning(summary):
                print(f"near train-energy: warning: {warning}", file=sys.stderr)
        elif command == "train":
            from near.commands.train import train_policy

            summary = train_policy(compose_config(args))
            _print_summary(summary, "policy")
        elif command == "play":
            from near.commands.play import play
            from near.eval.policy_eval import with_run_physics

            cfg = with_run_physics(compose_config(args), args)
            summary = play(cfg)
            _print_summary(summary, f"{command}: {cfg.task.name}")
        elif command == "eval":
            from near.commands.evaluate import evaluate
            from near.eval.policy_eval import with_run_physics
            from near.eval.report import metrics_table

            cfg = with_run_physics(compose_config(args), args)
            summary = evaluate(cfg)
            print(metrics_table(summary, f"eval: {cfg.task.name} ({cfg.checkpoint})"))
            print(f"eval.json: {summary['files']['eval']}")
        elif command in ("experiment", "compare"):
            return _experiment(args, command)
        elif command == "viz":
            from near.commands.viz import viz_disc, viz_energy

            cfg = compose_config(args)
            if sub == "energy":
                print(viz_energy(cfg))
            elif sub == "disc":
                print(viz_disc(cfg))
            else:
                print(f"near viz: unknown view {sub!r}; available: energy, disc", file=sys.stderr)
                return 2
        else:
            print(f"near: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
            return 2
    except (ConfigError, DemoDataError, MotionDataError, CheckpointError, RunFolderError, NonFiniteError) as exc:
        print(f"near {command}: error: {exc}", file=sys.stderr)
        return 1
    except RunInterrupted as exc:
        print(f"near {command}: {exc}", file=sys.stderr)
        return 130
    note = cache_note()
    if note:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
