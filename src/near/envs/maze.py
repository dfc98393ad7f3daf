"""The 2-D maze of NEAR (spec near-environments.md §2), as a functional JAX environment.

Coordinates are the original's pixels: a 512 x 512 world, y pointing down (screen convention).

Dynamics (an emulation of the original's pymunk world, checked against pymunk itself)
------------------------------------------------------------------------------------
The original drives a pymunk (Chipmunk) body of mass 1 and infinite moment: each of the 100
substeps of an env step (dt = 0.003 s) it sets ``v += 0.1 * (100 * (p* - p) - 20 * v) * dt`` and
calls ``space.step(dt)`` with damping 0. Inside ``space.step`` Chipmunk

1. integrates positions, ``p += (v + v_bias) * dt``, then zeroes ``v_bias``;
2. detects collisions at the new position;
3. integrates velocities with damping, ``v *= 0 ** dt``, i.e. ``v = 0``;
4. solves the contacts. Elasticity and friction are 0 and the velocity is already 0, so no velocity
   impulse results; penetration beyond ``collision_slop`` (0.1 px) asks for a bias velocity with
   ``n_c . v_bias >= bias_coef * (pen_c - slop) / dt`` per contact c,
   ``bias_coef = 1 - collision_bias ** dt`` (``collision_bias = 0.9 ** 60``; 0.0188 per substep),
   solved by 10 rounds of projected Gauss-Seidel; ``v_bias`` only moves the body in the *next*
   position update.

The velocity read at the start of a substep is therefore always 0, and one substep is exactly

    p <- p + 10 dt^2 (p* - p) + bias,        bias <- solve(contacts at the new p)

with ``bias`` (= ``v_bias * dt``) carried in the state, also across env steps. Free motion is ~0.9 %
of the remaining distance per env step; walls are slightly soft (an agent pushed into one rests
0.4-2.5 px inside it, as in pymunk). Contacts: the circle (r = 15) against the wall boxes (closest
point; a centre inside a box leaves through the nearest face) and the boundary segments (capsules of
radius 2), all treated as rounded axis-aligned boxes.

Two details of Chipmunk matter and are reproduced:

* The contact solve is not a sum. Where two shapes touch the agent with non-orthogonal normals --
  in this maze the seam where walls B and D share the vertex (100, 380) on the corridor's right-hand
  face -- summing the per-contact corrections double-counts and stalls the agent (57 px off pymunk
  in the test replay that slides past the seam). We run Chipmunk's Gauss-Seidel on the (at most)
  two contacts, in closed form (:func:`gauss_seidel_2`).
* Its 10 rounds do not converge there (nearly parallel normals), so the result depends on the order
  the solver visits the contacts: D before B gives a small backwards push that slows the agent for
  a few steps at the seam. The order comes from Chipmunk's static bounding-box tree and hence from
  the order the shapes were added to the space, which the spec does not record. We use the order
  measured with the shapes added as WALLS then BOUNDARY (SOLVER_ORDER). In pymunk itself, adding
  C and D the other way round changes a corridor trajectory past the seam by up to 16 px.

Broad phase: per env step the agent moves at most ~7 px, so only the two shapes nearest to it at
the start of the step are tested during its 100 substeps. Three simultaneous contacts (which would
be approximated) need a squeeze the agent cannot reach (e.g. below wall C, which is 24 px from the
bottom boundary).

Agreement with pymunk 7.3.1 (tests/test_maze_env.py: 12 replays, 2,309 env steps -- random and held
actions, pushes into walls A-D, the boundary and corners, slides along walls and across the B/D seam,
around wall vertices): max |error| 0.0071 px, mean 0.00047 px. Away from the seam the emulation is
exact up to float32 round-off (a float64 run of it agrees to 5e-7 px); at the seam the residue
(<= 0.005 px) comes from the few substeps on which Chipmunk refreshes the agent's bounding-box leaf
(after ~3 px of motion) and visits the two contacts in the opposite order. The dynamics are
contracting, so errors do not grow.

Speed: see benchmarks/bench_maze_env.py. The substep is written on scalars (x, y separately, shape
constants folded in) so that, under vmap, each substep is a few fused elementwise loops.
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
SOLVER_ITERATIONS = 10  # pymunk.Space.iterations


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
SHAPE_NAMES = ("A", "B", "C", "D", "left", "right", "top", "bottom")
# The order in which Chipmunk's solver visits the agent's arbiters, measured with pymunk 7.3.1 for
# the shapes added in SHAPE_NAMES order: the reverse of the static BB-tree traversal (the pair list
# of the agent's tree leaf is built by prepending; only on the rare substeps where the agent leaves
# its 3 px-fattened bounding box is the forward order used). Only the B/D pair is both reachable and
# non-orthogonal, so in practice this just says "D before B". The original's insertion order is not
# recorded; adding them as A, B, D, C, left, right, top, bottom puts B first (module docstring).
SOLVER_ORDER = ("A", "C", "D", "bottom", "top", "right", "B", "left")
SOLVER_RANK = np.array([SOLVER_ORDER.index(nm) for nm in SHAPE_NAMES], np.int32)


def _shape_contact(x, y, lox, loy, hix, hiy, reach):
    """Contact of the agent circle centred at (x, y) with the rounded box [lox, hix] x [loy, hiy]
    whose surface lies ``reach - AGENT_RADIUS`` outside the core (reach = circle + shape radius).

    All arguments are scalars (Python floats or traced 0-d arrays), which keeps the vmapped
    substep a handful of fused elementwise loops. Returns ``(nx, ny, pen)``: the unit normal
    pointing from the shape to the circle centre and the penetration depth (negative = gap).
    Chipmunk reports a contact (an arbiter exists) when ``pen >= 0``.
    """
    dx = x - jnp.clip(x, lox, hix)  # centre minus closest point of the core box
    dy = y - jnp.clip(y, loy, hiy)
    d2 = dx * dx + dy * dy
    outside = d2 > 0.0
    inv = jax.lax.rsqrt(jnp.where(outside, d2, 1.0))
    # Centre inside the core box: leave through the nearest face (Chipmunk's EPA does the same).
    left, top, right, bottom = x - lox, y - loy, hix - x, hiy - y
    depth_x, depth_y = jnp.minimum(left, right), jnp.minimum(top, bottom)
    along_x = depth_x < depth_y
    depth = jnp.minimum(depth_x, depth_y)
    nx = jnp.where(outside, dx * inv, jnp.where(along_x, jnp.where(left <= right, -1.0, 1.0), 0.0))
    ny = jnp.where(outside, dy * inv, jnp.where(along_x, 0.0, jnp.where(top <= bottom, -1.0, 1.0)))
    pen = jnp.where(outside, reach - d2 * inv, reach + depth)
    return nx, ny, pen


def _shape_params(i: int) -> tuple[float, float, float, float, float]:
    (lox, loy), (hix, hiy) = SHAPE_LO[i], SHAPE_HI[i]
    return float(lox), float(loy), float(hix), float(hiy), AGENT_RADIUS + float(SHAPE_RADIUS[i])


def contacts(pos: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Contacts of the agent circle at ``pos`` (2,) with every shape (diagnostics and tests).

    Returns ``(normal, penetration, touching)``: (8, 2) unit normals pointing from the shape to the
    circle centre, (8,) penetration depths (negative = gap) and (8,) bools.
    """
    pos = jnp.asarray(pos, jnp.float32)
    cs = [_shape_contact(pos[0], pos[1], *_shape_params(i)) for i in range(len(SHAPE_NAMES))]
    n = jnp.stack([jnp.stack([c[0], c[1]]) for c in cs])
    pen = jnp.stack([c[2] for c in cs])
    return n, pen, pen >= 0.0


