"""Writing rollout videos (mp4 via imageio-ffmpeg, GIF fallback) and frame strips for READMEs."""

from __future__ import annotations

import os
import warnings

import numpy as np


def _as_frames(frames) -> np.ndarray:
    f = np.asarray(frames)
    if f.ndim == 3:  # (T, H, W) grayscale
        f = np.repeat(f[..., None], 3, axis=-1)
    if f.ndim != 4 or f.shape[-1] not in (3, 4):
        raise ValueError(f"frames must be (T, H, W, 3), got {f.shape}")
    if f.shape[0] == 0:
        raise ValueError("no frames")
    f = f[..., :3]
    if f.dtype != np.uint8:
        if np.issubdtype(f.dtype, np.floating) and np.nanmax(f) <= 1.0:
            f = f * 255.0
        f = np.clip(np.nan_to_num(f), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(f)


def _pad_even(frames: np.ndarray) -> np.ndarray:
    _, h, w, _ = frames.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    return np.ascontiguousarray(frames)


def _write_mp4(frames: np.ndarray, path: str, fps: int) -> None:
    import imageio_ffmpeg

    frames = _pad_even(frames)
    _, h, w, _ = frames.shape
    gen = imageio_ffmpeg.write_frames(
        path,
        (w, h),
        fps=fps,
        codec="libx264",
        pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p",
        macro_block_size=1,  # we padded to even ourselves; never rescale
        quality=None,
        output_params=["-crf", "20"],
        ffmpeg_log_level="error",
    )
    gen.send(None)
    try:
        for f in frames:
            gen.send(f)
    finally:
        gen.close()
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        raise RuntimeError("ffmpeg wrote no output")


def _write_gif(frames: np.ndarray, path: str, fps: int) -> None:
    import imageio.v3 as iio

    # Pillow's GIF writer takes the per-frame duration in milliseconds.
    iio.imwrite(path, frames, extension=".gif", duration=1000.0 / max(1, fps), loop=0)


def write_video(frames, path, fps: int = 30) -> str:
    """Write (T, H, W, 3) uint8 frames to ``path`` and return the path actually written.

    A path ending in ``.gif`` writes a GIF directly. Otherwise an H.264 mp4 (libx264, yuv420p, H and
    W padded to even by repeating the last row/column) is written with imageio-ffmpeg; if ffmpeg is
    unavailable or fails, a GIF with the same stem is written next to it instead.
    """
    f = _as_frames(frames)
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fps = int(max(1, round(fps)))
    stem, ext = os.path.splitext(path)
    if ext.lower() == ".gif":
        _write_gif(f, path, fps)
        return path
    try:
        with warnings.catch_warnings():
            # ffmpeg is started with fork+exec; JAX's "os.fork() with threads" warning does not apply
            warnings.filterwarnings("ignore", message="os.fork", category=RuntimeWarning)
            _write_mp4(f, path, fps)
        return path
    except Exception as exc:  # ffmpeg missing, codec missing, broken pipe, ...
        if os.path.exists(path):
            try:
                os.remove(path)
            except OSError:
                pass
        gif_path = stem + ".gif"
        msg = f"mp4 writing failed ({exc!r}); writing GIF {gif_path} instead"
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        _write_gif(f, gif_path, fps)
        return gif_path


def frame_strip(frames, n: int = 6, *, gap: int = 0) -> np.ndarray:
    """``n`` evenly spaced frames (first and last included) side by side: (H, k*W + (k-1)*gap, 3)
    uint8 with k = min(n, T). ``gap`` white pixel columns separate frames."""
    f = _as_frames(frames)
    t = f.shape[0]
    k = max(1, min(int(n), t))
    idx = np.unique(np.round(np.linspace(0, t - 1, k)).astype(int))
    parts = []
    for j, i in enumerate(idx):
        if j and gap > 0:
            parts.append(np.full((f.shape[1], gap, 3), 255, np.uint8))
        parts.append(f[i])
    return np.concatenate(parts, axis=1)
