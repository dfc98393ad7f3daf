"""PPO with a pluggable style reward (NEAR's energy, AMP's discriminator, or none), PureJaxRL style.

``make_train(cfg, env, style, reward_cfg)`` returns ``init(key)`` and ``train_chunk(state, n)``:
n iterations of [vectorised rollout -> style reward on the rollout's state pairs -> reward-model
update (AMP) -> GAE -> epochs x minibatches of clipped-PPO updates], compiled as one function
with ``lax.scan``. Nothing leaves the device inside a chunk; the host logs between chunks.

Devices: environments (and so rollouts, rewards and minibatches) are split evenly across the
devices of a one-axis mesh ("data"); parameters and optimiser state are replicated, and XLA
averages the gradients across devices. One device is the same program on a mesh of one.

PPO semantics follow rl_games' continuous A2C (spec near-algorithm.md §7): separate actor and
critic MLPs, state-independent log-std, running observation and value normalisation, advantages
normalised over the batch, loss = actor + 0.5*critic_coef*critic - entropy_coef*entropy +
bounds_loss_coef*bounds. Deviation, on purpose: time-out bootstrapping (gamma * V(s_T) added on
truncation) is not multiplied by the task weight.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import field
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from near.energy.reward import RewardConfig
from near.envs.core import AutoReset
from near.rl.networks import Actor, Critic, gaussian_entropy, gaussian_log_prob
from near.utils import running_stats
from near.utils.jax_setup import network_matmul_precision
from near.utils.running_stats import RunningStats

COMPILE_EVAL_AHEAD = ("auto", "always", "never")  # train.compile_eval_ahead


@dataclasses.dataclass
class PPOConfig:
    """PPO and rollout settings."""

    num_envs: int = 64
    horizon: int = 32  # rollout steps per env per iteration
    minibatch_size: int = 512
    update_epochs: int = 4
    learning_rate: float = 3e-4
    anneal_lr: bool = False  # decay the learning rate linearly to 0 over the run (CleanRL's anneal_lr)
    # > 0: rl_games' adaptive rate (its "adaptive" lr_schedule, kl_threshold 0.008 in IsaacGymEnvs), as its
    # "standard" schedule applies it: after each epoch the rate is divided by 1.5 where the epoch's mean approx
    # KL was over 2 x this, multiplied by 1.5 where under half of it, within [1e-6, 1e-2] (per minibatch, as its
    # "legacy" one does, the first minibatch's KL is always 0 and speeds the rate up). 0: constant (the
    # original NEAR's; issue #19)
    kl_threshold: float = 0.0
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    critic_coef: float = 1.0
    entropy_coef: float = 0.0
    bounds_loss_coef: float = 0.0
    max_grad_norm: float = 0.5  # 0 disables clipping
    actor_hidden: list[int] = field(default_factory=lambda: [256, 256])
    critic_hidden: list[int] = field(default_factory=lambda: [256, 256])
    log_std_init: float = -3.0
    # floor on the learnt log-std: the std the policy samples and is scored with never goes below
    # exp(min_log_std). -20: no floor (the original's). Issue #19: push-T's std fell to exp(-4.3) and
    # PPO's steps (its KL) grew with it until success fell from 97 % to 77 %
    min_log_std: float = -20.0
    learn_std: bool = True  # the original learns it for NEAR, freezes it for AMP (the AMP configs and the humanoid's NEAR config set false)
    # more exploration early with a frozen std (learn_std false): the log-std starts at explore_log_std and
    # falls linearly to log_std_init over the first explore_env_steps env steps, then stays. 0 steps: off.
    # Issue #16: NEAR's run seed 8125 chose its shuffle in the first 12 M steps at exp(-2.9) and kept it
    explore_log_std: float = -1.6
    explore_env_steps: int = 0
    # the actor's mean layer starts with its weights (torch's default init, the original's) times this. The
    # humanoid's action is an absolute PD target, so the initial policy's mean action is a pose of its own
    # seed's (seed 8125's bends both knees 0.2-0.4 rad more than the range's centre; issue #16, item 84);
    # 0.01 (CleanRL's) starts every seed near the centre, its exploration the std's alone
    actor_output_scale: float = 1.0
    normalize_obs: bool = True
    normalize_value: bool = True
    normalize_advantage: bool = True
    bootstrap_timeouts: bool = True
    total_env_steps: int = 300_000
    iterations_per_log: int = 10  # iterations per compiled chunk
    checkpoint_every: int = 50  # iterations
    eval_episodes: int = 32
    time_limit_s: float = 0.0  # stop (checkpoint, evaluate) after this much wall time of this invocation; 0 = no limit
    video_every: int = 0  # save a short video of the policy every N iterations to <run>/videos/; 0 = never
    eval_every: int = 0  # deterministic evaluation (eval_episodes) every N iterations, logged as eval/*; 0 = never
    # with eval_every: keep the policy of the best periodic evaluation so far (success rate, then return) in
    # <run>/best, a policy checkpoint of its own (checkpoint=RUN/best), as rl_games keeps its best. A
    # policy whose noise does the last step (the maze's std ~0.3) can end on a mean that misses while an
    # earlier one hit
    keep_best: bool = False
    # compile the evaluation's program (periodic and final) in a background thread from the start, beside
    # the training program's compile and first iterations (issue #20: the humanoid's takes 40-60 s on a GPU
    # machine). "auto": on a GPU or TPU backend; not on the CPU, where the two compiles share the cores
    # (a 2-core CPU: no gain, benchmarks/results/compile_ahead_cpu.json); "always"; "never"
    compile_eval_ahead: str = "auto"
    # matrix products of the policy, the critic and the style reward's network in training:
    # "tensorfloat32" (tensor cores of A100/H100-class GPUs; bit for bit float32 on the CPU), "bfloat16" (inputs
    # rounded to bfloat16, float32 sums; issue #20's untried lever, not measured yet) or "float32".
    # The physics and the evaluation keep float32 either way. TF32 since 2026-12-05: NEAR 1.24 x the env
    # steps/s at 16 k envs, and a walk that learns as the float32 one did (docs/humanoid_speed.md)
    network_precision: str = "tensorfloat32"

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.horizon

    def scheduled_log_std(self, env_steps: jax.Array) -> jax.Array:
        """The frozen log-std after ``env_steps`` env steps under the early exploration (explore_env_steps > 0)."""
        done = jnp.clip(env_steps / self.explore_env_steps, 0.0, 1.0)
        return self.explore_log_std + done * (self.log_std_init - self.explore_log_std)

    def compiles_eval_ahead(self) -> bool:
        if self.compile_eval_ahead not in COMPILE_EVAL_AHEAD:
            raise ValueError(f"train.compile_eval_ahead must be one of {COMPILE_EVAL_AHEAD}, got {self.compile_eval_ahead!r}")
        return self.compile_eval_ahead == "always" or (self.compile_eval_ahead == "auto" and jax.default_backend() != "cpu")

    def networks_precision(self):
        """Context in which the networks' matrix products are traced (their precision only)."""
        return network_matmul_precision(self.network_precision, "train.network_precision")

    @property
    def num_iterations(self) -> int:
        return max(1, self.total_env_steps // self.batch_size)

    @property
    def num_minibatches(self) -> int:  # per epoch
        return self.batch_size // self.minibatch_size

    @property
    def updates_per_iteration(self) -> int:  # optimiser steps: epochs x minibatches
        return self.update_epochs * self.num_minibatches


class StyleReward(Protocol):
    """A reward computed from state pairs. NEAR: frozen energy + annealing. AMP: a discriminator.
    A reward with large arrays (AMP's demo pairs) also has ``arrays()`` and ``with_arrays(arrays)``
    (see :func:`style_arrays`)."""

    name: str

    def init(self, key: jax.Array) -> Any: ...

    def compute(self, state: Any, pairs: jax.Array) -> tuple[jax.Array, Any, dict]: ...

    def update(self, state: Any, pairs: jax.Array, key: jax.Array) -> tuple[Any, dict]: ...


def style_arrays(style: StyleReward) -> dict:
    """The large arrays a style reward reads (AMP's demo pairs), which the training program takes as arguments:
    closed over, they were baked into it as constants (the run set's 200,000 AMP demo pairs made a 310 MB
    compiled program and cache entry, read back for ~15 s at every start; issue #20)."""
    return style.arrays() if hasattr(style, "arrays") else {}


class NoStyle:
    """Plain PPO on the task reward."""

    name = "none"

    def init(self, key):
        return jnp.zeros(())

    def compute(self, state, pairs):
        return jnp.zeros(pairs.shape[:-1]), state, {}

    def update(self, state, pairs, key):
        return state, {}


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    task_reward: jax.Array
    done: jax.Array
    truncated: jax.Array
    terminal_value: jax.Array
    pair: jax.Array
    success: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array
    nonfinite: jax.Array  # the env's state went NaN/inf on this step and it was reset (AutoReset)
    launched: jax.Array  # of those, the ones the humanoid's launch guard ended (AutoReset: False elsewhere)


@struct.dataclass
class TrainState:
    params: Any  # {"actor": ..., "critic": ...}
    opt_state: Any
    obs_stats: RunningStats
    value_stats: RunningStats
    env_state: Any  # batched WrappedState
    obs: jax.Array
    reward_state: Any
    key: jax.Array
    iteration: jax.Array


def with_log_std(params: dict, log_std: jax.Array) -> dict:
    """The policy's parameters with every action dimension's log-std set to ``log_std`` (the rest shared)."""
    actor = params["actor"]["params"]
    if "log_std" not in actor:
        raise ValueError("the policy has no log_std parameter (not a Gaussian PPO actor?)")
    new = jnp.full_like(actor["log_std"], log_std)
    return {**params, "actor": {**params["actor"], "params": {**actor, "log_std": new}}}


def make_networks(cfg: PPOConfig, action_dim: int) -> tuple[Actor, Critic]:
    return (Actor(action_dim, tuple(cfg.actor_hidden), cfg.log_std_init, cfg.min_log_std, cfg.actor_output_scale),
            Critic(tuple(cfg.critic_hidden)))


ADAPTIVE_LR_BOUNDS = (1e-6, 1e-2)  # rl_games' AdaptiveScheduler min_lr, max_lr


class AdaptiveRateState(NamedTuple):
    learning_rate: jax.Array  # the rate of the next step
    inner: Any


def next_learning_rate(learning_rate: jax.Array, approx_kl: jax.Array, kl_threshold: float) -> jax.Array:
    """rl_games' adaptive rule: slower after a step that moved the policy over 2 x the threshold, faster
    after one under half of it."""
    low, high = ADAPTIVE_LR_BOUNDS
    rate = jnp.where(approx_kl > 2.0 * kl_threshold, jnp.maximum(learning_rate / 1.5, low), learning_rate)
    return jnp.where(approx_kl < 0.5 * kl_threshold, jnp.minimum(learning_rate * 1.5, high), rate)


def adaptive_rate(inner: optax.GradientTransformation, learning_rate: float) -> optax.GradientTransformation:
    """``inner`` built at rate 1, its step scaled by the rate in the optimiser state (so that the rate
    resumes with a checkpoint), which PPO's update sets from the approx KL (:func:`next_learning_rate`)."""

    def init(params):
        return AdaptiveRateState(jnp.asarray(learning_rate, jnp.float32), inner.init(params))

    def update(updates, state, params=None):
        updates, inner_state = inner.update(updates, state.inner, params)
        return jax.tree.map(lambda u: u * state.learning_rate, updates), state._replace(inner=inner_state)

    return optax.GradientTransformation(init, update)


def make_optimizer(cfg: PPOConfig) -> optax.GradientTransformation:
    if cfg.kl_threshold > 0 and cfg.anneal_lr:
        raise ValueError("train.anneal_lr and train.kl_threshold are two learning-rate schedules: set one")
    learning_rate = 1.0 if cfg.kl_threshold > 0 else cfg.learning_rate  # adaptive: Adam's step is scaled after
    if cfg.anneal_lr:  # to 0 at the run's last optimiser step
        learning_rate = optax.linear_schedule(cfg.learning_rate, 0.0, cfg.num_iterations * cfg.updates_per_iteration)
    adam = optax.adam(learning_rate, eps=1e-8)
    tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), adam) if cfg.max_grad_norm > 0 else adam
    if not cfg.learn_std:  # AMP: the log-std is a constant
        labels = lambda params: jax.tree_util.tree_map_with_path(
            lambda path, _: "frozen" if any(getattr(k, "key", None) == "log_std" for k in path) else "train", params
        )
        tx = optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)
    return adaptive_rate(tx, cfg.learning_rate) if cfg.kl_threshold > 0 else tx


