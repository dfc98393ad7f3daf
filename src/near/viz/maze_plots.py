"""Pictures of the 2-D maze (spec near-environments.md §2): the maze itself, energy landscapes,
rollouts and learning curves; fast rasterised frames for videos are in near.viz.maze_frames.

Maze coordinates are the original's pixels with **y pointing down** (screen convention). Matplotlib
axes are drawn with the y axis inverted, and raster frames use (row, col) = (y, x), so every picture
shows the start at the top-left (~(70, 70)) and the goal at the bottom-right (~(435, 435)).

Only the non-interactive Agg backend is used; nothing here ever opens a window.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import numpy as np

from near.envs.maze import (
    BOUNDARY,
    GOAL,
    GOAL_RADIUS_FRACTION,
    WALLS,
    WORLD_SIZE,
)

# --------------------------------------------------------------------------------------------------
# Colours (§2.5). The original draws a shape's fill as ``min(1.2 * colour, 255)`` and its outline in
# the base colour, hence "lighter fill, darker outline".
# --------------------------------------------------------------------------------------------------


def _lighter(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    return tuple(int(min(255.0, 1.2 * c)) for c in rgb)  # type: ignore[return-value]


WALL_EDGE_RGB: tuple[int, int, int] = (0xB4, 0x65, 0x6F)  # #B4656F
WALL_FILL_RGB: tuple[int, int, int] = _lighter(WALL_EDGE_RGB)  # (216, 121, 133)
BOUNDARY_RGB: tuple[int, int, int] = (211, 211, 211)  # LightGray
GOAL_RGB: tuple[int, int, int] = (34, 139, 34)  # ForestGreen
GOAL_RING_RGB: tuple[int, int, int] = (150, 200, 150)  # success radius, pale green (ours)
AGENT_RGB: tuple[int, int, int] = (65, 105, 225)  # RoyalBlue
AGENT_INNER_RGB: tuple[int, int, int] = _lighter(AGENT_RGB)  # (78, 126, 255)
PATH_RGB: tuple[int, int, int] = (150, 170, 235)  # faded RoyalBlue trail (ours)
TARGET_RGB: tuple[int, int, int] = (255, 0, 0)  # red x for the action target
BACKGROUND_RGB: tuple[int, int, int] = (255, 255, 255)

GOAL_DISC_RADIUS = 10.0
AGENT_INNER_RADIUS = 11.0
WALL_OUTLINE_PX = 2.0
SUCCESS_RADIUS = float(GOAL_RADIUS_FRACTION * np.linalg.norm(GOAL))  # ~30.8 px


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _plt():
    """pyplot on the Agg backend (never interactive)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike, dpi: int = 110) -> str:
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    _plt().close(fig)
    return path


# --------------------------------------------------------------------------------------------------
# Matplotlib drawing
# --------------------------------------------------------------------------------------------------


def draw_maze(ax, *, goal: bool = True, alpha: float = 1.0) -> None:
    """Draw walls, boundary and (optionally) the goal disc + dashed success radius on ``ax``.

    Sets equal aspect, limits [0, 512] and inverts y (y points down, as on screen).
    """
    from matplotlib.patches import Circle, Rectangle

    for x0, x1, y0, y1 in np.asarray(WALLS, float):
        ax.add_patch(
            Rectangle(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                facecolor=_hex(WALL_FILL_RGB),
                edgecolor=_hex(WALL_EDGE_RGB),
                linewidth=1.5,
                alpha=alpha,
                zorder=3,
            )
        )
    for x0, y0, x1, y1 in np.asarray(BOUNDARY, float):
        ax.plot(
            [x0, x1],
            [y0, y1],
            color=_hex(BOUNDARY_RGB),
            linewidth=2.0,
            alpha=alpha,
            solid_capstyle="round",
            zorder=3,
        )
    if goal:
        gx, gy = (float(v) for v in GOAL)
        ax.add_patch(
            Circle((gx, gy), GOAL_DISC_RADIUS, facecolor="forestgreen", edgecolor="none", alpha=alpha,
                   zorder=4)
        )
        ax.add_patch(
            Circle(
                (gx, gy),
                SUCCESS_RADIUS,
                facecolor="none",
                edgecolor="forestgreen",
                linestyle="--",
                linewidth=1.2,
                alpha=alpha,
                zorder=4,
            )
        )
    ax.set_xlim(0.0, WORLD_SIZE)
    ax.set_ylim(WORLD_SIZE, 0.0)  # y down
    ax.set_aspect("equal")


