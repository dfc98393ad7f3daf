"""AMP humanoid constants, DOF conversions, forward kinematics and the velocity recipe."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from near.motion import humanoid as H
from near.motion.skeleton import (
    MotionDataError,
    Skeleton,
    SkeletonMotion,
    compute_velocities,
    forward_kinematics,
    gaussian_filter1d,
    velocities,
)
from near.utils import rotations as rot

SK = Skeleton.amp_humanoid()
EY = np.array([0.0, 1.0, 0.0])
EZ = np.array([0.0, 0.0, 1.0])


def test_constants_match_the_spec():
    assert len(H.BODY_NAMES) == 15 and H.NUM_DOF == 28
    assert H.DOF_OFFSETS == (0, 3, 6, 9, 10, 13, 14, 17, 18, 21, 24, 25, 28)
    assert [H.BODY_NAMES[i] for i in H.KEY_BODIES] == ["right_hand", "left_hand", "right_foot", "left_foot"]
    assert [H.BODY_NAMES[g.body] for g in H.DOF_GROUPS if g.size == 1] == [
        "right_lower_arm", "left_lower_arm", "right_shin", "left_shin"
    ]  # fmt: skip
    assert all(p < i for i, p in enumerate(H.PARENTS) if i)
    i = H.DOF_NAMES.index("right_knee")
    assert np.degrees([H.DOF_LOWER[i], H.DOF_UPPER[i]]) == pytest.approx([0, 160])
    i = H.DOF_NAMES.index("left_shoulder_x")
    assert np.degrees([H.DOF_LOWER[i], H.DOF_UPPER[i]]) == pytest.approx([-45, 180])
    assert H.DOF_KP[H.DOF_NAMES.index("abdomen_y")] == 600 and H.DOF_GEAR[H.DOF_NAMES.index("neck_z")] == 20
    # standing height of the MJCF rest pose: pelvis 1.0, ankle joints at 1 - .421546 - .40987
    pos, _ = forward_kinematics(SK, np.tile([1.0, 0, 0, 0], (15, 1)), np.array([0, 0, 1.0]))
    assert pos[11, 2] == pytest.approx(1 - 0.421546 - 0.409870)


def test_dof_round_trip_and_identity_bodies():
    rng = np.random.default_rng(0)
    dof = rng.uniform(-1.5, 1.5, size=(64, 28)).astype(np.float32)  # |ball exp map| < pi
    local = H.local_rot_from_dof(jnp.asarray(dof))
    assert local.shape == (64, 15, 4)
    for body in (0, 5, 8):  # pelvis and hands carry no DOF
        np.testing.assert_allclose(local[:, body], np.tile([1, 0, 0, 0], (64, 1)))
    np.testing.assert_allclose(H.dof_from_local_rot(local), dof, atol=2e-5)
    # hinge: a rotation about y by +0.7 reads 0.7; ball: the exp map's components
    q = np.tile(np.array([1.0, 0, 0, 0], np.float32), (15, 1))
    q[10] = rot.from_axis_angle(EY, 0.7)
    q[1] = rot.from_exp_map(np.array([0.1, -0.2, 0.3]))
    dof = H.dof_from_local_rot(q)
    assert dof[17] == pytest.approx(0.7) and dof[:3] == pytest.approx([0.1, -0.2, 0.3], abs=1e-6)
    # under jit
    np.testing.assert_allclose(jax.jit(H.dof_from_local_rot)(jnp.asarray(q)), dof, atol=1e-6)


def test_dof_vel_is_child_frame_rate_and_last_frame_repeats():
    fps, w = 60.0, np.array([0.3, -0.5, 0.8])  # rad/s, constant, expressed in the child frame
    t = np.arange(5) / fps
    q = np.tile(np.array([1.0, 0, 0, 0]), (5, 15, 1))
    base = rot.from_exp_map(np.array([0.4, 0.2, -0.1]))
    q[:, 1] = rot.multiply(base, rot.from_exp_map(w * t[:, None]))  # body-frame rotation at rate w
    q[:, 4] = rot.from_axis_angle(EY, -0.2 - 1.5 * t)  # right elbow closing at 1.5 rad/s
    v = H.dof_vel_from_local_rot(q, fps)
    np.testing.assert_allclose(v[:, :3], np.tile(w, (5, 1)), atol=1e-9)
    np.testing.assert_allclose(v[:, 9], -1.5, atol=1e-9)
    np.testing.assert_array_equal(v[-1], v[-2])


def test_fk_hand_computed():
    local = np.tile(np.array([1.0, 0, 0, 0]), (15, 1))
    local[0] = rot.from_axis_angle(EZ, np.pi / 2)  # pelvis turned to face +y
    local[10] = rot.from_axis_angle(EY, np.pi / 2)  # right knee bent 90 deg
    root = np.array([1.0, 2.0, 0.9])
    pos, grot = forward_kinematics(SK, local, root)
    # right hip offset (0, -.084887, 0) turned by 90 deg about z -> (+.084887, 0, 0)
    thigh = root + [0.084887, 0, 0]
    shin = thigh + [0, 0, -0.421546]
    # the knee turns the shin about the (turned) y axis = world -x: the foot swings back to -y
    foot = shin + [0, -0.409870, 0]
    np.testing.assert_allclose(pos[9], thigh, atol=1e-12)
    np.testing.assert_allclose(pos[10], shin, atol=1e-12)
    np.testing.assert_allclose(pos[11], foot, atol=1e-12)
    np.testing.assert_allclose(pos[0], root)
    np.testing.assert_allclose(grot[11], rot.multiply(local[0], local[10]), atol=1e-12)
    # batched and jitted versions agree
    pos_j, _ = jax.jit(lambda q, r: forward_kinematics(SK, q, r))(jnp.asarray(local[None]), jnp.asarray(root[None]))
    np.testing.assert_allclose(pos_j[0], pos, atol=1e-5)


def _turning_walker(s):
    """Root moving at (0.5, 0, 0) m/s, turning at 1 rad/s about z, right knee swinging; s: times (n,)."""
    q = np.tile(np.array([1.0, 0, 0, 0]), (len(s), 15, 1))
    q[:, 0] = rot.from_axis_angle(EZ, s)
    q[:, 10] = rot.from_axis_angle(EY, 0.5 + 0.3 * np.sin(2 * s))
    return q, np.stack([0.5 * s, 0 * s, 0.9 + 0 * s], -1)


def test_velocities_against_finite_differences():
    fps, n = 60.0, 120
    t = np.arange(n) / fps
    lin, ang = compute_velocities(SK, *_turning_walker(t), fps)
    inner = slice(10, -10)  # away from the edge replication of the smoothing
    np.testing.assert_allclose(lin[:, 0], np.tile([0.5, 0, 0], (n, 1)), atol=1e-5)
    np.testing.assert_allclose(ang[inner, 9], np.tile([0, 0, 1.0], (n - 20, 1)), atol=1e-4)  # thigh: pelvis rate
    # foot velocity vs the derivative of its FK position (central differences with a tiny step)
    h = 1e-4
    foot = lambda s: forward_kinematics(SK, *_turning_walker(s))[0][:, 11]
    true = (foot(t[inner] + h) - foot(t[inner] - h)) / (2 * h)
    # smoothing (sigma = 2 frames) of a smooth signal errs by ~ sigma^2 / 2 * its second derivative
    np.testing.assert_allclose(lin[inner, 11], true, atol=5e-3)
    assert np.abs(lin[inner, 11] - true).max() < 0.01 * np.abs(true).max()


def test_velocities_of_single_frame_are_zero_and_stored_ones_win():
    one = SkeletonMotion(SK, np.tile([1.0, 0, 0, 0], (1, 15, 1)), np.zeros((1, 3)), 60)
    lin, ang = velocities(one)
    assert lin.shape == (1, 15, 3) and not lin.any() and not ang.any()
    stored = np.full((1, 15, 3), 7.0)
    assert velocities(one.replace(global_velocity=stored, global_angular_velocity=stored))[0][0, 0, 0] == 7.0


def test_gaussian_filter_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = np.random.default_rng(1).normal(size=(40, 5, 3))
    for sigma in (2.0, 1.0, 1.5):
        ours = gaussian_filter1d(x, sigma, axis=0)
        ref = ndimage.gaussian_filter1d(x, sigma, axis=0, mode="nearest", truncate=4.0)
        np.testing.assert_allclose(ours, ref, atol=1e-12)
    # short signals (shorter than the kernel) too
    np.testing.assert_allclose(
        gaussian_filter1d(x[:3], 2.0), ndimage.gaussian_filter1d(x[:3], 2.0, axis=0, mode="nearest"), atol=1e-12
    )


def test_gaussian_filter_keeps_constants_and_mass():
    x = np.full((30, 2), 3.0)
    np.testing.assert_allclose(gaussian_filter1d(x, 2.0), x)
    spike = np.zeros(41)
    spike[20] = 1.0
    out = gaussian_filter1d(spike, 2.0)
    assert out.sum() == pytest.approx(1.0) and out[20] == pytest.approx(1 / np.sqrt(2 * np.pi * 4), rel=1e-3)


def test_skeleton_and_motion_validation():
    with pytest.raises(MotionDataError, match="topological"):
        Skeleton(("a", "b", "c"), (-1, 2, 0), np.zeros((3, 3)))
    with pytest.raises(MotionDataError, match="one tree"):
        Skeleton(("a", "b"), (-1, 0), np.zeros((3, 3)))
    with pytest.raises(MotionDataError, match="clip.npy.*root translation"):
        SkeletonMotion(SK, np.tile([1.0, 0, 0, 0], (4, 15, 1)), np.zeros((3, 3)), 60, source="clip.npy")
    with pytest.raises(MotionDataError, match="non-finite"):
        SkeletonMotion(SK, np.tile([1.0, 0, 0, 0], (2, 15, 1)), np.full((2, 3), np.nan), 60)
    with pytest.raises(MotionDataError, match="fps"):
        SkeletonMotion(SK, np.tile([1.0, 0, 0, 0], (2, 15, 1)), np.zeros((2, 3)), 0)
