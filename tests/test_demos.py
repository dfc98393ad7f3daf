"""Demo stores (near.data.demos) and the scripted maze demonstrator (near.envs.maze_expert)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from near.data.demos import (
    DemoDataError,
    DemoSet,
    load_zarr_demos,
    train_test_split,
    transition_pairs,
    write_zarr_demos,
)
from near.envs.maze import AGENT_RADIUS, BOUNDARY, BOUNDARY_RADIUS, GOAL, WALLS
from near.envs.maze_expert import ENV_STEP_FRACTION, GOAL_RADIUS, MAX_EPISODE_STEPS, generate_maze_demos

zarr = pytest.importorskip("zarr")

# 3 episodes of lengths 3, 1, 4
TINY_STATES = np.array(
    [[0, 1], [2, 3], [4, 5], [10, 11], [20, 21], [22, 23], [24, 25], [26, 27]], np.float64
)
TINY_ENDS = np.array([3, 4, 8], np.int32)


def _write_raw(path, states, ends, state_key="data/state", ends_key="meta/episode_ends"):
    """A store written directly with zarr (bypasses write_zarr_demos' validation)."""
    kw = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
    root = zarr.open_group(str(path), mode="w", **kw)
    for key, arr in ((state_key, states), (ends_key, ends)):
        if arr is None:
            continue
        arr = np.asarray(arr)
        grp, name = key.rsplit("/", 1)
        g = root.require_group(grp)
        if hasattr(g, "create_array"):
            g.create_array(name, data=arr)
        else:
            g.create_dataset(name, data=arr)
    return str(path)


# --------------------------------------------------------------------------------------------------
# round trip and pairs


def test_roundtrip_tiny_store(tmp_path):
    path = tmp_path / "tiny.zarr"
    extra = {"action": np.arange(16, dtype=np.float32).reshape(8, 2)}
    write_zarr_demos(path, TINY_STATES, TINY_ENDS, extra=extra)
    # zarr v2 directory layout like the original
    for f in (".zgroup", "data/.zgroup", "meta/.zgroup", "data/state/.zarray", "meta/episode_ends/.zarray"):
        assert (path / f).is_file(), f
    assert json.loads((path / ".zgroup").read_text())["zarr_format"] == 2

    demos = load_zarr_demos(path)
    assert demos.num_episodes == 3 and demos.state_dim == 2 and demos.num_states == 8
    assert demos.states.dtype == np.float32 and demos.episode_ends.dtype == np.int64
    np.testing.assert_array_equal(demos.states, TINY_STATES.astype(np.float32))
    np.testing.assert_array_equal(demos.episode_ends, [3, 4, 8])
    assert [len(e) for e in demos.episodes()] == [3, 1, 4]
    np.testing.assert_array_equal(demos.episode_lengths, [3, 1, 4])
    assert demos.source == os.fspath(path)

    g = zarr.open_group(str(path), mode="r")
    np.testing.assert_array_equal(g["data/action"][...], extra["action"])

    sel = load_zarr_demos(path, columns=[1])
    np.testing.assert_array_equal(sel.states[:, 0], TINY_STATES[:, 1])


def test_pairs_exact_both_orders(tmp_path):
    path = tmp_path / "tiny.zarr"
    write_zarr_demos(path, TINY_STATES, TINY_ENDS)
    demos = load_zarr_demos(path)
    s = TINY_STATES
    expected_past_first = np.array(
        [np.r_[s[0], s[1]], np.r_[s[1], s[2]]]  # episode 0
        # episode 1 has length 1: no pair
        + [np.r_[s[4], s[5]], np.r_[s[5], s[6]], np.r_[s[6], s[7]]],  # episode 2
        np.float32,
    )
    pf = transition_pairs(demos)
    assert pf.dtype == np.float32 and pf.shape == (5, 4)
    np.testing.assert_array_equal(pf, expected_past_first)
    cf = transition_pairs(demos, order="current_first")
    np.testing.assert_array_equal(cf, np.concatenate([expected_past_first[:, 2:], expected_past_first[:, :2]], 1))
    with pytest.raises(ValueError):
        transition_pairs(demos, order="sideways")


def test_pairs_never_cross_episodes_random_layouts():
    rng = np.random.default_rng(0)
    for _ in range(50):
        lengths = rng.integers(1, 7, size=rng.integers(1, 9))
        n, d = int(lengths.sum()), int(rng.integers(1, 4))
        ends = np.cumsum(lengths)
        episode_id = np.repeat(np.arange(len(lengths)), lengths)
        step = np.arange(n) - np.repeat(ends - lengths, lengths)
        # state encodes (episode, step) so every pair can be decoded
        states = np.repeat((1000.0 * episode_id + step)[:, None], d, axis=1) + np.arange(d) * 0.25
        demos = DemoSet(states, ends, source="random")
        for order in ("past_first", "current_first"):
            pairs = transition_pairs(demos, order)
            assert pairs.shape == (n - len(lengths), 2 * d)
            past, cur = (pairs[:, :d], pairs[:, d:]) if order == "past_first" else (pairs[:, d:], pairs[:, :d])
            ep_p, st_p = np.divmod(past[:, 0], 1000.0)
            ep_c, st_c = np.divmod(cur[:, 0], 1000.0)
            np.testing.assert_array_equal(ep_p, ep_c)
            np.testing.assert_array_equal(st_c, st_p + 1)
            assert len(set(zip(ep_p, st_p))) == len(pairs)  # every within-episode pair exactly once


def test_train_test_split():
    pairs = np.arange(1003 * 4, dtype=np.float32).reshape(1003, 4)
    train, test = train_test_split(pairs, 0.2, seed=3)
    assert len(test) == round(0.2 * 1003) and len(train) + len(test) == 1003
    keys = lambda a: set(a[:, 0].tolist())  # noqa: E731
    assert not keys(train) & keys(test)
    assert keys(train) | keys(test) == keys(pairs)
    train2, test2 = train_test_split(pairs, 0.2, seed=3)
    np.testing.assert_array_equal(test, test2)
    _, test3 = train_test_split(pairs, 0.2, seed=4)
    assert not np.array_equal(test, test3)
    tr, te = train_test_split(pairs, 0.0)
    assert len(tr) == 1003 and len(te) == 0
    with pytest.raises(ValueError):
        train_test_split(pairs, 1.0)


# --------------------------------------------------------------------------------------------------
# malformed input


def _bad_stores(tmp_path):
    good_s, good_e = TINY_STATES, TINY_ENDS
    nan_s = good_s.copy()
    nan_s[5, 1] = np.nan
    inf_s = good_s.copy()
    inf_s[0, 0] = np.inf
    plain_dir = tmp_path / "plain_dir"
    plain_dir.mkdir()
    plain_file = tmp_path / "file.zarr"
    plain_file.write_text("not zarr")
    return {
        "missing path": str(tmp_path / "does_not_exist.zarr"),
        "plain dir": str(plain_dir),
        "plain file": str(plain_file),
        "no state": _write_raw(tmp_path / "nostate.zarr", None, good_e),
        "no ends": _write_raw(tmp_path / "noends.zarr", good_s, None),
        "state is group": _write_raw(tmp_path / "grp.zarr", good_s, good_e, state_key="data/state/x"),
        "state rank 1": _write_raw(tmp_path / "rank1.zarr", good_s[:, 0], good_e),
        "state rank 3": _write_raw(tmp_path / "rank3.zarr", good_s[:, :, None], good_e),
        "ends rank 2": _write_raw(tmp_path / "ends2.zarr", good_s, good_e[:, None]),
        "ends float": _write_raw(tmp_path / "endsf.zarr", good_s, good_e.astype(np.float64)),
        "not increasing": _write_raw(tmp_path / "dec.zarr", good_s, np.array([4, 3, 8])),
        "zero-length first": _write_raw(tmp_path / "z0.zarr", good_s, np.array([0, 3, 8])),
        "zero-length middle": _write_raw(tmp_path / "z1.zarr", good_s, np.array([3, 3, 8])),
        "last end short": _write_raw(tmp_path / "short.zarr", good_s, np.array([3, 4, 7])),
        "last end long": _write_raw(tmp_path / "long.zarr", good_s, np.array([3, 4, 9])),
        "nan": _write_raw(tmp_path / "nan.zarr", nan_s, good_e),
        "inf": _write_raw(tmp_path / "inf.zarr", inf_s, good_e),
        "empty": _write_raw(tmp_path / "empty.zarr", np.zeros((0, 2)), np.zeros((0,), np.int64)),
    }


def test_malformed_inputs_raise_demo_data_error(tmp_path):
    for case, path in _bad_stores(tmp_path).items():
        with pytest.raises(DemoDataError) as info:
            load_zarr_demos(path)
        assert path in str(info.value), (case, str(info.value))


def test_malformed_in_memory_and_write(tmp_path):
    with pytest.raises(DemoDataError, match="gen:x"):
        DemoSet(TINY_STATES, np.array([3, 4, 9]), source="gen:x")
    target = str(tmp_path / "out.zarr")
    with pytest.raises(DemoDataError) as info:
        write_zarr_demos(target, TINY_STATES, np.array([3, 3, 8]))
    assert target in str(info.value)
    with pytest.raises(DemoDataError) as info:
        write_zarr_demos(target, TINY_STATES, TINY_ENDS, extra={"action": np.zeros((7, 2))})
    assert target in str(info.value)
    with pytest.raises(DemoDataError):
        load_zarr_demos(tmp_path / "out.zarr", columns=[5])


def test_messages_are_specific(tmp_path):
    stores = _bad_stores(tmp_path)
    expect = {
        "missing path": "does not exist",
        "plain dir": "not a zarr group",
        "no state": "data/state",
        "no ends": "meta/episode_ends",
        "state rank 1": "rank",
        "not increasing": "strictly increasing",
        "zero-length middle": "zero-length",
        "last end short": "last episode end",
        "nan": "NaN",
    }
    for case, text in expect.items():
        with pytest.raises(DemoDataError, match=text):
            load_zarr_demos(stores[case])


# --------------------------------------------------------------------------------------------------
# scripted maze expert


@pytest.fixture(scope="module")
def expert():
    return generate_maze_demos(24, seed=0)


def _box_clearance(p):
    w = WALLS.astype(np.float64)[None]
    q = np.stack([np.clip(p[:, None, 0], w[..., 0], w[..., 1]), np.clip(p[:, None, 1], w[..., 2], w[..., 3])], -1)
    return np.linalg.norm(p[:, None] - q, axis=-1).min(1)


def _segment_distance(p):
    b = BOUNDARY.astype(np.float64)
    a, ab = b[None, :, :2], b[None, :, 2:] - b[None, :, :2]
    t = np.clip(((p[:, None] - a) * ab).sum(-1) / (ab * ab).sum(-1), 0, 1)
    return np.linalg.norm(p[:, None] - (a + t[..., None] * ab), axis=-1).min(1)


def test_expert_deterministic_and_seeded(expert):
    again = generate_maze_demos(24, seed=0)
    np.testing.assert_array_equal(expert.states, again.states)
    np.testing.assert_array_equal(expert.episode_ends, again.episode_ends)
    other = generate_maze_demos(24, seed=1)
    assert other.states.shape != expert.states.shape or not np.array_equal(other.states, expert.states)
    # episode i depends only on (seed, i): a shorter run is a prefix
    prefix = generate_maze_demos(5, seed=0)
    np.testing.assert_array_equal(prefix.states, expert.states[: prefix.num_states])
    assert expert.source.startswith("generated:")


def test_expert_clear_of_walls(expert):
    p = expert.states.astype(np.float64)
    assert _box_clearance(p).min() >= AGENT_RADIUS
    assert _segment_distance(p).min() >= AGENT_RADIUS + BOUNDARY_RADIUS


def test_expert_starts_ends_lengths(expert):
    goal = GOAL.astype(np.float64)
    assert np.isclose(GOAL_RADIUS, 0.05 * np.linalg.norm(goal))
    for ep in expert.episodes():
        start = ep[0].astype(np.float64)
        assert np.all(start >= 60) and np.all(start < 80) and np.all(start == np.round(start))
        dist = np.linalg.norm(ep.astype(np.float64) - goal, axis=1)
        assert dist[-1] < GOAL_RADIUS  # ends inside the success radius
        assert np.all(dist[:-1] >= GOAL_RADIUS - 0.2)  # ... and stops at the first frame inside
        assert len(ep) < MAX_EPISODE_STEPS
        # the route: down the left corridor, then right along the bottom corridor
        left = (ep[:, 1] > 150) & (ep[:, 1] < 370)
        bottom = (ep[:, 0] > 130) & (ep[:, 0] < 340)
        assert left.any() and bottom.any()
        assert np.all((ep[left, 0] > 55) & (ep[left, 0] < 85))
        assert np.all((ep[bottom, 1] > 415) & (ep[bottom, 1] < 445))
        assert np.flatnonzero(left).max() < np.flatnonzero(bottom).min()


def _reach(p, u):
    """Largest one-env-step move from p along unit u (target confined to [0, 512]^2)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = np.where(u > 1e-9, ENV_STEP_FRACTION * (512.0 - p) / u, np.inf)
        neg = np.where(u < -1e-9, ENV_STEP_FRACTION * p / -u, np.inf)
    return np.minimum(pos, neg).min(axis=1)


def test_expert_steps_reachable_and_pauses(expert):
    pairs = transition_pairs(expert).astype(np.float64)
    p, d = pairs[:, :2], pairs[:, 2:] - pairs[:, :2]
    step = np.linalg.norm(d, axis=1)
    moving = step > 0
    # every move is what one env step can do: the implied action target lies in [0, 512]^2 ...
    target = p[moving] + d[moving] / ENV_STEP_FRACTION
    assert target.min() > -0.05 and target.max() < 512.05
    # ... and is 70-100 % of the largest such move along its heading
    frac = step[moving] / _reach(p[moving], d[moving] / step[moving, None])
    assert frac.min() > 0.7 - 1e-3 and frac.max() < 1.0 + 1e-3
    assert 1.4 < step[moving].mean() < 2.2
    assert step[moving].max() < 4.5
    n_pause = (~moving).sum()
    assert 0 < n_pause < 0.05 * len(step)  # pauses exist but are short and rare
    with_pause = [np.any(np.all(np.diff(e, axis=0) == 0, axis=1)) for e in expert.episodes()]
    assert np.mean(with_pause) > 0.5


def test_expert_constant_step_model():
    demos = generate_maze_demos(12, seed=2, step_model="constant")
    pairs = transition_pairs(demos)
    step = np.linalg.norm(pairs[:, 2:] - pairs[:, :2], axis=1)
    moving = step[step > 0]
    assert moving.min() > 2.5 - 1e-3 and moving.max() < 4.5 + 1e-3
    assert 3.3 < moving.mean() < 3.7
    assert _box_clearance(demos.states.astype(np.float64)).min() >= AGENT_RADIUS
    goal = GOAL.astype(np.float64)
    for ep in demos.episodes():
        assert np.linalg.norm(ep[-1] - goal) < GOAL_RADIUS and len(ep) < MAX_EPISODE_STEPS
    with pytest.raises(ValueError):
        generate_maze_demos(2, step_model="teleport")


def test_resample_drops_idle_frames_and_interpolates_within_episodes():
    from near.data.demos import DemoSet, resample_demos, transition_pairs

    states = np.array([[0, 0], [0, 0], [3, 0], [6, 0], [100, 100], [100, 100], [103, 100]], np.float32)
    demos = DemoSet(states, np.array([4, 7]))
    out = resample_demos(demos, drop_repeated=True, upsample=3)
    ep1, ep2 = out.episodes()
    np.testing.assert_allclose(ep1[:, 0], [0, 1, 2, 3, 4, 5, 6])  # idle frame gone, 3x finer
    np.testing.assert_allclose(ep2[:, 0], [100, 101, 102, 103])
    pairs = transition_pairs(out)
    assert np.all(np.abs(pairs[:, 2] - pairs[:, 0]) <= 1.0 + 1e-6)  # no pair jumps between episodes
    assert resample_demos(demos).num_states == demos.num_states
    with pytest.raises(ValueError):
        resample_demos(demos, upsample=0)
