"""near eval: the metrics of a trained policy (or a CEM run, planned again) as a table and eval.json.

maze / push-T: success rate, task return and episode length (mean ± std over episodes), SPARC and
mean speed of the agent's 2-D path, push-T's final goal coverage. Deterministic actions (the policy
mean), as the original's metric rollouts; ``sample_actions=True`` draws them at the policy's std.

Each env plugs in through :data:`EVALUATORS` (env name -> function of the Config). The humanoid's
rollout records body positions and the return; near.eval.policy_eval.humanoid_metrics turns them and
the motion's reference clips into the original's numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from near.commands.run_folder import beside_checkpoint
from near.config import Config, ConfigError
from near.eval import metrics as M
from near.eval.policy_eval import evaluate_policy, rollout_checkpoint, task_metrics
from near.factories import make_env
from near.utils.logging import write_json
from near.viz.episodes import plot_episodes


def evaluate_2d(cfg: Config) -> dict:
    """maze / push-T: metrics, eval.json and trajectories.png in ``out`` (default <checkpoint>/eval)."""
    result = rollout_checkpoint(cfg)
    summary = {"checkpoint": cfg.checkpoint, "task": cfg.task.name, "episodes": len(result["success"]),
               "deterministic": not cfg.sample_actions,
               **M.episode_stats(result["episode_return"], result["episode_length"], result["success"]),
               **task_metrics(cfg.task.env, result)}
    out = beside_checkpoint(cfg, "eval")
    summary["files"] = {"trajectories": plot_episodes(cfg, result, os.path.join(out, "trajectories.png"),
                                                      title=f"{cfg.task.name}: success {summary['success_rate']:.0%}")}
    summary["per_episode"] = {"success": [bool(s) for s in result["success"]],
                              "task_return": [round(float(r), 3) for r in result["episode_return"]],
                              "episode_length": [int(n) for n in result["episode_length"]]}
    write_json(os.path.join(out, "eval.json"), summary)
    summary["files"]["eval"] = os.path.join(out, "eval.json")
    return summary


def evaluate_humanoid(cfg: Config) -> dict:
    """humanoid: deterministic episodes from reference-state resets; pose error (DTW against every clip
    of the motion), root smoothness and motion, fall rate, episode length and task return."""
    env = make_env(cfg)
    result = evaluate_policy(cfg, cfg.checkpoint, env=env, episodes=cfg.episodes)
    summary = {"checkpoint": cfg.checkpoint, "task": cfg.task.name, "motion": cfg.motion,
               "episodes": len(result["success"]), "deterministic": not cfg.sample_actions,
               **M.episode_stats(result["episode_return"], result["episode_length"], result["success"]),
               **task_metrics(cfg.task.env, result)}
    out = beside_checkpoint(cfg, "eval")
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