def normalize_obs(cfg: PPOConfig, stats: RunningStats, obs: jax.Array) -> jax.Array:
    return running_stats.normalize(stats, obs) if cfg.normalize_obs else obs


def value_to_raw(cfg: PPOConfig, stats: RunningStats, v: jax.Array) -> jax.Array:
    return v * jnp.sqrt(stats.var + running_stats.EPSILON) + stats.mean[0] if cfg.normalize_value else v


def value_to_normalized(cfg: PPOConfig, stats: RunningStats, v: jax.Array) -> jax.Array:
    return (v - stats.mean[0]) / jnp.sqrt(stats.var[0] + running_stats.EPSILON) if cfg.normalize_value else v


def data_mesh(devices=None) -> Mesh:
    """A one-axis mesh over the given (default: all) devices; environments are split along it."""
    import numpy as np

    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), ("data",))


def init_keys(key: jax.Array) -> jax.Array:
    """The keys a run's first state draws from its seed's key: the rest, the actor, the critic, the envs and the
    style reward (benchmarks/inspect_policy_init.py rebuilds the first actor from them)."""
    return jax.random.split(key, 5)


def make_train(cfg: PPOConfig, env: AutoReset, style: StyleReward, reward_cfg: RewardConfig, mesh: Mesh | None = None):
    if cfg.batch_size % cfg.minibatch_size:
        raise ValueError(
            f"num_envs*horizon = {cfg.batch_size} must be a multiple of minibatch_size = {cfg.minibatch_size}"
        )
    cfg.networks_precision()  # a wrong name fails here, not at the first trace
    mesh = mesh or data_mesh()
    num_devices = mesh.devices.size
    if cfg.num_envs % num_devices or cfg.minibatch_size % num_devices:
        raise ValueError(f"num_envs ({cfg.num_envs}) and minibatch_size ({cfg.minibatch_size}) must be multiples "
                         f"of the number of devices ({num_devices})")
    replicated = NamedSharding(mesh, PartitionSpec())

    def across_devices(tree, axis: int = 0):
        """Constrain arrays to be split across devices along `axis` (the environment / sample axis)."""
        spec = PartitionSpec(*([None] * axis + ["data"]))
        return jax.lax.with_sharding_constraint(tree, NamedSharding(mesh, spec))
    actor, critic = make_networks(cfg, env.action_dim)
    optimizer = make_optimizer(cfg)

    def init_learners(key: jax.Array):
        key, k_actor, k_critic, k_env, k_style = init_keys(key)
        dummy = jnp.zeros((1, env.obs_dim))
        params = {"actor": actor.init(k_actor, dummy), "critic": critic.init(k_critic, dummy)}
        if cfg.explore_env_steps > 0:
            params = with_log_std(params, cfg.scheduled_log_std(0))
        return (params, optimizer.init(params), RunningStats.create(env.obs_dim), RunningStats.create(1), key,
                jnp.zeros((), jnp.int32)), jax.random.split(k_env, cfg.num_envs), k_style

    def init(key: jax.Array) -> TrainState:
        # one program for the networks, the optimiser and the statistics: run eagerly they were ~40 small
        # programs, each compiled at start-up (seconds on a GPU)
        learners, env_keys, k_style = jax.jit(init_learners)(key)
        # jitted: an eager vmap of a physics reset (push-T's settling substep) dispatches op by op
        reset = jax.jit(jax.vmap(env.reset), out_shardings=NamedSharding(mesh, PartitionSpec("data")))
        env_state, obs = reset(env_keys)
        # the style reward's state outside that program: AMP's reads its demo pairs, which would become a
        # constant of it
        learners, reward_state = jax.device_put((learners, style.init(k_style)), replicated)
        params, opt_state, obs_stats, value_stats, key, iteration = learners
        return TrainState(params=params, opt_state=opt_state, obs_stats=obs_stats, value_stats=value_stats,
                          env_state=env_state, obs=obs, reward_state=reward_state, key=key, iteration=iteration)

    def policy_value(params, obs_stats, value_stats, obs):
        x = normalize_obs(cfg, obs_stats, obs)
        with cfg.networks_precision():
            mean, log_std = actor.apply(params["actor"], x)
            value = value_to_raw(cfg, value_stats, critic.apply(params["critic"], x))
        return mean, log_std, value

    def rollout_step(carry, _):
        params, obs_stats, value_stats, env_state, obs, key = carry
        key, k_act = jax.random.split(key)
        mean, log_std, value = policy_value(params, obs_stats, value_stats, obs)
        action = mean + jnp.exp(log_std) * jax.random.normal(k_act, mean.shape)
        log_prob = gaussian_log_prob(mean, log_std, action)
        env_state, next_obs, reward, done, info = jax.vmap(env.step)(env_state, jnp.clip(action, -1.0, 1.0))
        env_state, next_obs = across_devices((env_state, next_obs))
        truncated = info["truncated"] & done
        _, _, terminal_value = policy_value(params, obs_stats, value_stats, info["terminal_obs"])
        transition = Transition(obs, action, log_prob, value, reward, done, truncated, terminal_value,
                                info["pair"], info["success"] & done, info["episode_return"], info["episode_length"],
                                info["nonfinite"], info["launched"])
        return (params, obs_stats, value_stats, env_state, next_obs, key), transition

    def gae(traj: Transition, rewards: jax.Array, last_value: jax.Array):
        def step(carry, t):
            advantage, next_value = carry
            reward, value, done = t
            not_done = 1.0 - done.astype(jnp.float32)
            delta = reward + cfg.gamma * next_value * not_done - value
            advantage = delta + cfg.gamma * cfg.gae_lambda * not_done * advantage
            return (advantage, value), advantage

        _, advantages = jax.lax.scan(step, (jnp.zeros_like(last_value), last_value),
                                     (rewards, traj.value, traj.done), reverse=True)
        return advantages, advantages + traj.value

    def loss_fn(params, obs_stats, value_stats, batch):
        obs, action, old_log_prob, advantage, target = batch
        x = normalize_obs(cfg, obs_stats, obs)
        with cfg.networks_precision():
            mean, log_std = actor.apply(params["actor"], x)
            value_n = critic.apply(params["critic"], x)
        # clamped so that one far-off action cannot overflow exp (an inf ratio makes the loss NaN)
        ratio = jnp.exp(jnp.clip(gaussian_log_prob(mean, log_std, action) - old_log_prob, -20.0, 20.0))
        clipped = jnp.clip(ratio, 1.0 - cfg.clip_eps, 1.0 + cfg.clip_eps)
        actor_loss = -jnp.minimum(ratio * advantage, clipped * advantage).mean()
        critic_loss = jnp.mean((value_n - value_to_normalized(cfg, value_stats, target)) ** 2)
        entropy = gaussian_entropy(log_std).mean()
        bounds = jnp.sum(jax.nn.relu(mean - 1.1) ** 2 + jax.nn.relu(-1.1 - mean) ** 2, axis=-1).mean()
        total = actor_loss + 0.5 * cfg.critic_coef * critic_loss - cfg.entropy_coef * entropy + cfg.bounds_loss_coef * bounds
        stats = {"actor_loss": actor_loss, "critic_loss": critic_loss, "entropy": entropy,
                 "approx_kl": jnp.mean((ratio - 1.0) - jnp.log(ratio)), "clip_fraction": jnp.mean(jnp.abs(ratio - 1.0) > cfg.clip_eps)}
        return total, stats

    def update_iteration(state: TrainState, _, style: StyleReward = style):  # style: bound to the program's arrays
        key, k_roll, k_style, k_perm = jax.random.split(state.key, 4)
        carry = (state.params, state.obs_stats, state.value_stats, state.env_state, state.obs, k_roll)
        (_, _, _, env_state, last_obs, _), traj = jax.lax.scan(rollout_step, carry, None, length=cfg.horizon)
        traj = across_devices(traj, axis=1)  # (horizon, envs, ...)

        # rewards: the style reward is the only thing that differs between NEAR, AMP and PPO
        with cfg.networks_precision():
            style_reward, reward_state, style_metrics = style.compute(state.reward_state, traj.pair)
            reward_state, update_metrics = style.update(reward_state, traj.pair, k_style)
        task_reward = traj.task_reward * reward_cfg.task_reward_scale
        rewards = reward_cfg.task_weight * task_reward + reward_cfg.style_weight * style_reward
        if cfg.bootstrap_timeouts:
            rewards = rewards + cfg.gamma * traj.terminal_value * traj.truncated

        _, _, last_value = policy_value(state.params, state.obs_stats, state.value_stats, last_obs)
        advantages, returns = gae(traj, rewards, last_value)
        if cfg.normalize_advantage:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        # the loss normalises observations exactly as the rollout did; new statistics apply from the next rollout
        obs_stats = state.obs_stats
        value_stats = running_stats.update(state.value_stats, returns[..., None]) if cfg.normalize_value else state.value_stats

        flat = jax.tree.map(lambda x: x.reshape((cfg.batch_size,) + x.shape[2:]),
                            (traj.obs, traj.action, traj.log_prob, advantages, returns))

        def epoch(carry, k):
            params, opt_state = carry
            perm = jax.random.permutation(k, cfg.batch_size)
            minibatches = jax.tree.map(lambda x: x[perm].reshape((cfg.num_minibatches, cfg.minibatch_size) + x.shape[1:]), flat)

            def minibatch_step(carry, batch):
                params, opt_state = carry
                batch = across_devices(batch)  # each device takes its share of the minibatch; gradients are all-reduced
                grads, stats = jax.grad(loss_fn, has_aux=True)(params, obs_stats, value_stats, batch)
                if cfg.kl_threshold > 0:
                    stats["learning_rate"] = opt_state.learning_rate  # the rate of this step
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), stats

            (params, opt_state), stats = jax.lax.scan(minibatch_step, (params, opt_state), minibatches)
            if cfg.kl_threshold > 0:
                rate = next_learning_rate(opt_state.learning_rate, stats["approx_kl"].mean(), cfg.kl_threshold)
                opt_state = opt_state._replace(learning_rate=rate)
            return (params, opt_state), stats

        (params, opt_state), loss_stats = jax.lax.scan(epoch, (state.params, state.opt_state),
                                                      jax.random.split(k_perm, cfg.update_epochs))
        if cfg.explore_env_steps > 0:  # the next rollout's std
            params = with_log_std(params, cfg.scheduled_log_std((state.iteration + 1).astype(jnp.float32) * cfg.batch_size))

        done = traj.done.astype(jnp.float32)
        metrics = {
            "episodes": done.sum(),
            "episode_return_sum": (traj.episode_return * done).sum(),
            "episode_length_sum": (traj.episode_length * done).sum(),
            "success_sum": traj.success.astype(jnp.float32).sum(),
            "nonfinite_resets": traj.nonfinite.astype(jnp.float32).sum(),  # envs reset after a NaN/inf state
            "launch_resets": traj.launched.astype(jnp.float32).sum(),  # the part of them the launch guard ended
            "style_reward": style_reward.sum(0).mean(),  # summed over the horizon, env-averaged
            "combined_reward": rewards.sum(0).mean(),
            "task_reward": task_reward.sum(0).mean(),
            # per-step spreads over the batch: what PPO's advantages see of each reward
            "style_reward_std": style_reward.std(),
            "task_reward_std": task_reward.std(),
            "log_std": params["actor"]["params"]["log_std"].mean(),
            **jax.tree.map(jnp.mean, loss_stats),
            **style_metrics,
            **update_metrics,
        }
        obs_stats = running_stats.update(state.obs_stats, traj.obs) if cfg.normalize_obs else state.obs_stats
        new_state = TrainState(params, opt_state, obs_stats, value_stats, env_state, last_obs, reward_state, key,
                               state.iteration + 1)
        return new_state, metrics

    def train_chunk(state: TrainState, arrays: dict, num_iterations: int, active: jax.Array | None = None):
        """``num_iterations`` (static) iterations; with ``active`` (traced) only the first ``active`` of them
        run and the rest return the state unchanged and zero metrics, so that a run's last, shorter chunk
        (60 M steps are 915 humanoid iterations: 91 chunks of 10 and one of 5) reuses the compiled program
        instead of compiling another (about a minute on the GPU). ``arrays``: the style reward's (style_arrays)."""
        iterate = functools.partial(update_iteration, style=style.with_arrays(arrays) if arrays else style)
        if active is None:
            state, metrics = jax.lax.scan(iterate, state, None, length=num_iterations)
        else:
            # jitted so that eval_shape and the cond share one trace of the iteration instead of two
            # (lowering the humanoid's smoke chunk: 8.2 -> 7.5 s, mean of 3 on 2 cores); XLA inlines
            # the call: the chunk's results are bit-identical
            update = jax.jit(iterate)
            shapes = jax.eval_shape(update, state, None)[1]
            skipped = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

            def maybe_update(state, i):
                return jax.lax.cond(i < active, update, lambda s, _: (s, skipped), state, None)

            state, metrics = jax.lax.scan(maybe_update, state, jnp.arange(num_iterations))
        return state, metrics

    compiled = jax.jit(train_chunk, static_argnums=2)
    reward_arrays = jax.device_put(style_arrays(style), replicated)

    def chunk(state: TrainState, num_iterations: int, active: jax.Array | None = None):
        return compiled(state, reward_arrays, num_iterations, active)

    chunk.lower = lambda state, num_iterations, active=None: compiled.lower(state, reward_arrays, num_iterations, active)
    return init, chunk


