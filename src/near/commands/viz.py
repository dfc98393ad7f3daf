"""near viz energy | disc: the energy model's landscape over the maze plane at several noise levels,
and AMP's discriminator reward over the same plane (PNG)."""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np

from near.config import Config, ConfigError
from near.factories import load_demos
from near.restore import load_train_state
from near.utils.checkpoint import load_meta


def viz_energy(cfg: Config, out_path: str | None = None, levels: list[int] | None = None) -> str:
    from near.energy.train import load_energy_model
    from near.viz.maze_plots import energy_landscape, plot_energy_landscape

    if not cfg.checkpoint:
        raise ConfigError("viz energy needs checkpoint=RUN_DIR (a run folder made by `near train-energy`)")
    model, meta = load_energy_model(cfg.checkpoint)
    if meta.get("env") != "maze":
        raise ConfigError(f"viz energy draws the maze plane; checkpoint {cfg.checkpoint} is for env {meta.get('env')!r}")
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
    out_path = out_path or os.path.join(os.path.abspath(os.path.expanduser(cfg.checkpoint)), "energy_landscape.png")
    return plot_energy_landscape(landscape, levels=levels, sigmas=np.asarray(model.sigmas), path=out_path,
                                 demo_states=demos, title=f"energy landscape ({meta.get('task')}), pair step {step:.1f} px")


def viz_disc(cfg: Config, out_path: str | None = None) -> str:
    """AMP's reward -log(1 - D) over the maze plane (best direction per point), like the energy view."""
    from near.rl.amp import amp_reward
    from near.viz.maze_plots import energy_landscape, plot_energy_landscape

    if not cfg.checkpoint:
        raise ConfigError("viz disc needs checkpoint=RUN_DIR (a run folder made by `near train task=mazeAMP`)")
    meta = load_meta(cfg.checkpoint)
    if meta.get("algo") != "AMP":
        raise ConfigError(f"viz disc needs an AMP run; {cfg.checkpoint} is a {meta.get('algo')!r} run")
    if meta.get("env") != "maze":
        raise ConfigError(f"viz disc draws the maze plane; checkpoint {cfg.checkpoint} is for env {meta.get('env')!r}")
    run_cfg, style, state = load_train_state(cfg, cfg.checkpoint)
    demos = load_demos(run_cfg).states
    step = _median_step(demos)
    reward = jax.jit(lambda pairs: amp_reward(style.logits(state.reward_state, pairs), style.cfg.reward_scale))
    landscape = energy_landscape(lambda pairs, level: np.asarray(reward(jnp.asarray(pairs))), levels=[0],
                                 sigmas=np.zeros(1), step=step)
    out_path = out_path or os.path.join(os.path.abspath(os.path.expanduser(cfg.checkpoint)), "disc_landscape.png")
    return plot_energy_landscape(landscape, levels=[0], sigmas=np.zeros(1), path=out_path, demo_states=demos,
                                 title=f"AMP reward -log(1-D), best of 16 directions, step {step:.1f} px "
                                       f"({meta.get('task')}, iteration {meta.get('step')})")


def _median_step(states: np.ndarray) -> float:
    """The demos' typical distance between consecutive states (jumps between episodes left out)."""
    steps = np.linalg.norm(np.diff(states, axis=0), axis=1)
    return float(np.median(steps[(steps > 0) & (steps < 50)]))
