"""Push-T of NEAR (spec near-environments.md §3; Diffusion Policy's push-T), as a functional JAX env.

Coordinates are the original's pixels: a 512 x 512 world, y pointing down. The observation is
``(agent x, agent y, block x, block y, block angle mod 2 pi)``, the block position being the body
origin (middle of the bar's outer edge), as in the original and its replay store.

World
-----
* Agent: a *kinematic* disc (radius 15). Each of the 10 substeps (dt = 0.01 s) of a 10 Hz env step
  sets ``v += (100 (p* - p) - 20 v) dt`` and moves ``p += v dt``; the velocity persists across
  substeps and env steps (a critically damped tracker, omega = 10 rad/s). Kinematic bodies do not
  collide with static shapes, so the agent passes through the boundary (as in pymunk).
* T block: dynamic body of mass 1, the bar [-60, 60] x [0, 30] and the stem [-15, 15] x [30, 120] in
  body coordinates, moment 3000 (= 2 x the bar's moment about the body origin, the original's quirk)
  and centre of gravity (0, 45) (the plain average of the two box centroids).
* Boundary: four static segments of radius 2 along x = 5, x = 506, y = 5, y = 506.

Contact model (an emulation of pymunk / Chipmunk 7, checked against pymunk 7.3.1)
---------------------------------------------------------------------------------
``space.step(dt)`` with damping 0, friction 0, elasticity 0 does, per substep:

1. positions: agent ``p += v dt``; block centre of gravity ``c += (v + v_bias) dt`` and angle
   ``a += (w + w_bias) dt``; the bias velocities are then zeroed;
2. contacts at the new positions (below);
3. the block's velocity is *zeroed* (damping 0 ** dt = 0): the block keeps no velocity of its own,
   pushing is quasi-static;
4. warm start: contacts that also existed on the previous substep re-apply their accumulated normal
   impulse ``jn`` from that substep;
5. 10 rounds of projected Gauss-Seidel over all contacts (arbiter order below): per contact, first
   the bias impulse (accumulated ``jb >= 0`` drives the normal bias velocity to
   ``bias_coef * max(pen - slop, 0) / dt``, ``bias_coef = 1 - (0.9^60)^dt``, slop 0.1 px), then the
   normal impulse (accumulated ``jn >= 0`` drives the normal relative velocity to 0, i.e. the block
   point at the contact follows the agent's normal velocity). Unit mass, moment 3000, effective
   mass ``1 / (1/m + (r x n)^2 / I)``. No friction impulses (friction 0).

The block velocity and bias velocity that come out of 5. move it in step 1 of the next substep.
All of this is reproduced. Contacts, as Chipmunk makes them:

* agent disc vs each box (two arbiters, one contact each): the closest point of the box to the
  disc centre; a centre inside a box leaves through the nearest face (Chipmunk's EPA). Near the
  inner corners of the T the disc touches both boxes at once (two arbiters, coupled through the
  block's rotation, so the order of the Gauss-Seidel sweep and the warm start matter).
* each box vs each boundary segment (eight arbiters, at most two contacts each): the box's support
  edge facing the wall (the edge at the deepest vertex whose normal is closer to the wall's) and
  its two end vertices; a vertex is a contact when it is within the segment radius (2 px) of the
  segment line. Warm starting matches contacts by vertex and by their position in the manifold
  (Chipmunk's contact hashes).
* Chipmunk behaviour kept (from its source, not separately measured here): an arbiter that
  separates and touches again within its 3-substep persistence window restarts its accumulators
  from the stale impulses of its last contact, without applying them. ``PushTConfig.stale_impulses``
  toggles it.

Approximations: the boundary segments are treated as infinite lines (their rounded end caps, at the
world corners, are ignored); float32; and the arbiter order. Chipmunk's Gauss-Seidel visits the
arbiters in an order that comes from its bounding-box tree and changes from substep to substep; we
fix it to ARBITER_ORDER (agent-stem, agent-bar, then the walls). With two contacts at once this order
matters. When the disc touches both boxes, agent-stem first is the order pymunk used most often, and
it took the largest replay error against pymunk from 16 px down to 0.8 px. When the agent squeezes
the block against a wall, pymunk's order flips mid-push and the squeeze amplifies the difference (a
synthetic push into the right wall ended 37 px off pymunk).

Measured agreement (benchmarks/bench_pusht_fidelity.py: all 206 recorded episodes, 25,444 steps,
each replayed from its first recorded state with the recorded actions):

    block position error (px)     mean     p95      max   | angle (rad) mean   p95      max
    ours   vs recorded            0.034    0.100    10.1  |             4.0e-4 6.0e-4   0.138
    pymunk vs recorded            0.032    0.077    10.1  |             3.7e-4 4.8e-4   0.138
    ours   vs pymunk              0.0024   0.00066  0.83  |             2.6e-5 6.3e-6   0.0083

The large errors against the record come from episodes that start with the agent overlapping the
block: the original's reset step left a pending bias velocity that the recorded state does not
hold. pymunk has the same errors there. Ours vs pymunk stays under 1 px in every episode. A float64
run of this module matches pymunk exactly on episode 70, where float32 ends 0.5 px off.
tests/test_pusht_env.py: random pushes away from the walls agree with pymunk to 1.2e-3 px.

Reward (spec §3.2): coverage c = area(goal T n block T) / area(T) with the goal pose (256, 256, pi/4),
computed exactly by Sutherland-Hodgman clipping of the 2 x 2 box pairs (the boxes of one T only
share an edge, so the intersection of the unions is the sum over the pairs).
``r_cov = clip(c / theta, 0, 1)`` with theta = 0.1 at reset, raised by 0.1 after a step with
``r_cov > 0.9`` while theta < 0.95; reward = r_cov - |goal_xy - block_xy| / 725 - |agent - block_xy| / 363.
Done on coverage > 0.95 (success) or after 150 steps (truncated).

One file on purpose (over the project's ~450 lines): it is one emulation of Chipmunk's contact solver,
best read top to bottom beside the spec and the pymunk oracle (tests/test_pusht_env.py).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

WORLD_SIZE = 512.0
AGENT_RADIUS = 15.0
# Boxes of the T in body coordinates: (x_min, y_min, x_max, y_max).
BOXES = np.array([[-60.0, 0.0, 60.0, 30.0], [-15.0, 30.0, 15.0, 120.0]], np.float32)  # bar, stem
BOX_NAMES = ("bar", "stem")
BLOCK_MASS = 1.0
BLOCK_MOMENT = 3000.0  # 2 x moment of the bar polygon about the body origin (1500); quirk of the original
BLOCK_COG = np.array([0.0, 45.0], np.float32)  # plain average of the two box centroids; quirk
T_AREA = 120.0 * 30.0 + 30.0 * 90.0  # 6300 px^2
GOAL_POSE = np.array([256.0, 256.0, np.pi / 4], np.float32)
# Boundary segments (radius 2) as lines n . x = offset with n pointing into the world.
WALL_NORMALS = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], np.float32)
WALL_OFFSETS = np.array([5.0, -506.0, 5.0, -506.0], np.float32)
WALL_NAMES = ("left", "right", "top", "bottom")
WALL_RADIUS = 2.0

SUBSTEP_DT = 0.01
SUBSTEPS = 10
COLLISION_SLOP = 0.1
COLLISION_BIAS = (1.0 - 0.1) ** 60
SOLVER_ITERATIONS = 10
PERSISTENCE = 3  # pymunk.Space.collision_persistence
KP, KV = 100.0, 20.0

# Arbiters: 0 agent-bar, 1 agent-stem, 2 + 4k + j box k vs wall j. Contact slots: one per agent
# arbiter, two per wall arbiter (slot 0 = the support edge's end vertex, slot 1 = its start vertex).
N_ARBITERS = 10
N_SLOTS = 2 + 2 * 8
SLOT_ARBITER = np.array([0, 1] + [2 + i // 2 for i in range(16)], np.int32)
# Order in which the Gauss-Seidel sweep visits the arbiters (see module docstring): agent-stem
# before agent-bar (the order pymunk 7.3.1 used on most replayed steps where the disc touched both;
# Chipmunk's order comes from its bounding-box tree and is not fixed), then the wall arbiters.
ARBITER_ORDER = (1, 0) + tuple(range(2, N_ARBITERS))


def bias_coefficient(dt: float = SUBSTEP_DT) -> float:
    return 1.0 - COLLISION_BIAS**dt


def _rot(angle):
    return jnp.cos(angle), jnp.sin(angle)


def _box_vertices_local() -> np.ndarray:
    """(2, 4, 2) box corners in body coordinates, counter-clockwise in Chipmunk's sense."""
    out = []
    for lx, ly, hx, hy in BOXES:
        out.append([[lx, ly], [hx, ly], [hx, hy], [lx, hy]])
    return np.array(out, np.float32)


