"""HumanoidTrack (issue #16's check): the clip's target in the observation, DeepMimic's tracking reward,
episodes that end when a body strays from the clip and are truncated at the clip's end."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("mujoco")

from near.envs.humanoid.env import OBS_DIM, TRACK_OBS_DIM, HumanoidConfig, HumanoidEnv
from near.motion.library import build_library, motion_state
from test_humanoid_env import walk_like_clip


@pytest.fixture(scope="module")
def env():
    library = build_library([walk_like_clip(), walk_like_clip(frames=31, seed=1)], [1.0, 1.0],
                            drop_tpose_frame=False, dedupe_frames=False)
    return HumanoidEnv(library, HumanoidConfig(reward_types=("track",), tracking=True))


@pytest.fixture(scope="module")
def step(env):
    return jax.jit(env.step)


_JITTED = {}


def _from_motion(env):  # compiled once: MuJoCo's kinematics op by op takes most of a minute
    return _JITTED.setdefault(id(env), jax.jit(env.state_from_motion))


def _state_at(env, clip: int, time: float, step: int = 0):
    """The clip's own state at ``time``, as if reset ``step`` control steps earlier."""
    motion = jax.tree.map(lambda x: x[0], motion_state(env.library, jnp.array([clip]), jnp.array([time])))
    state = _from_motion(env)(motion)
    return state.replace(clip=jnp.int32(clip), clip_time=jnp.float32(time - step * env.control_dt),
                         step=jnp.int32(step))


def test_tracking_needs_its_reward_and_the_reward_its_target(env):
    for config in (HumanoidConfig(reward_types=("time", "track")), HumanoidConfig(tracking=True)):
        with pytest.raises(ValueError, match="track"):
            HumanoidEnv(env.library, config)


def test_the_observation_holds_the_clips_next_state_and_the_way_to_it(env):
    state, obs = jax.jit(env.reset)(jax.random.PRNGKey(3))
    assert env.obs_dim == obs.shape[0] == OBS_DIM + TRACK_OBS_DIM
    np.testing.assert_array_equal(obs[:OBS_DIM], state.obs)
    clip, t = state.clip[None], state.clip_time[None] + env.control_dt
    np.testing.assert_allclose(obs[OBS_DIM:2 * OBS_DIM], env.reference_state(clip, t)[0], atol=1e-4)
    ahead = np.asarray(motion_state(env.library, clip, t).root_pos[0] - state.qpos[:3])
    np.testing.assert_allclose(np.linalg.norm(obs[-3:]), np.linalg.norm(ahead), atol=1e-4)
    assert 0.01 < np.linalg.norm(ahead) < 0.1  # 1.2 m/s for 1/30 s


def test_the_reward_is_highest_on_the_clip(env):
    time = 0.8
    on_clip = _state_at(env, 0, time, step=4)
    target = jax.tree.map(lambda x: x[0], motion_state(env.library, on_clip.clip[None], jnp.array([time])))
    terms = env.tracking_rewards(on_clip, target)
    for name, value in terms.items():
        assert float(value) > 0.98, name
    bent = _from_motion(env)(target._replace(root_pos=target.root_pos + jnp.array([0.0, 0.0, -0.1]),
                                             dof_pos=target.dof_pos + 0.2))
    bent = bent.replace(clip=on_clip.clip, clip_time=on_clip.clip_time, step=on_clip.step)
    bent_terms = env.tracking_rewards(bent, target)
    for name in ("pose", "end_effector", "root"):
        assert float(bent_terms[name]) < float(terms[name]) - 0.05, name


def test_episodes_end_when_a_body_strays_and_are_truncated_at_the_clips_end(env, step):
    action = jnp.zeros(env.action_dim)
    mid = _state_at(env, 0, 1.0, step=3)
    strayed = mid.replace(clip_time=mid.clip_time - 0.5)  # the clip is 0.5 s (0.6 m) ahead of the body
    _, _, reward, done, info = step(strayed, action)
    assert bool(done) and bool(info["fallen"]) and not bool(info["truncated"])
    _, _, reward_on, done_on, _ = step(mid, action)
    assert not bool(done_on) and float(reward_on) > float(reward)
    last = _state_at(env, 1, 1.0 - 0.5 * env.control_dt, step=3)  # the 31-frame clip lasts 1 s
    _, _, _, done, info = step(last, action)
    assert bool(done) and bool(info["truncated"]) and not bool(info["fallen"])


def test_a_plain_env_keeps_its_observation(env):
    plain = HumanoidEnv(env.library, dataclasses.replace(env.config, tracking=False, reward_types=("time",)))
    state, obs = jax.jit(plain.reset)(jax.random.PRNGKey(3))
    assert plain.obs_dim == obs.shape[0] == OBS_DIM