COUNTS = ("nonfinite_resets", "launch_resets")  # per-iteration counts: a chunk's record sums them


def summarize_chunk(metrics: dict) -> dict:
    """Reduce a chunk's stacked per-iteration metrics to one record (episode stats weighted by count)."""
    import numpy as np

    m = {k: np.asarray(v) for k, v in metrics.items()}
    episodes = m.pop("episodes").sum()
    out = {"episodes": float(episodes)}
    for key, name in (("episode_return_sum", "episode_return"), ("episode_length_sum", "episode_length"),
                      ("success_sum", "success_rate")):
        total = m.pop(key).sum()
        out[name] = float(total / episodes) if episodes > 0 else float("nan")
    for key, value in m.items():
        if key in ("sigma_level", "log_std", "reward_centre"):
            out[key] = float(value[-1])
        elif key in COUNTS:
            out[key] = float(value.sum())
        else:
            out[key] = float(value.mean())
    return out


def act(params: Any, cfg: PPOConfig, obs_stats: RunningStats, obs: jax.Array, action_dim: int,
        key: jax.Array | None = None) -> jax.Array:
    """Policy action for observations; deterministic (the mean) when key is None."""
    actor, _ = make_networks(cfg, action_dim)
    mean, log_std = actor.apply(params["actor"], normalize_obs(cfg, obs_stats, obs))
    if key is not None:
        mean = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return jnp.clip(mean, -1.0, 1.0)