# --------------------------------------------------------------------------------------------------
# Energy landscape
# --------------------------------------------------------------------------------------------------


def energy_landscape(
    energy_fn: Callable[[np.ndarray, int], np.ndarray],
    *,
    levels: Sequence[int],
    sigmas: np.ndarray,
    step: float,
    resolution: int = 64,
    directions: int = 16,
) -> dict:
    """Evaluate a pair energy on a grid of start points and a fan of step directions.

    ``energy_fn(pairs, level)`` takes ``pairs`` of shape (M, 4), float32, ``[s_t, s_{t+1}]`` in
    pixels, and returns (M,) energies, higher = more expert-like. It is called exactly once per level
    with M = resolution**2 * directions.

    The grid points are cell centres ``(i + 0.5) * 512 / resolution``. For grid point p and unit vector
    u_k = (cos 2πk/D, sin 2πk/D) (in pixel coordinates, y down), the pair is ``[p, p + step * u_k]``.

    Returns a dict with
      * ``xs``, ``ys``: (R,) grid coordinates; array index ``[l, iy, ix]`` is the point (xs[ix], ys[iy]);
      * ``best``: (L, R, R) max over directions; ``mean``: (L, R, R) mean over directions;
      * ``best_dir``: (L, R, R, 2) the unit vector (dx, dy) of the best direction;
      * ``levels``, ``sigmas`` (one per level, see :func:`_sigmas_for_levels`), ``step``,
        ``dirs`` (D, 2).
    """
    levels = [int(c) for c in levels]
    r = int(resolution)
    d = int(directions)
    if r < 1 or d < 1:
        raise ValueError("resolution and directions must be >= 1")
    xs = ((np.arange(r) + 0.5) * (WORLD_SIZE / r)).astype(np.float32)
    ys = xs.copy()
    ang = 2.0 * np.pi * np.arange(d) / d
    dirs = np.stack([np.cos(ang), np.sin(ang)], axis=-1).astype(np.float32)  # (D, 2)

    gx, gy = np.meshgrid(xs, ys, indexing="xy")  # (R, R), [iy, ix]
    p = np.stack([gx, gy], axis=-1).reshape(r * r, 1, 2)  # (R*R, 1, 2)
    q = p + float(step) * dirs[None, :, :]  # (R*R, D, 2)
    pairs = np.concatenate([np.broadcast_to(p, q.shape), q], axis=-1).reshape(-1, 4).astype(np.float32)
    pairs = np.ascontiguousarray(pairs)

    n_levels = len(levels)
    best = np.empty((n_levels, r, r), np.float32)
    mean = np.empty((n_levels, r, r), np.float32)
    best_dir = np.empty((n_levels, r, r, 2), np.float32)
    for i, c in enumerate(levels):
        e = np.asarray(energy_fn(pairs, c), dtype=np.float32).reshape(-1)
        if e.shape[0] != pairs.shape[0]:
            raise ValueError(f"energy_fn returned {e.shape[0]} energies for {pairs.shape[0]} pairs")
        e = e.reshape(r, r, d)
        k = np.argmax(e, axis=-1)
        best[i] = np.take_along_axis(e, k[..., None], axis=-1)[..., 0]
        mean[i] = e.mean(axis=-1)
        best_dir[i] = dirs[k]
    return {
        "xs": xs,
        "ys": ys,
        "best": best,
        "mean": mean,
        "best_dir": best_dir,
        "levels": np.asarray(levels, np.int64),
        "sigmas": _sigmas_for_levels(levels, sigmas),
        "step": float(step),
        "dirs": dirs,
    }


def _sigmas_for_levels(levels: Sequence[int], sigmas) -> np.ndarray:
    """One sigma per level. ``sigmas`` is either one value per entry of ``levels`` (same length) or
    the full noise schedule, indexed by level."""
    levels = [int(c) for c in levels]
    if sigmas is None:
        return np.full(len(levels), np.nan, np.float64)
    s = np.atleast_1d(np.asarray(sigmas, np.float64))
    if s.shape[0] == len(levels):
        return s
    if levels and max(levels) < s.shape[0] and min(levels) >= -s.shape[0]:
        return s[levels]
    raise ValueError(f"cannot match {s.shape[0]} sigmas to levels {levels}")


