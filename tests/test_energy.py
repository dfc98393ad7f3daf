"""The energy model: schedules, network variants, the DSM loss by hand, running statistics, training."""

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from near.energy.network import EnergyNet, sinusoidal_embedding
from near.energy.schedule import noise_levels
from near.energy.train import (EVAL_ROWS, EnergyConfig, dsm_loss, energies_at, fit, load_energy_model, make_trainer,
                               ranking_accuracies, ranking_accuracy)
from near.utils import running_stats
from near.utils.checkpoint import CheckpointError
from near.utils.logging import NonFiniteError


def test_geometric_schedule_matches_spec_values():
    sigmas = noise_levels(20.0, 0.01, 50, "geometric")
    assert sigmas.dtype == np.float32 and sigmas.shape == (50,)
    assert sigmas[0] == pytest.approx(20.0) and sigmas[-1] == pytest.approx(0.01)
    np.testing.assert_allclose(sigmas[[1, 2, 5, 19, 20, 35]], [17.13, 14.67, 9.21, 1.05, 0.899, 0.0877], rtol=2e-3)
    np.testing.assert_allclose(sigmas[1:] / sigmas[:-1], 0.8563, rtol=1e-3)  # constant ratio


def test_linear_schedule_and_bad_values():
    np.testing.assert_allclose(noise_levels(10.0, 0.01, 10, "linear"),
                               [10.0, 8.89, 7.78, 6.67, 5.56, 4.45, 3.34, 2.23, 1.12, 0.01], atol=5e-3)
    with pytest.raises(ValueError, match="unknown noise schedule"):
        noise_levels(1.0, 0.1, 3, "cosine")
    with pytest.raises(ValueError):
        noise_levels(1.0, 0.1, 0)


def test_sinusoidal_embedding_uses_100_times_the_level_index():
    emb = np.asarray(sinusoidal_embedding(jnp.array([0, 3]), 8))
    half = 4
    freqs = np.exp(-np.arange(half) * np.log(10000.0) / (half - 1))
    np.testing.assert_allclose(emb[1], np.concatenate([np.sin(300 * freqs), np.cos(300 * freqs)]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(emb[0], np.r_[np.zeros(4), np.ones(4)])


def test_network_variants():
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 4))
    levels = jnp.array([0, 1, 2, 3, 4])
    sigma = jnp.array([20.0, 10.0, 5.0, 1.0, 0.1])
    net = EnergyNet(conditioning="sigma")
    params = net.init(jax.random.PRNGKey(1), x, levels, sigma)
    out = net.apply(params, x, levels, sigma)
    # ncsnv2: the output is g(x)/sigma, and g (with its final ELU) is > -1
    g = net.apply(params, x, levels, jnp.ones(5))
    np.testing.assert_allclose(out, g / sigma, rtol=1e-5)
    assert np.all(np.asarray(g) > -1.0)
    # biases are initialised to 0.01
    assert np.allclose(params["params"]["Dense_0"]["bias"], 0.01)
    emb_net = EnergyNet(conditioning="embedding")
    p2 = emb_net.init(jax.random.PRNGKey(1), x, levels, sigma)
    same_x = jnp.repeat(x[:1], 2, 0)
    e = emb_net.apply(p2, same_x, jnp.array([0, 7]), jnp.ones(2))
    assert abs(float(e[0] - e[1])) > 0  # the level changes the output through the embedding


def test_dsm_loss_matches_hand_computation():
    """A linear 'network' E = w.x / sigma has score w/sigma: the loss is computable by hand."""
    w = jnp.array([0.5, -1.0])

    def apply_fn(params, z, levels, sigma):
        return (z @ params) / sigma

    sigmas = jnp.array([2.0, 0.5])
    x = jnp.array([[1.0, 2.0], [0.0, -1.0]])
    levels = jnp.array([0, 1])
    noise = jnp.array([[0.3, -0.2], [1.0, 0.5]])
    loss = float(dsm_loss(apply_fn, w, x, levels, noise, sigmas, 2.0))
    expected = 0.0
    for i in range(2):
        s = float(sigmas[levels[i]])
        score = np.asarray(w) / s
        target = -np.asarray(noise[i]) / s
        expected += 0.5 * np.sum((score - target) ** 2) * s**2
    assert loss == pytest.approx(expected / 2, rel=1e-6)
    # equivalently 0.5*|w + z|^2 averaged (sigma cancels for the ncsnv2 parameterisation)
    assert loss == pytest.approx(float(np.mean(0.5 * np.sum((np.asarray(w) + np.asarray(noise)) ** 2, 1))), rel=1e-6)


