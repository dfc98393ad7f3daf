"""NEAR's reward transform and every annealing transition, against hand computations."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from near.energy.reward import RewardConfig, anneal_step, centre_and_squash, init_anneal_state, near_reward

L = 50


def _feed(state, energies, cfg):
    levels = []
    for e in energies:
        state = anneal_step(state, jnp.float32(e), L, cfg)
        levels.append(int(state.level))
    return state, levels


def test_anneal_advances_after_two_percent_improvement():
    cfg = RewardConfig()
    state = init_anneal_state(cfg)
    # first iteration at level 0: E_init = 10; moving averages: 10, 10.1, 10.2 (< 10.2 only at ...)
    state, levels = _feed(state, [10.0, 10.2, 10.4], cfg)
    # averages: 10.0 -> stay; (10+10.2)/2 = 10.1 < 10.2 -> stay; (10+10.2+10.4)/3 = 10.2 >= 10.2 -> advance
    assert levels == [0, 0, 1]
    assert not bool(state.has_init) and int(state.energy_count) == 0


def test_anneal_moving_average_uses_last_three():
    cfg = RewardConfig()
    state = init_anneal_state(cfg)
    state, levels = _feed(state, [10.0, 9.0, 9.0, 12.0, 12.0], cfg)
    # avgs: 10 | 9.5 | 9.33 | (9+9+12)/3 = 10 | (9+12+12)/3 = 11 >= 10.2 -> advance at the 5th
    assert levels == [0, 0, 0, 0, 1]


def test_anneal_never_moves_past_the_last_level_and_never_back():
    cfg = RewardConfig()
    state = dataclasses.replace(init_anneal_state(cfg)).replace(level=jnp.int32(L - 1))
    state, levels = _feed(state, [1.0, 5.0, 50.0], cfg)
    assert levels == [L - 1] * 3
    state = init_anneal_state(cfg)
    state, levels = _feed(state, [10.0, 20.0, 1.0, 1.0, 1.0, 1.0], cfg)
    assert levels == sorted(levels)  # monotone


def test_sign_trap_multiplicative_rule_cascades_on_negative_energy():
    """E_init <= 0: e_bar >= E_init*1.02 holds at once, so every iteration advances (spec §6.2)."""
    cfg = RewardConfig(anneal_rule="multiplicative")
    state, levels = _feed(init_anneal_state(cfg), [-1.0, -1.0, -1.0], cfg)
    assert levels == [1, 2, 3]
    fixed = RewardConfig(anneal_rule="additive")
    state, levels = _feed(init_anneal_state(fixed), [-1.0, -1.0, -1.0], fixed)
    assert levels == [0, 0, 0]  # the additive rule needs a real improvement
    state, levels = _feed(init_anneal_state(fixed), [-1.0, -0.97], fixed)
    # avg(-1, -0.97) = -0.985 >= -1 + 0.02*1 = -0.98? no -> stay
    assert levels == [0, 0]
    state, levels = _feed(state, [-0.9], fixed)
    assert levels == [1]  # avg(-1, -0.97, -0.9) = -0.9567 >= -0.98


def test_sign_trap_message_names_a_cascade_and_nothing_else():
    """The training loop's warning: the level rising at every iteration with the energy at or below zero."""
    from near.energy.reward import sign_trap_message

    cfg = RewardConfig(anneal_rule="multiplicative")
    _, levels = _feed(init_anneal_state(cfg), [-28.0] * 8, cfg)  # the cascade itself, as the crane run met it
    cascade = [{"sigma_level": lv, "energy": -28.0 * (1 + lv)} for lv in levels]
    message = sign_trap_message(cascade)
    assert message and "sign trap" in message and "reward.anneal_rule=additive" in message and "(to 8)" in message
    assert sign_trap_message(cascade[:5]) is None  # too few iterations to tell
    assert sign_trap_message([{**r, "energy": 5.0} for r in cascade]) is None  # positive energies rising: progress
    held = [{"sigma_level": 3, "energy": -28.0}] * 8  # negative but not rising
    assert sign_trap_message(held) is None
    assert sign_trap_message(cascade[:4] + [{"sigma_level": 4, "energy": -1.0}] + cascade[4:]) is None  # one stay


def test_fixed_sigma_level_never_anneals():
    cfg = RewardConfig(sigma_level=5)
    state = init_anneal_state(cfg)
    assert int(state.level) == 5
    state, levels = _feed(state, [1.0, 100.0, 1000.0], cfg)
    assert levels == [5, 5, 5]


def test_centre_is_refreshed_on_first_and_every_third_iteration():
    cfg = RewardConfig()
    state = init_anneal_state(cfg)
    means = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    centres = []
    for m in means:
        energy = jnp.full((4, 3), m)
        reward, state = centre_and_squash(state, energy, cfg)
        centres.append(float(state.centre))
        np.testing.assert_allclose(reward, np.tanh((m - centres[-1]) / 10.0), rtol=1e-6)
    # epoch 1: mean(1)=1; epochs 2: stale; 3: mean(1,2,3)=2; 4,5 stale; 6: mean(4,5,6)=5; 7 stale
    assert centres == [1.0, 1.0, 2.0, 2.0, 2.0, 5.0, 5.0]


