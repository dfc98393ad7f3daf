"""The MuJoCo humanoid: model, pose <-> clip agreement, observations, pairs, PD control, termination.

Clips are synthetic (built here); no test reads the project's external data.
"""

import copy
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("mujoco")

from near.envs.core import AutoReset, make_pair
from near.envs.humanoid import model as hm
from near.envs.humanoid.env import HumanoidConfig, HumanoidEnv, reward_types_for
from near.motion import humanoid
from near.motion.library import build_library, motion_state
from near.motion.poselib import save_poselib
from near.motion.skeleton import Skeleton, SkeletonMotion
from near.utils import rotations as rot


def walk_like_clip(frames: int = 61, fps: float = 30.0, seed: int = 0) -> SkeletonMotion:
    """A smooth, walk-like clip: the root moves forward at 1.2 m/s at standing height while every joint
    swings sinusoidally (hips and knees most, as in a gait); hinges stay inside their ranges."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    dof = np.zeros((frames, humanoid.NUM_DOF))
    phase = rng.uniform(0, 2 * np.pi, humanoid.NUM_DOF)
    amplitude = np.full(humanoid.NUM_DOF, 0.15)
    for g in humanoid.DOF_GROUPS:
        if g.name.endswith("hip"):
            amplitude[g.dofs] = [0.05, 0.45, 0.05]
    dof += amplitude * np.sin(2 * np.pi * 1.0 * t[:, None] + phase)
    for g in humanoid.DOF_GROUPS:  # hinges: knees bend 0.2-0.9 rad, elbows -0.3..-0.9 rad
        if g.size == 1:
            dof[:, g.start] = (0.55 if "knee" in g.name else -0.6) + 0.3 * np.sin(2 * np.pi * t + phase[g.start])
    local_rot = np.array(humanoid.local_rot_from_dof(jnp.asarray(dof, jnp.float32)))
    yaw = 0.1 * np.sin(2 * np.pi * 0.5 * t)
    local_rot[:, 0] = np.stack([np.cos(yaw / 2), 0 * yaw, 0 * yaw, np.sin(yaw / 2)], -1)
    root = np.stack([1.2 * t, 0.02 * np.sin(2 * np.pi * t), 0.9 + 0.01 * np.sin(4 * np.pi * t)], -1)
    return SkeletonMotion(Skeleton.amp_humanoid(), local_rot.astype(np.float32), root.astype(np.float32), fps)


@pytest.fixture(scope="module")
def env():
    library = build_library([walk_like_clip(), walk_like_clip(seed=1)], [1.0, 3.0], drop_tpose_frame=False,
                            dedupe_frames=False)
    return HumanoidEnv(library, HumanoidConfig(reward_types=("time", "dist")))


@pytest.fixture(scope="module")
def step(env):
    return jax.jit(env.step)


# Programs the tests below share, traced and compiled once per env (MuJoCo's kinematics: ~2 s each)
_JITTED = {}
_CLIP_BATCH = 5  # clip states come in batches of 2 to 5: each is padded to 5, so that one program serves all


def _state_from_pose(env):
    return _JITTED.setdefault((id(env), "state_from_pose"), jax.jit(env.state_from_pose))


def _clip_states(env, clips, times):
    """``(motion_state(env.library, clips, times), vmap(env.state_from_motion) of it)``."""
    def both(clips, times):
        m = motion_state(env.library, clips, times)
        return m, jax.vmap(env.state_from_motion)(m)

    key = (id(env), "clip_states")
    program = _JITTED[key] = _JITTED.get(key) or jax.jit(both)
    n = len(clips)
    pad = lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], _CLIP_BATCH - n, 0)])  # noqa: E731
    return jax.tree.map(lambda x: x[:n], program(pad(clips), pad(times)))


def test_model_matches_the_spec(env):
    m = env.mj_model
    assert (m.nbody, m.nv, m.nq) == (16, 6 + 28, 7 + 8 * 4 + 4)
    assert m.body_mass.sum() == pytest.approx(48.89, abs=0.01)  # spec §5.1, computed from the densities
    names = [m.body(i).name for i in range(1, m.nbody)]
    assert tuple(names) == tuple(humanoid.BODY_NAMES)
    parents = [int(m.body_parentid[i]) - 1 for i in range(1, m.nbody)]
    assert parents == list(humanoid.PARENTS)
    np.testing.assert_allclose(m.body_pos[2:], np.asarray(humanoid.OFFSETS)[1:], atol=1e-6)
    lay = env.layout
    np.testing.assert_array_equal(lay.kp, np.asarray(humanoid.DOF_KP, np.float32))
    np.testing.assert_allclose(hm.make_layout(m, "gear").torque_limit, humanoid.DOF_GEAR)
    np.testing.assert_allclose(lay.hinge_range[:, 0], np.asarray(humanoid.DOF_LOWER)[lay.hinge_dof], atol=1e-6)
    np.testing.assert_allclose(lay.hinge_range[:, 1], np.asarray(humanoid.DOF_UPPER)[lay.hinge_dof], atol=1e-6)
    np.testing.assert_allclose(m.dof_damping[6:], humanoid.DOF_KD)


def test_feet_only_contacts_keep_the_feet():
    from mujoco import mjx

    # the box: up to 4 contacts per foot box; corners (the default): one per corner sphere, 8 per foot
    for contacts, foot_contact, expected in (("all", "box", 34), ("feet", "box", 8), ("all", "corners", 42),
                                             ("feet", "corners", 16)):
        model = hm.load_mj_model(hm.PhysicsConfig(floor_contacts=contacts, foot_contact=foot_contact))
        assert mjx.make_data(mjx.put_model(model))._impl.contact.dist.shape == (expected,)


def test_friction_cone_and_impratio_reach_the_model():
    import mujoco

    model = hm.load_mj_model(hm.PhysicsConfig(cone="elliptic", impratio=10.0))
    assert model.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC and model.opt.impratio == 10.0
    default = hm.load_mj_model()
    assert default.opt.cone == mujoco.mjtCone.mjCONE_PYRAMIDAL and default.opt.impratio == 1.0
    with pytest.raises(ValueError, match="physics.cone"):
        hm.load_mj_model(hm.PhysicsConfig(cone="round"))
    with pytest.raises(ValueError, match="physics.impratio"):
        hm.load_mj_model(hm.PhysicsConfig(impratio=0.5))
    with pytest.raises(ValueError, match="physics.impl"):
        hm.load_mj_model(hm.PhysicsConfig(impl="physx"))


def test_mujoco_warp_holds_the_standing_pose_as_mjx_does(env):
    """task.physics.impl=warp (issue #20's candidate): the same PD-held standing pose, stepped by MuJoCo
    Warp, stays up and ends where MJX's does. Needs warp-lang, which CI does not install."""
    pytest.importorskip("warp")
    warp_env = HumanoidEnv(env.library, dataclasses.replace(env.config, physics=hm.PhysicsConfig(impl="warp")))
    z3, heights = jnp.zeros(3), []
    for e in (env, warp_env):
        state = e.state_from_pose(jnp.array([0.0, 0.0, 0.89]), jnp.array([1.0, 0.0, 0.0, 0.0]), jnp.zeros(28), z3, z3,
                                  jnp.zeros(28))
        for _ in range(15):  # 0.5 s
            state, _, _, done, _ = e.step(state, _hold_pose_action(e))
            assert not bool(done)
        heights.append(float(state.qpos[2]))
    assert heights[1] > 0.8 and abs(heights[0] - heights[1]) < 0.03, heights


def test_mujoco_warp_contact_buffer_holds_every_env_of_the_batch():
    """MuJoCo Warp keeps one contact buffer for all the envs a program steps. Sized by MJX's default (48
    slots), 16,384 envs on an H200 lost their feet contacts and fell 40 % more often (and the speed
    they showed was not comparable). The buffer is the JAX implementation's contacts per env times physics.warp_envs."""
    feet = hm.load_mj_model(hm.PhysicsConfig(floor_contacts="feet"))
    every_body = hm.load_mj_model(hm.PhysicsConfig(floor_contacts="all", foot_contact="box"))
    assert hm.warp_contact_slots(feet, 16384) == 16 * 16384  # 8 corner spheres a foot
    assert hm.warp_contact_slots(every_body, 100) == 34 * 100
    with pytest.raises(ValueError, match="physics.warp_envs"):
        hm.check_physics(hm.PhysicsConfig(warp_envs=-1))


def test_mujoco_warp_envs_default_to_the_training_batch(tmp_path):
    """task.physics.warp_envs=0 (the default) sizes Warp's contact buffer for the largest batch a command
    steps: the training envs, or more evaluation episodes."""
    from near.config import compose_config
    from near.factories import make_humanoid_env

    clip = tmp_path / "walk.npy"
    save_poselib(str(clip), walk_like_clip(frames=31))
    for overrides, expected in (([], 512), (["task.physics.warp_envs=64"], 64), (["episodes=1000"], 1000)):
        cfg = compose_config(["task=HumanoidAMP", f"motion={clip}", "train.num_envs=512", *overrides])
        assert make_humanoid_env(cfg).config.physics.warp_envs == expected


def test_dist_at_clip_speed_pays_forward_progress_in_full_at_the_clips_own_speed(tmp_path, capsys):
    """task.dist_at_clip_speed (HumanoidNEAR's default): "dist" pays 1 at the clips' mean root speed (the walk-like
    clip: 1.2 m/s forward and a 2 cm sway); task.dist_full_speed, where set, wins; false keeps the original's
    scale; clips that do not move give a clear error."""
    from near.config import ConfigError, compose_config
    from near.factories import make_humanoid_env
    from near.motion.library import clip_speed

    walk, still = tmp_path / "amp_humanoid_walk.npy", tmp_path / "amp_humanoid_mummy_walk.npy"
    save_poselib(str(walk), walk_like_clip(frames=31))
    standing = walk_like_clip(frames=31)
    save_poselib(str(still), SkeletonMotion(standing.skeleton, standing.local_rot,
                                            np.broadcast_to(standing.root_pos[:1], standing.root_pos.shape).copy(), 30.0))
    speed = clip_speed(build_library([walk_like_clip(frames=31)], drop_tpose_frame=False, dedupe_frames=False))
    assert 1.2 < speed < 1.21
    base = ["task=HumanoidNEAR", "task.drop_tpose_frame=false", "task.dedupe_frames=false"]
    env = make_humanoid_env(compose_config([*base, f"motion={walk}"]))  # shipped
    assert env.config.dist_full_speed == pytest.approx(speed)
    assert "pays in full at 1.20 m/s" in capsys.readouterr().out
    before = jnp.zeros(43).at[2].set(0.9)
    assert float(env.task_reward(before, before.at[0].set(speed * env.control_dt))) == pytest.approx(1.0)
    original = ["task.dist_at_clip_speed=false"]
    assert make_humanoid_env(compose_config([*base, f"motion={walk}", *original])).config.dist_full_speed == 0.0
    assert make_humanoid_env(compose_config(["task=HumanoidAMP", *base[1:], f"motion={walk}"])).config.dist_full_speed == 0.0
    assert make_humanoid_env(compose_config([*base, f"motion={walk}", "task.dist_full_speed=1.5"])).config.dist_full_speed == 1.5
    with pytest.raises(ConfigError, match="the clips hardly move.*task.dist_at_clip_speed=false"):
        make_humanoid_env(compose_config([*base, f"motion={still}"]))
    assert make_humanoid_env(compose_config([*base, f"motion={still}", *original])).config.dist_full_speed == 0.0
    # a motion whose task reward has no "dist" (the crane: time only) is left as it is
    crane = make_humanoid_env(compose_config([*base, f"motion={still}", "task.reward_types=[time]"]))
    assert crane.config.reward_types == ("time",) and crane.config.dist_full_speed == 0.0


def test_physics_impl_auto_is_warp_on_a_gpu_with_warp_and_a_run_records_the_choice(monkeypatch, tmp_path, capsys):
    """task.physics.impl=auto (the default): MJX on a CPU, MuJoCo Warp on a GPU where warp-lang is installed,
    MJX on a GPU without it (and `near` says so); the composed config holds the concrete choice, so a run saves
    what it trained on and plays and resumes on it; a run saved before the key existed reads as MJX."""
    import importlib.util

    from near.config import FORMER_DEFAULTS, compose_config, from_dict, to_dict
    from near.factories import make_humanoid_env

    clip = tmp_path / "amp_humanoid_walk.npy"
    save_poselib(str(clip), walk_like_clip(frames=31))
    base = ["task=HumanoidNEAR", f"motion={clip}"]
    assert compose_config(base).task.physics.impl == "jax"  # this CPU
    assert compose_config(["task=mazeNEAR"]).task.physics.impl == "auto"  # not a humanoid: nothing to choose
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "warp" else real_find_spec(name, *a))
    cfg = compose_config(base)
    assert cfg.task.physics.impl == "warp" and hm.resolve_impl("auto") == "warp"
    assert from_dict(to_dict(cfg)).task.physics.impl == "warp"
    assert compose_config([*base, "task.physics.impl=jax"]).task.physics.impl == "jax"  # asked for: kept
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "warp" else real_find_spec(name, *a))
    no_warp = compose_config(base)
    assert no_warp.task.physics.impl == "jax"
    capsys.readouterr()
    make_humanoid_env(no_warp)
    assert 'MJX (task.physics.impl=jax) on the GPU; the shipped GPU physics is MuJoCo Warp (pip install "near[warp]"' in capsys.readouterr().out
    saved = to_dict(cfg)
    del saved["task"]["physics"]["impl"]
    assert FORMER_DEFAULTS[("task", "physics", "impl")] == "jax" and from_dict(saved).task.physics.impl == "jax"


