"""Skeletons, poses and clips on the host, with forward kinematics and the poselib velocity recipe.

A clip (:class:`SkeletonMotion`) stores what poselib stores: per frame the *local* rotation of every
joint (wxyz; the root's entry is the root's global orientation) and the global root translation, at
a fixed frame rate. Global joint positions and rotations follow from forward kinematics
(spec near-environments.md §6.3):

    p_child = p_parent + R_parent offset_child,      R_child = R_parent R_local_child

with the root at the clip's root translation (the skeleton's root offset is not used).
Velocities follow the recipe the original files were written with (§6.3), see
:func:`compute_velocities`.

Host-side data: NumPy arrays in, NumPy arrays out (the quaternion helpers run on jax.numpy and are
converted back).
"""

from __future__ import annotations

import dataclasses
import reprlib

import numpy as np

from near.motion import humanoid
from near.utils import rotations as rot


class MotionDataError(ValueError):
    """A motion file or clip is missing or malformed; the message names the source and the fault."""


def fail(source, what: str) -> MotionDataError:
    return MotionDataError(f"motion data {str(source)!r}: {what}")


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlevel = 3


def short(value) -> str:
    """A bounded repr for error messages: a malformed file's value may be huge, deeply nested or
    aliased many times over (a yaml billion laughs), and repr() of it would never finish."""
    try:
        return _SHORT.repr(value)
    except Exception:  # noqa: BLE001 - a repr that fails must not hide the real error
        return f"<{type(value).__name__}>"


