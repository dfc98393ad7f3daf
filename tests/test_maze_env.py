"""The JAX maze env (near.envs.maze): agreement with a pymunk oracle of the same world, the reward
and termination rules, batching, and the AutoReset wrapper.

The pymunk oracle builds the world of spec §2.1 (shapes added as WALLS A-D, then the four BOUNDARY
segments, i.e. SHAPE_NAMES order) and drives it exactly as the original does (§2.2: per substep
``v += 0.1 * (100 * (p* - p) - 20 * v) * dt; space.step(dt)``). Measured on pymunk 7.3.1 over the
replays below (2,309 env steps): max |error| 0.0071 px, mean 0.00047 px (float32 round-off; the
largest error comes from the B/D seam, where Chipmunk's solver order flips on the few substeps
where the agent's fattened bounding box is refreshed). Asserted: max < 0.05 px, mean < 0.005 px.
"""

from __future__ import annotations

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from near.envs.core import AutoReset
from near.envs.maze import (
    BOUNDARY,
    GOAL,
    SHAPE_NAMES,
    SOLVER_ORDER,
    STUCK_DISTANCE,
    WALLS,
    MazeConfig,
    MazeEnv,
    MazeState,
    action_to_target,
    gauss_seidel_2,
    physics_step,
)

MAX_ERR_PX = 0.05
MEAN_ERR_PX = 0.005

# Jitted once and shared: eager calls would compile every small op separately.
ENV = MazeEnv()
STEP = jax.jit(ENV.step)
RESET_TO = jax.jit(ENV.reset_to)
RESET_BATCH = jax.jit(jax.vmap(ENV.reset))


# --------------------------------------------------------------------------------------------------
# pymunk oracle


class PymunkMaze:
    """The original's world and control loop in pymunk (float64)."""

    def __init__(self, pos, radius=15.0):
        import pymunk

        self.space = space = pymunk.Space()
        space.gravity = (0.0, 0.0)
        space.damping = 0.0
        shapes = []
        for x0, x1, y0, y1 in WALLS.astype(float):
            shapes.append(pymunk.Poly(space.static_body, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]))
        for x0, y0, x1, y1 in BOUNDARY.astype(float):
            shapes.append(pymunk.Segment(space.static_body, (x0, y0), (x1, y1), 2.0))
        for shape, name in zip(shapes, SHAPE_NAMES):
            shape.name = name
            space.add(shape)
        self.body = pymunk.Body(1.0, float("inf"))
        self.body.position = (float(pos[0]), float(pos[1]))
        circle = pymunk.Circle(self.body, radius)
        circle.friction = 0.0
        circle.elasticity = 0.0
        space.add(self.body, circle)

    def step(self, action, substeps=100, dt=0.003):
        target = (np.clip(np.asarray(action, float), -1.0, 1.0) + 1.0) * 512.0 / 2.0
        for _ in range(substeps):
            p = np.array(self.body.position)
            v = np.array(self.body.velocity)
            acc = 0.1 * (100.0 * (target - p) - 20.0 * v)
            self.body.velocity = tuple(v + acc * dt)
            self.space.step(dt)
        return np.array(self.body.position)


def _held(*segments):
    """Actions held constant: segments of ((ax, ay), n_steps)."""
    return np.concatenate([np.tile(np.asarray(a, float), (n, 1)) for a, n in segments])


