"""The 2-D maze of NEAR (spec near-environments.md §2), as a functional JAX environment.

Coordinates are the original's pixels: a 512 x 512 world, y pointing down (screen convention).

Dynamics
--------
The original drives a pymunk (Chipmunk 7) body: each of the 100 substeps of an env step
(dt = 0.003 s) it sets ``v += 0.1 * (100 * (p* - p) - 20 * v) * dt`` and calls
``space.step(dt)`` with damping 0. Inside ``space.step`` Chipmunk

1. integrates positions, ``p += (v + v_bias) * dt``, and zeroes ``v_bias``;
2. detects collisions at the new position;
3. integrates velocities with damping, ``v *= 0 ** dt``, i.e. ``v = 0``;
4. solves the contacts. Elasticity and friction are 0 and the relative velocity is already 0, so
   no velocity impulse results; penetration beyond ``collision_slop`` (0.1 px) is corrected by a
   bias velocity ``v_bias = n * bias_coef * (penetration - slop) / dt`` with
   ``bias_coef = 1 - collision_bias ** dt`` (``collision_bias = 0.9 ** 60``), which only moves
   the body in the *next* position update.

Because the velocity read at the start of a substep is always 0, one substep is exactly

    p <- p + 10 dt^2 (p* - p) + bias_offset,        bias_offset = sum_c n_c bias_coef max(pen_c - slop, 0)

with ``bias_offset`` computed from the contacts found at the new ``p`` (carried in the state, also
across env steps). This module implements that map in float32. Contacts: the agent circle
(r = 15) against each wall box (closest point on the box; a centre inside the box is pushed out
through the nearest face) and against each boundary segment (a capsule of radius 2). Walls are
therefore slightly soft: an agent pushed into a wall rests up to ~2.5 px inside it, as in pymunk.

Approximation: Chipmunk resolves simultaneous contacts by 10 Gauss-Seidel iterations of clamped
impulses; we sum the per-contact corrections. The two agree exactly when the active contact normals
are orthogonal (every wall/wall corner of this maze, which is all axis-aligned) and differ only when
the circle touches a box *vertex* and a second shape at once, which this geometry allows only in
squeezes the agent cannot reach from its start region.

Agreement with pymunk 7.3.1 (tests/test_maze_env.py, 12 action sequences of 100-300 env steps:
random, held into walls A/B/C/D and the boundary, into corners, sliding along walls, around wall
vertices): max |error| MAX_ERR_PLACEHOLDER px, mean MEAN_ERR_PLACEHOLDER px. The remaining difference is
float32 round-off (pymunk works in float64); the dynamics are contracting, so it does not grow.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

WORLD_SIZE = 512.0
AGENT_RADIUS = 15.0
GOAL = np.array([0.85 * 512.0, 0.85 * 512.0], np.float32)  # (435.2, 435.2), drawn only, no collider
GOAL_RADIUS_FRACTION = 0.05  # success when |p - g| / |g| < 0.05  (~30.8 px)
# Maze walls as axis-aligned boxes (x_min, x_max, y_min, y_max): an L-shaped corridor.
WALLS = np.array(
    [
        [20.0, 40.0, 140.0, 460.0],  # A
        [100.0, 120.0, 140.0, 380.0],  # B
        [20.0, 350.0, 460.0, 480.0],  # C
        [100.0, 350.0, 380.0, 400.0],  # D
    ],
    np.float32,
)
# Boundary: four static segments ((x0, y0), (x1, y1)) of radius 2.
BOUNDARY = np.array(
    [
        [5.0, 5.0, 5.0, 506.0],
        [506.0, 5.0, 506.0, 506.0],
        [5.0, 5.0, 506.0, 5.0],
        [5.0, 506.0, 506.0, 506.0],
    ],
    np.float32,
)
BOUNDARY_RADIUS = 2.0

# --- pymunk / Chipmunk constants (defaults of pymunk.Space) --------------------------------------
SUBSTEP_DT = 0.003  # 0.3 s per env step / 100 substeps
COLLISION_SLOP = 0.1
COLLISION_BIAS = (1.0 - 0.1) ** 60


def bias_coefficient(dt: float = SUBSTEP_DT) -> float:
    """Chipmunk's per-substep fraction of the (penetration - slop) removed by the bias velocity."""
    return 1.0 - COLLISION_BIAS**dt


# All eight colliders as rounded axis-aligned boxes: core [x_min, x_max] x [y_min, y_max] plus a
# rounding radius (0 for the wall polygons, BOUNDARY_RADIUS for the segments, whose core is the
# degenerate box spanned by their two end points; all four are axis-aligned).
_SEG_LO = np.minimum(BOUNDARY[:, 0:2], BOUNDARY[:, 2:4])
_SEG_HI = np.maximum(BOUNDARY[:, 0:2], BOUNDARY[:, 2:4])
SHAPE_LO = np.concatenate([WALLS[:, [0, 2]], _SEG_LO]).astype(np.float32)  # (8, 2)
SHAPE_HI = np.concatenate([WALLS[:, [1, 3]], _SEG_HI]).astype(np.float32)  # (8, 2)
SHAPE_RADIUS = np.array([0.0] * len(WALLS) + [BOUNDARY_RADIUS] * len(BOUNDARY), np.float32)  # (8,)


