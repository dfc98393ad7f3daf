"""One entry point for source motions of any format, and resampling to a frame rate.

:func:`load_source` reads BVH (``.bvh``), poselib (``.npy``) and DeepMimic (``.txt``) files into a
:class:`SkeletonMotion` in metres with z up, optionally resampled. BVH is y up and in file units by
default (near.motion.bvh); poselib and DeepMimic files are already metres and z up, so ``units`` /
``up`` apply to them only when given.
"""

from __future__ import annotations

import os

import numpy as np

from near.motion.skeleton import Skeleton, SkeletonMotion, fail
from near.utils import rotations as rot

__all__ = ["SOURCE_TYPES", "load_source", "resample", "rescale"]

SOURCE_TYPES = (".bvh", ".npy", ".txt")


def resample(motion: SkeletonMotion, fps: float) -> SkeletonMotion:
    """The clip at a new frame rate over the same duration: slerp of local rotations, lerp of the root.
    Stored velocities are dropped (recomputed by the recipe when needed)."""
    fps = float(fps)
    if not (np.isfinite(fps) and fps > 0):
        raise fail(motion.source, f"fps must be > 0, got {fps}")
    if abs(fps - motion.fps) < 1e-9 or motion.num_frames == 1:
        return motion.replace(fps=fps) if motion.num_frames == 1 else motion
    n = int(np.floor(motion.length * fps + 1e-6)) + 1
    x = np.arange(n) * motion.fps / fps  # position on the old frame grid
    i0 = np.clip(np.floor(x).astype(int), 0, motion.num_frames - 2)
    b = np.clip(x - i0, 0.0, 1.0)
    local = rot.slerp(motion.local_rot[i0].astype(np.float64), motion.local_rot[i0 + 1].astype(np.float64), b[:, None])
    root = motion.root_pos[i0] + b[:, None] * (motion.root_pos[i0 + 1] - motion.root_pos[i0])
    return SkeletonMotion(motion.skeleton, local, root, fps, source=motion.source)


_Z_UP = np.array([np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0])  # y up -> z up: 90 deg about +x


def rescale(motion: SkeletonMotion, scale: float = 1.0, y_up: bool = False) -> SkeletonMotion:
    """Lengths times ``scale``; ``y_up`` turns y-up data to z up (90 deg about +x)."""
    offsets, root, local = motion.skeleton.offsets * scale, motion.root_pos * scale, motion.local_rot
    if y_up:
        offsets, root = rot.rotate(_Z_UP, offsets), rot.rotate(_Z_UP, root)
        local = rot.multiply(rot.multiply(_Z_UP, local), rot.conjugate(_Z_UP))
    sk = Skeleton(motion.skeleton.names, motion.skeleton.parents, offsets)
    return SkeletonMotion(sk, local, root, motion.fps, source=motion.source)


def load_source(path, *, units=None, up: str | None = None, fps: float | None = None, notes: list | None = None):
    """A source clip from ``.bvh``, ``.npy`` (poselib SkeletonMotion) or ``.txt`` (DeepMimic).

    ``units``: BVH length unit (m, cm, mm, inch, cmu, auto; default auto) or, for the other formats,
    a factor given explicitly. ``up``: the file's up axis (BVH default y, others z). ``fps``: resample
    to this rate. ``notes``, if given, collects one-line remarks (e.g. the units auto picked).
    """
    from near.motion.bvh import UNITS, load_bvh
    from near.motion.motion_set import load_motion_file

    source = os.fspath(path)
    ext = os.path.splitext(source)[1].lower()
    if ext == ".bvh":
        motion, note = load_bvh(source, units="auto" if units is None else units, up=up or "y", return_note=True)
        if notes is not None:
            notes.append(f"units: {note}")
    elif ext in (".npy", ".txt"):
        motion = load_motion_file(source)
        scale = 1.0
        if units is not None and str(units).lower() != "auto":
            scale = UNITS[str(units).lower()] if str(units).lower() in UNITS else float(units)
        if scale != 1.0 or (up or "z").lower() == "y":
            motion = rescale(motion, scale, y_up=(up or "z").lower() == "y")
    else:
        raise fail(source, f"unknown motion file type {ext!r}; expected one of {', '.join(SOURCE_TYPES)}")
    if fps is not None:
        motion = resample(motion, fps)
    return motion
