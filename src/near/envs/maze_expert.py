"""Scripted maze demonstrator, so the maze pipeline runs without the human demo store.

``generate_maze_demos(num_episodes, seed)`` returns a :class:`~near.data.demos.DemoSet` of agent
positions (x, y) in pixels that imitates the character of the human joystick demos (spec
near-environments.md §2.3): start at an integer position uniform in [60, 80)², go down the left
corridor (between walls A and B), right along the bottom corridor (between D and C), and stop at the
first frame within the goal radius 0.05·|GOAL| (≈ 30.8 px). Human-like noise: a smooth
Ornstein-Uhlenbeck lateral wander around a per-episode lane, a smoothly varying speed, pure-pursuit
steering whose look-ahead (drawn per episode) sets how much the corner is cut, and a few short pauses
(duplicated frames; the humans' first frame is almost always duplicated).

Design choice -- step length. The human store records a frame every ~10 teleop steps, ≈ 9.08 px per
frame at full stick, far more than one env step can move the agent, so a policy could never
reproduce those transitions. Our demos instead move, per frame, only what ONE env step can: the env
moves the agent ``ENV_STEP_FRACTION`` ≈ 0.9 % of the way to its action target, and the target is
confined to [0, 512]², so the largest move along a heading depends on the position: ~4 px per axis
at the start (70, 70) heading down/right, but only 0.009·(512 - y) px downward, i.e. ~1.9 px at
y = 300 and ~1 px near the goal (x ≈ 400). A constant 2.5-4.5 px step (the first plan) is therefore
reachable only near the start (~16 % of its moves). Default ``step_model="env"``: each move is
70-100 % (smooth AR(1) "stick deflection", per-episode mean 0.82-0.90) of the largest one-env-step
move along the chosen heading, so every demo transition is one a policy can make (ignoring
contacts): steps ~0.5-4.1 px, mean ~1.75 px, episodes ~350-470 frames, under the 650-step cap.
``step_model="constant"`` keeps the 2.5-4.5 px/frame (mean 3.5) variant, episodes ~170-245 frames.

Walls: the agent centre always stays at least ``AGENT_RADIUS + 0.5`` px from every wall box (and
far from the boundary, which the corridors never approach). A move that would come closer is turned
away from the wall by the smallest angle that is clear (sliding around D's inner corner), each
turned move again of reachable length. The generator is plain numpy (it imports only the geometry
constants of near.envs.maze, which itself imports JAX); deterministic given ``seed``. Episode ``i``
depends only on ``(seed, i)``, so a larger ``num_episodes`` extends a smaller one.

To make a store for the rest of the pipeline::

    demos = generate_maze_demos(500, seed=0)
    write_zarr_demos("maze_scripted.zarr", demos.states, demos.episode_ends)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from near.data.demos import DemoSet
from near.envs.maze import (
    AGENT_RADIUS,
    BOUNDARY,
    BOUNDARY_RADIUS,
    GOAL,
    GOAL_RADIUS_FRACTION,
    WALLS,
    WORLD_SIZE,
)

__all__ = [
    "generate_maze_demos",
    "wall_clearance",
    "ENV_STEP_FRACTION",
    "GOAL_RADIUS",
    "MAX_EPISODE_STEPS",
]

GOAL_RADIUS = float(GOAL_RADIUS_FRACTION * np.linalg.norm(GOAL.astype(np.float64)))  # ~30.77 px
MAX_EPISODE_STEPS = 650  # env episode cap; every generated episode is shorter
# Fraction of the distance to its target the agent covers in one free (contact-less) env step:
# 100 substeps of p += 10 dt^2 (p* - p), dt = 0.003 s (spec near-environments.md §2.2) -> 0.00896.
ENV_STEP_FRACTION = 1.0 - (1.0 - 10.0 * 0.003**2) ** 100

# Corridor centre lines (agent centre): left corridor x in [55, 85], bottom corridor y in [415, 445].
_LEFT_X = 0.5 * (WALLS[0, 1] + WALLS[1, 0])  # 70
_BOTTOM_Y = 0.5 * (WALLS[3, 3] + WALLS[2, 2])  # 430
_HALF_FREE = 0.5 * (WALLS[1, 0] - WALLS[0, 1]) - AGENT_RADIUS  # 15 px of lateral play each side
_MARGIN = 0.5  # extra clearance kept from walls, px
_LANE_MARGIN = 2.0  # steering targets stay this far inside the free corridor

_STEP_MIN, _STEP_MAX, _STEP_MEAN = 2.5, 4.5, 3.5
_GOAL_STOP = GOAL_RADIUS - 0.1  # stop strictly inside the success radius (robust to float32)


def wall_clearance(points: np.ndarray) -> np.ndarray:
    """Distance from each agent centre (…, 2) to the nearest wall box or boundary segment surface,
    minus the agent radius (boundary segments count with their own radius). Negative = overlap."""
    p = np.asarray(points, np.float64)[..., None, :]  # (..., 1, 2)
    w = WALLS.astype(np.float64)
    q = np.stack([np.clip(p[..., 0], w[:, 0], w[:, 1]), np.clip(p[..., 1], w[:, 2], w[:, 3])], -1)
    d_box = np.linalg.norm(p - q, axis=-1).min(-1)
    b = BOUNDARY.astype(np.float64)
    a, c = b[:, :2], b[:, 2:]
    ab = c - a
    t = np.clip(((p - a) * ab).sum(-1) / (ab * ab).sum(-1), 0.0, 1.0)
    d_seg = np.linalg.norm(p - (a + t[..., None] * ab), axis=-1).min(-1) - BOUNDARY_RADIUS
    return np.minimum(d_box, d_seg) - AGENT_RADIUS


_WALL_BOXES = tuple(tuple(float(v) for v in w) for w in WALLS)


def _box_gap(x: float, y: float) -> float:
    """Distance from (x, y) to the nearest wall box, minus AGENT_RADIUS + _MARGIN (>= 0: clear)."""
    gap = math.inf
    for x0, x1, y0, y1 in _WALL_BOXES:
        dx, dy = x - min(max(x, x0), x1), y - min(max(y, y0), y1)
        gap = min(gap, math.hypot(dx, dy))
    return gap - AGENT_RADIUS - _MARGIN


# Headings tried, in this order, when the wanted move would touch a wall: the agent slides around
# the obstacle by turning away from it (each candidate gets its own reachable length).
_TURNS = tuple(math.radians(a) for a in range(5, 181, 5))


def _move(
    x: float, y: float, hx: float, hy: float, length: Callable[[float, float], float]
) -> tuple[float, float]:
    """Move from (x, y) along unit heading (hx, hy) by ``length(hx, hy)``; if that ends within the
    wall clearance, turn the heading by the smallest of _TURNS (either side, the side leaving more
    room first) whose move is clear."""
    step = length(hx, hy)
    nx, ny = x + hx * step, y + hy * step
    if _box_gap(nx, ny) >= 0.0:
        return nx, ny
    for a in _TURNS:
        c, s_ = math.cos(a), math.sin(a)
        best = None
        for gx, gy in ((hx * c - hy * s_, hx * s_ + hy * c), (hx * c + hy * s_, -hx * s_ + hy * c)):
            st = length(gx, gy)
            cx, cy = x + gx * st, y + gy * st
            gap = _box_gap(cx, cy)
            if gap >= 0.0 and (best is None or gap > best[0]):
                best = (gap, cx, cy)
        if best is not None:
            return best[1], best[2]
    return x, y  # boxed in (cannot happen in this maze): stand still


def _one_episode(rng: np.random.Generator, step_model: str) -> np.ndarray:
    gx, gy = float(GOAL[0]), float(GOAL[1])
    sx, sy = (float(v) for v in rng.integers(60, 80, size=2))

    # Nominal path: start -> corner -> goal. A per-episode lane bias moves the corner within the
    # corridor (humans hug different sides); the OU offset below wanders around that lane.
    half = _HALF_FREE - _LANE_MARGIN  # steering targets stay inside [centre - half, centre + half]
    cx = _LEFT_X + rng.uniform(-0.85, 0.85) * half
    cy = _BOTTOM_Y + rng.uniform(-0.85, 0.85) * half
    verts = ((sx, sy), (cx, cy), (gx, gy))
    segs = []  # (x0, y0, ux, uy, nx, ny, length, cumulative start)
    acc = 0.0
    for (x0, y0), (x1, y1) in zip(verts[:-1], verts[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        ux, uy = (x1 - x0) / length, (y1 - y0) / length
        segs.append((x0, y0, ux, uy, -uy, ux, length, acc))
        acc += length
    total = acc

    lookahead = rng.uniform(12.0, 45.0)  # pure-pursuit look-ahead: larger = cuts the corner more
    ou_theta = rng.uniform(0.03, 0.08)
    ou_std = rng.uniform(2.0, 6.0)
    ou_sigma = ou_std * math.sqrt(2.0 * ou_theta - ou_theta**2)  # stationary std = ou_std
    # speed: a smooth AR(1) process z (unit stationary std) around a per-episode mean; in "env" mode
    # it sets the fraction of the largest one-env-step displacement, in "constant" mode the px/frame
    if step_model == "env":
        speed_mean, speed_std, speed_lo, speed_hi = 0.86 + rng.uniform(-0.04, 0.04), 0.07, 0.7, 1.0
    else:
        speed_mean, speed_std = _STEP_MEAN + rng.uniform(-0.3, 0.3), 0.5
        speed_lo, speed_hi = _STEP_MIN, _STEP_MAX
    speed_rho = 0.92
    speed_sigma = speed_std * math.sqrt(1.0 - speed_rho**2)
    pause_prob = rng.uniform(0.0, 1.0 / 120.0)  # chance per frame to start a mid-episode pause
    # pre-drawn noise keeps the loop cheap (the loop never needs more than the cap)
    n_max = MAX_EPISODE_STEPS
    ou_noise = rng.normal(size=n_max) * ou_sigma
    speed_noise = rng.normal(size=n_max) * speed_sigma
    pause_u = rng.random(n_max)
    pause_len = rng.integers(1, 4, size=n_max)

    # Leading pause: the human first frame is almost always recorded twice.
    n_lead = int(rng.choice([0, 1, 2, 3], p=[0.2, 0.6, 0.15, 0.05]))
    frames = [(sx, sy)] * (1 + n_lead)
    x, y, s = sx, sy, 0.0
    offset = rng.normal(0.0, ou_std)
    speed_dev = rng.normal(0.0, speed_std)
    i = 0
    while math.hypot(x - gx, y - gy) >= _GOAL_STOP:
        if len(frames) >= n_max:
            raise RuntimeError("maze expert: episode did not reach the goal within the step cap")
        offset = (1.0 - ou_theta) * offset + ou_noise[i]
        speed_dev = speed_rho * speed_dev + speed_noise[i]
        speed = min(max(speed_mean + speed_dev, speed_lo), speed_hi)

        # progress = arclength of the closest path point, never going backwards
        best_d = math.inf
        s_new = s
        for x0, y0, ux, uy, _, _, length, c0 in segs:
            u = min(max((x - x0) * ux + (y - y0) * uy, 0.0), length)
            d = math.hypot(x0 + ux * u - x, y0 + uy * u - y)
            if d < best_d:
                best_d, s_new = d, c0 + u
        s = max(s, s_new)
        # steering target: the path point `lookahead` ahead, shifted sideways by the wander
        sa = min(s + lookahead, total)
        leg = 0 if sa < segs[1][7] else 1
        x0, y0, ux, uy, nx, ny, _, c0 = segs[leg]
        # the wander fades out over the last 60 px so the final approach converges on the goal
        fade = min(1.0, max(0.0, (total - sa) / 60.0)) if leg == 1 else 1.0
        tx = x0 + ux * (sa - c0) + fade * offset * nx
        ty = y0 + uy * (sa - c0) + fade * offset * ny
        if leg == 0:
            tx = min(max(tx, _LEFT_X - half), _LEFT_X + half)
        else:
            ty = min(max(ty, _BOTTOM_Y - half), _BOTTOM_Y + half)
            tx = max(tx, _LEFT_X - half)
        hx, hy = tx - x, ty - y
        norm = math.hypot(hx, hy)
        if norm < 1e-6:
            hx, hy = gx - x, gy - y
            norm = math.hypot(hx, hy)
        if step_model == "env":

            def move_len(ux: float, uy: float, x=x, y=y, speed=speed) -> float:
                # `speed` x the largest move along (ux, uy) one env step can make: the agent covers
                # ENV_STEP_FRACTION of the way to a target that must lie in [0, WORLD_SIZE]^2
                reach = math.inf
                for h, c in ((ux, x), (uy, y)):
                    if h > 1e-12:
                        reach = min(reach, ENV_STEP_FRACTION * (WORLD_SIZE - c) / h)
                    elif h < -1e-12:
                        reach = min(reach, ENV_STEP_FRACTION * c / -h)
                return speed * reach

        else:

            def move_len(ux: float, uy: float, speed=speed) -> float:
                return speed

        x, y = _move(x, y, hx / norm, hy / norm, move_len)
        frames.append((x, y))
        if math.hypot(x - gx, y - gy) >= _GOAL_STOP + 10.0 and pause_u[i] < pause_prob:
            frames.extend([(x, y)] * int(pause_len[i]))
        i += 1
    if len(frames) >= n_max:
        raise RuntimeError("maze expert: episode did not reach the goal within the step cap")
    return np.asarray(frames, np.float32)


def generate_maze_demos(num_episodes: int, seed: int = 0, step_model: str = "env") -> DemoSet:
    """``num_episodes`` scripted corridor demos as a DemoSet of (x, y) pixel positions (float32).

    ``step_model``: ``"env"`` (default) = every frame-to-frame move is one a single env step can make
    (70-100 % of the largest such move along the chosen heading); ``"constant"`` = 2.5-4.5 px per
    frame (mean 3.5) everywhere, which the env can only produce near the start (see module doc).
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}")
    if step_model not in ("env", "constant"):
        raise ValueError(f"step_model must be 'env' or 'constant', got {step_model!r}")
    children = np.random.SeedSequence(seed).spawn(num_episodes)
    eps = [_one_episode(np.random.default_rng(c), step_model) for c in children]
    states = np.concatenate(eps, axis=0)
    clear = wall_clearance(states)
    if clear.min() < 0.0:  # defensive; _move never ends inside the clearance
        raise RuntimeError(f"maze expert: state overlaps a wall (clearance {clear.min():.3f} px)")
    ends = np.cumsum([len(e) for e in eps]).astype(np.int64)
    return DemoSet(
        states=states,
        episode_ends=ends,
        source=f"generated:maze_expert(n={num_episodes},seed={seed},step_model={step_model})",
    )