def nearest_shapes(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Broad phase: indices of the two shapes whose surfaces are nearest the circle at (x, y),
    ordered as Chipmunk's solver visits them (SOLVER_ORDER)."""
    first_gap = second_gap = jnp.full_like(x, jnp.inf)
    first = second = jnp.zeros(jnp.shape(x), jnp.int32)
    for i in range(len(SHAPE_NAMES)):
        _, _, pen = _shape_contact(x, y, *_shape_params(i))
        gap = -pen
        beats1 = gap < first_gap
        beats2 = gap < second_gap
        second_gap = jnp.where(beats1, first_gap, jnp.where(beats2, gap, second_gap))
        second = jnp.where(beats1, first, jnp.where(beats2, i, second))
        first_gap = jnp.where(beats1, gap, first_gap)
        first = jnp.where(beats1, i, first)
    rank = jnp.asarray(SOLVER_RANK)
    swap = rank[second] < rank[first]
    return jnp.where(swap, second, first), jnp.where(swap, first, second)


def _gather_params(i: jax.Array):
    return (
        jnp.asarray(SHAPE_LO[:, 0])[i],
        jnp.asarray(SHAPE_LO[:, 1])[i],
        jnp.asarray(SHAPE_HI[:, 0])[i],
        jnp.asarray(SHAPE_HI[:, 1])[i],
        AGENT_RADIUS + jnp.asarray(SHAPE_RADIUS)[i],
    )


def gauss_seidel_2(ta, tb, c, iterations: int = SOLVER_ITERATIONS):
    """``iterations`` rounds of Chipmunk's projected Gauss-Seidel on two contact rows, in closed form.

    Rows a then b, unit normals with ``c = n_a . n_b``, bias targets ``ta, tb >= 0``, unit mass,
    accumulated impulses starting at 0 and clamped at 0. One round is exactly
    ``la <- max(ta - c lb, 0); lb <- max(tb - c la, 0)``. If ``tb <= c ta`` the first round ends
    with lb = 0 and nothing changes afterwards. Otherwise ``la`` follows the affine map
    ``la <- (ta - c tb) + c^2 la`` from ``la = ta`` (monotonically, so a clamp at 0 is permanent),
    giving ``la_N = max(ta q^(N-1) + (ta - c tb) (1 + q + ... + q^(N-2)), 0)`` with ``q = c^2``.
    Equal to the loop up to float round-off (tested), and much cheaper than 2N clamped updates.
    Returns the accumulated impulses ``(la, lb)``.
    """
    q = c * c
    geo = jnp.zeros_like(q)  # 1 + q + ... + q^(N-2) by Horner
    for _ in range(iterations - 1):
        geo = 1.0 + q * geo
    la_affine = jnp.maximum(ta * jax.lax.integer_pow(q, iterations - 1) + (ta - c * tb) * geo, 0.0)
    la = jnp.where(tb > c * ta, la_affine, ta)
    lb = jnp.maximum(tb - c * la, 0.0)
    return la, lb


def _pair_correction(x, y, params_a, params_b, bias_coef, slop, iterations):
    """Chipmunk's contact solve for (at most) two shapes, ``a`` visited first. Returns (bx, by)."""
    nax, nay, pa = _shape_contact(x, y, *params_a)
    nbx, nby, pb = _shape_contact(x, y, *params_b)
    # A shape that is not touching has no arbiter: a no-op row (target 0, normal 0).
    ta = jnp.where(pa >= 0.0, bias_coef * jnp.maximum(pa - slop, 0.0), 0.0)
    tb = jnp.where(pb >= 0.0, bias_coef * jnp.maximum(pb - slop, 0.0), 0.0)
    c = jnp.where((pa >= 0.0) & (pb >= 0.0), nax * nbx + nay * nby, 0.0)
    la, lb = gauss_seidel_2(ta, tb, c, iterations)
    return la * nax + lb * nbx, la * nay + lb * nby


def contact_correction(
    pos: jax.Array,
    bias_coef: float,
    slop: float = COLLISION_SLOP,
    iterations: int = SOLVER_ITERATIONS,
) -> jax.Array:
    """Chipmunk's next-substep position correction (``v_bias * dt``) for a circle at ``pos`` (2,).

    Each touching contact c asks for ``n_c . v >= b_c = bias_coef * max(pen_c - slop, 0)``.
    Chipmunk runs ``iterations`` rounds of projected Gauss-Seidel over its arbiters (unit mass,
    accumulated impulse clamped at 0, arbiters in SOLVER_ORDER). We do the same for the two shapes
    nearest the circle (more than two contacts at once only occur in squeezes the agent cannot
    reach; a third is ignored). With non-orthogonal normals the order matters, because 10 rounds do
    not converge when the normals are nearly parallel: that is the agent sliding along the left
    faces of walls B and D across their shared vertex (100, 380).
    """
    pos = jnp.asarray(pos, jnp.float32)
    x, y = pos[0], pos[1]
    ia, ib = nearest_shapes(x, y)
    params_a, params_b = _gather_params(ia), _gather_params(ib)
    return jnp.stack(_pair_correction(x, y, params_a, params_b, bias_coef, slop, iterations))


def action_to_target(action: jax.Array) -> jax.Array:
    """Clip the action to [-1, 1] and map it to the absolute target position (a + 1) * 512 / 2."""
    action = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
    return (action + 1.0) * (WORLD_SIZE / 2.0)


# Substep-loop unroll factor of physics_step, chosen by benchmarks/bench_maze_env.py (CPU).
# Unrolling is slower here: with unroll >= 4 XLA:CPU fuses consecutive substeps into kernels that
# recompute shared values, and compile time grows (unroll 10: ~10x slower steps, ~10 s compiles).
DEFAULT_UNROLL = 1


def physics_step(
    pos: jax.Array,
    bias: jax.Array,
    target: jax.Array,
    substeps: int = 100,
    dt: float = SUBSTEP_DT,
    unroll: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    """One env step of pymunk-equivalent physics: ``substeps`` substeps of ``dt`` toward ``target``.

    ``pos``, ``bias``, ``target``: (2,) float32. ``bias`` is the pending contact correction (pymunk's
    ``v_bias * dt``). Returns the new ``(pos, bias)``. Pure; jit- and vmap-able.
    """
    unroll = DEFAULT_UNROLL if unroll is None else unroll
    gain = jnp.float32(10.0 * dt * dt)  # 0.1 * 100 * dt (velocity) * dt (position)
    coef = bias_coefficient(dt)
    target = jnp.asarray(target, jnp.float32)
    pos = jnp.asarray(pos, jnp.float32)
    bias = jnp.asarray(bias, jnp.float32)
    tx, ty = target[0], target[1]
    # Broad phase once per env step: in 100 substeps the agent moves at most ~0.9 % of its distance
    # to the target (<= 6.6 px) plus the contact corrections, so only the two shapes nearest the
    # agent now can be touched during this step (a third needs a squeeze; see the module docstring).
    ia, ib = nearest_shapes(pos[0], pos[1])
    params_a, params_b = _gather_params(ia), _gather_params(ib)

    def substep(_, carry):
        x, y, bx, by = carry
        x = x + gain * (tx - x) + bx
        y = y + gain * (ty - y) + by
        bx, by = _pair_correction(x, y, params_a, params_b, coef, COLLISION_SLOP, SOLVER_ITERATIONS)
        return x, y, bx, by

    init = (pos[0], pos[1], bias[0], bias[1])
    x, y, bx, by = jax.lax.fori_loop(0, substeps, substep, init, unroll=unroll)
    return jnp.stack([x, y]), jnp.stack([bx, by])


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
        """Start an episode at an explicit position (tests, playback; the original's reset_to_state)."""
        pos = jnp.asarray(pos, jnp.float32)
        state = MazeState(
            pos=pos,
            bias=jnp.zeros(2, jnp.float32),
            t=jnp.zeros((), jnp.int32),
            history=jnp.broadcast_to(pos, (self.config.stuck_window, 2)),
        )
        return state, pos

    def reset(self, key: jax.Array) -> tuple[MazeState, jax.Array]:
        """Start at a uniform integer position in [start_low, start_high)^2 (top-left)."""
        c = self.config
        start = jax.random.randint(key, (2,), c.start_low, c.start_high)
        # The original then runs one pymunk step of 0.01 s. The body is at rest and touches
        # nothing in the start region, so that step changes nothing; it is skipped here.
        return self.reset_to(start.astype(jnp.float32))

    def step(self, state: MazeState, action: jax.Array):
        """One 0.3 s env step. Returns ``(state, obs, reward, done, info)``; never auto-resets.
        ``info``: bools ``success``, ``stuck``, ``truncated`` (mutually exclusive)."""
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