def test_mujoco_warp_batch_stands_only_with_its_contact_buffer(env):
    """Six standing envs stepped by Warp in one vmapped program: with a buffer for one env some sink
    through the floor, with one for six all stand as MJX's do. Needs warp-lang (not in CI)."""
    pytest.importorskip("warp")
    n, z3 = 6, jnp.zeros(3)
    heights = {}
    for warp_envs in (1, n):
        e = HumanoidEnv(env.library, dataclasses.replace(env.config, physics=hm.PhysicsConfig(impl="warp", warp_envs=warp_envs)))
        one = e.state_from_pose(jnp.array([0.0, 0.0, 0.89]), jnp.array([1.0, 0.0, 0.0, 0.0]), jnp.zeros(28), z3, z3,
                                jnp.zeros(28))
        state = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (n, *x.shape)), one)
        action = jnp.broadcast_to(_hold_pose_action(e), (n, e.action_dim))
        step = jax.jit(jax.vmap(e.step))
        for _ in range(15):  # 0.5 s
            state = step(state, action)[0]
        heights[warp_envs] = np.asarray(state.qpos[:, 2])
    assert np.all(heights[n] > 0.8), heights
    assert np.min(heights[1]) < 0.7, heights
    import warp  # the env keeps Warp's per-module log lines out of the output

    assert warp.config.log_level >= warp.LOG_WARNING


