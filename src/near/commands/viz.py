"""near viz energy | disc: the energy model's landscape over the maze plane at several noise levels, and
AMP's discriminator reward over the same plane (PNG). For the humanoid, whose pairs have 210 numbers, each
is drawn along the clips and a policy's episode instead (near.viz.humanoid_energy)."""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np

from near.commands.run_folder import beside_checkpoint
from near.config import Config, ConfigError
from near.factories import load_demos, make_env
from near.restore import load_train_state, run_config
from near.utils.checkpoint import load_meta


def viz_energy(cfg: Config, out_path: str | None = None, levels: list[int] | None = None) -> str:
    from near.energy.train import load_energy_model
    from near.viz.maze_plots import energy_landscape, plot_energy_landscape

    if not cfg.checkpoint:
        raise ConfigError("viz energy needs checkpoint=RUN_DIR (a run folder made by `near train-energy`)")
    model, meta = load_energy_model(cfg.checkpoint)
    if meta.get("env") == "humanoid":
        return viz_humanoid_energy(cfg, model, meta, out_path, levels)
    if meta.get("env") != "maze":
        raise ConfigError(f"viz energy draws the maze plane or the humanoid's clips; checkpoint {cfg.checkpoint} "
                          f"is for env {meta.get('env')!r}")
    num_levels = int(model.sigmas.shape[0])
    levels = levels or sorted({0, num_levels // 4, num_levels // 2, (3 * num_levels) // 4, num_levels - 1})
    run_cfg_data = meta.get("config", {}).get("task", {}).get("data", "")
    demos = None
    try:
        demos = load_demos(dataclasses.replace(cfg, task=dataclasses.replace(cfg.task, data=run_cfg_data))).states
    except Exception:  # noqa: BLE001, S110 - the demo overlay is optional
        pass
    step = 3.5
    if demos is not None and len(demos) > 1:
        step = _median_step(demos)
    energy = jax.jit(model.energy)
    landscape = energy_landscape(lambda pairs, level: np.asarray(energy(jnp.asarray(pairs), level)),
                                 levels=levels, sigmas=np.asarray(model.sigmas), step=step)
    out_path = out_path or os.path.join(beside_checkpoint(cfg), "energy_landscape.png")
    return plot_energy_landscape(landscape, levels=levels, sigmas=np.asarray(model.sigmas), path=out_path,
                                 demo_states=demos, title=f"energy landscape ({meta.get('task')}), pair step {step:.1f} px")


def viz_humanoid_energy(cfg: Config, model, meta: dict, out_path: str | None = None,
                        levels: list[int] | None = None) -> str:
    """The energy along the energy run's clips (``motion=`` another set) and, with ``policy=RUN``, along
    that policy's first deterministic episode, on the physics it trained with (near.viz.humanoid_energy)."""
    from near.config import from_dict
    from near.energy.train import trained_pair_span
    from near.eval.policy_eval import with_run_physics
    from near.restore import load_policy
    from near.viz.humanoid_energy import (
        clip_scores,
        plot_scores_along_episodes,
        policy_scores,
    )

    trained = from_dict(meta.get("config") or {})
    motion = _motion_here(cfg, trained, "energy")
    task = dataclasses.replace(trained.task, pair_span=trained_pair_span(meta))
    view = dataclasses.replace(trained, task=task, motion=motion, checkpoint=cfg.policy, seed=cfg.seed)
    num_levels = int(model.sigmas.shape[0])
    levels = levels or sorted({0, num_levels // 2, num_levels - 1})
    view = with_run_physics(view, [])  # the policy's own physics (no policy: as it is)
    env = make_env(view)
    policy = None
    if cfg.policy:
        run_cfg, params, obs_stats, _ = load_policy(view, cfg.policy)
        policy = policy_scores(env, model.energy, params, obs_stats, run_cfg.train, levels,
                               view.task.max_episode_steps, seed=cfg.seed)
    clips = clip_scores(env, model.energy, levels)
    out_path = out_path or os.path.join(beside_checkpoint(cfg), "energy_along_clips.png")
    title = f"energy along {os.path.basename(motion)}" + (f" and {os.path.basename(os.path.normpath(cfg.policy))}'s episode"
                                                           if cfg.policy else "")
    labels = [f"E, level {level}\n(sigma {float(model.sigmas[level]):.3g})" for level in levels]
    return plot_scores_along_episodes(clips, policy, labels, out_path, title)


def _motion_here(cfg: Config, trained: Config, view: str) -> str:
    """The motion a humanoid view draws: ``motion=`` or the run's own, which must be on this machine."""
    motion = cfg.motion or trained.motion
    if not motion or not os.path.exists(os.path.expanduser(motion)):
        raise ConfigError(f"viz {view} of a humanoid run draws its clips: the run's motion {motion!r} is not here; "
                          "pass motion=PATH (the motion set it trained on)")
    return motion


def viz_humanoid_disc(cfg: Config, meta: dict, out_path: str | None = None) -> str:
    """AMP's reward -log(1 - D) along the run's clips and along its own policy's first deterministic episode
    (near.viz.humanoid_energy), the discriminator as the run last saved it."""
    from near.rl.amp import amp_reward
    from near.viz.humanoid_energy import (
        clip_scores,
        plot_scores_along_episodes,
        policy_scores,
    )

    motion = _motion_here(cfg, run_config(cfg.checkpoint, meta), "disc")
    run_cfg, style, state, env = load_train_state(cfg, cfg.checkpoint, motion=motion)
    reward = lambda pairs, _level: amp_reward(style.logits(state.reward_state, pairs), style.cfg.reward_scale)  # noqa: E731
    policy = policy_scores(env, reward, state.params, state.obs_stats, run_cfg.train, [0], run_cfg.task.max_episode_steps,
                           seed=cfg.seed)
    clips = clip_scores(env, reward, [0])
    out_path = out_path or os.path.join(beside_checkpoint(cfg), "disc_along_clips.png")
    return plot_scores_along_episodes(clips, policy, ["AMP reward\n-log(1 - D)"], out_path,
                                      f"AMP reward along {os.path.basename(motion)} and the run's own episode "
                                      f"(iteration {meta.get('step')})")


def viz_disc(cfg: Config, out_path: str | None = None) -> str:
    """AMP's reward -log(1 - D) over the maze plane (best direction per point), like the energy view."""
    from near.rl.amp import amp_reward
    from near.viz.maze_plots import energy_landscape, plot_energy_landscape

    if not cfg.checkpoint:
        raise ConfigError("viz disc needs checkpoint=RUN_DIR (a run folder made by `near train task=mazeAMP`)")
    meta = load_meta(cfg.checkpoint)
    if meta.get("algo") != "AMP":
        raise ConfigError(f"viz disc needs an AMP run; {cfg.checkpoint} is a {meta.get('algo')!r} run")
    if meta.get("env") == "humanoid":
        return viz_humanoid_disc(cfg, meta, out_path)
    if meta.get("env") != "maze":
        raise ConfigError(f"viz disc draws the maze plane or the humanoid's clips; checkpoint {cfg.checkpoint} is for "
                          f"env {meta.get('env')!r}")
    run_cfg, style, state, _ = load_train_state(cfg, cfg.checkpoint)
    demos = load_demos(run_cfg).states
    step = _median_step(demos)
    reward = jax.jit(lambda pairs: amp_reward(style.logits(state.reward_state, pairs), style.cfg.reward_scale))
    landscape = energy_landscape(lambda pairs, level: np.asarray(reward(jnp.asarray(pairs))), levels=[0],
                                 sigmas=np.zeros(1), step=step)
    out_path = out_path or os.path.join(beside_checkpoint(cfg), "disc_landscape.png")
    return plot_energy_landscape(landscape, levels=[0], sigmas=np.zeros(1), path=out_path, demo_states=demos,
                                 title=f"AMP reward -log(1-D), best of 16 directions, step {step:.1f} px "
                                       f"({meta.get('task')}, iteration {meta.get('step')})")


def _median_step(states: np.ndarray) -> float:
    """The demos' typical distance between consecutive states (jumps between episodes left out)."""
    steps = np.linalg.norm(np.diff(states, axis=0), axis=1)
    return float(np.median(steps[(steps > 0) & (steps < 50)]))
