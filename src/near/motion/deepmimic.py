"""DeepMimic ``humanoid3d_*.txt`` clips (shipped in the ``pybullet`` wheel) as AMP-humanoid motions.

The DeepMimic humanoid is the AMP humanoid in a y-up frame (same bodies, tree and bone lengths;
spec near-environments.md §8.2), so a clip converts without retargeting (§8.3):

* change of basis C = 90 deg about +x (DeepMimic y-up -> AMP z-up): positions p -> C p = (x, -z, y),
  rotations (the root's global one and the 8 spherical joints' local ones) q -> C q C^-1;
* knees and elbows turn about DeepMimic's joint z, which C maps to AMP's -y: the AMP hinge angle
  (about +y) is -theta;
* hands identity; frames of non-uniform duration (roll) are resampled to a fixed rate.

A frame is 44 numbers: duration, root position (3), root rotation (4), then chest, neck, right hip
(4 each), right knee (1), right ankle, right shoulder (4 each), right elbow (1), left hip (4), left
knee (1), left ankle, left shoulder (4 each), left elbow (1). Quaternions are wxyz on disk, like ours.
"""

from __future__ import annotations

import json
import os

import numpy as np

from near.motion.skeleton import Skeleton, SkeletonMotion, fail, short
from near.utils import rotations as rot

__all__ = ["FRAME_SIZE", "deepmimic_clip_path", "deepmimic_motions_dir", "load_deepmimic"]

FRAME_SIZE = 44
_MAX_RESAMPLE = 100  # at most this many output frames per input frame (plus 10,000)
# (first column in the frame, AMP body index)
_SPHERICAL = ((8, 1), (12, 2), (16, 9), (21, 11), (25, 3), (30, 12), (35, 14), (39, 6))
_HINGES = ((20, 10), (29, 4), (34, 13), (43, 7))  # right knee, right elbow, left knee, left elbow
_C = np.array([np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0])  # 90 deg about +x, wxyz
_Y = np.array([0.0, 1.0, 0.0])


def _change_basis(q: np.ndarray) -> np.ndarray:
    return rot.multiply(rot.multiply(_C, q), rot.conjugate(_C))


def _rate(dt: float) -> float:
    """Frames per second of a frame duration; snapped to an integer rate when within 0.1 %."""
    fps = 1.0 / dt
    if not np.isfinite(fps):  # a duration of 1e-320 s: refused by the caller
        return float(fps)
    return float(round(fps)) if abs(fps - round(fps)) < 1e-3 * fps else fps


def _resample(times, local_rot, root_pos, fps):
    """Slerp/lerp a clip sampled at increasing ``times`` onto the grid 0, 1/fps, ... (<= last time)."""
    grid = np.arange(int(np.floor(times[-1] * fps + 1e-6)) + 1) / fps
    i1 = np.clip(np.searchsorted(times, grid, side="right"), 1, len(times) - 1)
    i0 = i1 - 1
    b = np.clip((grid - times[i0]) / (times[i1] - times[i0]), 0.0, 1.0)
    pos = root_pos[i0] + b[:, None] * (root_pos[i1] - root_pos[i0])
    q = rot.slerp(local_rot[i0], local_rot[i1], b[:, None])
    return q.astype(np.float32), pos.astype(np.float32)