def contacts(pos: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Contacts of the agent circle at ``pos`` (2,) with every shape.

    Returns ``(normal, penetration, touching)``: (8, 2) unit normals pointing from the shape to the
    circle centre, (8,) penetration depths (negative = gap) and (8,) bools (Chipmunk reports a
    contact, i.e. an arbiter exists, when the penetration is >= 0).
    """
    lo = jnp.asarray(SHAPE_LO)
    hi = jnp.asarray(SHAPE_HI)
    rr = jnp.asarray(SHAPE_RADIUS)
    q = jnp.clip(pos, lo, hi)  # closest point of each core box, (8, 2)
    d = pos - q
    dist2 = jnp.sum(d * d, axis=-1)
    outside = dist2 > 0.0
    dist = jnp.sqrt(jnp.where(outside, dist2, 1.0))
    n_out = d / dist[:, None]
    pen_out = AGENT_RADIUS + rr - dist
    # Centre inside a core box: leave through the nearest face (Chipmunk's EPA gives the same).
    faces = jnp.concatenate([pos - lo, hi - pos], axis=-1)  # (8, 4): left, top, right, bottom depths
    k = jnp.argmin(faces, axis=-1)
    depth = jnp.min(faces, axis=-1)
    face_n = jnp.array([[-1.0, 0.0], [0.0, -1.0], [1.0, 0.0], [0.0, 1.0]], jnp.float32)
    n_in = face_n[k]
    pen_in = AGENT_RADIUS + rr + depth
    n = jnp.where(outside[:, None], n_out, n_in)
    pen = jnp.where(outside, pen_out, pen_in)
    return n, pen, pen >= 0.0


def contact_correction(pos: jax.Array, bias_coef: float, slop: float = COLLISION_SLOP) -> jax.Array:
    """Chipmunk's next-substep position correction (``v_bias * dt``) for a circle at ``pos`` (2,).

    Each touching contact c asks for ``n_c . v >= b_c = bias_coef * max(pen_c - slop, 0)`` with
    ``v = sum_c lambda_c n_c``, ``lambda_c >= 0``. Chipmunk solves this by projected Gauss-Seidel
    (10 iterations), whose fixed point is the minimum-norm ``v`` meeting all constraints. We solve
    that small QP exactly for the two deepest contacts: ``b1 n1`` if it also satisfies contact 2,
    else ``b2 n2`` if it satisfies contact 1, else the ``v`` meeting both with equality. (More than
    two simultaneous contacts only occur in squeezes the agent cannot reach; the third is ignored.)
    Summing the per-contact corrections instead double-counts where two shapes meet at a seam,
    e.g. the agent sliding down the left faces of walls B and D across their shared vertex
    (100, 380): there the sum stalls the agent, pymunk does not.
    """
    n, pen, touching = contacts(pos)
    key = jnp.where(touching, pen, -jnp.inf)
    idx = jnp.arange(key.shape[0])
    i1 = jnp.argmax(key)
    key2 = jnp.where(idx == i1, -jnp.inf, key)
    i2 = jnp.argmax(key2)
    on1 = jnp.any(touching)
    on2 = key2[i2] > -jnp.inf
    n1 = jnp.where(on1, n[i1], 0.0)
    n2 = jnp.where(on2, n[i2], 0.0)
    b1 = jnp.where(on1, bias_coef * jnp.maximum(pen[i1] - slop, 0.0), 0.0)
    b2 = jnp.where(on2, bias_coef * jnp.maximum(pen[i2] - slop, 0.0), 0.0)
    v1 = b1 * n1
    v2 = b2 * n2
    det = n1[0] * n2[1] - n1[1] * n2[0]
    ok_det = jnp.abs(det) > 1e-6
    safe = jnp.where(ok_det, det, 1.0)
    v12 = jnp.stack([b1 * n2[1] - b2 * n1[1], b2 * n1[0] - b1 * n2[0]]) / safe
    v12 = jnp.where(ok_det, v12, v1 + v2)
    return jnp.where(jnp.dot(v1, n2) >= b2, v1, jnp.where(jnp.dot(v2, n1) >= b1, v2, v12))


def action_to_target(action: jax.Array) -> jax.Array:
    """Clip the action to [-1, 1] and map it to the absolute target position (a + 1) * 512 / 2."""
    action = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
    return (action + 1.0) * (WORLD_SIZE / 2.0)


# Substep-loop unroll factor of physics_step, chosen by benchmarks/bench_maze_env.py (CPU).
DEFAULT_UNROLL = 1  # compile time grows steeply with unroll inside the PPO scans (10: 9 s vs 1: 0.7 s per env step)


def physics_step(
    pos: jax.Array,
    bias: jax.Array,
    target: jax.Array,
    substeps: int = 100,
    dt: float = SUBSTEP_DT,
    unroll: int = DEFAULT_UNROLL,
) -> tuple[jax.Array, jax.Array]:
    """One env step of pymunk-equivalent physics: ``substeps`` substeps of ``dt`` toward ``target``.

    ``pos``, ``bias``, ``target``: (2,) float32. ``bias`` is the pending contact correction (pymunk's
    ``v_bias * dt``). Returns the new ``(pos, bias)``. Pure; jit- and vmap-able.
    """
    gain = jnp.float32(10.0 * dt * dt)  # 0.1 * 100 * dt (velocity) * dt (position)
    coef = bias_coefficient(dt)
    target = jnp.asarray(target, jnp.float32)

    def substep(_, carry):
        p, b = carry
        p = p + gain * (target - p) + b
        return p, contact_correction(p, coef)

    carry = (jnp.asarray(pos, jnp.float32), jnp.asarray(bias, jnp.float32))
    return jax.lax.fori_loop(0, substeps, substep, carry, unroll=unroll)


@struct.dataclass
class MazeState:
    pos: jax.Array  # (2,) float32 pixels
    bias: jax.Array  # (2,) float32 pending penetration correction (pymunk v_bias * dt)
    t: jax.Array  # int32 steps taken in this episode
    history: jax.Array  # (stuck_window, 2) ring buffer of recent positions for the stuck rule


@dataclasses.dataclass(frozen=True)
class MazeConfig:
    max_steps: int = 650
    substeps: int = 100
    step_seconds: float = 0.3
    goal_reward: float = 1000.0
    stuck_reward: float = -500.0
    stuck_after: int = 250
    stuck_window: int = 100
    start_low: int = 60
    start_high: int = 80  # exclusive


STUCK_DISTANCE = 0.003 * float(np.hypot(WORLD_SIZE, WORLD_SIZE))  # ~2.172 px


class MazeEnv:
    """Functional maze env (see module docstring). ``step`` never auto-resets; wrap with AutoReset.

    Rewards: +goal_reward and done on reaching the goal; stuck_reward and done when, after more than
    ``stuck_after`` steps, the oldest and newest of the last ``stuck_window`` positions (the newest
    included, i.e. 99 steps apart by default) are less than ~2.17 px apart; done (reward 0) at
    ``max_steps``. Success takes priority over stuck.
    """

    obs_dim = 2
    action_dim = 2
    pair_state_dim = 2
    pair_order = "past_first"

    def __init__(self, config: MazeConfig = MazeConfig()):
        self.config = config
        self.dt = config.step_seconds / config.substeps

    def reset_to(self, pos) -> tuple[MazeState, jax.Array]:
        pos = jnp.asarray(pos, jnp.float32)
        state = MazeState(
            pos=pos,
            bias=jnp.zeros(2, jnp.float32),
            t=jnp.zeros((), jnp.int32),
            history=jnp.broadcast_to(pos, (self.config.stuck_window, 2)),
        )
        return state, pos

    def reset(self, key: jax.Array) -> tuple[MazeState, jax.Array]:
        c = self.config
        start = jax.random.randint(key, (2,), c.start_low, c.start_high)
        # The original then runs one pymunk step of 0.01 s. The body is at rest and touches
        # nothing in the start region, so that step changes nothing; it is skipped here.
        return self.reset_to(start.astype(jnp.float32))

    def step(self, state: MazeState, action: jax.Array):
        c = self.config
        pos, bias = physics_step(state.pos, state.bias, action_to_target(action), c.substeps, self.dt)
        t = state.t + 1
        window = c.stuck_window
        history = state.history.at[t % window].set(pos)
        oldest = history[(t + 1) % window]

        goal = jnp.asarray(GOAL)
        success = jnp.linalg.norm(pos - goal) / jnp.linalg.norm(goal) < GOAL_RADIUS_FRACTION
        stuck = (t > c.stuck_after) & (jnp.linalg.norm(pos - oldest) < STUCK_DISTANCE) & ~success
        truncated = (t >= c.max_steps) & ~success & ~stuck
        done = success | stuck | truncated
        reward = jnp.where(success, c.goal_reward, jnp.where(stuck, c.stuck_reward, 0.0)).astype(jnp.float32)
        info = {"success": success, "stuck": stuck, "truncated": truncated}
        return MazeState(pos, bias, t, history), pos, reward, done, info

    def pair_state(self, state: MazeState) -> jax.Array:
        return state.pos
