"""near train task=...CEM: model-predictive CEM with the simulator and the energy reward (near.rl.cem).

Nothing is trained; the run folder gets config.yaml, summary.json (near train's keys plus planning
ones), a one-record metrics.jsonl and trajectories.png.
"""

from __future__ import annotations

import os
import time

import jax

from near.commands.run_folder import default_out, write_config
from near.config import Config, ConfigError
from near.eval.policy_eval import task_metrics
from near.factories import make_env
from near.utils.logging import MetricLogger, prepare_run_dir, write_json
from near.viz.episodes import plot_episodes


def run_cem_task(cfg: Config) -> dict:
    from near.rl.cem import run_cem, validate_cem

    c = cfg.cem
    try:
        validate_cem(c)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if cfg.resume:
        raise ConfigError("CEM trains nothing, so there is nothing to resume; drop resume=True")
    env = make_env(cfg)
    energy_fn, sigma = None, None
    if c.energy_weight != 0:
        from near.energy.train import load_energy_model

        if not cfg.energy.checkpoint:
            raise ConfigError("task CEM scores plans with a trained energy model: pass energy.checkpoint=RUN_DIR "
                              "(made by `near train-energy`), or cem.energy_weight=0 for task reward only")
        model, _ = load_energy_model(cfg.energy.checkpoint, expect_pair_dim=2 * env.pair_state_dim,
                                     expect_env=cfg.task.env)
        if not 0 <= c.sigma_level < model.sigmas.shape[0]:
            raise ConfigError(f"cem.sigma_level must be in [0, {model.sigmas.shape[0] - 1}], got {c.sigma_level}")
        energy_fn, sigma = model.energy, float(model.sigmas[c.sigma_level])
    run_dir = prepare_run_dir(default_out(cfg, "train"))
    write_config(run_dir, cfg)
    logger = MetricLogger(run_dir)
    max_steps = c.max_steps or cfg.task.max_episode_steps
    result = run_cem(env, energy_fn, c, jax.random.PRNGKey(cfg.seed if c.seed < 0 else c.seed), max_steps)
    logger.log(result["env_steps"], {"env_steps": result["env_steps"], "iteration": 0,
                                     "success_rate": result["success_rate"], "episode_return": result["mean_return"],
                                     "episode_length": result["mean_length"], "energy": result["mean_energy"],
                                     "planning_score": result["mean_planning_score"]})
    logger.close()
    plot = plot_episodes(cfg, result, os.path.join(run_dir, "trajectories.png"),
                         title=f"{cfg.task.name}: success {result['success_rate']:.0%}")
    summary = {
        "kind": "policy", "task": cfg.task.name, "algo": "CEM", "run_dir": run_dir, "seed": cfg.seed,
        "env_steps": result["env_steps"], "iterations": 0, "wall_seconds": round(time.time() - logger.start, 2),
        "success_rate": result["success_rate"], "episode_length": result["mean_length"],
        "task_return": result["mean_return"], "eval_episodes": c.episodes,
        "planning_score": result["mean_planning_score"], "energy": result["mean_energy"], "sigma_level": c.sigma_level,
        "sigma": sigma, "horizon": c.horizon, "population": c.population, "refits": c.refits,
        "sim_steps": result["sim_steps"], "compile_seconds": round(result["compile_seconds"], 2),
        "run_seconds": round(result["run_seconds"], 2), "seconds_per_step": result["seconds_per_step"],
        "energy_checkpoint": cfg.energy.checkpoint if energy_fn is not None else None, "trajectories": plot,
        **task_metrics(cfg.task.env, result),
    }
    write_json(os.path.join(run_dir, "summary.json"), summary)
    return summary