def load_deepmimic(path, fps: float | None = None) -> SkeletonMotion:
    """Read a DeepMimic clip as a SkeletonMotion of the AMP humanoid.

    ``fps``: output frame rate. None keeps the clip's own rate, or for clips with mixed frame
    durations (roll) uses the rate of the shortest one; any other value resamples.
    """
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise fail(source, f"cannot read the file ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise fail(source, f"not a DeepMimic clip: invalid JSON ({short(str(e))})") from None
    except (RecursionError, ValueError) as e:  # nesting deeper than the parser's stack; a 5,000-digit number
        raise fail(source, f"not a DeepMimic clip: JSON nested too deeply or a number too long ({type(e).__name__})") from None
    if not isinstance(doc, dict) or "Frames" not in doc:
        raise fail(source, "not a DeepMimic clip: no 'Frames' list")
    try:
        frames = np.asarray(doc["Frames"], np.float64)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise fail(source, "'Frames' is not a list of equal-length number lists") from None
    if frames.ndim != 2 or frames.shape[1] != FRAME_SIZE or len(frames) == 0:
        raise fail(source, f"'Frames' has shape {frames.shape}, expected (T > 0, {FRAME_SIZE}) for humanoid3d")
    if not np.isfinite(frames).all():
        raise fail(source, f"'Frames' has {int((~np.isfinite(frames)).sum())} non-finite values")

    t = len(frames)
    local_rot = np.zeros((t, 15, 4))
    local_rot[..., 0] = 1.0  # hands (and anything not set below) stay identity
    for col, body in ((4, 0),) + _SPHERICAL:
        q = frames[:, col : col + 4]
        norm = np.linalg.norm(q, axis=-1, keepdims=True)
        if (norm < 1e-3).any() or not np.isfinite(norm).all():
            raise fail(source, f"zero-norm or overflowing quaternion in columns {col}-{col + 3}")
        local_rot[:, body] = _change_basis(q / norm)  # files are not exactly unit: normalise
    for col, body in _HINGES:
        local_rot[:, body] = rot.from_axis_angle(_Y, -frames[:, col])
    x, y, z = frames[:, 1], frames[:, 2], frames[:, 3]
    root_pos = np.stack([x, -z, y], axis=-1)

    # frame k lasts frames[k, 0]; the last frame's duration only matters for looping
    dt = frames[:-1, 0]
    if t > 1 and (dt <= 0).any():
        raise fail(source, f"frame durations must be > 0, got {dt[dt <= 0][:3]}")
    uniform = t == 1 or dt.max() - dt.min() <= 1e-3 * dt.min()
    native = _rate(float(dt.mean() if uniform else dt.min())) if t > 1 else (fps or 30.0)
    out_fps = float(fps) if fps is not None else native
    if not (np.isfinite(out_fps) and out_fps > 0):
        raise fail(source, f"frame rate {out_fps} is not a positive number")
    if t > 1 and not (uniform and abs(out_fps - native) < 1e-6):
        times = np.concatenate([[0.0], np.cumsum(dt)])
        out_frames = np.floor(times[-1] * out_fps + 1e-6) + 1
        if not out_frames <= _MAX_RESAMPLE * t + 10_000:  # a stray tiny duration would ask for billions of frames
            raise fail(source, f"resampling {t} frames (durations {dt.min():.3g} to {dt.max():.3g} s) to "
                               f"{out_fps:.4g} fps would make {out_frames:.3g} frames; are the frame durations right?")
        local_rot, root_pos = _resample(times, local_rot, root_pos, out_fps)
    return SkeletonMotion(Skeleton.amp_humanoid(), local_rot, root_pos, out_fps, source=source)


def deepmimic_motions_dir() -> str:
    """pybullet_data's ``data/motions`` folder; needs the optional ``pybullet`` package."""
    try:
        import pybullet_data
    except ImportError:
        raise ImportError(
            "DeepMimic clips ship with pybullet, which is not installed: pip install 'near-rl[deepmimic]'"
        ) from None
    return os.path.join(pybullet_data.getDataPath(), "data", "motions")


def deepmimic_clip_path(name: str) -> str:
    """Path of a shipped clip by short name: 'walk', 'humanoid3d_walk', 'walker/turn_left0', ..."""
    folder = deepmimic_motions_dir()
    stem = name.removesuffix(".txt")
    for candidate in (stem, f"humanoid3d_{stem}", f"walker/{stem}"):
        path = os.path.join(folder, candidate + ".txt")
        if os.path.isfile(path):
            return path
    names = sorted(
        f[len("humanoid3d_") : -4] for f in os.listdir(folder) if f.startswith("humanoid3d_") and f.endswith(".txt")
    )
    walker = sorted(f[:-4] for f in os.listdir(os.path.join(folder, "walker")) if f.endswith(".txt"))
    raise FileNotFoundError(f"no DeepMimic clip {name!r} in {folder}; available: {names + walker}")
