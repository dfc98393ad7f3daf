"""Policy runs on disk and back: which parts of the PPO state a checkpoint holds, and loading them.

A checkpoint has three items (near.utils.checkpoint): ``model`` (what acting needs), ``train`` (what
learning goes on from: optimiser, reward model, RNG, counters; a few MB) and ``rollout`` (the
environments' state and the style reward's replay buffer: hundreds of MB on a GPU with thousands of
environments). A run resumes from ``model`` and ``train`` alone, with fresh environments and an empty
buffer, when its ``rollout`` did not travel with it (a run folder brought back from a GPU machine).
``load_policy`` reads ``model``, ``load_train_state`` ``model`` and ``train``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from near.config import Config, ConfigError, from_dict, physics_overrides
from near.factories import make_env, make_style
from near.utils.checkpoint import CheckpointError, load, load_meta, stored_arrays, stored_items


def model_item(state) -> dict:
    return {"params": state.params, "obs_stats": state.obs_stats, "value_stats": state.value_stats}


def _buffer_fields(reward_state) -> tuple[str, ...]:
    """The fields of a style reward's state that are rollout data, not learnt (AMP's replay buffer)."""
    return tuple(getattr(reward_state, "rollout_fields", ()))


def train_item(state) -> dict:
    buffers = _buffer_fields(state.reward_state)
    reward = state.reward_state
    if buffers:
        reward = {f.name: getattr(reward, f.name) for f in dataclasses.fields(reward) if f.name not in buffers}
    return {"opt_state": state.opt_state, "reward_state": reward, "key": state.key, "iteration": state.iteration}


def rollout_item(state) -> dict:
    buffers = {name: getattr(state.reward_state, name) for name in _buffer_fields(state.reward_state)}
    return {"env_state": state.env_state, "obs": state.obs, "reward_buffers": buffers}


def legacy_train_item(state) -> dict:
    """``train`` as checkpoints before 2026-12-03 wrote it: everything, the environments included."""
    return {"opt_state": state.opt_state, "env_state": state.env_state, "obs": state.obs,
            "reward_state": state.reward_state, "key": state.key, "iteration": state.iteration}


def _with_model(state, model: dict):
    return state.replace(params=model["params"], obs_stats=model["obs_stats"], value_stats=model["value_stats"])


def restore_state(state, model: dict, train: dict, rollout: dict | None = None):
    """``state`` (a fresh one: its environments and buffers are kept where ``rollout`` is None) with
    the restored items put in."""
    state = _with_model(state, model)
    reward = train["reward_state"]
    if _buffer_fields(state.reward_state):
        reward = state.reward_state.replace(**reward, **(rollout["reward_buffers"] if rollout is not None else {}))
    state = state.replace(opt_state=train["opt_state"], reward_state=reward, key=train["key"],
                          iteration=train["iteration"])
    if rollout is not None:
        state = state.replace(env_state=rollout["env_state"], obs=rollout["obs"])
    return state


def load_state(path: str, template, rollout: bool = True):
    """(state, meta, whether the rollout item was restored): ``template`` (a fresh state of the run's
    config, concrete or abstract) with a checkpoint's items put in; its environments and buffers stay
    where the checkpoint has no ``rollout`` item or ``rollout`` is False."""
    items = stored_items(path)
    if "train" not in items:
        raise CheckpointError(f"checkpoint {path} has no 'train' item (optimiser, counters; a run folder brought "
                              "back without it): it can be played and evaluated, not resumed")
    # written before 2026-12-03: no rollout item, the environments inside train
    if "rollout" not in items and any(name.startswith("env_state") for name in stored_arrays(path, "train")):
        restored = load(path, model_target=model_item(template), train_target=legacy_train_item(template),
                        items=("model", "train", "meta"))
        return _with_model(template, restored["model"]).replace(**restored["train"]), restored["meta"], True
    rollout = rollout and "rollout" in items
    restored = load(path, model_target=model_item(template), train_target=train_item(template),
                    rollout_target=rollout_item(template) if rollout else None,
                    items=("model", "train", "meta") + (("rollout",) if rollout else ()))
    state = restore_state(template, restored["model"], restored["train"], restored.get("rollout"))
    return state, restored["meta"], rollout


def load_policy(cfg: Config, path: str):
    """(cfg of the run, params, obs_stats, meta) of a policy checkpoint, checked against the task."""
    from near.rl.ppo import make_networks
    from near.utils.running_stats import RunningStats

    meta = load_meta(path)
    if meta.get("kind") != "policy":
        raise CheckpointError(f"{path} is not a policy checkpoint (kind={str(meta.get('kind'))[:40]!r}); "
                              f"energy models are used with energy.checkpoint=... or `near viz energy`")
    if cfg.task.env != meta.get("env"):
        raise CheckpointError(f"checkpoint {path} is a {str(meta.get('task'))[:40]} policy (env {str(meta.get('env'))[:40]!r}), "
                              f"not for task {cfg.task.name} (env {cfg.task.env!r})")
    run_cfg = run_config(path, meta)
    actor, critic = make_networks(run_cfg.train, meta["action_dim"])

    def template():
        dummy = jnp.zeros((1, meta["obs_dim"]))
        key = jax.random.PRNGKey(0)
        return {"params": {"actor": actor.init(key, dummy), "critic": critic.init(key, dummy)},
                "obs_stats": RunningStats.create(meta["obs_dim"]), "value_stats": RunningStats.create(1)}

    # shapes only: compared with the stored arrays before anything of the metadata's sizes is allocated
    model = load(path, model_target=jax.eval_shape(template), items=("model",))["model"]
    return run_cfg, model["params"], model["obs_stats"], meta


def trained_physics(run_dir: str):
    """The task.physics a policy run trained with (a run saved before a key existed: its former default)."""
    return run_config(run_dir, load_meta(run_dir)).task.physics


# task keys that set what the humanoid's task reward pays (their defaults changed: dist_at_clip_speed 2026-12-06)
TASK_REWARD_KEYS = ("dist_full_speed", "dist_at_clip_speed")


def check_resume_physics(cfg: Config, run_dir: str) -> None:
    """A humanoid run resumes on the physics and the task reward it trained with: other task.physics settings or
    forward-progress scale (a default changed since, say) would change its dynamics or its reward mid-run.
    ConfigError naming the keys that match the run."""
    if cfg.task.env != "humanoid":
        return
    trained = run_config(run_dir, load_meta(run_dir)).task
    reward = [f"task.{key}={getattr(trained, key)}" for key in TASK_REWARD_KEYS
              if getattr(cfg.task, key) != getattr(trained, key)]
    keys = " ".join([physics_overrides(cfg.task.physics, trained.physics), *reward]).strip()
    if keys:
        raise ConfigError(f"{run_dir} trained with other physics or task reward than this command's; pass {keys} to "
                          "resume it as it trained (a run does not change them mid-way; start a new run for that)")


def check_resume_optimizer(cfg: Config, run_dir: str) -> None:
    """A run resumes with the optimiser it saved: train.kl_threshold on or off, train.anneal_lr and train.learn_std
    shape its state (an adaptive rate, a schedule's step count, a frozen log-std). ConfigError naming the run's."""
    trained = run_config(run_dir, load_meta(run_dir)).train

    def shape(train) -> dict:
        return {"kl_threshold": train.kl_threshold > 0, "anneal_lr": train.anneal_lr, "learn_std": train.learn_std}

    ours, theirs = shape(cfg.train), shape(trained)
    keys = [f"train.{key}={getattr(trained, key)}" for key in ours if ours[key] != theirs[key]]
    if keys:
        raise ConfigError(f"{run_dir} trained with another optimiser than this command's; pass {' '.join(keys)} to "
                          "resume it (its saved optimiser state has that shape; start a new run to change it)")


def run_config(path: str, meta: dict) -> Config:
    """The config a policy checkpoint's metadata records, checked like a user's (an edited or corrupt
    record would otherwise size networks at will)."""
    from omegaconf.errors import OmegaConfBaseException

    from near.config import check_numbers

    for key in ("obs_dim", "action_dim"):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1 << 20:
            raise CheckpointError(f"policy checkpoint {path}: metadata field {key!r} is {str(value)[:40]}, not a size")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"policy checkpoint {path}: its metadata has no 'config' record")
    try:
        run_cfg = from_dict(meta["config"])
        check_numbers(run_cfg)
    except (ConfigError, OmegaConfBaseException, ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"policy checkpoint {path}: metadata field {str(exc).splitlines()[0][:300]}") from None
    return run_cfg


def load_train_state(cfg: Config, path: str, motion: str = ""):
    """(run config, style reward, full training state, env) of a policy run: for the reward model inside it,
    e.g. AMP's discriminator, and the env it scores; ``motion``: a humanoid run's clips from there instead of
    the path it recorded."""
    from near.envs.core import AutoReset
    from near.rl.ppo import make_train

    meta = load_meta(path)
    if meta.get("kind") != "policy":
        raise CheckpointError(f"{path} is not a policy run (kind={str(meta.get('kind'))[:40]!r})")
    run_cfg = run_config(path, meta)
    run_cfg = dataclasses.replace(run_cfg, motion=motion) if motion else run_cfg
    env = make_env(run_cfg)
    style, _ = make_style(run_cfg, env)
    init, _ = make_train(run_cfg.train, AutoReset(env), style, run_cfg.reward)
    # abstract: checked against the stored arrays before anything is allocated; the environments and
    # buffers are not read (the reward model is what this is for)
    template = jax.eval_shape(init, jax.random.PRNGKey(0))
    state, _, _ = load_state(path, template, rollout=False)
    return run_cfg, style, state, env


__all__ = ["check_resume_optimizer", "check_resume_physics", "legacy_train_item", "load_policy", "load_state", "load_train_state", "model_item",
           "restore_state", "rollout_item", "run_config", "train_item", "trained_physics"]
