"""near eval: the metrics of a trained policy (or a CEM run, planned again) as a table and eval.json.

maze / push-T: success rate, task return and episode length (mean ± std over episodes), SPARC and
mean speed of the agent's 2-D path, push-T's final goal coverage. Deterministic actions (the policy
mean), as the original's metric rollouts.

The humanoid plugs in through :data:`EVALUATORS` (env name -> function of the Config): its rollout
records body positions (T+1, n_envs, 15, 3) and the learnt return, and :func:`humanoid_eval_metrics`
turns them and the motion's reference clips into the original's numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from near.config import Config, ConfigError
from near.eval import metrics as M
from near.utils.logging import write_json


def rollout_2d(cfg: Config) -> dict:
    """Evaluation episodes of the checkpoint: a policy, or a CEM run's planner with its own settings."""
    from near import pipeline

    if pipeline._is_cem_run(cfg.checkpoint):
        return pipeline._replan_cem(cfg, cfg.checkpoint)
    return pipeline.evaluate_policy(cfg, cfg.checkpoint, episodes=cfg.episodes)  # checks the checkpoint first


def evaluate_2d(cfg: Config) -> dict:
    """maze / push-T: metrics, eval.json and trajectories.png in ``out`` (default <checkpoint>/eval)."""
    from near import pipeline

    result = rollout_2d(cfg)
    summary = {"checkpoint": cfg.checkpoint, "task": cfg.task.name, "episodes": len(result["success"]),
               "deterministic": True,
               **M.episode_stats(result["episode_return"], result["episode_length"], result["success"]),
               **pipeline.task_metrics(cfg.task.env, result)}
    out = cfg.out or os.path.join(os.path.abspath(os.path.expanduser(cfg.checkpoint)), "eval")
    os.makedirs(out, exist_ok=True)
    summary["files"] = {"trajectories": pipeline.plot_episodes(
        cfg, result, os.path.join(out, "trajectories.png"),
        title=f"{cfg.task.name}: success {summary['success_rate']:.0%}")}
    summary["per_episode"] = {"success": [bool(s) for s in result["success"]],
                              "task_return": [round(float(r), 3) for r in result["episode_return"]],
                              "episode_length": [int(n) for n in result["episode_length"]]}
    write_json(os.path.join(out, "eval.json"), summary)
    summary["files"]["eval"] = os.path.join(out, "eval.json")
    return summary


def humanoid_eval_metrics(rollout: dict, demo_trajs: Sequence[np.ndarray], dt: float = M.HUMANOID_DT,
                          k: int = M.TOP_K) -> dict:
    """The humanoid's numbers from one deterministic rollout (spec §9), for the humanoid's evaluator.

    rollout: ``body_pos`` (T+1, n_envs, 15, 3) world positions, ``learnt_return`` (n_envs,) raw energy
    (AMP: discriminator reward) summed until each env's first termination, ``episode_return`` and
    ``episode_length`` (n_envs,) up to it, ``max_steps``. demo_trajs: the motion's clips as body
    positions (T_c, 15, 3) every dt (:func:`near.eval.metrics.sample_clip`).
    """
    out = M.humanoid_metrics(rollout["body_pos"], rollout["learnt_return"], demo_trajs, dt=dt, k=k)
    out.update(M.episode_stats(rollout["episode_return"], rollout["episode_length"]))
    out["fall_rate"] = M.fall_rate(rollout["episode_length"], rollout["max_steps"])
    return out


def evaluate_humanoid(cfg: Config) -> dict:
    """humanoid: deterministic episodes from reference-state resets; pose error (DTW against every clip
    of the motion), root smoothness and motion, fall rate, episode length and task return."""
    from near import pipeline

    env = pipeline.make_env(cfg)
    result = pipeline.evaluate_policy(cfg, cfg.checkpoint, env=env, episodes=cfg.episodes)
    summary = {"checkpoint": cfg.checkpoint, "task": cfg.task.name, "motion": cfg.motion,
               "episodes": len(result["success"]), "deterministic": True,
               **M.episode_stats(result["episode_return"], result["episode_length"], result["success"]),
               **pipeline.task_metrics(cfg.task.env, result)}
    out = cfg.out or os.path.join(os.path.abspath(os.path.expanduser(cfg.checkpoint)), "eval")
    os.makedirs(out, exist_ok=True)
    summary["per_episode"] = {"task_return": [round(float(r), 3) for r in result["episode_return"]],
                              "episode_length": [int(n) for n in result["episode_length"]]}
    write_json(os.path.join(out, "eval.json"), summary)
    summary["files"] = {"eval": os.path.join(out, "eval.json")}
    return summary


# env name -> evaluator
EVALUATORS: dict[str, Callable[[Config], dict]] = {"maze": evaluate_2d, "pusht": evaluate_2d,
                                                   "humanoid": evaluate_humanoid}


def evaluate(cfg: Config) -> dict:
    if not cfg.checkpoint:
        raise ConfigError("eval needs checkpoint=RUN_DIR (a run folder made by `near train`)")
    if cfg.task.env not in EVALUATORS:
        raise ConfigError(f"near eval has no evaluator for env {cfg.task.env!r} yet; available: {', '.join(EVALUATORS)}")
    return EVALUATORS[cfg.task.env](cfg)


ROWS = (("success_rate", "success rate", "{:.2f}"), ("final_coverage", "final goal coverage", "{:.3f}"),
        ("pose_error", "pose error (DTW / joint)", "{:.4f}"), ("task_return", "task return", "{:.1f}"),
        ("episode_length", "episode length", "{:.1f}"), ("fall_rate", "fall rate", "{:.2f}"),
        ("path_sparc", "path SPARC (higher = smoother)", "{:.3f}"), ("path_speed", "path speed (px/s)", "{:.2f}"),
        ("sparc", "root SPARC (higher = smoother)", "{:.3f}"), ("root_velocity", "root velocity", "{:.3f}"),
        ("root_acceleration", "root acceleration", "{:.3f}"), ("root_jerk", "root jerk", "{:.2f}"))


def metrics_table(summary: dict, title: str) -> str:
    """The metrics a summary has, with ± std where it has one, as a terminal table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, name, fmt in ROWS:
        if summary.get(key) is None:
            continue
        value = fmt.format(summary[key])
        if summary.get(f"{key}_std") is not None:
            value += " ± " + fmt.format(summary[f"{key}_std"])
        table.add_row(name, value)
    table.add_row("episodes", str(summary.get("episodes")))
    console = Console(width=100)
    with console.capture() as capture:
        console.print(table)
    return capture.get()


__all__ = ["EVALUATORS", "evaluate", "evaluate_2d", "humanoid_eval_metrics", "metrics_table"]
