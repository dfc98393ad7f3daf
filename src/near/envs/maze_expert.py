"""Scripted maze demonstrator, so the maze pipeline runs without the human demo store.

``generate_maze_demos(num_episodes, seed)`` returns a :class:`~near.data.demos.DemoSet` of agent
positions (x, y) in pixels that imitates the character of the human joystick demos (spec
near-environments.md §2.3): start at an integer position uniform in [60, 80)², go down the left
corridor (between walls A and B), right along the bottom corridor (between D and C), and stop at the
first frame within the goal radius 0.05·|GOAL| (≈ 30.8 px). Human-like noise: a smooth
Ornstein-Uhlenbeck lateral wander around a per-episode lane, a smoothly varying speed, pure-pursuit
steering whose look-ahead (drawn per episode) sets how much the corner is cut, and a few short pauses
(duplicated frames; the humans' first frame is almost always duplicated).

Design choice -- step length: the human store records a frame every ~10 teleop steps, ≈ 9.08 px per
frame at full stick, but an env step of our maze moves the agent at most ~4 px per axis (it covers
~0.9 % of the distance to its target). Demos whose transitions a policy cannot reproduce would make
the energy model's expert manifold unreachable, so this demonstrator moves 2.5-4.5 px per frame
(mean ≈ 3.5 px), i.e. one frame ≈ one env step; episodes are therefore ~200 frames long instead of
the humans' ~77, still well under the 650-step cap.

The agent centre always stays at least ``AGENT_RADIUS + 0.5`` px from every wall box and
``AGENT_RADIUS + BOUNDARY_RADIUS`` from the boundary segments (enforced by a push-out step after
every move and checked at the end). Numpy only; deterministic given ``seed``. Episode ``i`` depends
only on ``(seed, i)``, so a larger ``num_episodes`` extends a smaller one.

To make a store for the rest of the pipeline::

    demos = generate_maze_demos(500, seed=0)
    write_zarr_demos("maze_scripted.zarr", demos.states, demos.episode_ends)
"""

from __future__ import annotations

import math

import numpy as np

from near.data.demos import DemoSet
from near.envs.maze import AGENT_RADIUS, BOUNDARY, BOUNDARY_RADIUS, GOAL, GOAL_RADIUS_FRACTION, WALLS

__all__ = ["generate_maze_demos", "wall_clearance", "GOAL_RADIUS", "MAX_EPISODE_STEPS"]

GOAL_RADIUS = float(GOAL_RADIUS_FRACTION * np.linalg.norm(GOAL.astype(np.float64)))  # ~30.77 px
MAX_EPISODE_STEPS = 650  # env episode cap; every generated episode is shorter

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


def _push_out(x: float, y: float) -> tuple[float, float]:
    """Move (x, y) the least amount so it is >= AGENT_RADIUS + _MARGIN from every wall box."""
    need = AGENT_RADIUS + _MARGIN
    for _ in range(3):  # corridors are 2x wider than the agent, so pushes never fight
        moved = False
        for x0, x1, y0, y1 in _WALL_BOXES:
            qx, qy = min(max(x, x0), x1), min(max(y, y0), y1)
            dx, dy = x - qx, y - qy
            dist = math.hypot(dx, dy)
            if dist < need:
                if dist < 1e-9:  # centre inside a box: cannot happen with small steps
                    raise RuntimeError(f"maze expert: agent centre ({x}, {y}) inside a wall")
                x, y = qx + dx * need / dist, qy + dy * need / dist
                moved = True
        if not moved:
            break
    return x, y


def _one_episode(rng: np.random.Generator) -> np.ndarray:
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
    speed_mean = _STEP_MEAN + rng.uniform(-0.3, 0.3)
    speed_rho, speed_std = 0.92, 0.5
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
        step = min(max(speed_mean + speed_dev, _STEP_MIN), _STEP_MAX)

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
        x, y = _push_out(x + hx / norm * step, y + hy / norm * step)
        frames.append((x, y))
        if math.hypot(x - gx, y - gy) >= _GOAL_STOP + 10.0 and pause_u[i] < pause_prob:
            frames.extend([(x, y)] * int(pause_len[i]))
        i += 1
    if len(frames) >= n_max:
        raise RuntimeError("maze expert: episode did not reach the goal within the step cap")
    return np.asarray(frames, np.float32)


def generate_maze_demos(num_episodes: int, seed: int = 0) -> DemoSet:
    """``num_episodes`` scripted corridor demos as a DemoSet of (x, y) pixel positions (float32)."""
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}")
    children = np.random.SeedSequence(seed).spawn(num_episodes)
    eps = [_one_episode(np.random.default_rng(c)) for c in children]
    states = np.concatenate(eps, axis=0)
    clear = wall_clearance(states)
    if clear.min() < 0.0:  # defensive; _push_out makes this impossible
        raise RuntimeError(f"maze expert: state overlaps a wall (clearance {clear.min():.3f} px)")
    ends = np.cumsum([len(e) for e in eps]).astype(np.int64)
    return DemoSet(states=states, episode_ends=ends, source=f"generated:maze_expert(n={num_episodes},seed={seed})")