BOX_VERTS = _box_vertices_local()
# Outward normal of the edge ending at vertex i (Chipmunk's planes[i]): for our vertex order
# edge 3->0 is the -x face, 0->1 the -y face, 1->2 the +x face, 2->3 the +y face.
PLANE_NORMALS = np.array([[-1.0, 0.0], [0.0, -1.0], [1.0, 0.0], [0.0, 1.0]], np.float32)


def block_origin(cog, angle):
    c, s = _rot(angle)
    return cog - jnp.stack([c * BLOCK_COG[0] - s * BLOCK_COG[1], s * BLOCK_COG[0] + c * BLOCK_COG[1]])


def block_cog(origin, angle):
    c, s = _rot(angle)
    return origin + jnp.stack([c * BLOCK_COG[0] - s * BLOCK_COG[1], s * BLOCK_COG[0] + c * BLOCK_COG[1]])


def world_vertices(origin, angle) -> jax.Array:
    """(2, 4, 2) world corners of the bar and the stem for a block at ``origin``, ``angle``."""
    c, s = _rot(angle)
    v = jnp.asarray(BOX_VERTS)
    x = origin[0] + c * v[..., 0] - s * v[..., 1]
    y = origin[1] + s * v[..., 0] + c * v[..., 1]
    return jnp.stack([x, y], -1)


