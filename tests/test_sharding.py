"""Multi-device training: the same PPO program on a mesh of 4 (forced host) devices and of 1."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    import jax
    jax.config.update("jax_default_matmul_precision", "highest")
    import numpy as np
    from near.energy.reward import RewardConfig
    from near.envs.core import AutoReset
    from near.envs.maze import MazeEnv
    from near.rl.amp import AMPConfig, AMPReward
    from near.rl.ppo import PPOConfig, data_mesh, make_train

    assert jax.device_count() == 4, jax.devices()
    env = AutoReset(MazeEnv())
    cfg = PPOConfig(num_envs=16, horizon=8, minibatch_size=32, update_epochs=2, actor_hidden=[32, 32],
                    critic_hidden=[32, 32])
    demo = np.random.default_rng(0).uniform(50, 450, (512, 4)).astype(np.float32)

    def run(devices, iterations=3):
        style = AMPReward(demo, AMPConfig(hidden=[32, 32], minibatch_size=32, replay_buffer_size=256), updates_per_iteration=4)
        init, train_chunk = make_train(cfg, env, style, RewardConfig(task_weight=0.5, style_weight=0.5),
                                       mesh=data_mesh(devices))
        state = init(jax.random.PRNGKey(3))
        return (state, *train_chunk(state, iterations))

    _, many, m_many = run(jax.devices())
    start, one, m_one = run(jax.devices()[:1])  # start: the one-device run's initial state (train_chunk keeps it)
    shards = {len(x.sharding.device_set) for x in jax.tree.leaves(many.env_state)}
    assert shards == {4}, shards
    flat_many, flat_one = jax.tree.leaves(many.params), jax.tree.leaves(one.params)
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(flat_many, flat_one))
    moved = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                for a, b in zip(flat_one, jax.tree.leaves(start.params)))
    print("DIFF", diff, "MOVED", moved)
    assert diff < 1e-4 and moved > 1e-3, (diff, moved)
    for k in ("critic_loss", "style_reward", "episode_length_sum"):
        np.testing.assert_allclose(np.asarray(m_many[k]), np.asarray(m_one[k]), rtol=1e-3, atol=1e-4)

    # the evaluation during training (train.eval_every) takes the sharded weights as they are
    from near.rl.evaluate import make_episode_runner
    from near.rl.ppo import act

    runner = make_episode_runner(MazeEnv(), lambda a, obs, k: act(a[0], cfg, a[1], obs, 2), 4, 30)
    r_many = runner((many.params, many.obs_stats), jax.random.PRNGKey(5))
    r_one = runner((one.params, one.obs_stats), jax.random.PRNGKey(5))
    np.testing.assert_allclose(r_many["observations"], r_one["observations"], rtol=1e-4, atol=1e-2)
    print("OK")
    """
)


def test_four_devices_match_one_device():
    """Sharding environments across 4 devices changes nothing but the placement: same parameters,
    same losses and rewards (AMP, whose discriminator and replay buffer also see sharded pairs)."""
    env = {**os.environ, "XLA_FLAGS": os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4",
           "JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}  # 3 tiny iterations: compiling is the cost
    out = subprocess.run([sys.executable, "-c", SCRIPT], check=False, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "OK" in out.stdout
