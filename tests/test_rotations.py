"""Quaternion helpers (near.utils.rotations): formulas against hand-computed values, NumPy = JAX."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from near.utils import rotations as rot

S = np.sqrt(0.5)
QZ90 = np.array([S, 0.0, 0.0, S])  # 90 deg about +z, wxyz


def _random_quats(n, seed=0):
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def test_rotate_multiply_matrix_agree():
    a, b = _random_quats(50, 1), _random_quats(50, 2)
    v = np.random.default_rng(3).normal(size=(50, 3))
    np.testing.assert_allclose(rot.rotate(QZ90, np.array([1.0, 0, 0])), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(rot.rotate(rot.multiply(a, b), v), rot.rotate(a, rot.rotate(b, v)), atol=1e-12)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", rot.to_matrix(a), v), rot.rotate(a, v), atol=1e-12)
    np.testing.assert_allclose(rot.rotate_inverse(a, rot.rotate(a, v)), v, atol=1e-12)


def test_exp_map_round_trip_and_wrap():
    e = np.random.default_rng(4).uniform(-1.7, 1.7, size=(100, 3))  # |e| < pi
    np.testing.assert_allclose(rot.to_exp_map(rot.from_exp_map(e)), e, atol=1e-10)
    # a 270 deg rotation about +x is the 90 deg one about -x
    q = rot.from_axis_angle(np.array([1.0, 0, 0]), 1.5 * np.pi)
    np.testing.assert_allclose(rot.to_exp_map(q), [-np.pi / 2, 0, 0], atol=1e-12)
    np.testing.assert_allclose(rot.to_exp_map(-q), [-np.pi / 2, 0, 0], atol=1e-12)  # sign of q is irrelevant
    np.testing.assert_allclose(rot.from_exp_map(np.zeros(3)), [1, 0, 0, 0])


def test_from_axis_angle_broadcasts_axes_against_one_angle():
    # batch of axes with a single angle (used to fail: cos part kept the angle's shape)
    q = rot.from_axis_angle(np.eye(3), np.pi / 2)
    assert q.shape == (3, 4)
    np.testing.assert_allclose(q[2], QZ90, atol=1e-12)
    q = rot.from_axis_angle(np.array([0.0, 1, 0]), np.array([0.0, np.pi]))
    np.testing.assert_allclose(q, [[1, 0, 0, 0], [0, 0, 1, 0]], atol=1e-12)


def test_slerp_midpoint_shortest_path_and_endpoints():
    ident = np.array([1.0, 0, 0, 0])
    mid = rot.slerp(ident, QZ90, 0.5)
    np.testing.assert_allclose(mid, rot.from_axis_angle(np.array([0, 0, 1.0]), np.pi / 4), atol=1e-12)
    np.testing.assert_allclose(rot.slerp(ident, -QZ90, 0.5), mid, atol=1e-12)  # -q is the same rotation
    np.testing.assert_allclose(rot.slerp(ident, QZ90, 0.0), ident, atol=1e-12)
    np.testing.assert_allclose(rot.slerp(ident, QZ90, 1.0), QZ90, atol=1e-12)
    # extrapolation (t < 0) keeps rotating backwards about the same axis
    np.testing.assert_allclose(rot.slerp(ident, QZ90, -0.5), rot.from_axis_angle(np.array([0, 0, 1.0]), -np.pi / 4), atol=1e-12)


def test_heading_and_inverse():
    q = rot.multiply(rot.from_axis_angle(np.array([0, 0, 1.0]), 0.7), rot.from_axis_angle(np.array([0, 1.0, 0]), 0.3))
    assert rot.heading(q) == pytest.approx(0.7)
    assert rot.heading(rot.multiply(rot.heading_quat_inverse(q), q)) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(rot.tan_norm(np.array([1.0, 0, 0, 0])), [1, 0, 0, 0, 0, 1])


def test_xyzw_round_trip():
    q = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(rot.to_xyzw(q), [0.2, 0.3, 0.4, 0.1])
    np.testing.assert_array_equal(rot.from_xyzw(rot.to_xyzw(q)), q)


@pytest.mark.parametrize(
    "fn, args",
    [
        (rot.multiply, (_random_quats(8, 5), _random_quats(8, 6))),
        (rot.rotate, (_random_quats(8, 5), np.ones((8, 3)))),
        (rot.to_exp_map, (_random_quats(8, 7),)),
        (rot.from_exp_map, (np.random.default_rng(8).normal(size=(8, 3)),)),
        (rot.slerp, (_random_quats(8, 5), _random_quats(8, 6), np.linspace(0, 1, 8))),
        (rot.heading_quat_inverse, (_random_quats(8, 9),)),
        (rot.tan_norm, (_random_quats(8, 9),)),
    ],
)
def test_numpy_in_numpy_out_and_same_values_as_jax(fn, args):
    args = tuple(np.asarray(a, np.float32) for a in args)
    out_np = fn(*args)
    out_jx = jax.jit(fn)(*map(jnp.asarray, args))
    assert isinstance(out_np, np.ndarray) and isinstance(out_jx, jax.Array)
    assert out_np.dtype == np.float32
    np.testing.assert_allclose(out_np, np.asarray(out_jx), atol=2e-6)