def test_pose_from_clip_gives_the_clip_body_positions(env):
    """qpos built from a clip frame -> MuJoCo forward kinematics = the clip's own FK (within 1 cm)."""
    clips = jnp.array([0, 1, 0, 1, 0])
    times = jnp.array([0.0, 0.37, 0.9, 1.41, 2.0])
    m, state = _clip_states(env, clips, times)
    err = np.abs(np.asarray(state.body_pos - m.body_pos)).max()
    assert err < 0.01, err
    assert err < 1e-3  # the clip lerps positions between frames, MuJoCo places FK of the slerped rotations


def test_observation_of_clip_equals_env_after_reset(env):
    clips, times = jnp.array([1, 0, 1]), jnp.array([0.2, 1.0, 1.9])
    expected = jax.jit(env.reference_state)(clips, times)
    m, state = _clip_states(env, clips, times)
    assert expected.shape == (3, 105)
    np.testing.assert_allclose(np.asarray(state.obs), np.asarray(expected), atol=1e-4)
    # spot checks of the layout (spec §5.5): root height first, 28 DOF velocities at 65-92
    np.testing.assert_allclose(np.asarray(expected[:, 0]), np.asarray(m.root_pos[:, 2]), atol=1e-6)
    np.testing.assert_allclose(np.asarray(expected[:, 65:93]), np.asarray(m.dof_vel), atol=1e-6)


