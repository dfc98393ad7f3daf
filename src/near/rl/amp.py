"""AMP (adversarial motion priors) as a style reward for the shared PPO trainer.

Spec near-algorithm.md §8.1. A discriminator D = sigmoid(logit) on the same state pairs as NEAR
(own running input normalisation) separates demo pairs (label 1) from policy pairs (label 0: the
current rollout plus a replay buffer of older rollouts):

    L_D = 0.5 * (BCE(logit_policy, 0) + BCE(logit_demo, 1))
          + logit_reg * |W_logit|^2 + grad_penalty * mean_demo |d logit / d x|^2 + weight_decay * sum |W|^2

and the reward is r = -log(max(1 - D(x), 1e-4)) * reward_scale. Rewards of a rollout are computed
with the discriminator as it was when the rollout was collected; then the discriminator is
trained on that rollout. Deviation: the original trains D in the same backward pass and with the
same Adam as PPO; here it has its own Adam (same learning rate) and the same number of steps
(update_epochs x minibatches), which keeps PPO's code identical for every method.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import field
from typing import Any, ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from near.utils import running_stats


@dataclasses.dataclass
class AMPConfig:
    """Discriminator settings (maze defaults of the original's mazeAMPPPO.yaml)."""

    hidden: list[int] = field(default_factory=lambda: [1024, 512])
    learning_rate: float = 3e-4
    minibatch_size: int = 512  # per set: policy, replay and demo
    updates_per_iteration: int = 0  # discriminator steps per PPO iteration; 0 = as many as PPO's minibatch steps
    replay_buffer_size: int = 10_000
    replay_keep_prob: float = 0.1  # once full, each new pair is stored with this probability
    logit_reg: float = 0.05
    grad_penalty: float = 10.0
    weight_decay: float = 1e-4
    reward_scale: float = 2.0
    normalize_input: bool = True
    normalization: str = "diagonal"  # or "whiten": use the same input normalisation as the NEAR energy model


class Discriminator(nn.Module):
    hidden: Sequence[int] = (1024, 512)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = nn.relu(nn.Dense(width, kernel_init=nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
                                 bias_init=nn.initializers.zeros)(x))
        logit = nn.Dense(1, kernel_init=_uniform_pm1, bias_init=nn.initializers.zeros, name="logit")
        return logit(x)[..., 0]


def _uniform_pm1(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -1.0, 1.0)  # the original's logit-layer init


@struct.dataclass
class AMPState:
    params: dict
    opt_state: optax.OptState
    stats: Any  # RunningStats or RunningCovariance
    replay: jax.Array  # (size, D)
    replay_count: jax.Array  # int32 filled entries
    replay_ptr: jax.Array  # int32 next write position
    # rollout data, not learnt: a checkpoint keeps it apart (near.restore), and a run resumed without it
    # refills the buffer from its own rollouts
    rollout_fields: ClassVar[tuple[str, ...]] = ("replay", "replay_count", "replay_ptr")


def amp_reward(logits: jax.Array, scale: float) -> jax.Array:
    """-log(max(1 - sigmoid(logit), 1e-4)) * scale."""
    return -jnp.log(jnp.maximum(1.0 - jax.nn.sigmoid(logits), 1e-4)) * scale


def bce_with_logits(logits: jax.Array, label: float) -> jax.Array:
    return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)).mean()


def gradient_penalty(apply_fn, params, x: jax.Array) -> jax.Array:
    """mean over samples of |d logit / d x|^2 (on normalised demo inputs)."""
    grads = jax.grad(lambda z: apply_fn(params, z).sum())(x)
    return jnp.mean(jnp.sum(grads**2, axis=-1))


def discriminator_loss(apply_fn, params, cfg: AMPConfig, x_policy: jax.Array, x_demo: jax.Array):
    logit_policy = apply_fn(params, x_policy)
    logit_demo = apply_fn(params, x_demo)
    bce = 0.5 * (bce_with_logits(logit_policy, 0.0) + bce_with_logits(logit_demo, 1.0))
    logit_w = params["params"]["logit"]["kernel"]
    weights = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(params) if "kernel" in jax.tree_util.keystr(path)]
    penalty = gradient_penalty(apply_fn, params, x_demo)
    loss = (bce + cfg.logit_reg * jnp.sum(logit_w**2) + cfg.grad_penalty * penalty
            + cfg.weight_decay * sum(jnp.sum(w**2) for w in weights))
    metrics = {"disc_loss": loss, "disc_bce": bce, "disc_grad_penalty": penalty,
               "disc_logit_demo": logit_demo.mean(), "disc_logit_policy": logit_policy.mean(),
               "disc_accuracy_demo": jnp.mean(logit_demo > 0), "disc_accuracy_policy": jnp.mean(logit_policy < 0)}
    return loss, metrics