# --------------------------------------------------------------------------------------------------
# Contacts


def _agent_box_contact(agent, origin, cog, c, s, k):
    """Contact of the agent disc with box k. Returns (n (2,), r2 (2,), dist, active).

    n points from the disc to the box (Chipmunk's a -> b), r2 = contact point on the box minus the
    block's centre of gravity, dist = separation (negative = penetration)."""
    lx, ly, hx, hy = (float(v) for v in BOXES[k])
    d = agent - origin
    qx, qy = c * d[0] + s * d[1], -s * d[0] + c * d[1]  # disc centre in body coordinates
    cx, cy = jnp.clip(qx, lx, hx), jnp.clip(qy, ly, hy)
    dx, dy = cx - qx, cy - qy  # centre -> closest point
    d2 = dx * dx + dy * dy
    outside = d2 > 0.0
    inv = jax.lax.rsqrt(jnp.where(outside, d2, 1.0))
    # Inside: leave through the nearest face; the block is pushed against that face's normal.
    left, bottom, right, top = qx - lx, qy - ly, hx - qx, hy - qy
    depth_x, depth_y = jnp.minimum(left, right), jnp.minimum(bottom, top)
    along_x = depth_x < depth_y
    in_nx = jnp.where(along_x, jnp.where(left <= right, 1.0, -1.0), 0.0)  # = -outward face normal
    in_ny = jnp.where(along_x, 0.0, jnp.where(bottom <= top, 1.0, -1.0))
    depth = jnp.minimum(depth_x, depth_y)
    nlx = jnp.where(outside, dx * inv, in_nx)
    nly = jnp.where(outside, dy * inv, in_ny)
    px = jnp.where(outside, cx, jnp.where(along_x, jnp.where(left <= right, lx, hx), qx))
    py = jnp.where(outside, cy, jnp.where(along_x, qy, jnp.where(bottom <= top, ly, hy)))
    dist = jnp.where(outside, d2 * inv, -depth) - AGENT_RADIUS
    n = jnp.stack([c * nlx - s * nly, s * nlx + c * nly])
    p2 = origin + jnp.stack([c * px - s * py, s * px + c * py])
    return n, p2 - cog, dist, dist <= 0.0