def test_demo_pairs_and_rollout_pairs_share_order_and_features(env):
    """A demo pair is exactly the pair AutoReset would emit for the transition s(t - dt) -> s(t)."""
    clips, times = jnp.array([0, 1]), jnp.array([0.8, 1.5])
    _, before = _clip_states(env, clips, times - env.control_dt)
    _, after = _clip_states(env, clips, times)
    rollout_pair = make_pair(env, env.pair_state(before), env.pair_state(after))
    demo_pair = jax.jit(env.reference_pair)(clips, times)
    np.testing.assert_allclose(np.asarray(demo_pair), np.asarray(rollout_pair), atol=1e-4)
    np.testing.assert_allclose(np.asarray(demo_pair[:, :105]), np.asarray(after.obs), atol=1e-4)  # current first
    pairs = jax.jit(env.demo_pairs, static_argnums=1)(jax.random.PRNGKey(0), 512)
    assert pairs.shape == (512, 210) and bool(jnp.isfinite(pairs).all())
    # clip 1 has weight 3 of 4: its root moves like clip 0 but the joint phases differ
    assert 0.6 < float(jnp.mean(jax.random.categorical(jax.random.PRNGKey(0), jnp.log(env.library.clip_prob), shape=(4000,)))) < 0.9


_SPAN = 3  # task.pair_span of the random rollout below


