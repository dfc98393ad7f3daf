"""Motion sets (yaml) and the jittable motion library: sampling, interpolation, data-quality options."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from near.motion import humanoid as H
from near.motion import library as ml
from near.motion.motion_set import load_motions, read_motion_set
from near.motion.poselib import save_poselib
from near.motion.skeleton import (
    MotionDataError,
    Skeleton,
    SkeletonMotion,
    SkeletonState,
    forward_kinematics,
)
from near.utils import rotations as rot

SK = Skeleton.amp_humanoid()
# jitted once per shape: eager jax would compile every small op separately
motion_state = jax.jit(ml.motion_state, static_argnames="clamp_time")
sample_times = jax.jit(ml.sample_times, static_argnums=3)
EZ = np.array([0.0, 0.0, 1.0])
EY = np.array([0.0, 1.0, 0.0])


def smooth_clip(n=12, fps=60.0, seed=0, source="smooth") -> SkeletonMotion:
    """A clip with every DOF moving and the root walking forward while turning."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fps
    dof = 0.4 * np.sin(2 * np.pi * t[:, None] * rng.uniform(0.5, 2, 28) + rng.uniform(0, 6, 28))
    local = H.local_rot_from_dof(dof.astype(np.float32))
    local[:, 0] = rot.from_axis_angle(EZ, 0.5 * t)
    root = np.stack([0.8 * t, 0.1 * t, 0.9 + 0.02 * np.sin(4 * t)], -1)
    return SkeletonMotion(SK, local, root, fps, source=source)


def tpose_and_duplicates(clip: SkeletonMotion) -> SkeletonMotion:
    """The CMU pipeline's artefacts: frame 0 a T-pose, then every pose twice (pairs (1,2), (3,4), ...)."""
    idx = np.concatenate([[0], np.repeat(np.arange(clip.num_frames), 2)])  # T-pose slot, then 0, 0, 1, 1, ...
    local, root = clip.local_rot[idx], clip.root_pos[idx]
    local[0] = 0.0
    local[0, :, 0] = 1.0
    local[0, 3] = rot.from_axis_angle(np.array([1.0, 0, 0]), -np.pi / 2)
    local[0, 6] = rot.from_axis_angle(np.array([1.0, 0, 0]), np.pi / 2)
    return SkeletonMotion(SK, local, root, clip.fps * 2, source="cmu-like")


# --------------------------------------------------------------------------------------------------
# motion sets


def test_motion_set_with_spaces_subfolders_and_weights(tmp_path, monkeypatch):
    (tmp_path / "set" / "amp task").mkdir(parents=True)
    save_poselib(tmp_path / "set" / "amp task" / "clip 144_13 _duplicate1.npy", smooth_clip(seed=1))
    save_poselib(tmp_path / "set" / "b.npy", smooth_clip(seed=2, n=8))
    yml = tmp_path / "set" / "motions.yaml"
    yml.write_text(
        "motions:\n"
        "- file: amp task/clip 144_13 _duplicate1.npy\n  weight: 3.0\n"
        "- file: b.npy\n  weight: 1\n"
        "- file: b.npy\n  weight: 0.0\n"
    )
    monkeypatch.chdir(tmp_path)  # paths resolve against the yaml's folder, not the working directory
    entries = read_motion_set("set/motions.yaml")
    assert [e.weight for e in entries] == [3.0, 1.0, 0.0]
    assert entries[0].path.endswith("clip 144_13 _duplicate1.npy")
    clips, probs = load_motions("set/motions.yaml")
    assert len(clips) == 3 and clips[1].num_frames == 8
    np.testing.assert_allclose(probs, [0.75, 0.25, 0.0])