def _wall_contacts(verts_k, cog, c, s, j):
    """Contacts of one box (world corners (4, 2)) with wall j. Returns per manifold slot (2):
    n (2,), r2 (2, 2), dist (2,), active (2,), vertex id (2,)."""
    n = jnp.asarray(WALL_NORMALS[j])
    sd = verts_k @ n - WALL_OFFSETS[j]  # signed distance of each corner from the segment line
    i1 = jnp.argmin(sd)  # Chipmunk's support vertex toward the wall
    i0, i2 = (i1 + 3) % 4, (i1 + 1) % 4
    pn = jnp.asarray(PLANE_NORMALS)
    wn = jnp.stack([c * pn[:, 0] - s * pn[:, 1], s * pn[:, 0] + c * pn[:, 1]], -1)  # world plane normals
    take_prev = (wn[i1] @ -n) > (wn[i2] @ -n)
    ea = jnp.where(take_prev, i0, i1)  # support edge (ea -> eb)
    eb = jnp.where(take_prev, i1, i2)
    vid = jnp.stack([eb, ea])
    dist = sd[vid] - WALL_RADIUS
    r2 = verts_k[vid] - cog
    return n, r2, dist, dist <= 0.0, vid


def contacts(agent, cog, angle):
    """All 18 contact slots. Returns n (S, 2), r2 (S, 2), dist (S,), active (S,), vid (S,) int32
    (vid: corner index for wall slots, 0 for the agent slots)."""
    c, s = _rot(angle)
    origin = block_origin(cog, angle)
    ns, rs, ds, acts, vids = [], [], [], [], []
    for k in range(2):
        n, r2, d, a = _agent_box_contact(agent, origin, cog, c, s, k)
        ns.append(n[None])
        rs.append(r2[None])
        ds.append(d[None])
        acts.append(a[None])
        vids.append(jnp.zeros((1,), jnp.int32))
    verts = world_vertices(origin, angle)
    for k in range(2):
        for j in range(4):
            n, r2, d, a, vid = _wall_contacts(verts[k], cog, c, s, j)
            ns.append(jnp.broadcast_to(n, (2, 2)))
            rs.append(r2)
            ds.append(d)
            acts.append(a)
            vids.append(vid.astype(jnp.int32))
    return (
        jnp.concatenate(ns),
        jnp.concatenate(rs),
        jnp.concatenate(ds),
        jnp.concatenate(acts),
        jnp.concatenate(vids),
    )


# --------------------------------------------------------------------------------------------------
# State and physics


@struct.dataclass
class PushTState:
    agent_pos: jax.Array  # (2,)
    agent_vel: jax.Array  # (2,) persists (kinematic body)
    block_cog: jax.Array  # (2,) world position of the block's centre of gravity
    block_angle: jax.Array  # () unwrapped
    block_vel: jax.Array  # (3,) vx, vy, w from the last contact solve (moves the block next substep)
    block_bias: jax.Array  # (3,) bias velocity from the last contact solve
    jn: jax.Array  # (S,) accumulated normal impulses of the last contact of each slot (warm start)
    vid: jax.Array  # (S,) int32 contact identity (corner index) of that impulse, -1 = none
    since: jax.Array  # (A,) int32 substeps since each arbiter last touched (large = never)
    t: jax.Array  # int32 env steps in this episode
    theta: jax.Array  # float32 coverage threshold of the reward


