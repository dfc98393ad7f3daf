"""AMP: reward formula, gradient penalty, discriminator training, replay buffer, fresh weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from near.rl.amp import AMPConfig, AMPReward, amp_reward, discriminator_loss, gradient_penalty


def test_reward_formula_on_known_logits():
    logits = jnp.array([0.0, 2.0, -3.0, 20.0])
    d = 1.0 / (1.0 + np.exp(-np.asarray(logits)))
    expected = -np.log(np.maximum(1.0 - d, 1e-4)) * 2.0
    np.testing.assert_allclose(amp_reward(logits, 2.0), expected, rtol=1e-5)
    assert float(amp_reward(jnp.array([0.0]), 2.0)[0]) == pytest.approx(2 * np.log(2.0), rel=1e-6)
    assert float(amp_reward(jnp.array([50.0]), 1.0)[0]) == pytest.approx(-np.log(1e-4), rel=1e-5)  # clamp


def test_gradient_penalty_matches_hand_computation():
    """logit = a.x + b: |d logit/dx|^2 = |a|^2 for every sample."""
    a = jnp.array([0.5, -2.0, 1.0])

    def apply_fn(params, x):
        return x @ params

    x = jax.random.normal(jax.random.PRNGKey(0), (7, 3))
    assert float(gradient_penalty(apply_fn, a, x)) == pytest.approx(0.25 + 4.0 + 1.0, rel=1e-6)

    # quadratic: logit = sum(x^2) -> grad 2x, penalty mean(4|x|^2)
    def quad(params, x):
        return jnp.sum(x**2, -1) * params

    expected = float(np.mean(4 * np.sum(np.asarray(x) ** 2, -1)))
    assert float(gradient_penalty(quad, 1.0, x)) == pytest.approx(expected, rel=1e-5)


def _demo_pairs(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    s = np.stack([np.linspace(60, 400, n), 200 + rng.normal(0, 2, n)], 1)
    return np.concatenate([s[:-1], s[1:]], 1).astype(np.float32)


def test_discriminator_separates_demo_from_random_pairs_and_reward_follows():
    demo = _demo_pairs()
    cfg = AMPConfig(hidden=[64, 64], minibatch_size=128, updates_per_iteration=50, replay_buffer_size=512)
    amp = AMPReward(demo, cfg)
    state = amp.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(1)
    random_pairs = jnp.asarray(rng.uniform(0, 512, (512, 4)).astype(np.float32))
    r_before, _, _ = amp.compute(state, random_pairs)
    update = jax.jit(amp.update)
    for i in range(12):
        state, metrics = update(state, random_pairs, jax.random.PRNGKey(i))
    logits_demo = amp.logits(state, jnp.asarray(demo[:512]))
    logits_random = amp.logits(state, random_pairs)
    accuracy = 0.5 * (np.mean(np.asarray(logits_demo) > 0) + np.mean(np.asarray(logits_random) < 0))
    assert accuracy > 0.9
    # the reward comes from the updated discriminator (a JAX AMP port once used stale weights)
    r_after, _, _ = amp.compute(state, random_pairs)
    assert not np.allclose(r_after, r_before, atol=1e-3)
    r_demo, _, _ = amp.compute(state, jnp.asarray(demo[:512]))
    assert float(np.median(r_demo)) > 2 * float(np.median(r_after))
    assert float(metrics["disc_bce"]) < 0.5  # below chance (log 2 = 0.69)


def test_replay_buffer_fills_then_keeps_a_fraction():
    demo = _demo_pairs(200)
    cfg = AMPConfig(hidden=[8], minibatch_size=8, updates_per_iteration=1, replay_buffer_size=100, replay_keep_prob=0.25)
    amp = AMPReward(demo, cfg)
    state = amp.init(jax.random.PRNGKey(0))
    batch = jnp.arange(60 * 4, dtype=jnp.float32).reshape(60, 4)
    state = amp._store(state, batch, jax.random.PRNGKey(1))
    assert int(state.replay_count) == 60 and int(state.replay_ptr) == 60
    np.testing.assert_allclose(state.replay[:60], batch)
    state = amp._store(state, batch + 1000, jax.random.PRNGKey(2))  # crosses the end: wraps around
    assert int(state.replay_count) == 100 and int(state.replay_ptr) == 20
    np.testing.assert_allclose(state.replay[:20], batch[40:] + 1000)
    before = np.asarray(state.replay)
    big = jnp.full((4000, 4), -1.0)
    state = amp._store(state, big, jax.random.PRNGKey(3))  # full: each pair kept with p = 0.25
    replaced = np.mean(np.all(np.asarray(state.replay) == -1.0, axis=1))
    assert 0.9 <= replaced <= 1.0  # ~1000 kept pairs overwrite the 100 slots
    small = jnp.full((40, 4), -2.0)
    state = amp._store(state, small, jax.random.PRNGKey(4))
    kept = int(np.sum(np.all(np.asarray(state.replay) == -2.0, axis=1)))
    assert 1 <= kept <= 25  # about 10 of 40
    del before


def test_loss_terms_are_all_counted():
    cfg = AMPConfig(hidden=[4], logit_reg=0.0, grad_penalty=0.0, weight_decay=0.0)
    amp = AMPReward(_demo_pairs(50), cfg, updates_per_iteration=1)
    params = amp.init(jax.random.PRNGKey(0)).params
    x_pol = jnp.ones((5, 4))
    x_demo = jnp.zeros((5, 4))
    base, m = discriminator_loss(amp.net.apply, params, cfg, x_pol, x_demo)
    assert float(base) == pytest.approx(float(m["disc_bce"]))
    reg = AMPConfig(hidden=[4], logit_reg=0.05, grad_penalty=0.0, weight_decay=0.0)
    with_reg, _ = discriminator_loss(amp.net.apply, params, reg, x_pol, x_demo)
    w = params["params"]["logit"]["kernel"]
    assert float(with_reg - base) == pytest.approx(0.05 * float(jnp.sum(w**2)), rel=1e-5)


def test_replay_store_matches_a_plain_ring_buffer():
    """The store gathers into each slot the pair that lands there; against a ring buffer written pair by
    pair (every pair until full, then the kept ones, in order; the last writes win), over many rounds
    with rollouts smaller and larger than the buffer, starting anywhere in the ring."""
    size, dim = 37, 3
    amp = AMPReward(np.zeros((4, dim), np.float32),
                    AMPConfig(hidden=[4], replay_buffer_size=size, replay_keep_prob=0.3), updates_per_iteration=1)
    state = amp.init(jax.random.PRNGKey(0))
    store = jax.jit(amp._store)
    ring, count, ptr = np.zeros((size, dim), np.float32), 0, 0
    rng = np.random.default_rng(0)
    for round_, n in enumerate([5, 30, 1, 200, 12, 37, 74, 3, 150, 40]):
        pairs = rng.normal(size=(n, dim)).astype(np.float32)
        key = jax.random.PRNGKey(round_ + 1)
        if count >= size:  # the same draws as the store's
            keep = np.asarray(jax.random.uniform(key, (n,)) < 0.3)
        else:
            keep = np.ones(n, bool)
        for pair in pairs[keep]:
            ring[ptr] = pair
            ptr = (ptr + 1) % size
        count = min(count + int(keep.sum()), size)
        state = store(state, jnp.asarray(pairs), key)
        np.testing.assert_array_equal(np.asarray(state.replay), ring, err_msg=f"round {round_}")
        assert int(state.replay_count) == count and int(state.replay_ptr) == ptr


def _eighs(jaxpr, in_scan: bool = False, found=None) -> dict:
    """Eigendecompositions in a jaxpr and the programs nested in it, outside and inside scans."""
    found = found if found is not None else {"outside a scan": 0, "inside a scan": 0}
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "eigh":
            found["inside a scan" if in_scan else "outside a scan"] += 1
        for sub in jax.core.jaxprs_in_params(eqn.params):
            _eighs(sub, in_scan or eqn.primitive.name == "scan", found)
    return found


def test_a_whitened_discriminator_computes_its_whitening_once_per_update():
    """The eigendecomposition behind whitening runs once per update, not twice at each of its steps,
    and the frozen statistics normalise as the running ones do."""
    from near.utils import running_stats

    demo = _demo_pairs()
    cfg = AMPConfig(hidden=[16], minibatch_size=32, updates_per_iteration=8, replay_buffer_size=64, normalization="whiten")
    amp = AMPReward(demo, cfg)
    state = amp.init(jax.random.PRNGKey(0))
    pairs = jnp.asarray(demo[:128]) + 3.0
    jaxpr = jax.make_jaxpr(amp.update)(state, pairs, jax.random.PRNGKey(1)).jaxpr
    assert _eighs(jaxpr) == {"outside a scan": 1, "inside a scan": 0}
    x = jnp.asarray(demo[:64])
    for stats in (state.stats, running_stats.update(running_stats.create(4, "diagonal"), x)):
        np.testing.assert_allclose(running_stats.normalize(running_stats.frozen(stats), x),
                                   running_stats.normalize(stats, x), rtol=1e-5, atol=1e-5)


def test_the_training_program_takes_the_demo_pairs_as_an_argument_not_a_constant():
    """Closed over, AMP's demo pairs were baked into the compiled training program: the humanoid run set's
    200,000 pairs made a 339 MB program text and a 310 MB cache entry, read back at every start (issue #20).
    The program must not grow with the demo set, and must train the same as with the pairs in it."""
    from near.energy.reward import RewardConfig
    from near.envs.core import AutoReset
    from near.envs.maze import MazeEnv
    from near.rl.ppo import PPOConfig, make_train

    cfg = PPOConfig(num_envs=4, horizon=4, minibatch_size=8, update_epochs=1, actor_hidden=[8], critic_hidden=[8])
    amp_cfg = AMPConfig(hidden=[16], minibatch_size=8, replay_buffer_size=32)
    rewards = RewardConfig(task_weight=0.5, style_weight=0.5)
    rng = np.random.default_rng(0)

    def chunk_for(num_pairs):
        style = AMPReward(rng.uniform(50, 450, (num_pairs, 4)).astype(np.float32), amp_cfg, updates_per_iteration=2)
        init, chunk = make_train(cfg, AutoReset(MazeEnv()), style, rewards)
        return init(jax.random.PRNGKey(0)), chunk, style

    state, chunk, _ = chunk_for(64)
    small = len(chunk.lower(state, 1).as_text())
    big_state, big_chunk, big_style = chunk_for(20_000)  # 320 KB of pairs: 640 KB of hex when baked in
    assert len(big_chunk.lower(big_state, 1).as_text()) < small + 20_000

    # the same iteration as a program with the pairs as a constant (the style's own arrays closed over)
    class Baked:
        name = big_style.name

        def __getattr__(self, attr):
            if attr in ("arrays", "with_arrays"):  # as every style reward was before
                raise AttributeError(attr)
            return getattr(big_style, attr)

    _, baked_chunk = make_train(cfg, AutoReset(MazeEnv()), Baked(), rewards)
    assert len(baked_chunk.lower(big_state, 1).as_text()) > small + 500_000  # the check above can fail (hex: 2 chars a byte)
    got, want = big_chunk(big_state, 2)[1], baked_chunk(big_state, 2)[1]
    for key in ("disc_loss", "episode_return_sum", "actor_loss"):
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(want[key]), rtol=1e-5, atol=1e-6)


def test_amp_freezes_its_log_std_unless_the_config_learns_it(tmp_path, monkeypatch):
    """The AMP configs freeze the policy's log-std (the original's); train.learn_std=true learns it (until
    2026-12-07 AMP ignored the key and stayed frozen, so push-T's planned AMP run with a learnt std would
    have trained frozen again)."""
    import json

    from near.cli import main

    monkeypatch.setenv("NEAR_XLA_CACHE", "off")

    def log_stds(name, *overrides):
        out = tmp_path / name
        assert main(["train", "task=mazeAMP", "train.num_envs=16", "train.minibatch_size=64", "train.horizon=8",
                     "train.total_env_steps=384", "train.eval_every=0", "train.eval_episodes=2", "progress=False",
                     f"out={out}", *overrides]) == 0
        return [json.loads(line)["log_std"] for line in open(out / "metrics.jsonl") if '"log_std"' in line]

    frozen = log_stds("frozen")
    assert len(frozen) == 3 and len(set(frozen)) == 1
    learnt = log_stds("learnt", "train.learn_std=true", "train.learning_rate=1e-2")
    assert learnt[0] != learnt[-1]


def test_early_exploration_lowers_the_frozen_std_from_its_start_to_log_std_init(tmp_path, monkeypatch):
    """train.explore_env_steps: the frozen log-std starts at explore_log_std and reaches log_std_init after that
    many env steps (issue #16: NEAR's run chose its shuffle early at the shipped small std)."""
    import json

    from near.cli import main
    from near.config import ConfigError, compose_config

    monkeypatch.setenv("NEAR_XLA_CACHE", "off")
    out = tmp_path / "explore"
    # 128 env steps an iteration, a record per iteration, the std down in 3 iterations of 6
    assert main(["train", "task=mazeAMP", "train.num_envs=16", "train.minibatch_size=64", "train.horizon=8",
                 "train.total_env_steps=768", "train.iterations_per_log=1", "train.eval_every=0",
                 "train.eval_episodes=2", "train.log_std_init=-2.0", "train.explore_log_std=-0.5",
                 "train.explore_env_steps=384", "progress=False", f"out={out}"]) == 0
    logged = [json.loads(line)["log_std"] for line in open(out / "metrics.jsonl") if '"log_std"' in line]
    # each record holds the std the next rollout samples with: 1/3, 2/3 of the way, then log_std_init
    np.testing.assert_allclose(logged, [-1.0, -1.5, -2.0, -2.0, -2.0, -2.0], atol=1e-6)
    with pytest.raises(ConfigError, match="learn_std=false"):
        compose_config(["task=mazeNEAR", "train.learn_std=true", "train.explore_env_steps=1000"])