@pytest.mark.parametrize(
    "text, match",
    [
        ("motions:\n- file: nope.npy\n  weight: 1\n", "motions\\[0\\].*'nope.npy' not found"),
        ("motions:\n- file: a.npy\n  weight: -1\n", "weight must be a finite number >= 0"),
        ("motions:\n- file: a.npy\n  weight: .nan\n", "weight must be"),
        ("motions:\n- file: a.npy\n  weight: 0\n", "sum to 0"),
        ("motions: [unclosed\n", "not valid yaml"),
        ("clips:\n- a.npy\n", "list under 'motions'"),
        ("motions: []\n", "empty"),
        ("motions:\n- a.npy\n", "motions\\[0\\] must be a mapping"),
    ],
)
def test_motion_set_errors(tmp_path, text, match):
    save_poselib(tmp_path / "a.npy", smooth_clip(n=3))
    yml = tmp_path / "bad.yaml"
    yml.write_text(text)
    with pytest.raises(MotionDataError, match=match) as err:
        read_motion_set(yml)
    assert "bad.yaml" in str(err.value)


def test_load_motions_single_files(tmp_path):
    save_poselib(tmp_path / "a.npy", smooth_clip(n=5))
    clips, probs = load_motions(tmp_path / "a.npy")
    assert len(clips) == 1 and probs.tolist() == [1.0]
    save_poselib(tmp_path / "pose.npy", SkeletonState(SK, smooth_clip(n=1).local_rot[0], np.zeros(3)))
    with pytest.raises(MotionDataError, match="SkeletonState"):
        load_motions(tmp_path / "pose.npy")
    with pytest.raises(MotionDataError, match="unknown motion file type"):
        load_motions(tmp_path / "a.bvh")


# --------------------------------------------------------------------------------------------------
# building and sampling


def test_build_concatenates_clips():
    a, b = smooth_clip(n=7, seed=1), smooth_clip(n=5, fps=30.0, seed=2)
    lib = ml.build_library([a, b], [1.0, 3.0])
    assert lib.num_clips == 2 and lib.num_frames == 12
    np.testing.assert_array_equal(lib.clip_start, [0, 7])
    np.testing.assert_array_equal(lib.clip_frames, [7, 5])
    np.testing.assert_allclose(lib.clip_length, [6 / 60, 4 / 30], rtol=1e-6)
    np.testing.assert_allclose(lib.clip_prob, [0.25, 0.75])
    np.testing.assert_allclose(lib.local_rot[7:], b.local_rot, atol=1e-7)
    np.testing.assert_allclose(lib.root_rot[7:], b.local_rot[:, 0], atol=1e-7)
    np.testing.assert_allclose(lib.body_pos[7:], forward_kinematics(SK, b.local_rot, b.root_pos)[0], atol=1e-6)
    np.testing.assert_allclose(lib.dof_vel[7:], H.dof_vel_from_local_rot(b.local_rot, 30.0), atol=1e-5)
    assert lib.clip_names == ("smooth", "smooth")


def test_build_rejects_other_skeletons_and_bad_probs():
    other = Skeleton(("root", "a"), (-1, 0), np.zeros((2, 3)))
    clip = SkeletonMotion(other, np.tile([1.0, 0, 0, 0], (3, 2, 1)), np.zeros((3, 3)), 30, source="other.npy")
    with pytest.raises(MotionDataError, match="other.npy.*AMP humanoid"):
        ml.build_library([clip])
    with pytest.raises(MotionDataError, match="probabilities"):
        ml.build_library([smooth_clip()], [-1.0])
    with pytest.raises(MotionDataError, match="no clips"):
        ml.build_library([])


def test_sample_clips_follows_the_weights():
    lib = ml.build_library([smooth_clip(n=4, seed=s) for s in range(4)], [1.0, 6.0, 3.0, 0.0])
    ids = np.asarray(jax.jit(ml.sample_clips, static_argnums=2)(lib, jax.random.key(0), 40_000))
    freq = np.bincount(ids, minlength=4) / ids.size
    np.testing.assert_allclose(freq, [0.1, 0.6, 0.3, 0.0], atol=0.01)
    assert ids.dtype == np.int32


def test_sample_times_modes():
    lib = ml.build_library([smooth_clip(n=31), smooth_clip(n=61)])  # lengths 0.5 s and 1 s
    ids = jnp.array([0, 1] * 20_000)
    length = np.asarray(lib.clip_length)[np.asarray(ids)]
    key = jax.random.key(1)
    t = np.asarray(sample_times(lib, key, ids, "random"))
    assert (t >= 0).all() and (t <= length).all()
    assert np.mean(t / length) == pytest.approx(0.5, abs=0.01)
    assert not np.asarray(sample_times(lib, key, ids, "start")).any()
    w = np.asarray(sample_times(lib, key, ids, "weighted_random"))
    assert (w >= 0).all() and (w <= length).all()
    assert np.mean(w / length) == pytest.approx(0.25, abs=0.01)  # Beta(1, 3): mean 1/4
    with pytest.raises(ValueError, match="unknown time sampling mode"):
        sample_times(lib, key, ids, "uniform")