@dataclasses.dataclass(frozen=True)
class PushTConfig:
    max_steps: int = 150
    substeps: int = SUBSTEPS
    dt: float = SUBSTEP_DT
    success_coverage: float = 0.95
    # Reset distribution of the block angle: "gaussian" is the original's N(0, 1) * 2 pi - pi
    # (quirk: not uniform; ~ 2 pi std around -pi); "uniform" draws U[-pi, pi).
    angle_distribution: str = "gaussian"
    agent_low: int = 50
    agent_high: int = 450  # exclusive
    block_low: int = 100
    block_high: int = 400  # exclusive
    theta_init: float = 0.1
    theta_step: float = 0.1
    theta_max: float = 0.95
    goal_pose: tuple = (256.0, 256.0, float(np.pi / 4))  # (x, y, angle) of the goal T
    stale_impulses: bool = True  # Chipmunk's stale accumulators on re-contact (module docstring)
    arbiter_order: tuple = ARBITER_ORDER
    # The original ends an episode at success and pays nothing for it, while every step near the goal
    # pays up to 1: a policy that parks the T at 0.7 coverage earns more than one that finishes.
    # "remaining" adds, at success, the most the remaining steps could have paid (1 each); "none": the original's.
    success_bonus: str = "none"
    success_bonus_per_step: float = 1.0  # with "remaining": what each remaining step pays (the task reward's most: 1)


_NEVER = 1_000_000
SUCCESS_BONUSES = ("none", "remaining")


def _zero_contacts():
    return (
        jnp.zeros((N_SLOTS,), jnp.float32),
        jnp.full((N_SLOTS,), -1, jnp.int32),
        jnp.full((N_ARBITERS,), _NEVER, jnp.int32),
    )


