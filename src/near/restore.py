"""Policy runs on disk and back: which parts of the PPO state a checkpoint holds, and loading them.

A checkpoint has two items (near.utils.checkpoint): ``model`` (what acting needs) and ``train``
(what resuming needs). ``load_policy`` reads the first, ``load_train_state`` both.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from near.config import Config, from_dict
from near.factories import make_env, make_style
from near.utils.checkpoint import CheckpointError, load, load_meta


def model_item(state) -> dict:
    return {"params": state.params, "obs_stats": state.obs_stats, "value_stats": state.value_stats}


def train_item(state) -> dict:
    return {"opt_state": state.opt_state, "env_state": state.env_state, "obs": state.obs,
            "reward_state": state.reward_state, "key": state.key, "iteration": state.iteration}


def restore_state(state, model: dict, train: dict):
    return state.replace(params=model["params"], obs_stats=model["obs_stats"], value_stats=model["value_stats"],
                         **train)


def load_policy(cfg: Config, path: str):
    """(cfg of the run, params, obs_stats, meta) of a policy checkpoint, checked against the task."""
    from near.rl.ppo import make_networks
    from near.utils.running_stats import RunningStats

    meta = load_meta(path)
    if meta.get("kind") != "policy":
        raise CheckpointError(f"{path} is not a policy checkpoint (kind={meta.get('kind')!r}); "
                              f"energy models are used with energy.checkpoint=... or `near viz energy`")
    if cfg.task.env != meta.get("env"):
        raise CheckpointError(f"checkpoint {path} is a {meta.get('task')} policy (env {meta.get('env')!r}), "
                              f"not for task {cfg.task.name} (env {cfg.task.env!r})")
    run_cfg = from_dict(meta["config"])
    actor, critic = make_networks(run_cfg.train, meta["action_dim"])
    dummy = jnp.zeros((1, meta["obs_dim"]))
    key = jax.random.PRNGKey(0)
    target = {"params": {"actor": actor.init(key, dummy), "critic": critic.init(key, dummy)},
              "obs_stats": RunningStats.create(meta["obs_dim"]), "value_stats": RunningStats.create(1)}
    model = load(path, model_target=target, items=("model",))["model"]
    return run_cfg, model["params"], model["obs_stats"], meta


def load_train_state(cfg: Config, path: str):
    """The full training state of a policy run (for the reward model inside it, e.g. AMP's discriminator)."""
    from near.envs.core import AutoReset
    from near.rl.ppo import make_train

    meta = load_meta(path)
    if meta.get("kind") != "policy":
        raise CheckpointError(f"{path} is not a policy run (kind={meta.get('kind')!r})")
    run_cfg = from_dict(meta["config"])
    env = make_env(run_cfg)
    style, _ = make_style(run_cfg, env)
    p = dataclasses.replace(run_cfg.train, learn_std=run_cfg.task.algo != "AMP" and run_cfg.train.learn_std)
    init, _ = make_train(p, AutoReset(env), style, run_cfg.reward)
    template = init(jax.random.PRNGKey(0))
    restored = load(path, model_target=model_item(template), train_target=train_item(template),
                    items=("model", "train"))
    return run_cfg, style, restore_state(template, restored["model"], restored["train"])


__all__ = ["load_policy", "load_train_state", "model_item", "restore_state", "train_item"]