# --------------------------------------------------------------------------------------------------
# evaluation at a time


def _two_pose_clip():
    """Three frames at 10 fps: root turns 0 -> 90 -> 90 deg about z and moves 0 -> 1 -> 1 m along x."""
    local = np.tile(np.array([1.0, 0, 0, 0]), (3, 15, 1))
    local[1:, 0] = rot.from_axis_angle(EZ, np.pi / 2)
    local[:, 10] = rot.from_axis_angle(EY, np.array([0.2, 1.0, 1.0]))
    root = np.array([[0.0, 0, 0.9], [1.0, 0, 0.9], [1.0, 0, 0.9]])
    return SkeletonMotion(SK, local, root, 10.0, source="two-pose")


def test_motion_state_interpolates_between_frames():
    clip = _two_pose_clip()
    lib = ml.build_library([clip], dedupe_frames=False)
    m = motion_state(lib, jnp.array([0, 0, 0]), jnp.array([0.05, 0.1, 0.2]))
    # halfway between frame 0 and 1: lerp of positions, slerp of rotations
    np.testing.assert_allclose(m.root_pos[0], [0.5, 0, 0.9], atol=1e-6)
    np.testing.assert_allclose(m.root_rot[0], rot.from_axis_angle(EZ, np.pi / 4), atol=1e-6)
    assert m.dof_pos[0, H.DOF_NAMES.index("right_knee")] == pytest.approx(0.6, abs=1e-6)
    body = np.asarray(lib.body_pos)
    np.testing.assert_allclose(m.body_pos[0], 0.5 * (body[0] + body[1]), atol=1e-6)
    # exactly at frame 1, and at the clip's end (t = L = 0.2 s)
    np.testing.assert_allclose(m.root_pos[1], [1.0, 0, 0.9], atol=1e-6)
    np.testing.assert_allclose(m.local_rot[2], clip.local_rot[2], atol=1e-6)
    # velocities are read at the earlier frame, not blended
    np.testing.assert_allclose(m.dof_vel[0], lib.dof_vel[0])
    np.testing.assert_allclose(m.root_vel[0], lib.root_vel[0])
    np.testing.assert_allclose(m.root_ang_vel[0], lib.root_ang_vel[0])
    assert m.dof_vel[0, H.DOF_NAMES.index("right_knee")] == pytest.approx(8.0, abs=1e-4)  # 0.8 rad in 0.1 s
    assert m.root_rot.shape == (3, 4) and m.local_rot.shape == (3, 15, 4) and m.dof_pos.shape == (3, 28)


def test_motion_state_before_the_start_clamps_or_extrapolates():
    lib = ml.build_library([_two_pose_clip()], dedupe_frames=False)
    clamped = motion_state(lib, jnp.array([0]), jnp.array([-0.05]))
    np.testing.assert_allclose(clamped.root_pos[0], [0, 0, 0.9], atol=1e-6)
    late = motion_state(lib, jnp.array([0]), jnp.array([5.0]))
    np.testing.assert_allclose(late.root_pos[0], [1.0, 0, 0.9], atol=1e-6)
    # the original's quirk: blend -0.5 extrapolates back along the first segment
    quirk = motion_state(lib, jnp.array([0]), jnp.array([-0.05]), clamp_time=False)
    np.testing.assert_allclose(quirk.root_pos[0], [-0.5, 0, 0.9], atol=1e-6)
    np.testing.assert_allclose(quirk.root_rot[0], rot.from_axis_angle(EZ, -np.pi / 4), atol=1e-6)