def substep(state: PushTState, config: PushTConfig = PushTConfig()) -> PushTState:
    """One ``space.step(dt)`` with the agent velocity already set. Pure."""
    dt = config.dt
    inv_m, inv_i = 1.0 / BLOCK_MASS, 1.0 / BLOCK_MOMENT
    coef = bias_coefficient(dt)
    agent = state.agent_pos + state.agent_vel * dt
    vel = state.block_vel + state.block_bias
    cog = state.block_cog + vel[:2] * dt
    angle = state.block_angle + vel[2] * dt
    n, r2, dist, active, vid = contacts(agent, cog, angle)

    arb = jnp.asarray(SLOT_ARBITER)
    arb_active = jnp.zeros((N_ARBITERS,), bool).at[arb].max(active)
    since = state.since[arb]
    matched = (state.vid == vid) & active
    if config.stale_impulses:
        jn0 = jnp.where(matched & (since <= PERSISTENCE), state.jn, 0.0)
    else:
        jn0 = jnp.where(matched & (since == 1), state.jn, 0.0)
    warm = jnp.where(since == 1, jn0, 0.0)
    rxn = r2[:, 0] * n[:, 1] - r2[:, 1] * n[:, 0]
    n_mass = jnp.where(active, 1.0 / (inv_m + rxn * rxn * inv_i), 0.0)
    bias = jnp.where(active, coef * jnp.maximum(-(dist + COLLISION_SLOP), 0.0) / dt, 0.0)
    # Normal velocity of the agent at each agent contact (kinematic, no rotation); walls are static.
    agent_vn = jnp.concatenate([n[:2] @ state.agent_vel, jnp.zeros((N_SLOTS - 2,), cog.dtype)])

    # Velocity reset (damping 0), then warm start.
    vx = jnp.sum(warm * n[:, 0]) * inv_m
    vy = jnp.sum(warm * n[:, 1]) * inv_m
    w = jnp.sum(warm * rxn) * inv_i
    zero = jnp.zeros((), cog.dtype)
    bx = by = bw = zero
    jn = [jn0[i].astype(cog.dtype) for i in range(N_SLOTS)]
    jb = [zero for _ in range(N_SLOTS)]
    order = [i for a in config.arbiter_order for i in range(N_SLOTS) if SLOT_ARBITER[i] == a]

    def sweep(carry):
        vx, vy, w, bx, by, bw, jn, jb = carry
        jn, jb = list(jn), list(jb)
        for i in order:
            nx, ny, rx, ry, k = n[i, 0], n[i, 1], r2[i, 0], r2[i, 1], rxn[i]
            vbn = (bx - bw * ry) * nx + (by + bw * rx) * ny
            new = jnp.maximum(jb[i] + (bias[i] - vbn) * n_mass[i], 0.0)
            d = new - jb[i]
            jb[i] = new
            bx, by, bw = bx + d * nx * inv_m, by + d * ny * inv_m, bw + d * k * inv_i
            vrn = (vx - w * ry) * nx + (vy + w * rx) * ny - agent_vn[i]
            new = jnp.maximum(jn[i] - vrn * n_mass[i], 0.0)
            d = new - jn[i]
            jn[i] = new
            vx, vy, w = vx + d * nx * inv_m, vy + d * ny * inv_m, w + d * k * inv_i
        return vx, vy, w, bx, by, bw, tuple(jn), tuple(jb)

    carry = (vx, vy, w, bx, by, bw, tuple(jn), tuple(jb))
    carry = jax.lax.fori_loop(0, SOLVER_ITERATIONS, lambda _, c: sweep(c), carry)
    vx, vy, w, bx, by, bw, jn, _ = carry
    jn = jnp.stack(jn)

    # Bookkeeping for the next warm start: touching arbiters store their contacts; others keep the
    # last ones (for the stale-accumulator quirk) until they expire.
    arb_on = arb_active[arb]
    new_jn = jnp.where(arb_on, jnp.where(active, jn, 0.0), state.jn)
    new_vid = jnp.where(arb_on, jnp.where(active, vid, -1), state.vid)
    new_since = jnp.where(arb_active, 1, jnp.minimum(state.since + 1, _NEVER))
    return state.replace(
        agent_pos=agent,
        block_cog=cog,
        block_angle=angle,
        block_vel=jnp.stack([vx, vy, w]),
        block_bias=jnp.stack([bx, by, bw]),
        jn=new_jn,
        vid=new_vid,
        since=new_since,
    )


def action_to_target(action: jax.Array) -> jax.Array:
    """Clip to [-1, 1] and map to the absolute target (a + 1) * 256 in [0, 512]^2."""
    action = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
    return (action + 1.0) * (WORLD_SIZE / 2.0)


def physics_step(state: PushTState, target: jax.Array, config: PushTConfig = PushTConfig()) -> PushTState:
    """One env step of physics toward the absolute ``target`` (2,): ``config.substeps`` times
    ``v += (100 (p* - p) - 20 v) dt`` on the agent, then :func:`substep`. Pure; jit/vmap-able."""
    target = jnp.asarray(target, jnp.float32)
    dt = config.dt

    def body(_, s):
        v = s.agent_vel + (KP * (target - s.agent_pos) - KV * s.agent_vel) * dt
        return substep(s.replace(agent_vel=v), config)

    return jax.lax.fori_loop(0, config.substeps, body, state)


# --------------------------------------------------------------------------------------------------
# Coverage: exact area of the intersection of two T's (Sutherland-Hodgman on the 2 x 2 box pairs)

_MAXV = 8  # a convex intersection of two quadrilaterals has at most 8 corners