@pytest.fixture(scope="module")
def random_rollout(env):
    """16 envs with task.pair_span=3 from reference-state resets, 30 steps of random actions through
    AutoReset: one compiled program for the two tests below (each compile of the step is ~15 s of CPU)."""
    env3 = HumanoidEnv(env.library, dataclasses.replace(env.config, pair_span=_SPAN))
    wrapped = AutoReset(env3)
    state, _ = jax.jit(jax.vmap(wrapped.reset))(jax.random.split(jax.random.PRNGKey(1), 16))  # eager: 4x slower

    @jax.jit
    def run(state, key):
        def body(state, k):
            action = 0.3 * jax.random.normal(k, (16, 28))
            state, obs, _, done, info = jax.vmap(wrapped.step)(state, action)
            return state, (obs, info["pair"], done, info["nonfinite"], state.env_state.qvel)

        return jax.lax.scan(body, state, jax.random.split(key, 30))[1]

    return env3, state.env_state, run(state, jax.random.PRNGKey(2))


def test_pairs_span_pair_span_steps_for_the_policy_and_the_clips(env, random_rollout):
    """task.pair_span=3: a pair is [s(t), s(t - 3 dt)], for the expert's and for rollouts; at a reset the
    past is the clip's own (issue #16: a pair long enough to show a stride)."""
    env3, starts, (obs, pairs, done, _, _) = random_rollout
    assert starts.past_obs.shape == (16, _SPAN - 1, 105)
    i = int(np.argmin(np.asarray(done[:5]).any(0)))  # an env that runs its first 5 steps without a reset
    assert not bool(done[:5, i].any())
    start = jax.tree.map(lambda x: x[i], starts)
    lags = jnp.maximum(start.clip_time - env3.control_dt * jnp.arange(1, _SPAN), 0.0)
    past = jax.jit(env3.reference_state)(jnp.full(_SPAN - 1, start.clip), lags)
    np.testing.assert_allclose(np.asarray(start.past_obs), np.asarray(past), atol=1e-4)  # the clip's past
    observed = np.concatenate([np.asarray(past[::-1]), np.asarray(start.obs)[None], np.asarray(obs[:5, i])])  # s(1 - span) .. s(5)
    for t in range(5):  # the pair of step t ends in s(t + 1) and starts at s(t + 1 - span)
        np.testing.assert_allclose(np.asarray(pairs[t, i, :105]), observed[t + _SPAN], atol=1e-5)
        np.testing.assert_allclose(np.asarray(pairs[t, i, 105:]), observed[t], atol=1e-5)
    clips, times = jnp.array([0, 1]), jnp.array([0.8, 1.5])
    demo = jax.jit(env3.reference_pair)(clips, times)
    np.testing.assert_allclose(np.asarray(demo[:, 105:]), np.asarray(jax.jit(env3.reference_state)(
        clips, times - _SPAN * env3.control_dt)), atol=1e-5)
    assert env.pair_before(start) is start.obs and start.past_obs.shape == (2, 105)  # the original's span: the previous state


def test_reference_state_resets_do_not_explode(random_rollout):
    _, _, (obs, _, _, nonfinite, qvel) = random_rollout
    assert bool(jnp.isfinite(obs).all()) and int(nonfinite.sum()) == 0
    assert float(jnp.abs(qvel).max()) < 100.0