def _replays():
    rng = np.random.default_rng(0)
    return {
        # name: (start position, actions)
        "free_diagonal": ((70, 70), _held(((1, 1), 150))),
        "into_wall_A": ((70, 300), _held(((-1, 0), 200))),
        "into_wall_B": ((70, 300), _held(((1, 0), 200))),
        "corridor_across_B_D_seam": ((70, 70), _held(((-0.7, 0.2), 60), ((-0.6, 1), 100), ((1, 0.68), 100))),
        "up_across_D_B_seam": ((75, 395), _held(((1, -0.3), 120))),
        "corner_top_left": ((70, 70), _held(((-1, -1), 150))),
        "top_of_A_and_left_boundary": ((30, 100), _held(((-1, 1), 150))),
        "around_vertex_of_B": ((70, 100), _held(((-0.5, 0.2), 40), ((1, -0.4), 40), ((0.3, 0.3), 60))),
        "right_boundary_and_corner": ((400, 200), _held(((1, 0.3), 150), ((1, -1), 100))),
        "C_D_corridor": ((200, 430), _held(((0, 1), 60), ((0, -1), 60), ((1, 0.7), 60), ((0.5, 1), 60))),
        "random_held": (
            (72, 65),
            np.concatenate([np.tile(rng.uniform(-1, 1, 2), (rng.integers(20, 60), 1)) for _ in range(6)]),
        ),
        "random_iid_unclipped": ((66, 77), rng.uniform(-1.2, 1.2, (200, 2))),
    }


@jax.jit
def _rollout(starts, actions):
    """starts (N, 2), actions (T, N, 2) -> positions (T, N, 2) from physics_step alone."""

    def body(carry, a):
        pos, bias = jax.vmap(lambda p, b, a: physics_step(p, b, action_to_target(a)))(*carry, a)
        return (pos, bias), pos

    return jax.lax.scan(body, (starts, jnp.zeros_like(starts)), actions)[1]


def test_matches_pymunk():
    pytest.importorskip("pymunk")
    replays = _replays()
    names = list(replays)
    horizon = max(len(a) for _, a in replays.values())
    starts = np.array([replays[n][0] for n in names], np.float32)
    # Pad every replay to the same length (repeat its last action) to run them as one batch.
    padded = [np.concatenate([a, np.repeat(a[-1:], horizon - len(a), 0)]) for _, a in replays.values()]
    actions = np.stack(padded, 1)
    ours = np.asarray(_rollout(jnp.asarray(starts), jnp.asarray(actions, jnp.float32)))

    errors, report = [], []
    for j, name in enumerate(names):
        start, acts = replays[name]
        sim = PymunkMaze(start)
        ref = np.array([sim.step(a) for a in acts])
        err = np.abs(ours[: len(acts), j] - ref).max(-1)
        errors.append(err)
        report.append(f"{name}: max {err.max():.4f} mean {err.mean():.5f} px")
    errors = np.concatenate(errors)
    summary = f"max {errors.max():.4f} px, mean {errors.mean():.5f} px over {errors.size} steps\n"
    summary += "\n".join(report)
    assert errors.max() < MAX_ERR_PX, summary
    assert errors.mean() < MEAN_ERR_PX, summary


def test_solver_order_matches_pymunk():
    """SOLVER_ORDER is Chipmunk's arbiter (= solver) order for shapes added in SHAPE_NAMES order.

    A circle large enough to touch every shape: while its tree leaf stays inside its fattened
    bounding box the collisions come from the leaf's cached pair list (SOLVER_ORDER); on a step
    where the leaf is refreshed (it left the box, fattened by 10 % of its size: 80 px here, 3 px for
    the agent; here after a 100 px teleport) they come in the reverse order.
    """
    pytest.importorskip("pymunk")
    import pymunk

    sim = PymunkMaze((256, 256), radius=400.0)
    seen = []

    def pre_solve(arbiter, space, data):
        seen.append(next(s.name for s in arbiter.shapes if s.body.body_type == pymunk.Body.STATIC))

    sim.space.on_collision(None, None, pre_solve=pre_solve)
    orders = []
    for teleport in (False, False, True, False):
        if teleport:
            sim.body.position = (356.0, 256.0)
        seen.clear()
        sim.space.step(0.003)
        orders.append(list(seen))
    assert orders[0] == orders[1] == orders[3] == list(SOLVER_ORDER)
    assert orders[2] == list(SOLVER_ORDER)[::-1]


