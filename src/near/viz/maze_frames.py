"""Rasterised maze frames for videos, numpy only (no matplotlib): the static maze, then the agent,
its path so far and the action target per step. Colours and sizes are those of near.viz.maze_plots;
coordinates are the maze's pixels with y pointing down, as there.
"""

from __future__ import annotations

import math

import numpy as np

from near.envs.maze import (
    AGENT_RADIUS,
    BOUNDARY,
    BOUNDARY_RADIUS,
    GOAL,
    WALLS,
    WORLD_SIZE,
)
from near.viz.maze_plots import (
    AGENT_INNER_RADIUS,
    AGENT_INNER_RGB,
    AGENT_RGB,
    BACKGROUND_RGB,
    BOUNDARY_RGB,
    GOAL_DISC_RADIUS,
    GOAL_RGB,
    GOAL_RING_RGB,
    PATH_RGB,
    SUCCESS_RADIUS,
    TARGET_RGB,
    WALL_EDGE_RGB,
    WALL_FILL_RGB,
    WALL_OUTLINE_PX,
)


def _fill_disc(img: np.ndarray, cx: float, cy: float, r: float, rgb) -> None:
    """Fill pixels whose centre lies within r of (cx, cy); all in raster pixel units."""
    h, w = img.shape[:2]
    x0, x1 = max(0, int(math.floor(cx - r))), min(w, int(math.ceil(cx + r)) + 1)
    y0, y1 = max(0, int(math.floor(cy - r))), min(h, int(math.ceil(cy + r)) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    mask = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r
    img[y0:y1, x0:x1][mask] = rgb


def _fill_ring(img: np.ndarray, cx: float, cy: float, r: float, width: float, rgb, dashes: int = 0) -> None:
    h, w = img.shape[:2]
    ro = r + width / 2
    x0, x1 = max(0, int(math.floor(cx - ro))), min(w, int(math.ceil(cx + ro)) + 1)
    y0, y1 = max(0, int(math.floor(cy - ro))), min(h, int(math.ceil(cy + ro)) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dx, dy = xx + 0.5 - cx, yy + 0.5 - cy
    mask = np.abs(np.hypot(dx, dy) - r) <= width / 2
    if dashes:
        mask &= (np.floor((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * 2 * dashes) % 2) == 0
    img[y0:y1, x0:x1][mask] = rgb


def _fill_rect(img: np.ndarray, x0: float, x1: float, y0: float, y1: float, rgb) -> None:
    h, w = img.shape[:2]
    c0, c1 = max(0, int(round(x0))), min(w, int(round(x1)))
    r0, r1 = max(0, int(round(y0))), min(h, int(round(y1)))
    if c0 < c1 and r0 < r1:
        img[r0:r1, c0:c1] = rgb


def _draw_segment(img: np.ndarray, p0, p1, half_width: float, rgb) -> None:
    """Thick line by stamping discs (or single pixels) along the segment, in raster units."""
    h, w = img.shape[:2]
    p0 = np.asarray(p0, np.float64)
    p1 = np.asarray(p1, np.float64)
    n = max(2, int(math.ceil(np.hypot(*(p1 - p0)) * 2)) + 1)
    pts = p0[None] + np.linspace(0.0, 1.0, n)[:, None] * (p1 - p0)[None]
    if half_width <= 0.75:
        c = np.clip(np.floor(pts[:, 0]).astype(int), 0, w - 1)
        r = np.clip(np.floor(pts[:, 1]).astype(int), 0, h - 1)
        ok = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
        img[r[ok], c[ok]] = rgb
    else:
        for q in pts[:: max(1, int(half_width))]:
            _fill_disc(img, q[0], q[1], half_width, rgb)
        _fill_disc(img, p1[0], p1[1], half_width, rgb)


def maze_background(size: int = 256) -> np.ndarray:
    """The static maze as a (size, size, 3) uint8 image: white canvas, LightGray boundary, walls
    (lighter #B4656F fill with a 2 px #B4656F outline), goal disc and a dashed success ring."""
    s = size / WORLD_SIZE
    img = np.empty((size, size, 3), np.uint8)
    img[:] = BACKGROUND_RGB
    bw = max(1.0, 2 * BOUNDARY_RADIUS * s)
    for x0, y0, x1, y1 in np.asarray(BOUNDARY, float):
        _fill_rect(img, min(x0, x1) * s - bw / 2, max(x0, x1) * s + bw / 2, min(y0, y1) * s - bw / 2,
                   max(y0, y1) * s + bw / 2, BOUNDARY_RGB)
    ow = max(1.0, WALL_OUTLINE_PX * s)
    for x0, x1, y0, y1 in np.asarray(WALLS, float):
        _fill_rect(img, x0 * s, x1 * s, y0 * s, y1 * s, WALL_EDGE_RGB)
        _fill_rect(img, x0 * s + ow, x1 * s - ow, y0 * s + ow, y1 * s - ow, WALL_FILL_RGB)
    gx, gy = float(GOAL[0]) * s, float(GOAL[1]) * s
    _fill_ring(img, gx, gy, SUCCESS_RADIUS * s, max(1.0, 1.5 * s), GOAL_RING_RGB, dashes=12)
    _fill_disc(img, gx, gy, GOAL_DISC_RADIUS * s, GOAL_RGB)
    return img


def render_maze_frames(
    trajectory: np.ndarray,
    *,
    size: int = 256,
    targets: np.ndarray | None = None,
    show_path: bool = True,
) -> np.ndarray:
    """Rasterise a maze rollout without matplotlib: (T, size, size, 3) uint8.

    ``trajectory`` is (T, >=2) agent positions in pixels (y down); ``targets`` (T, 2) optional action
    targets p* = (a + 1) * 256, also in pixels, drawn as a small red x (NaN rows are skipped). Each
    frame shows the static background, the path so far, the agent (RoyalBlue disc r 15 with a lighter
    inner disc r 11, scaled by size / 512) and the target.
    """
    traj = np.asarray(trajectory, np.float64)
    if traj.ndim != 2 or traj.shape[1] < 2:
        raise ValueError(f"trajectory must be (T, 2), got {traj.shape}")
    traj = traj[:, :2]
    t_len = traj.shape[0]
    if targets is not None:
        targets = np.asarray(targets, np.float64).reshape(t_len, -1)[:, :2]
    s = size / WORLD_SIZE
    trail = maze_background(size)  # background + path so far, updated incrementally
    frames = np.empty((t_len, size, size, 3), np.uint8)
    path_hw = max(0.5, 1.5 * s)
    xr = max(2.0, 5.0 * s)
    for t in range(t_len):
        p = traj[t] * s
        if show_path and t > 0 and np.all(np.isfinite(traj[t - 1])) and np.all(np.isfinite(traj[t])):
            _draw_segment(trail, traj[t - 1] * s, p, path_hw, PATH_RGB)
        f = frames[t]
        f[:] = trail
        if np.all(np.isfinite(p)):
            _fill_disc(f, p[0], p[1], AGENT_RADIUS * s, AGENT_RGB)
            _fill_disc(f, p[0], p[1], AGENT_INNER_RADIUS * s, AGENT_INNER_RGB)
        if targets is not None and np.all(np.isfinite(targets[t])):
            q = targets[t] * s
            hw = max(0.5, 0.75 * s)
            _draw_segment(f, q - xr, q + xr, hw, TARGET_RGB)
            _draw_segment(f, q + np.array([-xr, xr]), q + np.array([xr, -xr]), hw, TARGET_RGB)
    return frames