def _hold_pose_action(env):
    lay = env.layout
    lo, hi = lay.hinge_range[:, 0], lay.hinge_range[:, 1]
    return jnp.zeros(28).at[lay.hinge_dof].set((0.0 - 0.5 * (lo + hi)) / (0.7 * (hi - lo)))


def test_pd_held_standing_pose_stays_up_for_two_seconds(env, step):
    z3 = jnp.zeros(3)
    state = _state_from_pose(env)(jnp.array([0.0, 0.0, 0.89]), jnp.array([1.0, 0.0, 0.0, 0.0]), jnp.zeros(28), z3, z3,
                                  jnp.zeros(28))
    action = _hold_pose_action(env)
    for _ in range(60):  # 60 control steps = 2 s
        state, _, reward, done, info = step(state, action)
        assert not bool(done)
    assert float(state.qpos[2]) > 0.8
    assert abs(float(reward) - 0.5) < 0.01  # time (1) and dist (~0) averaged: it stands still


def test_lying_on_the_floor_terminates_and_nan_is_caught(env, step):
    lying = jnp.array([np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0])  # pitched 90 deg: lying on its back
    z3 = jnp.zeros(3)
    state = _state_from_pose(env)(jnp.array([0.0, 0.0, 0.06]), lying, jnp.zeros(28), z3, z3, jnp.zeros(28))
    state = state.replace(step=jnp.array(5, jnp.int32))
    _, _, _, done, info = step(state, jnp.zeros(28))
    assert bool(done) and bool(info["fallen"]) and not bool(info["truncated"])
    # the first step after a reset is never a fall (spec §5.9)
    _, _, _, done0, info0 = step(state.replace(step=jnp.array(0, jnp.int32)), jnp.zeros(28))
    assert not bool(info0["fallen"])
    # a non-finite state ends the episode and hands back the last finite observation
    upright = _state_from_pose(env)(jnp.array([0.0, 0.0, 0.89]), jnp.array([1.0, 0.0, 0.0, 0.0]), jnp.zeros(28), z3,
                                    z3, jnp.zeros(28))
    bad = upright.replace(qvel=upright.qvel.at[10].set(jnp.nan))
    new, obs, reward, done, info = step(bad, jnp.zeros(28))
    assert bool(done) and bool(info["nonfinite"]) and bool(jnp.isfinite(obs).all())
    assert not bool(info["launched"])  # a NaN is not a launch: training logs the two apart
    # so does a root rising faster than max_root_up_speed (5 m/s): MJX's 3-iteration contact solve launched
    # landing characters 5-23 m up (AMP's spin kick, item 69); a hard jump's take-off (3 m/s) goes on
    for up_speed, launched in ((8.0, True), (3.0, False)):
        rising = upright.replace(qvel=upright.qvel.at[2].set(up_speed))
        new, _, _, done, info = step(rising, _hold_pose_action(env))
        assert bool(info["nonfinite"]) == launched and bool(done) == launched
        assert bool(info["launched"]) == launched
        if launched:
            assert float(new.qpos[2]) == pytest.approx(0.89)  # the last sound state, not the launch
    with pytest.raises(ValueError, match="max_root_up_speed must be >= 0"):
        HumanoidEnv(env.library, HumanoidConfig(reward_types=("time", "dist"), max_root_up_speed=-1.0))
    # on by default; the record of a run saved before the key existed reads 0, what it trained with
    from near.config import compose_config, from_dict, to_dict
    saved = to_dict(compose_config(["task=HumanoidNEAR"]))
    assert from_dict(saved).task.max_root_up_speed == 5.0
    del saved["task"]["max_root_up_speed"]
    assert from_dict(saved).task.max_root_up_speed == 0.0


