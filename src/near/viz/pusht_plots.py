"""Push-T pictures: rasterised video frames and a PNG of a few episodes.

States are the env's observations ``(agent x, agent y, block x, block y, block angle)`` in the
512 x 512 pixel world (y pointing down, block position = body origin). The T geometry, the agent
radius and the goal pose are the ones of :mod:`near.envs.pusht`. Colours follow the original's
renderer (spec near-environments.md §3.2): goal T LightGreen, block LightSlateGray, agent RoyalBlue.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import numpy as np

from near.envs.pusht import AGENT_RADIUS, BOX_VERTS, BOXES, GOAL_POSE, WORLD_SIZE

GOAL_RGB = (144, 238, 144)  # LightGreen
BLOCK_RGB = (119, 136, 153)  # LightSlateGray
AGENT_RGB = (65, 105, 225)  # RoyalBlue
BACKGROUND_RGB = (255, 255, 255)
BAR_RGB = (46, 139, 87)  # coverage bar fill
BAR_BG_RGB = (220, 220, 220)


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def states_coverage(states) -> np.ndarray:
    """Coverage (area(goal T n block T) / area(T), as the env's reward) of each state (..., 5)."""
    s = np.asarray(states, np.float32)
    flat = s.reshape(-1, s.shape[-1])
    return np.asarray(_coverage_program()(flat)).reshape(s.shape[:-1])


@functools.cache
def _coverage_program():
    """One jitted coverage function for the process. A fresh ``jax.jit`` per call compiled again every
    time (1.2 s on a 2-core CPU), and push-T's evaluation called it once per episode: 37-54 s of each
    64-episode evaluation of a GPU training went to it."""
    import jax

    from near.envs.pusht import coverage

    return jax.jit(jax.vmap(lambda x: coverage(x[2:4], x[4])))


def t_polygons(x: float, y: float, angle: float) -> np.ndarray:
    """(2, 4, 2) world corners of the bar and the stem of a T at body origin (x, y), ``angle``."""
    c, s = np.cos(angle), np.sin(angle)
    v = BOX_VERTS.astype(np.float64)
    return np.stack([x + c * v[..., 0] - s * v[..., 1], y + s * v[..., 0] + c * v[..., 1]], -1)


def _t_mask(px: np.ndarray, py: np.ndarray, x: float, y: float, angle: float) -> np.ndarray:
    """Boolean mask of the world points (px, py) inside the T at (x, y, angle)."""
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = px - x, py - y
    lx, ly = c * dx + s * dy, -s * dx + c * dy  # rotate by -angle into body coordinates
    mask = np.zeros(px.shape, bool)
    for x0, y0, x1, y1 in BOXES:
        mask |= (lx >= x0) & (lx <= x1) & (ly >= y0) & (ly <= y1)
    return mask


def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    centres = (np.arange(size) + 0.5) * (WORLD_SIZE / size)
    px, py = np.meshgrid(centres, centres)  # px varies along columns, py along rows (y down)
    return px, py


def _draw_text(img: np.ndarray, text: str, xy: tuple[int, int]) -> np.ndarray:
    try:
        from PIL import Image, ImageDraw
    except ImportError:  # pragma: no cover - the bar alone still shows coverage
        return img
    pil = Image.fromarray(img)
    ImageDraw.Draw(pil).text(xy, text, fill=(0, 0, 0))
    return np.asarray(pil).copy()


def render_pusht_frames(states, coverage=None, size: int = 256, goal_pose=GOAL_POSE) -> np.ndarray:
    """(T, size, size + bar, 3) uint8 frames of push-T states (T, 5).

    Each frame: white world, goal T (light green), block T (slate grey) over it, agent disc (royal
    blue). With ``coverage`` (T,), a strip under the world shows it as a bar (full width =
    coverage 1, a tick at the 0.95 success threshold) and as text.
    """
    states = np.asarray(states, np.float64)
    if states.ndim != 2 or states.shape[1] != 5:
        raise ValueError(f"states must be (T, 5), got {states.shape}")
    px, py = _pixel_grid(size)
    base = np.empty((size, size, 3), np.uint8)
    base[:] = BACKGROUND_RGB
    base[_t_mask(px, py, *np.asarray(goal_pose, np.float64))] = GOAL_RGB
    bar_h = max(12, size // 16) if coverage is not None else 0
    if coverage is not None:
        coverage = np.asarray(coverage, np.float64).reshape(-1)
        if len(coverage) != len(states):
            raise ValueError(f"coverage has {len(coverage)} values for {len(states)} states")
    frames = np.empty((len(states), size + bar_h, size, 3), np.uint8)
    r = AGENT_RADIUS
    for t, (ax, ay, bx, by, ba) in enumerate(states):
        img = base.copy()
        img[_t_mask(px, py, bx, by, ba)] = BLOCK_RGB
        img[(px - ax) ** 2 + (py - ay) ** 2 <= r * r] = AGENT_RGB
        frames[t, :size] = img
        if bar_h:
            strip = np.empty((bar_h, size, 3), np.uint8)
            strip[:] = BAR_BG_RGB
            c = float(np.clip(coverage[t], 0.0, 1.0))
            strip[:, : int(round(c * size))] = BAR_RGB
            tick = min(size - 1, int(0.95 * size))
            strip[:, tick] = (200, 0, 0)
            frames[t, size:] = _draw_text(strip, f"coverage {coverage[t]:.2f}", (2, max(0, bar_h // 2 - 6)))
    return frames


def _draw_t(ax, pose, *, face, edge=None, alpha=1.0, linestyle="-", fill=True, zorder=1):
    from matplotlib.patches import Polygon

    for box in t_polygons(*pose):
        ax.add_patch(Polygon(box, closed=True, facecolor=face if fill else "none", edgecolor=edge or face,
                             alpha=alpha, linestyle=linestyle, linewidth=1.0, zorder=zorder))


def plot_pusht_episodes(episodes: Sequence[np.ndarray], path: str | os.PathLike, *, success=None, coverage=None,
                        max_panels: int = 6, title: str | None = None, goal_pose=GOAL_POSE) -> str:
    """A PNG grid of up to ``max_panels`` episodes (each (T, 5)): goal T, the block's start pose
    (dashed outline) and final pose, the block origin's path and the agent's path."""
    from near.viz.maze_plots import _plt, _save

    plt = _plt()
    episodes = [np.asarray(e, np.float64) for e in episodes][:max_panels]
    if not episodes:
        raise ValueError("no episodes to plot")
    if coverage is None:
        coverage = [float(c) for c in states_coverage(np.stack([e[-1] for e in episodes]))]
    n = len(episodes)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xlim(0, WORLD_SIZE)
        ax.set_ylim(WORLD_SIZE, 0)  # y down, as the env
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        e = episodes[i]
        _draw_t(ax, goal_pose, face=_hex(GOAL_RGB), zorder=1)
        _draw_t(ax, e[0, 2:5], face=_hex(BLOCK_RGB), fill=False, linestyle="--", zorder=2)
        _draw_t(ax, e[-1, 2:5], face=_hex(BLOCK_RGB), alpha=0.8, zorder=3)
        ax.plot(e[:, 0], e[:, 1], color=_hex(AGENT_RGB), lw=0.8, alpha=0.7, zorder=4)
        ax.plot(e[:, 2], e[:, 3], color="black", lw=1.0, zorder=5)
        ax.add_patch(plt.Circle(e[-1, :2], AGENT_RADIUS, color=_hex(AGENT_RGB), zorder=6))
        label = f"ep {i}: cov {coverage[i]:.2f}, {len(e) - 1} steps"
        if success is not None:
            label += " (success)" if bool(success[i]) else ""
        ax.set_title(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


__all__ = ["render_pusht_frames", "plot_pusht_episodes", "states_coverage", "t_polygons"]