def test_free_space_rate():
    """Spec §2.2: one step from (70, 70) toward (512, 512) moves 3.96 px per axis (pymunk: 3.96033)."""
    state, _ = RESET_TO(jnp.array([70.0, 70.0]))
    state, obs, reward, done, _ = STEP(state, jnp.array([1.0, 1.0]))
    np.testing.assert_allclose(np.asarray(obs) - 70.0, [3.96033, 3.96033], atol=2e-4)
    k = 10 * 0.003**2
    np.testing.assert_allclose(np.asarray(obs) - 70.0, (1 - (1 - k) ** 100) * 442.0, atol=2e-4)
    assert float(reward) == 0.0 and not bool(done)


def test_gauss_seidel_closed_form_matches_loop():
    rng = np.random.default_rng(1)
    n = 4000
    ta = rng.uniform(0, 0.05, n) * (rng.random(n) > 0.2)
    tb = rng.uniform(0, 0.05, n) * (rng.random(n) > 0.2)
    c = np.concatenate([rng.uniform(-1, 1, n - 8), [0.0, 1.0, -1.0, 0.999, 0.99999, -0.5, 0.5, 0.0]])
    la_ref, lb_ref = np.zeros(n), np.zeros(n)
    for _ in range(10):
        la_ref = np.maximum(ta - c * lb_ref, 0.0)
        lb_ref = np.maximum(tb - c * la_ref, 0.0)
    f32 = lambda v: jnp.asarray(v, jnp.float32)  # noqa: E731
    la, lb = jax.jit(gauss_seidel_2)(f32(ta), f32(tb), f32(c))
    np.testing.assert_allclose(np.asarray(la), la_ref, atol=2e-6)
    np.testing.assert_allclose(np.asarray(lb), lb_ref, atol=2e-6)


# --------------------------------------------------------------------------------------------------
# walls


@pytest.mark.parametrize(
    "start, action, axis, bound, side",
    [
        ((70, 300), (-1, 0), 0, 40 + 15, +1),  # corridor -> wall A (right face x = 40)
        ((70, 300), (1, 0), 0, 100 - 15, -1),  # corridor -> wall B (left face x = 100)
        ((200, 300), (-1, 0), 0, 120 + 15, +1),  # open area -> wall B (right face x = 120)
        ((200, 300), (0, 1), 1, 380 - 15, -1),  # open area -> wall D (top face y = 380)
        ((200, 430), (0, 1), 1, 460 - 15, -1),  # lower corridor -> wall C (top face y = 460)
        ((400, 200), (1, 0), 0, 506 - 2 - 15, -1),  # right boundary
    ],
)
def test_walls_hold(start, action, axis, bound, side):
    """Pushing straight into a wall for 300 steps: the agent stays outside it, minus ~3 px of
    Chipmunk's soft contact (penetration beyond the 0.1 px slop is only corrected gradually)."""
    state, _ = RESET_TO(jnp.array(start, jnp.float32))
    actions = jnp.broadcast_to(jnp.array(action, jnp.float32), (300, 2))
    _, (traj, *_) = _run(state, actions)
    coord = np.asarray(traj)[:, axis]
    assert np.all(side * (coord - bound) > -3.0), (coord.min(), coord.max())
    assert abs(coord[-1] - bound) < 3.0  # it did reach the wall


# --------------------------------------------------------------------------------------------------
# rewards and termination


@jax.jit
def _run(state, actions):
    def body(s, a):
        s, obs, reward, done, info = ENV.step(s, a)
        return s, (obs, reward, done, info)

    return jax.lax.scan(body, state, actions)


def test_goal_success():
    goal = np.asarray(GOAL)
    radius = 0.05 * np.linalg.norm(goal)
    # 0.5 px outside the success radius, heading for the goal (~1.9 px per step): success.
    state, _ = RESET_TO(goal - (radius + 0.5) / np.sqrt(2.0))
    state, obs, reward, done, info = STEP(state, jnp.asarray(goal / 256.0 - 1.0 + 0.5))
    assert np.linalg.norm(np.asarray(obs) - goal) < radius
    assert float(reward) == 1000.0 and bool(done)
    assert bool(info["success"]) and not bool(info["stuck"]) and not bool(info["truncated"])
    # Moving away from it: nothing.
    state, _ = RESET_TO(goal - (radius + 0.5) / np.sqrt(2.0))
    _, _, reward, done, info = STEP(state, jnp.array([-1.0, -1.0]))
    assert float(reward) == 0.0 and not bool(done) and not bool(info["success"])