def test_reward_transform_values():
    cfg = RewardConfig()
    state = init_anneal_state(cfg).replace(iteration=jnp.int32(1), centre=jnp.float32(3.0))  # epoch 2: stale centre
    energy = jnp.array([3.0, 13.0, -7.0, 1003.0])
    reward, _ = centre_and_squash(state, energy, cfg)
    np.testing.assert_allclose(reward, [0.0, np.tanh(1.0), np.tanh(-1.0), 1.0], rtol=1e-6, atol=1e-7)
    raw, _ = centre_and_squash(state, energy, RewardConfig(squash=False))
    np.testing.assert_allclose(raw, energy)


def test_near_reward_anneals_before_computing_this_batch():
    """A level change applies immediately to the batch that caused it."""
    cfg = RewardConfig()
    sigmas = jnp.asarray(np.linspace(2.0, 1.0, L), jnp.float32)

    def energy_fn(pairs, level):
        return pairs[..., 0] / sigmas[level]

    state = init_anneal_state(cfg)
    pairs = jnp.ones((8, 4, 2))
    _, state, _ = near_reward(energy_fn, state, pairs, L, cfg)  # E_init = 0.5
    reward, state, metrics = near_reward(energy_fn, state, 1.2 * pairs, L, cfg)
    # moving average (0.5 + 0.6)/2 = 0.55 >= 0.51 -> level 1; energy recomputed at sigma_1
    assert int(state.level) == 1
    np.testing.assert_allclose(float(metrics["energy"]), 1.2 / float(sigmas[1]), rtol=1e-6)
    with pytest.raises(ValueError, match="sigma_level"):
        near_reward(energy_fn, init_anneal_state(RewardConfig(sigma_level=60)), pairs, L, RewardConfig(sigma_level=60))


def test_near_reward_logs_the_share_of_saturated_rewards():
    """energy_reward_saturated: the share of pairs paid |r| > 0.9; it grows as the level's gain outgrows the spread."""
    sigmas = jnp.asarray(20.0 * 0.8563 ** np.arange(L), jnp.float32)
    pairs = jnp.asarray(np.linspace(-1.0, 1.0, 101)[:, None], jnp.float32)  # g spread evenly around 0

    def energy_fn(p, level):
        return 30.0 * p[..., 0] / sigmas[level]

    shares = []
    for level in (0, 20, 30):
        cfg = RewardConfig(sigma_level=level)
        _, _, metrics = near_reward(energy_fn, init_anneal_state(cfg), pairs, L, cfg)
        shares.append(float(metrics["energy_reward_saturated"]))
    assert shares[0] == 0.0 and 0.0 < shares[1] < shares[2] and shares[2] > 0.9
    raw = RewardConfig(sigma_level=30, squash=False)
    assert float(near_reward(energy_fn, init_anneal_state(raw), pairs, L, raw)[2]["energy_reward_saturated"]) == 0.0


def test_near_reward_logs_the_share_of_energy_inputs_at_the_clip():
    """energy_input_clipped: the share of the batch's normalised energy inputs at energy.input_clip, where the
    energy reads "far off" without a distance and the reward is flat (notebook item 79's crane glide)."""
    import jax

    from near.energy.train import EnergyConfig, EnergyModel, make_network, noise_levels
    from near.rl.near import NEARReward
    from near.utils.running_stats import RunningStats

    cfg = EnergyConfig(encoder_hidden=[8], latent_dim=8, decoder_hidden=[8])
    net = make_network(cfg)
    sigmas = jnp.asarray(noise_levels(cfg.sigma_begin, cfg.sigma_end, cfg.num_levels, cfg.schedule))
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)), jnp.zeros((1,), jnp.int32), sigmas[:1])
    model = EnergyModel(net, params, RunningStats(jnp.zeros(4), jnp.full(4, 0.01), jnp.ones(())), sigmas)  # std 0.1
    pairs = jnp.array([[0.0, 0.1, 0.6, -0.6], [0.2, 0.49, 0.51, 5.0]])  # 0.6, 0.51 and 5.0 are past 5 stds (0.5)
    reward = NEARReward(model, RewardConfig())
    _, _, metrics = reward.compute(reward.init(jax.random.PRNGKey(1)), pairs)
    assert float(metrics["energy_input_clipped"]) == pytest.approx(4 / 8)
    no_clip = NEARReward(dataclasses.replace(model, input_clip=0.0), RewardConfig())
    assert float(no_clip.compute(no_clip.init(jax.random.PRNGKey(1)), pairs)[2]["energy_input_clipped"]) == 0.0