def _subsample(points: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    points = np.asarray(points, np.float64).reshape(-1, np.asarray(points).shape[-1])[:, :2]
    points = points[np.all(np.isfinite(points), axis=-1)]
    if points.shape[0] > n:
        idx = np.random.default_rng(seed).choice(points.shape[0], n, replace=False)
        points = points[np.sort(idx)]
    return points


def plot_energy_landscape(
    landscape: dict,
    *,
    levels: Sequence[int],
    sigmas,
    path,
    demo_states: np.ndarray | None = None,
    title: str = "",
    key: str = "best",
    max_demo_points: int = 3000,
    quiver_cells: int = 16,
) -> str:
    """One heatmap per level of ``landscape[key]`` (default the best-direction energy), each with the
    maze on top, a sparse quiver of ``best_dir``, demo points and its own colour bar. Saves a PNG."""
    plt = _plt()
    levels = [int(c) for c in levels]
    sig = _sigmas_for_levels(levels, sigmas)
    lvl_all = [int(c) for c in np.asarray(landscape.get("levels", levels)).reshape(-1)]
    xs = np.asarray(landscape["xs"])
    ys = np.asarray(landscape["ys"])
    vals = np.asarray(landscape[key])
    bdir = np.asarray(landscape["best_dir"])
    r = xs.shape[0]

    n = len(levels)
    ncols = min(n, 3) if n else 1
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 4.2 * nrows), squeeze=False)
    demo = _subsample(demo_states, max_demo_points) if demo_states is not None else None
    stride = max(1, int(round(r / max(1, quiver_cells))))
    qx, qy = np.meshgrid(xs[stride // 2 :: stride], ys[stride // 2 :: stride], indexing="xy")
    arrow_len = 0.8 * stride * (WORLD_SIZE / r)

    for i, c in enumerate(levels):
        ax = axes[i // ncols][i % ncols]
        j = lvl_all.index(c) if c in lvl_all else i
        z = vals[j]
        finite = z[np.isfinite(z)]
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if vmax <= vmin:
            vmax = vmin + 1e-6
        im = ax.imshow(
            z,
            extent=(0.0, WORLD_SIZE, WORLD_SIZE, 0.0),  # row 0 = smallest y at the top
            origin="upper",
            cmap="viridis",
            vmin=vmin,
            vmax=vmax,
            interpolation="nearest",
            zorder=1,
        )
        draw_maze(ax, alpha=0.85)
        u = bdir[j][stride // 2 :: stride, stride // 2 :: stride]
        ax.quiver(
            qx,
            qy,
            u[..., 0] * arrow_len,
            u[..., 1] * arrow_len,
            angles="xy",
            scale_units="xy",
            scale=1.0,
            color="white",
            alpha=0.8,
            width=0.004,
            zorder=5,
        )
        if demo is not None and demo.shape[0]:
            ax.scatter(demo[:, 0], demo[:, 1], s=2.5, c="orange", alpha=0.7, linewidths=0, zorder=6)
        s = sig[i]
        ax.set_title(f"level {c}, sigma={s:.3g}" if np.isfinite(s) else f"level {c}", fontsize=10)
        ax.tick_params(labelsize=7)
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.ax.tick_params(labelsize=7)
    for k in range(n, nrows * ncols):
        axes[k // ncols][k % ncols].axis("off")
    if title:
        fig.suptitle(title)
    # fixed gaps instead of tight_layout, which measured every tick label (half of the ~0.9 s a plot took,
    # after every training run); _save's tight bounding box still trims the outer margins
    fig.subplots_adjust(wspace=0.3, hspace=0.65, top=1.0 - 0.45 / fig.get_figheight() if title else 0.95)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------------
# Rollouts and learning curves
# --------------------------------------------------------------------------------------------------


def plot_trajectories(
    trajectories: Sequence[np.ndarray],
    path,
    *,
    demo_states: np.ndarray | None = None,
    success: Sequence[bool] | None = None,
    title: str = "",
    max_demo_points: int = 3000,
) -> str:
    """Trajectories (each (T, >=2) pixel positions) over the maze: green if successful, red otherwise
    (blue when ``success`` is not given); circle = start, square = end. Saves a PNG."""
    plt = _plt()
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    if demo_states is not None:
        demo = _subsample(demo_states, max_demo_points)
        if demo.shape[0]:
            ax.scatter(demo[:, 0], demo[:, 1], s=1.5, c="0.6", alpha=0.5, linewidths=0, zorder=2)
    draw_maze(ax)
    if success is not None and len(success) != len(trajectories):
        raise ValueError("success must have one entry per trajectory")
    for i, traj in enumerate(trajectories):
        t = np.asarray(traj, np.float64)
        if t.ndim != 2 or t.shape[0] == 0:
            continue
        t = t[:, :2]
        color = "royalblue" if success is None else ("tab:green" if success[i] else "tab:red")
        ax.plot(t[:, 0], t[:, 1], "-", color=color, linewidth=1.2, alpha=0.8, zorder=5)
        mk = dict(color=color, markersize=4, markeredgecolor="k", markeredgewidth=0.5, zorder=6)
        ax.plot(t[0, 0], t[0, 1], "o", **mk)
        ax.plot(t[-1, 0], t[-1, 1], "s", **mk)
    handles = [
        Line2D([], [], marker="o", linestyle="", color="0.3", label="start"),
        Line2D([], [], marker="s", linestyle="", color="0.3", label="end"),
    ]
    if success is not None:
        n_ok = int(np.sum(np.asarray(success, bool)))
        handles = [
            Line2D([], [], color="tab:green", label=f"success ({n_ok})"),
            Line2D([], [], color="tab:red", label=f"failure ({len(success) - n_ok})"),
            *handles,
        ]
    if demo_states is not None:
        handles.append(Line2D([], [], marker=".", linestyle="", color="0.6", label="demo states"))
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.85)
    ax.set_title(title or f"{len(trajectories)} trajectories", fontsize=10)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _save(fig, path)


DEFAULT_CURVE_KEYS = ("success_rate", "episode_return", "energy_reward", "task_reward", "sigma_level")


def plot_learning_curves(
    history: dict[str, Sequence[float]],
    path,
    *,
    x_key: str = "env_steps",
    keys: Sequence[str] | None = None,
    title: str = "",
) -> str:
    """Small multiples of logged scalars against ``history[x_key]`` (or the log index when that key is
    missing). ``keys`` defaults to every other key in ``history`` (``DEFAULT_CURVE_KEYS`` first);
    missing, empty or non-numeric keys are skipped.
    Series of different lengths are aligned on their common prefix. Saves a PNG."""
    plt = _plt()
    if keys is None:  # the usual training scalars first, then everything else in logging order
        keys = [k for k in DEFAULT_CURVE_KEYS if k in history]
        keys += [k for k in history if k != x_key and k not in keys]
    present = []
    for k in keys:
        if k == x_key or k not in history:
            continue
        try:
            v = np.asarray([np.nan if e is None else e for e in history[k]], np.float64).reshape(-1)
        except (TypeError, ValueError):
            continue
        if v.size:
            present.append((k, v))
    x_all = None
    if x_key in history and len(history[x_key]):
        x_all = np.asarray(history[x_key], np.float64).reshape(-1)

    n = max(1, len(present))
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols, 2.8 * nrows), squeeze=False)
    for i, (k, v) in enumerate(present):
        ax = axes[i // ncols][i % ncols]
        if x_all is not None:
            m = min(len(v), len(x_all))
            x, y = x_all[:m], v[:m]
        else:
            x, y = np.arange(len(v)), v
        ok = np.isfinite(y)  # sparse series (the periodic evaluation) are NaN between their records
        x, y = x[ok], y[ok]
        ax.plot(x, y, "-", color="tab:blue", linewidth=1.3, marker="." if len(y) < 30 else None)
        ax.set_title(k, fontsize=10)
        ax.set_xlabel(x_key if x_all is not None else "log step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if not present:
        axes[0][0].text(0.5, 0.5, "no data", ha="center", va="center", transform=axes[0][0].transAxes)
        axes[0][0].set_axis_off()
    for j in range(len(present), nrows * ncols):
        if present:
            axes[j // ncols][j % ncols].axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