@dataclasses.dataclass(frozen=True, eq=False)
class Skeleton:
    """Joint names, parent indices (-1 for the root, parents before children) and offsets (J, 3)."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        object.__setattr__(self, "parents", tuple(int(p) for p in self.parents))
        object.__setattr__(self, "offsets", np.asarray(self.offsets, np.float32))
        j = len(self.names)
        if j == 0 or len(self.parents) != j or self.offsets.shape != (j, 3):
            raise MotionDataError(
                f"skeleton: {j} names, {len(self.parents)} parents and offsets of shape "
                f"{self.offsets.shape} do not describe one tree of {j} joints"
            )
        # FK walks the joints in order, so every parent must come before its children
        if self.parents[0] != -1 or any(not 0 <= p < i for i, p in enumerate(self.parents) if i):
            raise MotionDataError(f"skeleton: parents {self.parents} are not a tree rooted at joint 0 in topological order")
        if not np.isfinite(self.offsets).all():
            raise MotionDataError("skeleton: offsets are not finite")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @classmethod
    def amp_humanoid(cls) -> Skeleton:
        return cls(humanoid.BODY_NAMES, humanoid.PARENTS, humanoid.OFFSETS)

    def same_as(self, other: Skeleton, atol: float = 1e-4) -> bool:
        """Same joints and bone offsets (the root's offset is only a spawn position: not compared)."""
        return (
            self.names == other.names
            and self.parents == other.parents
            and np.allclose(self.offsets[1:], other.offsets[1:], atol=atol)
        )


@dataclasses.dataclass(frozen=True, eq=False)
class SkeletonState:
    """One pose (e.g. a T-pose): local rotations (J, 4) wxyz and the root translation (3,)."""

    skeleton: Skeleton
    local_rot: np.ndarray
    root_pos: np.ndarray
    source: str = ""

    def __post_init__(self):
        _coerce(self, "local_rot", "root_pos")
        j = self.skeleton.num_joints
        if self.local_rot.shape != (j, 4) or self.root_pos.shape != (3,):
            raise fail(
                self.source,
                f"pose of shapes {self.local_rot.shape} and {self.root_pos.shape}, expected ({j}, 4) and (3,)",
            )
        _check_finite(self, "local_rot", "root_pos")


def _coerce(obj, *names):
    for name in names:
        v = getattr(obj, name)
        if v is not None:
            object.__setattr__(obj, name, np.asarray(v, np.float32))


def _check_finite(obj, *names):
    for name in names:
        v = getattr(obj, name)
        if v is not None and not np.isfinite(v).all():
            raise fail(obj.source, f"{name} has {int((~np.isfinite(v)).sum())} non-finite values (NaN or inf)")


@dataclasses.dataclass(frozen=True, eq=False)
class SkeletonMotion:
    """A clip: local rotations (T, J, 4) wxyz, root translation (T, 3) in metres, frames per second.

    ``global_velocity`` / ``global_angular_velocity`` (T, J, 3) are the velocities stored in the
    source file (world frame, smoothed, §6.3), or None when the source had none; use
    :func:`velocities` to get them either way.
    """

    skeleton: Skeleton
    local_rot: np.ndarray
    root_pos: np.ndarray
    fps: float
    global_velocity: np.ndarray | None = None
    global_angular_velocity: np.ndarray | None = None
    source: str = ""  # file (and clip) it came from, for messages

    def __post_init__(self):
        _coerce(self, "local_rot", "root_pos", "global_velocity", "global_angular_velocity")
        object.__setattr__(self, "fps", float(self.fps))
        t, j = self.local_rot.shape[:2] if self.local_rot.ndim == 3 else (None, None)
        if j != self.skeleton.num_joints or self.local_rot.shape[-1] != 4 or t == 0:
            raise fail(self.source, f"rotations of shape {self.local_rot.shape}, expected (T>0, {self.skeleton.num_joints}, 4)")
        if self.root_pos.shape != (t, 3):
            raise fail(self.source, f"root translation of shape {self.root_pos.shape}, expected ({t}, 3)")
        for name in ("global_velocity", "global_angular_velocity"):
            v = getattr(self, name)
            if v is not None and v.shape != (t, j, 3):
                raise fail(self.source, f"{name} of shape {v.shape}, expected ({t}, {j}, 3)")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise fail(self.source, f"fps must be a positive number, got {self.fps}")
        _check_finite(self, "local_rot", "root_pos", "global_velocity", "global_angular_velocity")

    @property
    def num_frames(self) -> int:
        return self.local_rot.shape[0]

    @property
    def length(self) -> float:
        """Duration in seconds, (T - 1) / fps: time of the last frame."""
        return (self.num_frames - 1) / self.fps

    def replace(self, **changes) -> SkeletonMotion:
        return dataclasses.replace(self, **changes)


def forward_kinematics(skeleton: Skeleton, local_rot, root_pos):
    """Global joint positions (..., J, 3) and rotations (..., J, 4) from local rotations (..., J, 4)
    wxyz and root positions (..., 3). NumPy in, NumPy out; jax arrays (under jit too) give jax arrays."""
    xp = rot.xp_of(local_rot, root_pos)
    local_rot = xp.asarray(local_rot)
    offsets = xp.asarray(skeleton.offsets, local_rot.dtype)
    pos = [xp.asarray(root_pos, local_rot.dtype)]
    rots = [local_rot[..., 0, :]]
    for j in range(1, skeleton.num_joints):
        p = skeleton.parents[j]
        pos.append(pos[p] + rot.rotate(rots[p], xp.broadcast_to(offsets[j], pos[p].shape)))
        rots.append(rot.multiply(rots[p], local_rot[..., j, :]))
    return xp.stack(pos, axis=-2), xp.stack(rots, axis=-2)


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalised Gaussian weights over [-r, r], r = int(truncate * sigma + 0.5) (scipy's radius)."""
    r = int(truncate * float(sigma) + 0.5)
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def gaussian_filter1d(x, sigma: float, axis: int = 0, truncate: float = 4.0) -> np.ndarray:
    """Gaussian smoothing along one axis with edge replication (scipy.ndimage mode 'nearest')."""
    x = np.moveaxis(np.asarray(x, np.float64), axis, 0)
    w = gaussian_kernel(sigma, truncate)
    r = len(w) // 2
    padded = np.concatenate([np.repeat(x[:1], r, 0), x, np.repeat(x[-1:], r, 0)], axis=0)
    out = sum(wk * padded[k : k + len(x)] for k, wk in enumerate(w))  # symmetric kernel: no flip needed
    return np.moveaxis(out, 0, axis)


def compute_velocities(skeleton: Skeleton, local_rot, root_pos, fps: float, sigma: float = 2.0):
    """World-frame joint velocities (T, J, 3) and body angular velocities (T, J, 3), poselib's recipe.

    linear: np.gradient of the FK joint positions along time, Gaussian-smoothed (``sigma`` frames,
    edges replicated), times fps. angular: exp map of R_{f+1} R_f^-1 (global rotations) times fps,
    last frame zero, same smoothing. Matches the velocities stored in the original files.
    """
    pos, grot = forward_kinematics(skeleton, local_rot, root_pos)
    pos, grot = np.asarray(pos, np.float64), np.asarray(grot)
    if len(pos) < 2:
        zero = np.zeros_like(pos, np.float32)
        return zero, zero.copy()
    lin = gaussian_filter1d(np.gradient(pos, axis=0), sigma) * fps
    rel = rot.multiply(grot[1:], rot.conjugate(grot[:-1]))
    ang = np.asarray(rot.to_exp_map(rel), np.float64) * fps
    ang = np.concatenate([ang, np.zeros_like(ang[:1])], axis=0)
    ang = gaussian_filter1d(ang, sigma)
    return lin.astype(np.float32), ang.astype(np.float32)


def velocities(motion: SkeletonMotion) -> tuple[np.ndarray, np.ndarray]:
    """The clip's stored velocities, or the recipe's when the clip has none."""
    if motion.global_velocity is not None and motion.global_angular_velocity is not None:
        return motion.global_velocity, motion.global_angular_velocity
    return compute_velocities(motion.skeleton, motion.local_rot, motion.root_pos, motion.fps)