def test_stuck_rule_fires_after_250_steps_only():
    start = jnp.array([70.0, 70.0])
    hold = jnp.broadcast_to(start / 256.0 - 1.0, (260, 2))  # target = current position
    state, _ = RESET_TO(start)
    _, (obs, reward, done, info) = _run(state, hold)
    done, reward, stuck = np.asarray(done), np.asarray(reward), np.asarray(info["stuck"])
    assert not done[:250].any()  # t = 1 .. 250
    assert done[250] and stuck[250] and reward[250] == -500.0  # t = 251
    assert not np.asarray(info["success"]).any() and not np.asarray(info["truncated"]).any()


def test_stuck_rule_needs_small_motion():
    """Moving a little more than 0.003 |(512, 512)| per 99 steps is not stuck; a little less is."""
    for per_window, expect in ((1.25 * STUCK_DISTANCE, False), (0.75 * STUCK_DISTANCE, True)):
        t = jnp.arange(1, 301, dtype=jnp.float32)
        history_pos = jnp.stack([70.0 + per_window / 99.0 * t, jnp.full_like(t, 70.0)], -1)
        # Inject the positions after steps 161..259 of a straight line and take step 260 with
        # target = position (no motion): oldest (step 161) and newest are 98/99 of a window apart.
        hist = jnp.zeros((100, 2)).at[jnp.arange(161, 260) % 100].set(history_pos[160:259])
        t259 = jnp.asarray(259, jnp.int32)
        state = MazeState(pos=history_pos[258], bias=jnp.zeros(2), t=t259, history=hist)
        _, _, reward, done, info = STEP(state, history_pos[258] / 256.0 - 1.0)
        assert bool(done) == expect and float(reward) == (-500.0 if expect else 0.0)
        assert bool(info["stuck"]) == expect, per_window


def test_success_takes_priority_over_stuck():
    goal = jnp.asarray(GOAL)
    history = jnp.broadcast_to(goal, (100, 2))
    state = MazeState(pos=goal, bias=jnp.zeros(2), t=jnp.asarray(300, jnp.int32), history=history)
    _, _, reward, done, info = STEP(state, goal / 256.0 - 1.0)
    assert float(reward) == 1000.0 and bool(done)
    assert bool(info["success"]) and not bool(info["stuck"]) and not bool(info["truncated"])


def test_truncation_at_650_steps():
    # Circle a point in the open area (never near the goal, never still): only truncation ends it.
    t = jnp.arange(650, dtype=jnp.float32)
    angle = 2 * jnp.pi * t / 120.0
    targets = jnp.stack([300.0 + 150.0 * jnp.cos(angle), 200.0 + 150.0 * jnp.sin(angle)], -1)
    state, _ = RESET_TO(jnp.array([70.0, 70.0]))
    _, (obs, reward, done, info) = _run(state, targets / 256.0 - 1.0)
    done = np.asarray(done)
    assert not done[:649].any() and done[649]
    assert bool(info["truncated"][649]) and float(reward[649]) == 0.0
    assert not np.asarray(info["stuck"]).any() and not np.asarray(info["success"]).any()


# --------------------------------------------------------------------------------------------------
# API, batching, wrapper


def test_reset():
    states, obs = RESET_BATCH(jax.random.split(jax.random.PRNGKey(0), 512))
    obs = np.asarray(obs)
    assert obs.dtype == np.float32 and obs.shape == (512, 2)
    assert obs.min() >= 60 and obs.max() <= 79 and np.all(obs == np.round(obs))
    assert len(np.unique(obs[:, 0])) == 20
    assert np.all(np.asarray(states.bias) == 0) and np.all(np.asarray(states.t) == 0)
    np.testing.assert_array_equal(np.asarray(states.history), np.repeat(obs[:, None], 100, 1))
    np.testing.assert_array_equal(np.asarray(jax.vmap(ENV.pair_state)(states)), obs)


