"""NEAR as a style reward for the shared PPO trainer: a frozen energy model, annealed.

The reward itself (annealing rule, centring, tanh) lives in near.energy.reward; this adapter only
binds it to a trained model so that PPO can call it on rollout pairs.
"""

from __future__ import annotations

import jax

from near.energy.reward import RewardConfig, init_anneal_state, near_reward
from near.energy.train import EnergyModel


class NEARReward:
    name = "NEAR"

    def __init__(self, model: EnergyModel, cfg: RewardConfig):
        self.model = model
        self.cfg = cfg
        self.num_levels = int(model.sigmas.shape[0])
        if cfg.sigma_level >= self.num_levels:
            raise ValueError(f"reward.sigma_level={cfg.sigma_level} but the energy model has {self.num_levels} levels")

    def init(self, key: jax.Array):
        return init_anneal_state(self.cfg)

    def compute(self, state, pairs):
        reward, state, metrics = near_reward(self.model.energy, state, pairs, self.num_levels, self.cfg)
        metrics["sigma"] = self.model.sigmas[state.level]
        metrics["energy_input_clipped"] = self.model.at_clip(pairs).mean()
        return reward, state, metrics

    def update(self, state, pairs, key):
        return state, {}  # the energy model is frozen during policy learning