def test_motion_state_under_jit_and_vmap():
    lib = ml.build_library([smooth_clip(n=20, seed=s) for s in range(3)])

    @jax.jit
    def demo(lib, key):
        k1, k2 = jax.random.split(key)
        ids = ml.sample_clips(lib, k1, 4)
        t = ml.sample_times(lib, k2, ids, "random")
        return ids, t, motion_state(lib, ids, t)

    keys = jax.random.split(jax.random.key(3), 5)
    ids, t, m = jax.vmap(demo, in_axes=(None, 0))(lib, keys)
    assert m.body_pos.shape == (5, 4, 15, 3) and m.dof_vel.shape == (5, 4, 28)
    flat = motion_state(lib, ids.reshape(-1), t.reshape(-1))
    for a, b in zip(m, flat):
        np.testing.assert_allclose(np.asarray(a).reshape(b.shape), b, atol=1e-5)
    assert all(np.isfinite(np.asarray(x)).all() for x in m)


def test_single_frame_clip():
    lib = ml.build_library([smooth_clip(n=1)])
    m = motion_state(lib, jnp.array([0]), jnp.array([0.3]))
    np.testing.assert_allclose(m.root_pos[0], lib.root_pos[0])
    assert float(lib.clip_length[0]) == 0.0 and not np.asarray(m.dof_vel).any()


# --------------------------------------------------------------------------------------------------
# data-quality options


def test_tpose_and_duplicate_detection():
    clean = smooth_clip(n=10)
    dirty = tpose_and_duplicates(clean)
    assert dirty.num_frames == 21
    assert ml.has_tpose_frame(dirty) and not ml.has_tpose_frame(clean)
    assert ml.has_duplicate_frames(dirty) and not ml.has_duplicate_frames(clean)
    dup = ml.duplicate_pairs(dirty)
    assert dup[1::2].all() and not dup[0::2].any()
    # a pause is not the pattern: 3 repeated frames at the end of a 10-frame clip
    paused = clean.replace(local_rot=clean.local_rot[[0, 1, 2, 3, 4, 5, 6, 6, 6, 6]])
    assert not ml.has_duplicate_frames(paused)
    assert not ml.has_duplicate_frames(_two_pose_clip())  # too short to tell


def test_options_off_keep_the_data_as_is():
    dirty = tpose_and_duplicates(smooth_clip(n=10))
    lib = ml.build_library([dirty], drop_tpose_frame=False, dedupe_frames=False)
    assert lib.num_frames == 21 and float(lib.clip_fps[0]) == 120.0
    np.testing.assert_allclose(lib.local_rot, dirty.local_rot, atol=1e-7)
    # the artefact the dedupe option removes: DOF velocities alternate between 0 and 2x
    dv = np.abs(np.asarray(lib.dof_vel)[1:-1]).max(-1)
    assert (dv[::2] < 1e-3).all() and (dv[1::2] > 1e-2).all()


def test_drop_tpose_and_dedupe_recover_the_clean_clip():
    clean = smooth_clip(n=10)
    dirty = tpose_and_duplicates(clean)
    lib = ml.build_library([dirty], drop_tpose_frame=True, dedupe_frames=False)
    assert lib.num_frames == 20
    np.testing.assert_allclose(lib.local_rot[0], clean.local_rot[0], atol=1e-7)
    lib = ml.build_library([dirty], drop_tpose_frame=True, dedupe_frames=True)
    assert lib.num_frames == 10 and float(lib.clip_fps[0]) == 60.0
    np.testing.assert_allclose(lib.local_rot, clean.local_rot, atol=1e-7)
    np.testing.assert_allclose(lib.root_pos, clean.root_pos, atol=1e-7)
    np.testing.assert_allclose(lib.dof_vel, H.dof_vel_from_local_rot(clean.local_rot, 60.0), atol=1e-4)
    assert (np.abs(np.asarray(lib.dof_vel)).max(-1) > 1e-2).all()
    # defaults are on
    assert ml.build_library([dirty]).num_frames == 10