def test_action_is_clipped():
    state, _ = RESET_TO(jnp.array([70.0, 70.0]))
    a = STEP(state, jnp.array([5.0, -3.0]))[1]
    b = STEP(state, jnp.array([1.0, -1.0]))[1]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(action_to_target(jnp.array([-2.0, 0.0]))), [0.0, 256.0])


def test_vmap_matches_unbatched_and_jit():
    n, steps = 64, 160
    states, _ = RESET_BATCH(jax.random.split(jax.random.PRNGKey(3), n))
    # Random actions, then straight into the walls near the start, so contacts are exercised.
    actions = jnp.concatenate(
        [
            jax.random.uniform(jax.random.PRNGKey(4), (20, n, 2), minval=-1.0, maxval=1.0),
            jnp.broadcast_to(jnp.array([-1.0, -1.0]), (steps - 20, n, 2)),
        ]
    )
    batched = jax.jit(jax.vmap(_run, in_axes=(0, 1), out_axes=(0, 1)))
    _, (obs_b, rew_b, done_b, _) = batched(states, actions)
    for i in range(0, n, 9):  # a subset keeps the test fast
        s_i = jax.tree.map(lambda x: x[i], states)
        _, (obs_1, rew_1, done_1, _) = _run(s_i, actions[:, i])
        np.testing.assert_allclose(np.asarray(obs_b[:, i]), np.asarray(obs_1), atol=1e-4)
        np.testing.assert_array_equal(np.asarray(rew_b[:, i]), np.asarray(rew_1))
        np.testing.assert_array_equal(np.asarray(done_b[:, i]), np.asarray(done_1))
    assert np.asarray(obs_b).min() < 25.0  # some agents reached the top-left boundary
    # un-jitted (eager) step agrees with the jitted one
    s0 = jax.tree.map(lambda x: x[0], states)
    eager = ENV.step(s0, actions[0, 0])[1]
    np.testing.assert_allclose(np.asarray(eager), np.asarray(STEP(s0, actions[0, 0])[1]), atol=1e-4)


def test_autoreset_pairs_and_terminal_step():
    env = MazeEnv(MazeConfig(max_steps=3))
    wrapped = AutoReset(env)
    assert wrapped.pair_dim == 4 and env.pair_order == "past_first"
    state, obs = wrapped.reset(jax.random.PRNGKey(0))
    step = jax.jit(wrapped.step)
    a = jnp.array([1.0, 1.0])
    for t in range(1, 4):
        prev = np.asarray(obs)
        state, obs, reward, done, info = step(state, a)
        pair = np.asarray(info["pair"])
        np.testing.assert_array_equal(pair[:2], prev)
        np.testing.assert_array_equal(pair[2:], np.asarray(info["terminal_obs"]))
        if t < 3:
            assert not bool(done)
            np.testing.assert_array_equal(np.asarray(obs), np.asarray(info["terminal_obs"]))
            assert np.all(np.asarray(obs) > prev)  # moved toward (512, 512)
    # step 3 is terminal (truncated): the pair ends in the terminal state, obs is a fresh reset
    assert bool(done) and bool(info["truncated"]) and int(info["episode_length"]) == 3
    terminal = np.asarray(info["terminal_obs"])
    assert terminal[0] > prev[0] and not np.array_equal(np.asarray(obs), terminal)
    fresh = np.asarray(obs)
    assert np.all(fresh == np.round(fresh)) and fresh.min() >= 60 and fresh.max() < 80
    assert int(state.env_state.t) == 0 and int(state.episode_length) == 0
    np.testing.assert_array_equal(np.asarray(state.env_state.pos), fresh)