def test_episode_cap_and_task_rewards(env, step):
    assert reward_types_for("data/amp_humanoid_walk.yaml") == ("time", "dist")
    assert reward_types_for("amp_humanoid_spin_kick.yaml") == ("time", "height")
    assert reward_types_for("amp_humanoid_crane_pose.yaml") == ("time",)
    # mummy walk walks: forward progress besides survival; the original's mapping stays available
    assert reward_types_for("amp_humanoid_mummy_walk.yaml") == ("time", "dist")
    assert reward_types_for("amp_humanoid_mummy_walk.yaml", original=True) == ("time",)
    before = jnp.zeros(43).at[2].set(0.9)
    assert float(env.task_reward(before, before.at[0].set(0.25))) == pytest.approx(0.75)  # (1 + 0.25/0.5) / 2
    assert float(env.task_reward(before, before.at[0].set(-0.3))) == pytest.approx(0.5)  # no reward for going back
    # task.dist_full_speed: "dist" pays 1 at that forward speed, not at the original's 0.5 m per control step
    at_speed = copy.copy(env)
    at_speed.config = dataclasses.replace(env.config, dist_full_speed=1.5)
    full_step = 1.5 * env.control_dt
    assert float(at_speed.task_reward(before, before.at[0].set(full_step))) == pytest.approx(1.0)
    assert float(at_speed.task_reward(before, before.at[0].set(full_step / 2))) == pytest.approx(0.75)
    assert float(at_speed.task_reward(before, before.at[0].set(0.25))) == pytest.approx(1.0)  # capped at 1
    assert float(env.task_reward(before, before.at[0].set(full_step))) == pytest.approx(0.5 + full_step)  # the original: (1 + 0.05 / 0.5) / 2
    with pytest.raises(ValueError, match="dist_full_speed must be >= 0"):
        HumanoidEnv(env.library, HumanoidConfig(reward_types=("time", "dist"), dist_full_speed=-1.0))
    state, _ = jax.jit(env.reset)(jax.random.PRNGKey(0))
    dones = []
    for count in (env.config.episode_length - 3, env.config.episode_length - 2):
        _, _, _, done, info = step(state.replace(step=jnp.array(count, jnp.int32)), _hold_pose_action(env))
        dones.append((bool(done), bool(info["truncated"])))
    assert dones == [(False, False), (True, True)]  # 299 steps for episode_length 300, as the original


def test_pd_swings_a_knee_as_fast_as_the_clips_do(env, step):
    """Walking clips swing the knees at up to ~6 rad/s and running clips at ~9 (benchmarks/inspect_torques.py).
    The earlier PD law clipped the spring at the motor gear while the damping kd * qdot stayed
    unclipped, which capped every joint's speed at gear / kd (knees 100 / 30 = 3.3 rad/s): the walk
    crouched and the run fell. A knee asked to bend from straight must now pass 6 rad/s."""
    state = jax.jit(env.default_state)()  # compiled: MuJoCo's kinematics op by op takes a minute
    state = state.replace(qpos=state.qpos.at[2].set(2.0))  # in the air: no contact, the leg swings freely
    knee = int(env.layout.hinge_dof[np.flatnonzero(env.layout.hinge_range[:, 0] >= 0)[0]])  # first knee DOF
    action = _hold_pose_action(env).at[knee].set(1.0)  # knee target 3.35 rad
    peak = 0.0
    for _ in range(4):
        state, *_ = step(state, action)
        peak = max(peak, abs(float(state.qvel[6 + knee])))
    assert peak > 6.0
    assert peak < 100.0  # and the explicit spring stays stable at kp = 300


def test_pd_torque_points_to_the_target(env):
    lay = env.layout
    qpos = hm.qpos_from_pose(lay, jnp.array([0.0, 0.0, 1.0]), jnp.array([1.0, 0, 0, 0]), jnp.zeros(28))
    ball, hinge = hm.action_to_targets(lay, jnp.zeros(28).at[0].set(0.01))  # abdomen target: 0.0314 rad about x
    tau = hm.pd_torque(lay, qpos, ball, hinge)
    assert float(tau[0]) == pytest.approx(600 * 0.01 * np.pi, rel=1e-3)  # kp * angle error
    assert np.allclose(np.asarray(tau[1:3]), 0.0, atol=1e-4)
    _, far = hm.action_to_targets(lay, jnp.ones(28))
    assert not np.isfinite(lay.torque_limit).any()  # the default PD law is unclipped, as Isaac Gym's drives
    assert float(jnp.abs(hm.pd_torque(lay, qpos, ball, far)).max()) > 500.0
    gear = hm.make_layout(env.mj_model, "gear")
    tau = hm.pd_torque(gear, qpos, ball, far)
    assert float(jnp.abs(tau).max()) <= float(gear.torque_limit.max()) + 1e-4  # clipped at the motor gears
    with pytest.raises(ValueError, match="torque_limit"):
        hm.make_layout(env.mj_model, "weak")
    q = rot.from_exp_map(jnp.array([0.3, -0.2, 0.5]))
    np.testing.assert_allclose(np.asarray(rot.to_exp_map(q)), [0.3, -0.2, 0.5], atol=1e-5)