class AMPReward:
    name = "AMP"

    def __init__(self, demo_pairs: jax.Array, cfg: AMPConfig, updates_per_iteration: int | None = None):
        if cfg.updates_per_iteration <= 0 and updates_per_iteration is None:
            raise ValueError("AMPConfig.updates_per_iteration is 0: pass the PPO minibatch-step count")
        self.updates_per_iteration = cfg.updates_per_iteration if cfg.updates_per_iteration > 0 else updates_per_iteration
        self.demo_pairs = jnp.asarray(demo_pairs, jnp.float32)
        self.cfg = cfg
        self.net = Discriminator(tuple(cfg.hidden))
        self.optimizer = optax.adam(cfg.learning_rate)
        self.pair_dim = int(self.demo_pairs.shape[-1])

    def arrays(self) -> dict:
        """What the training program takes as arguments rather than constants (near.rl.ppo.style_arrays)."""
        return {"demo_pairs": self.demo_pairs}

    def with_arrays(self, arrays: dict) -> "AMPReward":
        bound = copy.copy(self)
        bound.demo_pairs = arrays["demo_pairs"]
        return bound

    def _normalise(self, stats, x):
        return running_stats.normalize(stats, x) if self.cfg.normalize_input else x

    def logits(self, state: AMPState, pairs: jax.Array) -> jax.Array:
        return self.net.apply(state.params, self._normalise(state.stats, pairs))

    def init(self, key: jax.Array) -> AMPState:
        params = self.net.init(key, jnp.zeros((1, self.pair_dim)))
        stats = running_stats.create(self.pair_dim, self.cfg.normalization)
        if self.cfg.normalize_input:
            stats = running_stats.update(stats, self.demo_pairs[:: max(1, self.demo_pairs.shape[0] // 4096)])
        return AMPState(params, self.optimizer.init(params), stats,
                        jnp.zeros((self.cfg.replay_buffer_size, self.pair_dim)), jnp.zeros((), jnp.int32),
                        jnp.zeros((), jnp.int32))

    def compute(self, state: AMPState, pairs: jax.Array):
        logits = self.logits(state, pairs)
        reward = amp_reward(logits, self.cfg.reward_scale)
        return reward, state, {"disc_reward": reward.mean(), "disc_logit_rollout": logits.mean()}

    def _store(self, state: AMPState, pairs: jax.Array, key: jax.Array) -> AMPState:
        """Append the kept pairs to the ring buffer (all of them until it is full, then each with
        replay_keep_prob; of more kept pairs than slots only the last ``size`` land). Each slot gathers
        the pair that lands in it (a binary search of the kept pairs' ranks), rather than the rollout
        scattering its pairs, most of them dropped, into the buffer."""
        size = self.cfg.replay_buffer_size
        full = state.replay_count >= size
        keep = jnp.where(full, jax.random.uniform(key, (pairs.shape[0],)) < self.cfg.replay_keep_prob, True)
        kept_before = jnp.cumsum(keep)  # kept pairs up to and including each pair
        kept = kept_before[-1]
        written = jnp.minimum(kept, size)
        # kept pair k (0-based) goes to slot (ptr + k) % size, the last `size` of them (k >= first) surviving:
        # slot s gets the k in [first, first + size) with k = s - ptr (mod size), if k < kept
        first = kept - written
        k = first + (jnp.arange(size) - state.replay_ptr - first) % size
        landed = k < kept
        source = jnp.searchsorted(kept_before, k + 1, side="left")  # the pair whose running count reaches k + 1
        replay = jnp.where(landed[:, None], pairs[jnp.minimum(source, pairs.shape[0] - 1)], state.replay)
        return state.replace(replay=replay, replay_count=jnp.minimum(state.replay_count + kept, size),
                             replay_ptr=(state.replay_ptr + kept) % size)

    def update(self, state: AMPState, pairs: jax.Array, key: jax.Array):
        cfg = self.cfg
        pairs = pairs.reshape(-1, self.pair_dim)
        k_store, k_steps, k_keep = jax.random.split(key, 3)
        n = cfg.minibatch_size
        demo_sample = self.demo_pairs[jax.random.randint(k_store, (pairs.shape[0],), 0, self.demo_pairs.shape[0])]
        both = jnp.concatenate([pairs, demo_sample])
        stats = running_stats.update(state.stats, both) if cfg.normalize_input else state.stats
        normaliser = running_stats.frozen(stats)  # one whitening matrix for all the steps below

        def step(carry, k):
            params, opt_state = carry
            k1, k2, k3 = jax.random.split(k, 3)
            current = pairs[jax.random.randint(k1, (n,), 0, pairs.shape[0])]
            # replay samples come from the filled part; before anything is stored, reuse the rollout
            filled = jnp.maximum(state.replay_count, 1)
            replay = jnp.where(state.replay_count > 0,
                               state.replay[jax.random.randint(k2, (n,), 0, filled)], current)
            demo = self.demo_pairs[jax.random.randint(k3, (n,), 0, self.demo_pairs.shape[0])]
            x_policy = self._normalise(normaliser, jnp.concatenate([current, replay]))
            x_demo = self._normalise(normaliser, demo)
            (_, metrics), grads = jax.value_and_grad(
                lambda p: discriminator_loss(self.net.apply, p, cfg, x_policy, x_demo), has_aux=True)(params)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), metrics

        (params, opt_state), metrics = jax.lax.scan(step, (state.params, state.opt_state),
                                                    jax.random.split(k_steps, self.updates_per_iteration))
        state = state.replace(params=params, opt_state=opt_state, stats=stats)
        state = self._store(state, pairs, k_keep)
        return state, jax.tree.map(jnp.mean, metrics)