def _clip_halfplane(pts, count, a, b):
    """Clip the convex polygon pts[:count] (pts (8, 2)) to the left of the directed edge a -> b
    (counter-clockwise clip polygon, Chipmunk/y-down sense: inside = cross(b - a, p - a) >= 0).
    Returns (pts (8, 2), count)."""
    idx = jnp.arange(_MAXV)
    nxt = jnp.where(idx + 1 < count, idx + 1, 0)
    p, q = pts, pts[nxt]
    e = b - a
    sd_p = e[0] * (p[:, 1] - a[1]) - e[1] * (p[:, 0] - a[0])
    sd_q = e[0] * (q[:, 1] - a[1]) - e[1] * (q[:, 0] - a[0])
    valid = idx < count
    in_p, in_q = sd_p >= 0.0, sd_q >= 0.0
    denom = jnp.where(sd_p - sd_q == 0.0, 1.0, sd_p - sd_q)
    x = p + (q - p) * (sd_p / denom)[:, None]
    keep_p = valid & in_p
    keep_x = valid & (in_p != in_q)
    cand = jnp.stack([p, x], 1).reshape(2 * _MAXV, 2)  # per input vertex: itself, then the crossing
    mask = jnp.stack([keep_p, keep_x], 1).reshape(2 * _MAXV)
    pos = jnp.cumsum(mask) - 1
    dest = jnp.where(mask, pos, 2 * _MAXV)  # dropped candidates go to a dump slot
    out = jnp.zeros((2 * _MAXV + 1, 2), pts.dtype).at[dest].set(cand)[:_MAXV]
    new_count = jnp.minimum(jnp.sum(mask), _MAXV)
    return out, new_count


def _polygon_area(pts, count):
    idx = jnp.arange(_MAXV)
    nxt = jnp.where(idx + 1 < count, idx + 1, 0)
    q = pts[nxt]
    cross = pts[:, 0] * q[:, 1] - pts[:, 1] * q[:, 0]
    return 0.5 * jnp.abs(jnp.sum(jnp.where(idx < count, cross, 0.0)))


def convex_intersection_area(poly_a: jax.Array, poly_b: jax.Array) -> jax.Array:
    """Area of the intersection of two convex quadrilaterals (4, 2), both counter-clockwise in the
    y-down (Chipmunk) sense, i.e. cross(v1 - v0, v2 - v1) > 0."""
    pts = jnp.zeros((_MAXV, 2), poly_a.dtype).at[:4].set(poly_a)
    count = jnp.asarray(4)
    for i in range(4):
        pts, count = _clip_halfplane(pts, count, poly_b[i], poly_b[(i + 1) % 4])
    return _polygon_area(pts, count)


def coverage(block_xy, block_angle, goal_pose=GOAL_POSE) -> jax.Array:
    """area(goal-placed T n T at (block_xy, block_angle)) / area(T), exact."""
    goal = jnp.asarray(goal_pose, jnp.float32)
    va = world_vertices(jnp.asarray(block_xy, jnp.float32), jnp.asarray(block_angle, jnp.float32))
    vb = world_vertices(goal[:2], goal[2])
    area = sum(convex_intersection_area(va[i], vb[j]) for i in range(2) for j in range(2))
    return area / T_AREA


def task_reward(c: PushTConfig, obs: jax.Array, block_angle: jax.Array, theta: jax.Array, t: jax.Array):
    """The reward of the step that ended in ``obs`` (agent xy, block xy, angle) at step count ``t``, under
    the curriculum threshold ``theta``: (reward, the next theta, success, coverage). Module docstring."""
    goal_pose = jnp.asarray(c.goal_pose, jnp.float32)
    cov = coverage(obs[2:4], block_angle, goal_pose)
    r_cov = jnp.clip(cov / theta, 0.0, 1.0)
    shaping = -jnp.linalg.norm(goal_pose[:2] - obs[2:4]) / 725.0 - jnp.linalg.norm(obs[:2] - obs[2:4]) / 363.0
    reward = (r_cov + shaping).astype(jnp.float32)
    theta = jnp.where((r_cov > 0.9) & (theta < c.theta_max), theta + c.theta_step, theta)
    success = cov > c.success_coverage
    if c.success_bonus == "remaining":
        reward = reward + jnp.where(success, c.success_bonus_per_step * (c.max_steps - t).astype(jnp.float32), 0.0)
    return reward, theta, success, cov


# --------------------------------------------------------------------------------------------------
# Environment