def test_the_original_per_motion_task_settings_apply_unless_overridden(tmp_path):
    from near.config import compose_config
    from near.envs.humanoid.env import task_settings_for

    assert task_settings_for("amp_humanoid_walk.yaml") == {}
    kick = tmp_path / "amp_humanoid_spin_kick.yaml"
    kick.write_text("motions: []\n")  # composing only checks that the file exists
    cfg = compose_config(["task=HumanoidNEAR", f"motion={kick}"])
    assert (cfg.task.max_episode_steps, cfg.task.state_init) == (100, "weighted_random")  # spec §5.11
    cfg = compose_config(["task=HumanoidAMP", f"motion={kick}", "task.max_episode_steps=300", "task.state_init=random"])
    assert (cfg.task.max_episode_steps, cfg.task.state_init) == (300, "random")  # the user's values win
    assert compose_config(["task=HumanoidNEAR", f"motion={kick}", "smoke=true"]).task.max_episode_steps == 40
    walk = tmp_path / "amp_humanoid_walk.yaml"
    walk.write_text("motions: []\n")
    cfg = compose_config(["task=HumanoidNEAR", f"motion={walk}"])
    assert (cfg.task.max_episode_steps, cfg.task.state_init) == (300, "random")


def test_pair_angle_dims_are_the_features_joint_angles_change():
    """energy.angle_std_floor acts on env.pair_angle_dims: exactly the features that change when only the
    joint angles do (the key bodies' positions held), in both states of a pair."""
    from near.envs.humanoid.obs import OBS_DIM, observation

    rng = np.random.default_rng(1)
    rest = {"root_pos": jnp.asarray([0.1, 0.2, 0.9]), "root_rot": rot.normalize(jnp.asarray(rng.normal(size=4))),
            "root_vel": jnp.asarray(rng.normal(size=3)), "root_ang_vel": jnp.asarray(rng.normal(size=3)),
            "dof_vel": jnp.asarray(rng.normal(size=28)), "key_pos": jnp.asarray(rng.normal(size=(4, 3)))}
    one = observation(dof_pos=jnp.asarray(rng.normal(0, 0.3, 28)), **rest)
    other = observation(dof_pos=jnp.asarray(rng.normal(0, 0.3, 28)), **rest)
    changed = np.flatnonzero(np.abs(np.asarray(other - one)) > 1e-6)
    np.testing.assert_array_equal(HumanoidEnv.pair_angle_dims, np.concatenate([changed, changed + OBS_DIM]))
    assert not set(HumanoidEnv.pair_angle_dims) & set(HumanoidEnv.pair_velocity_dims)


def test_pair_velocity_dims_are_the_features_velocities_change():
    """energy.velocity_std_floor acts on env.pair_velocity_dims: exactly the features that change when only
    the velocities do, in both states of a pair."""
    from near.envs.humanoid.obs import OBS_DIM, observation

    rng = np.random.default_rng(0)
    pose = dict(root_pos=jnp.asarray([0.1, 0.2, 0.9]), root_rot=rot.normalize(jnp.asarray(rng.normal(size=4))),
                dof_pos=jnp.asarray(rng.normal(0, 0.3, 28)), key_pos=jnp.asarray(rng.normal(size=(4, 3))))
    still = observation(root_vel=jnp.zeros(3), root_ang_vel=jnp.zeros(3), dof_vel=jnp.zeros(28), **pose)
    moving = observation(root_vel=jnp.asarray(rng.normal(size=3)), root_ang_vel=jnp.asarray(rng.normal(size=3)),
                         dof_vel=jnp.asarray(rng.normal(size=28)), **pose)
    changed = np.flatnonzero(np.abs(np.asarray(moving - still)) > 1e-6)
    np.testing.assert_array_equal(changed, np.asarray(HumanoidEnv.pair_velocity_dims[:len(changed)]))
    np.testing.assert_array_equal(HumanoidEnv.pair_velocity_dims, np.concatenate([changed, changed + OBS_DIM]))