def test_running_stats_merge_equals_full_moments():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, (300, 3)).astype(np.float32)
    stats = running_stats.RunningStats.create(3)
    for chunk in np.split(data, 3):
        stats = running_stats.update(stats, jnp.asarray(chunk))
    # the prior (mean 0, var 1, count 1) is one pseudo-sample: compare against the same merge in float64
    full = np.concatenate([np.zeros((1, 3)), data])
    assert float(stats.count) == 301
    np.testing.assert_allclose(stats.mean, data.sum(0) / 301, rtol=1e-4)
    assert np.all(np.abs(np.asarray(stats.var) - data.var(0)) / data.var(0) < 0.02)
    z = running_stats.normalize(stats, jnp.asarray([[1e6, -1e6, 3.0]]))
    assert float(z[0, 0]) == 5.0 and float(z[0, 1]) == -5.0  # clipped to +-5
    del full


def _line_pairs(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(60, 420, n)
    s = np.stack([x, 200 + 0.05 * (x - 60) + rng.normal(0, 2, n)], 1)
    return np.concatenate([s[:-1], s[1:]], 1).astype(np.float32)


def test_training_lowers_loss_and_ranks_demo_pairs_above_random(tmp_path):
    pairs = _line_pairs()
    cfg = EnergyConfig(iterations=1500, log_every=300, checkpoint_every=1500)
    init, train_chunk, evaluate, _, _ = make_trainer(cfg, 4)
    state = init(jax.random.PRNGKey(0))
    state, losses_start = train_chunk(state, jnp.asarray(pairs), 100)
    _, last = fit(cfg, pairs, str(tmp_path), seed=0, meta={"env": "maze"}, show_progress=False)
    assert last["loss"] < float(np.mean(losses_start)) * 0.8
    model, meta = load_energy_model(str(tmp_path), expect_pair_dim=4)
    assert meta["kind"] == "energy" and meta["step"] == 1500
    rng = np.random.default_rng(1)
    random_pairs = rng.uniform(0, 512, (1000, 4)).astype(np.float32)
    for level in (0, 25, 49):
        assert ranking_accuracy(model, pairs[:1000], random_pairs, level) > 0.9
    with pytest.raises(CheckpointError, match="10-number pairs"):
        load_energy_model(str(tmp_path), expect_pair_dim=10)


def test_evaluation_and_ranking_share_one_compiled_program(tmp_path):
    """Start-up (issue #20): the held-out evaluation and the ranking run one compiled program, whatever
    the number of pairs or levels; a program per size or per caller is one more compile on every cold
    start (on a GPU, tens of seconds for the humanoid's network). Their numbers are the direct ones."""
    from jax import monitoring

    pairs = _line_pairs(600)  # 120 held-out pairs: the evaluation's one chunk is mostly padding
    cfg = EnergyConfig(iterations=20, log_every=10, checkpoint_every=20, latent_dim=24)
    fit(cfg, pairs, str(tmp_path), seed=0, show_progress=False)
    model, _ = load_energy_model(str(tmp_path))
    lowered = []

    def count(name, secs, **_):
        if name.endswith("jaxpr_to_mlir_module_duration"):  # every new program, whether or not a cache holds it
            lowered.append(name)

    monitoring.register_event_duration_secs_listener(count)
    try:
        demos = np.tile(pairs, (3, 1))
        others = np.random.default_rng(0).uniform(0, 512, demos.shape).astype(np.float32)
        for n in (7, 500, EVAL_ROWS + 276):  # 14, 1000 and 2600 pairs to rank: 1, 1 and 3 calls
            ranking_accuracies(model, demos[:n], others[:n], [0, 25, 49])
        energy = energies_at(model, pairs[:300], list(range(0, 50, 5)))  # 10 levels: two calls' worth
    finally:
        monitoring.unregister_event_duration_listener(count)
    assert lowered == []  # nothing new was traced to a program after training: the evaluation's is reused
    direct_energy = jax.jit(model.energy)
    for i, c in enumerate(range(0, 50, 5)):
        np.testing.assert_allclose(energy[i], direct_energy(jnp.asarray(pairs[:300]), c), rtol=1e-5, atol=1e-5)

    # the periodic evaluation: the held-out loss and energies of the batch it draws, padding left out
    init, _, evaluate, net, sigmas = make_trainer(cfg, 4)
    state = init(jax.random.PRNGKey(1))
    test_pairs, key = jnp.asarray(pairs[:120]), jax.random.PRNGKey(2)

    @jax.jit
    def direct(state):  # the draws and formulas of the evaluation, on the 120 pairs alone
        k_idx, k_lvl, k_noise = jax.random.split(jax.random.fold_in(key, state.step), 3)
        x = running_stats.normalize(state.stats, test_pairs[jax.random.randint(k_idx, (120,), 0, 120)])
        levels = jax.random.randint(k_lvl, (120,), 0, 50)
        lv = jnp.full((120,), 49, jnp.int32)
        return (dsm_loss(net.apply, state.ema_params, x, levels, jax.random.normal(k_noise, x.shape), sigmas),
                net.apply(state.ema_params, x, lv, sigmas[lv]).mean())

    got, (loss, energy_49) = evaluate(state, test_pairs, key), direct(state)
    assert got["test_loss"] == pytest.approx(float(loss), rel=1e-5)
    assert got["demo_energy/level_49"] == pytest.approx(float(energy_49), rel=1e-5)


def test_network_precision_reaches_the_dsm_step_and_not_the_evaluation():
    """energy.network_precision=tensorfloat32 (issue #20) lowers every matrix product of the DSM
    training step, double backprop included, at TF32 (HIGH), and bfloat16 with bfloat16 inputs; the held-out evaluation, which the ranking
    and the reward's energies share, stays at full float32 (HIGHEST). float32 changes nothing, and a
    bad name is one clear error (config and make_trainer alike)."""
    import re

    from near.config import ConfigError, validate_energy
    from near.energy.train import _eval_program

    pairs = jnp.asarray(_line_pairs(64))

    def precisions(text):
        return {re.search(r"precision = (\[[A-Z, ]+\])", line).group(1)
                for line in text.splitlines() if "dot_general" in line}

    def lowered(precision):
        cfg = EnergyConfig(latent_dim=24, network_precision=precision)
        init, train_chunk, _, net, sigmas = make_trainer(cfg, 4)
        state = init(jax.random.PRNGKey(0))
        step = precisions(train_chunk.lower(state, pairs, 2).as_text())
        rows = jnp.zeros((EVAL_ROWS, 4))
        evaluation = precisions(_eval_program.lower(net, state.ema_params, state.stats, sigmas, rows,
                                                    jnp.zeros(EVAL_ROWS, jnp.int32), rows, jnp.zeros(3, jnp.int32),
                                                    normalize_input=True, anneal_power=2.0).as_text())
        return step, evaluation

    (step32, eval32), (step_tf32, eval_tf32) = lowered("float32"), lowered("tensorfloat32")
    assert step32 == eval32 == eval_tf32 == {"[HIGHEST, HIGHEST]"}
    assert step_tf32 == {"[HIGH, HIGH]"}
    cfg = EnergyConfig(latent_dim=24, network_precision="bfloat16")  # every product of the step, double backprop too
    init, train_chunk, _, _, _ = make_trainer(cfg, 4)
    dots = [line for line in train_chunk.lower(init(jax.random.PRNGKey(0)), pairs, 2).as_text().splitlines()
            if "dot_general" in line]
    assert dots and all("lhs_precision_type = bf16, rhs_precision_type = bf16" in line for line in dots)
    with pytest.raises(ConfigError, match="energy.network_precision"):
        validate_energy(EnergyConfig(network_precision="fp8"))
    with pytest.raises(ValueError, match="energy.network_precision"):
        make_trainer(EnergyConfig(network_precision="bf16"), 4)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="TF32 is float32 only where there are no tensor cores")
