"""Quaternion helpers shared by the motion library and the humanoid.

One convention everywhere: quaternions are (w, x, y, z), MuJoCo's order, unit norm, Hamilton
product, rotating vectors as q v q*. Readers of xyzw files (poselib) convert at load time.
Every function works on the last axis and broadcasts over leading axes. They run under jit on jax
arrays; when no input is a jax array (plain NumPy arrays or scalars) they compute with NumPy and
return NumPy, so host-side data processing (motion files) does not compile one XLA op per call.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_EPS = 1e-8


def xp_of(*xs):
    """NumPy when no input is a jax array (or tracer), else jax.numpy."""
    return jnp if any(isinstance(x, jax.Array) for x in xs) else np


def normalize(q):
    xp = xp_of(q)
    return q / xp.maximum(xp.linalg.norm(q, axis=-1, keepdims=True), _EPS)


def conjugate(q):
    xp = xp_of(q)
    q = xp.asarray(q)
    return q * xp.asarray([1.0, -1.0, -1.0, -1.0], dtype=q.dtype)


def multiply(a, b):
    xp = xp_of(a, b)
    aw, ax, ay, az = xp.moveaxis(xp.asarray(a), -1, 0)
    bw, bx, by, bz = xp.moveaxis(xp.asarray(b), -1, 0)
    return xp.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def rotate(q, v):
    """Rotate vectors v (..., 3) by quaternions q (..., 4)."""
    xp = xp_of(q, v)
    q, v = xp.asarray(q), xp.asarray(v)
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * xp.cross(u, v)
    return v + w * t + xp.cross(u, t)


def rotate_inverse(q, v):
    return rotate(conjugate(q), v)


def from_axis_angle(axis, angle):
    xp = xp_of(axis, angle)
    axis = xp.asarray(axis)
    axis = axis / xp.maximum(xp.linalg.norm(axis, axis=-1, keepdims=True), _EPS)
    half = 0.5 * xp.asarray(angle)[..., None]
    lead = np.broadcast_shapes(half.shape[:-1], axis.shape[:-1])  # e.g. a batch of axes, one angle
    return xp.concatenate(
        [xp.broadcast_to(xp.cos(half), lead + (1,)), xp.broadcast_to(xp.sin(half) * axis, lead + (3,))], axis=-1
    )


def from_exp_map(e):
    """Exponential map (axis * angle, (..., 3)) to a quaternion; identity for |e| < 1e-5."""
    xp = xp_of(e)
    e = xp.asarray(e)
    angle = xp.linalg.norm(e, axis=-1)
    small = angle < 1e-5
    safe = xp.where(small, 1.0, angle)
    axis = e / safe[..., None]
    q = from_axis_angle(xp.where(small[..., None], xp.asarray([1.0, 0.0, 0.0], e.dtype), axis),
                        xp.where(small, 0.0, angle))
    return q


def to_exp_map(q):
    """Quaternion to axis * angle with the angle wrapped to [0, pi] (the shorter rotation)."""
    xp = xp_of(q)
    q = normalize(xp.asarray(q))
    q = xp.where(q[..., :1] < 0.0, -q, q)  # w >= 0 picks the rotation of angle <= pi
    sin_half = xp.linalg.norm(q[..., 1:], axis=-1)
    angle = 2.0 * xp.arctan2(sin_half, q[..., 0])
    small = sin_half < 1e-9
    scale = xp.where(small, 2.0, angle / xp.where(small, 1.0, sin_half))
    return q[..., 1:] * scale[..., None]


def slerp(a, b, t):
    """Spherical interpolation from a to b at fraction t (broadcast to (...,)); shortest path."""
    xp = xp_of(a, b, t)
    a, b = xp.asarray(a), xp.asarray(b)
    t = xp.asarray(t)[..., None]
    cos = xp.sum(a * b, axis=-1, keepdims=True)
    b = xp.where(cos < 0.0, -b, b)
    cos = xp.abs(cos)
    near = cos > 0.9995
    theta = xp.arccos(xp.clip(cos, -1.0, 1.0))
    sin = xp.where(near, 1.0, xp.sin(theta))
    wa = xp.where(near, 1.0 - t, xp.sin((1.0 - t) * theta) / sin)
    wb = xp.where(near, t, xp.sin(t * theta) / sin)
    return normalize(wa * a + wb * b)


def to_matrix(q):
    xp = xp_of(q)
    w, x, y, z = xp.moveaxis(xp.asarray(q), -1, 0)
    return xp.stack(
        [
            xp.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            xp.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            xp.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def tan_norm(q):
    """The 6-number rotation feature of AMP: the images of e_x and e_z under q."""
    xp = xp_of(q)
    q = xp.asarray(q)
    shape = q.shape[:-1] + (3,)
    ex = xp.broadcast_to(xp.asarray([1.0, 0.0, 0.0], q.dtype), shape)
    ez = xp.broadcast_to(xp.asarray([0.0, 0.0, 1.0], q.dtype), shape)
    return xp.concatenate([rotate(q, ex), rotate(q, ez)], axis=-1)


def heading(q):
    """Yaw angle of the image of e_x under q, projected on the ground plane."""
    xp = xp_of(q)
    q = xp.asarray(q)
    shape = q.shape[:-1] + (3,)
    ex = xp.broadcast_to(xp.asarray([1.0, 0.0, 0.0], q.dtype), shape)
    d = rotate(q, ex)
    return xp.arctan2(d[..., 1], d[..., 0])


def heading_quat_inverse(q):
    """Pure yaw quaternion that undoes the heading of q (H^-1 of the AMP observation)."""
    xp = xp_of(q)
    yaw = -heading(q)
    z = xp.zeros_like(yaw)
    return xp.stack([xp.cos(0.5 * yaw), z, z, xp.sin(0.5 * yaw)], axis=-1)


def from_xyzw(q):
    xp = xp_of(q)
    q = xp.asarray(q)
    return xp.concatenate([q[..., 3:], q[..., :3]], axis=-1)


def to_xyzw(q):
    xp = xp_of(q)
    q = xp.asarray(q)
    return xp.concatenate([q[..., 1:], q[..., :1]], axis=-1)