def test_dedupe_keeps_stored_velocities_of_clips_without_tpose():
    clean = smooth_clip(n=10)
    idx = np.repeat(np.arange(10), 2)  # (0,1), (2,3), ...: duplicates, no T-pose
    stored = np.random.default_rng(0).normal(size=(20, 15, 3)).astype(np.float32)
    dup = clean.replace(local_rot=clean.local_rot[idx], root_pos=clean.root_pos[idx], fps=120.0,
                        global_velocity=stored, global_angular_velocity=-stored)
    lib = ml.build_library([dup])
    assert lib.num_frames == 10
    np.testing.assert_allclose(lib.root_vel, stored[::2, 0])
    np.testing.assert_allclose(lib.root_ang_vel, -stored[::2, 0])


def test_clean_clips_are_untouched():
    clean = smooth_clip(n=10)
    assert ml.clean_clip(clean, drop_tpose_frame=True, dedupe_frames=True) is clean


# --------------------------------------------------------------------------------------------------
# floating clips (run set: amp_cmu_09_10 stands on the floor for one frame, then floats 1.06 m higher)


def _lowest_points(lib: ml.MotionLibrary, clip: int) -> np.ndarray:
    start, n = int(lib.clip_start[clip]), int(lib.clip_frames[clip])
    return np.asarray(lib.body_pos)[start:start + n, :, 2].min(axis=-1)


def floating_clip(n=30, lift=1.06) -> SkeletonMotion:
    """smooth_clip with every frame but the first lifted by ``lift`` m (the broken run clip's shape)."""
    clip = smooth_clip(n=n, fps=30.0, seed=1)
    root = clip.root_pos.copy()
    root[1:, 2] += lift
    return SkeletonMotion(SK, clip.local_rot, root, clip.fps, source="floating")


def test_a_floating_clip_loses_its_jump_and_is_lowered_onto_the_floor():
    clip = floating_clip()
    with pytest.warns(UserWarning, match="floating: dropped 1 end frame.*lowered by"):
        lib = ml.build_library([clip])
    assert int(lib.clip_frames[0]) == clip.num_frames - 1
    lowest = _lowest_points(lib, 0)
    assert abs(lowest.min()) < 1e-3 and lowest.max() < 0.5  # it touches the floor and no frame floats
    root = np.asarray(lib.root_pos)
    assert np.linalg.norm(np.diff(root, axis=0), axis=-1).max() * 30.0 < ml.TELEPORT_SPEED
    assert np.abs(np.asarray(lib.root_vel)[:, 2]).max() < 2.0  # velocities recomputed without the jump
    # the original's data: the option off keeps the clip as it is
    kept = ml.build_library([clip], ground_floating_clips=False)
    assert int(kept.clip_frames[0]) == clip.num_frames
    assert _lowest_points(kept, 0)[1:].min() > 1.0


def test_clips_on_the_floor_and_jumps_are_left_alone(recwarn):
    walking = smooth_clip(n=30, fps=30.0, seed=2)
    jumping = smooth_clip(n=30, fps=30.0, seed=3)
    root = jumping.root_pos.copy()
    root[10:18, 2] += 0.5 * np.sin(np.linspace(0.0, np.pi, 8))  # a jump: 8 of 30 frames in the air
    jumping = SkeletonMotion(SK, jumping.local_rot, root, jumping.fps, source="jumping")
    lib = ml.build_library([walking, jumping])
    off = ml.build_library([walking, jumping], ground_floating_clips=False)
    assert not [w for w in recwarn.list if issubclass(w.category, UserWarning)]
    np.testing.assert_array_equal(np.asarray(lib.root_pos), np.asarray(off.root_pos))
    np.testing.assert_array_equal(np.asarray(lib.clip_frames), np.asarray(off.clip_frames))


def test_motion_list_says_what_loading_repairs(tmp_path, capsys):
    from near import cli

    save_poselib(tmp_path / "floating.npy", floating_clip())
    save_poselib(tmp_path / "walking.npy", smooth_clip(n=30, fps=30.0, seed=2))
    (tmp_path / "set.yaml").write_text("motions:\n- file: floating.npy\n  weight: 1.0\n- file: walking.npy\n  weight: 1.0\n")
    assert cli.main(["motion", "list", str(tmp_path / "set.yaml")]) == 0
    out = capsys.readouterr().out
    assert "repaired on loading" in out and "dropped 1 end" in out
    assert out.count("lowered") == 1  # the clip on the floor has nothing to repair