def test_the_tf32_default_trains_bit_for_bit_as_float32_on_the_cpu():
    """TF32 is the default since issue #20 (GPU tensor cores); on the CPU it must change nothing, so that
    CPU runs, the quickstart and every CPU result stay as they were."""
    assert EnergyConfig().network_precision == "tensorfloat32"
    pairs = jnp.asarray(_line_pairs(64))

    def trained(precision):
        init, train_chunk, _, _, _ = make_trainer(EnergyConfig(latent_dim=24, network_precision=precision), 4)
        state, _ = train_chunk(init(jax.random.PRNGKey(0)), pairs, 20)
        return jax.tree.leaves(state.params)

    for a, b in zip(trained("float32"), trained("tensorfloat32"), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_nan_loss_is_reported_with_its_step(tmp_path):
    pairs = _line_pairs()
    pairs[:] = np.inf  # every batch poisons the loss
    cfg = EnergyConfig(iterations=200, log_every=100, normalize_input=False)
    with pytest.raises(NonFiniteError, match="step 1"):
        fit(cfg, pairs, str(tmp_path / "run"), show_progress=False)


def test_ctrl_c_checkpoints_where_it_stopped_and_resume_finishes(tmp_path, interrupt_when):
    """SIGINT mid-training: the loop finishes its chunk, checkpoints there (not only at checkpoint_every)
    and raises RunInterrupted; resuming reaches the same parameters as an uninterrupted run."""
    from near.utils.interrupt import RunInterrupted

    pairs = _line_pairs()
    cfg = EnergyConfig(iterations=2_000_000, log_every=50, checkpoint_every=1_000_000)
    run = tmp_path / "run"
    metrics = run / "metrics.jsonl"
    thread = interrupt_when(lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= 2)
    with pytest.raises(RunInterrupted, match="SIGINT at step .* resume=True"):
        fit(cfg, pairs, str(run), seed=3, show_progress=False)
    thread.join()
    stopped = max(int(d) for d in os.listdir(run / "checkpoints") if d.isdigit())
    assert stopped >= 100 and stopped % 50 == 0
    logged = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert logged[-1] == stopped  # every logged step is in the checkpoint
    finish = EnergyConfig(iterations=stopped + 50, log_every=50, checkpoint_every=1_000_000)
    state_resumed, _ = fit(finish, pairs, str(run), seed=3, resume=True, show_progress=False)
    state_straight, _ = fit(finish, pairs, str(tmp_path / "straight"), seed=3, show_progress=False)
    assert int(state_resumed.step) == stopped + 50
    for a, b in zip(jax.tree.leaves(state_straight.params), jax.tree.leaves(state_resumed.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    pairs = _line_pairs()
    # 200 steps, not 400: the same 100-step compiled chunk, half the training (the numbers compared are exact)
    cfg = EnergyConfig(iterations=200, log_every=100, checkpoint_every=100)
    state_full, _ = fit(cfg, pairs, str(tmp_path / "a"), seed=3, show_progress=False)
    # an 'interrupted' run: stops at 100 (its last checkpoint), then resumes to 200
    short = EnergyConfig(iterations=100, log_every=100, checkpoint_every=100)
    fit(short, pairs, str(tmp_path / "b"), seed=3, show_progress=False)
    state_resumed, _ = fit(cfg, pairs, str(tmp_path / "b"), seed=3, resume=True, show_progress=False)
    assert int(state_resumed.step) == 200
    for a, b in zip(jax.tree.leaves(state_full.params), jax.tree.leaves(state_resumed.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_velocity_std_floor_keeps_a_still_feature_from_swamping_the_others(tmp_path):
    """The crane's cause (docs item 45): where the clips hold a feature nearly still, per-dimension
    normalisation turns a policy's small motion along it into the clip at 5 std, as far as a wrong pose.
    A std floor on that feature keeps it a deviation of its own size; the floor travels with the checkpoint."""
    rng = np.random.default_rng(0)
    pose = rng.normal(0.0, 1.0, (2000, 2))
    still = rng.normal(0.0, 0.01, (2000, 2))  # a velocity the clips hold at ~0
    data = jnp.asarray(np.concatenate([pose, still], 1), jnp.float32)
    plain = running_stats.update(running_stats.create(4), data)
    floored = running_stats.update(running_stats.create(4, min_std=np.array([0, 0, 0.5, 0.5])), data)
    assert isinstance(floored, running_stats.FlooredStats)
    np.testing.assert_allclose(floored.mean, plain.mean) and np.testing.assert_allclose(floored.var, plain.var)
    jitter = jnp.asarray([[0.0, 0.0, 0.3, -0.3]])  # the right pose, a small motion on the still feature
    np.testing.assert_allclose(running_stats.normalize(plain, jitter)[0, 2:], [5.0, -5.0])  # clipped
    np.testing.assert_allclose(running_stats.normalize(floored, jitter)[0, 2:], [0.6, -0.6], atol=0.01)
    np.testing.assert_allclose(running_stats.normalize(floored, jitter)[0, :2], running_stats.normalize(plain, jitter)[0, :2])
    with pytest.raises(ValueError, match="diagonal"):
        running_stats.create(4, "whiten", min_std=np.ones(4))

    pairs = _line_pairs(300)
    cfg = EnergyConfig(iterations=20, log_every=10, checkpoint_every=20, velocity_std_floor=50.0)
    min_std = np.array([0, 0, 50.0, 50.0], np.float32)  # the pair's second state stands in for velocities
    state, _ = fit(cfg, pairs, str(tmp_path), seed=0, show_progress=False, min_std=min_std)
    np.testing.assert_allclose(state.stats.min_var, min_std ** 2)
    model, _ = load_energy_model(str(tmp_path))  # the floor comes back from the checkpoint, not the config
    np.testing.assert_allclose(model.stats.min_var, min_std ** 2)
    np.testing.assert_allclose(model.energy(jnp.asarray(pairs[:8]), 3), energies_at(model, pairs[:8], [3])[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("key", ["velocity_std_floor", "angle_std_floor"])
def test_std_floors_are_checked(key):
    from near.config import ConfigError, validate_energy

    with pytest.raises(ConfigError, match=f"{key} must be >= 0"):
        validate_energy(EnergyConfig(**{key: -1.0}))
    with pytest.raises(ConfigError, match=f"energy.{key} needs .*normalization=diagonal"):
        validate_energy(EnergyConfig(**{key: 0.5}, normalization="whiten"))


def test_input_clip_zero_lets_the_energy_see_past_five_std(tmp_path):
    """The punch's cause (docs item 47): past the normalised input's clip at 5 std the energy is flat, so a
    feature the clips hold nearly still gives no reward for coming closer until it is within 5 std. With
    energy.input_clip=0 the energy tells 6 std from 60; within the clip nothing changes; the setting travels
    with the checkpoint, and an old checkpoint without it keeps the original's 5."""
    pairs = _line_pairs(300)
    cfg = EnergyConfig(iterations=40, log_every=20, checkpoint_every=40, input_clip=0.0)
    fit(cfg, pairs, str(tmp_path), seed=0, show_progress=False)
    model, meta = load_energy_model(str(tmp_path))
    assert model.input_clip == 0.0 and meta["energy"]["input_clip"] == 0.0
    clipped = dataclasses.replace(model, input_clip=5.0)
    mean, std = np.asarray(model.stats.mean), np.sqrt(np.asarray(model.stats.var))
    far = jnp.asarray(np.stack([mean + 6 * std, mean + 60 * std]), jnp.float32)  # both beyond the clip
    assert float(jnp.abs(clipped.energy(far[:1], 10) - clipped.energy(far[1:], 10))[0]) < 1e-4  # flat past the clip
    assert float(jnp.abs(model.energy(far[:1], 10) - model.energy(far[1:], 10))[0]) > 1e-3
    np.testing.assert_allclose(model.energy(jnp.asarray(pairs[:8]), 3), clipped.energy(jnp.asarray(pairs[:8]), 3),
                               rtol=1e-5, atol=1e-5)  # the demos lie within the clip
    np.testing.assert_allclose(energies_at(model, np.asarray(far), [10])[0], model.energy(far, 10), rtol=1e-4, atol=1e-4)
    from near.energy.train import _config_from_meta

    old = {**meta, "energy": {k: v for k, v in meta["energy"].items() if k != "input_clip"}}
    assert EnergyConfig().input_clip == 5.0 and _config_from_meta("old", old)[0].input_clip == 5.0  # the original's


def test_input_clip_is_checked():
    from near.config import ConfigError, validate_energy

    with pytest.raises(ConfigError, match="input_clip must be >= 0"):
        validate_energy(EnergyConfig(input_clip=-1.0))


def test_angle_std_floor_comes_back_from_the_checkpoint(tmp_path):
    """energy.angle_std_floor alone (no velocity floor) still restores its floored statistics (item 48)."""
    cfg = EnergyConfig(iterations=20, log_every=10, checkpoint_every=20, angle_std_floor=50.0)
    min_std = np.array([50.0, 0, 50.0, 0], np.float32)  # the pair's first feature of each state stands in for an angle
    fit(cfg, _line_pairs(300), str(tmp_path), seed=0, show_progress=False, min_std=min_std)
    model, _ = load_energy_model(str(tmp_path))
    assert isinstance(model.stats, running_stats.FlooredStats)
    np.testing.assert_allclose(model.stats.min_var, min_std ** 2)


def test_output_activation_none_lets_the_energy_below_the_elu_floor_and_keeps_its_gradient(tmp_path):
    """energy.output_activation=none (not the original's): where the final ELU pins g near -1 its input
    gradient, the score DSM trains on, vanishes; without it g and its gradient go on. The setting travels
    with the checkpoint; an old checkpoint without it keeps the ELU; a bad name is one clear error."""
    x = jax.random.normal(jax.random.PRNGKey(0), (6, 4))
    levels, ones = jnp.zeros(6, jnp.int32), jnp.ones(6)
    elu_net, linear_net = EnergyNet(), EnergyNet(output_activation="none")
    params = elu_net.init(jax.random.PRNGKey(1), x, levels, ones)
    last = max(params["params"], key=lambda k: int(k.split("_")[1]))  # the scalar output layer
    params["params"][last]["bias"] = jnp.full_like(params["params"][last]["bias"], -12.0)  # deep in the floor
    g_elu, g_lin = elu_net.apply(params, x, levels, ones), linear_net.apply(params, x, levels, ones)
    assert np.all(np.asarray(g_elu) > -1.0) and np.all(np.asarray(g_lin) < -5.0)

    def score_norm(net):
        return float(jnp.linalg.norm(jax.grad(lambda v: net.apply(params, v, levels, ones).sum())(x)))

    assert score_norm(elu_net) < 1e-3 * score_norm(linear_net)
    cfg = EnergyConfig(iterations=20, log_every=10, checkpoint_every=20, output_activation="none")
    fit(cfg, _line_pairs(300), str(tmp_path), seed=0, show_progress=False)
    model, meta = load_energy_model(str(tmp_path))
    assert meta["energy"]["output_activation"] == "none" and model.net.output_activation == "none"
    from near.config import ConfigError, validate_energy
    from near.energy.train import _config_from_meta, make_network

    old = {**meta, "energy": {k: v for k, v in meta["energy"].items() if k != "output_activation"}}
    assert _config_from_meta("old", old)[0].output_activation == "elu"
    with pytest.raises(ConfigError, match="energy.output_activation"):
        validate_energy(EnergyConfig(output_activation="relu"))
    with pytest.raises(ValueError, match="energy.output_activation"):
        make_network(EnergyConfig(output_activation="softplus"))
    # without the ELU the policy's energies go negative, where the multiplicative annealing rule climbs a level
    # every iteration (the sign trap): NEAR training on such a model refuses that rule, takes the additive one
    from near.config import compose_config
    from near.factories import make_env, make_style

    def near_style(*overrides):
        cfg = compose_config(["task=mazeNEAR", f"energy.checkpoint={tmp_path}", *overrides])
        return make_style(cfg, make_env(cfg))

    with pytest.raises(ConfigError, match="reward.anneal_rule=additive"):
        near_style("reward.sigma_level=-1")
    assert near_style("reward.sigma_level=-1", "reward.anneal_rule=additive")[0] is not None
    assert near_style("reward.sigma_level=3")[0] is not None  # a fixed level does not anneal