class PushTEnv:
    """Functional push-T env (module docstring). ``step`` never auto-resets; wrap with AutoReset.

    ``info``: ``success`` (coverage > 0.95), ``truncated`` (150 steps without success), ``coverage``.
    """

    obs_dim = 5
    action_dim = 2
    pair_state_dim = 5
    pair_order = "past_first"

    def __init__(self, config: PushTConfig = PushTConfig()):
        if config.angle_distribution not in ("gaussian", "uniform"):
            raise ValueError(f"angle_distribution must be 'gaussian' or 'uniform', got {config.angle_distribution!r}")
        if config.success_bonus not in SUCCESS_BONUSES:
            raise ValueError(f"success_bonus must be one of {SUCCESS_BONUSES}, got {config.success_bonus!r}")
        if not config.success_bonus_per_step > 0:
            raise ValueError(f"success_bonus_per_step must be > 0, got {config.success_bonus_per_step}")
        self.config = config

    @staticmethod
    def observe(state: PushTState) -> jax.Array:
        origin = block_origin(state.block_cog, state.block_angle)
        angle = jnp.mod(state.block_angle, 2.0 * jnp.pi)
        return jnp.concatenate([state.agent_pos, origin, angle[None]]).astype(jnp.float32)

    def reset_to(self, agent_xy, block_xy, block_angle, agent_vel=(0.0, 0.0), settle: bool = False):
        """Start from an explicit state (block position = body origin). No physics step unless
        ``settle`` (then one 0.01 s step with the agent's velocity unchanged, as the original's reset
        does). Used to replay recorded starts with ``agent_vel = 0``."""
        angle = jnp.asarray(block_angle, jnp.float32)
        jn, vid, since = _zero_contacts()
        state = PushTState(
            agent_pos=jnp.asarray(agent_xy, jnp.float32),
            agent_vel=jnp.broadcast_to(jnp.asarray(agent_vel, jnp.float32), (2,)),
            block_cog=block_cog(jnp.asarray(block_xy, jnp.float32), angle),
            block_angle=angle,
            block_vel=jnp.zeros(3, jnp.float32),
            block_bias=jnp.zeros(3, jnp.float32),
            jn=jn,
            vid=vid,
            since=since,
            t=jnp.zeros((), jnp.int32),
            theta=jnp.asarray(self.config.theta_init, jnp.float32),
        )
        if settle:
            state = substep(state, self.config)
        return state, self.observe(state)

    def sample_start(self, key: jax.Array):
        """The original's reset distribution: agent at integers U[50, 450)^2, block at integers
        U[100, 400)^2, angle per ``config.angle_distribution``. Returns (agent_xy, block_xy, angle)."""
        c = self.config
        ka, kb, kt = jax.random.split(key, 3)
        agent = jax.random.randint(ka, (2,), c.agent_low, c.agent_high).astype(jnp.float32)
        block = jax.random.randint(kb, (2,), c.block_low, c.block_high).astype(jnp.float32)
        if c.angle_distribution == "gaussian":
            angle = jax.random.normal(kt, ()) * 2.0 * jnp.pi - jnp.pi
        else:
            angle = jax.random.uniform(kt, (), minval=-jnp.pi, maxval=jnp.pi)
        return agent, block, angle

    def reset(self, key: jax.Array):
        """:meth:`sample_start`, then one 0.01 s physics step (the original's reset)."""
        return self.reset_to(*self.sample_start(key), settle=True)

    def step(self, state: PushTState, action: jax.Array):
        c = self.config
        state = physics_step(state, action_to_target(action), c)
        obs = self.observe(state)
        t = state.t + 1
        reward, theta, success, cov = task_reward(c, obs, state.block_angle, state.theta, t)
        truncated = (t >= c.max_steps) & ~success
        done = success | truncated
        info = {"success": success, "truncated": truncated, "coverage": cov, "theta": theta}
        return state.replace(t=t, theta=theta), obs, reward, done, info

    def pair_state(self, state: PushTState) -> jax.Array:
        return self.observe(state)
