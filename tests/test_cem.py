"""The CEM baseline: elite selection and refit by hand, planning on toy problems, shapes, the maze task."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from near.rl.cem import CEMConfig, cem_plan, elite_mask, make_cem_episodes, make_sequence_scorer, refit, run_cem
from near.rl.evaluate import run_episodes


@struct.dataclass
class PointState:
    pos: jax.Array
    t: jax.Array


class PointEnv:
    """A point mass in [-1, 1]^2: pos += step * action; reward = -distance to TARGET; success within
    0.05; done on success or after ``limit`` steps."""

    obs_dim = action_dim = pair_state_dim = 2
    pair_order = "past_first"
    TARGET = jnp.array([0.7, -0.6])

    def __init__(self, limit: int = 30, step: float = 0.1):
        self.limit, self.step_size = limit, step

    def reset(self, key):
        pos = jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0)
        return PointState(pos, jnp.zeros((), jnp.int32)), pos

    def step(self, state, action):
        pos = state.pos + self.step_size * jnp.clip(action, -1.0, 1.0)
        t = state.t + 1
        dist = jnp.linalg.norm(pos - self.TARGET)
        success = dist < 0.05
        return PointState(pos, t), pos, -dist, success | (t >= self.limit), {"success": success}

    def pair_state(self, state):
        return state.pos


SMALL = dict(num_batches=4, batch_size=10, elites_per_batch=2)


def test_elite_mask_keeps_the_top_k_of_each_batch_and_ties():
    scores = jnp.array([[3.0, 1.0, 2.0, 0.0], [-1.0, 5.0, 4.0, 6.0], [1.0, 2.0, 2.0, 0.0]])
    mask = np.asarray(elite_mask(scores, 2))
    np.testing.assert_array_equal(mask, [[1, 0, 1, 0], [0, 1, 0, 1], [0, 1, 1, 0]])
    # The original's rule: keep score >= the k-th best, so a tie with it is kept too.
    np.testing.assert_array_equal(np.asarray(elite_mask(jnp.array([[1.0, 2.0, 2.0, 0.0]]), 1)), [[0, 1, 1, 0]])
    # Default sizes: 10 batches of 15 -> 2 per batch, 20 in all.
    scores = jax.random.normal(jax.random.PRNGKey(0), (10, 15))
    mask = np.asarray(elite_mask(scores, 2))
    assert mask.sum() == 20 and (mask.sum(1) == 2).all()
    assert (np.sort(np.asarray(scores), 1)[:, -2:] == np.sort(np.where(mask, scores, -np.inf), 1)[:, -2:]).all()


def test_refit_is_the_mean_and_unbiased_std_of_the_elites():
    samples = jnp.arange(2 * 3 * 1 * 1, dtype=jnp.float32).reshape(2, 3, 1, 1)  # values 0..5
    mask = jnp.array([[True, False, True], [False, True, False]])  # elites: 0, 2, 4
    mu, std = refit(samples, mask)
    assert mu.shape == std.shape == (1, 1)
    np.testing.assert_allclose(mu, [[2.0]])
    np.testing.assert_allclose(std, [[2.0]])  # sqrt(((-2)^2 + 0 + 2^2) / (3 - 1))


def test_iterative_refits_converge_to_the_optimum_of_a_quadratic():
    target = jnp.array([[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]])  # (H=3, A=2)

    def score(actions):
        return -jnp.sum((actions - target) ** 2, axis=(1, 2))

    def error(refits):
        cfg = CEMConfig(horizon=3, refits=refits, deterministic=True)
        keys = jax.random.split(jax.random.PRNGKey(0), 4)
        action, info = jax.jit(jax.vmap(lambda k: cem_plan(score, k, cfg, 2)))(keys)
        np.testing.assert_allclose(action, info["mu"][:, 0])
        assert (np.asarray(info["num_elites"]) == 20).all()
        return float(jnp.abs(info["mu"] - target).max(axis=(1, 2)).mean()), info

    err1, _ = error(1)
    err10, info = error(10)
    assert err10 < 0.03 < err1, (err1, err10)
    assert float(info["std"].max()) < 0.05


def test_sequence_score_sums_weighted_rewards_until_done_and_uses_plus_energy():
    env = PointEnv(limit=2)  # every sequence is done after its 2nd step
    state = PointState(jnp.zeros(2), jnp.zeros((), jnp.int32))
    actions = jnp.stack([jnp.ones((8, 2)), -jnp.ones((8, 2))])  # (P=2, H=8, A=2)

    def energy(pairs, level):  # +x of the second state (rewards moving right); zero unless level 7
        return pairs[..., 2] * (level == 7)

    cfg = CEMConfig(horizon=8, task_weight=0.0, energy_weight=1.0, sigma_level=7)
    s = np.asarray(jax.jit(make_sequence_scorer(env, energy, cfg))(state, actions))
    np.testing.assert_allclose(s, [0.1 + 0.2, -0.1 - 0.2], rtol=1e-5)  # two steps only
    hold = CEMConfig(horizon=8, task_weight=0.0, energy_weight=1.0, sigma_level=7, after_done="hold")
    s = np.asarray(make_sequence_scorer(env, energy, hold)(state, actions))
    np.testing.assert_allclose(s, [0.1 + 7 * 0.2, -0.1 - 7 * 0.2], rtol=1e-5)  # the done step repeats
    cfg = CEMConfig(horizon=8, task_weight=2.0, energy_weight=0.0)
    s = np.asarray(make_sequence_scorer(env, None, cfg)(state, actions))
    d = lambda p: float(np.linalg.norm(np.asarray(p) - np.asarray(PointEnv.TARGET)))  # noqa: E731
    np.testing.assert_allclose(s, [-2 * (d([0.1, 0.1]) + d([0.2, 0.2])), -2 * (d([-0.1, -0.1]) + d([-0.2, -0.2]))],
                               rtol=1e-5)
    with pytest.raises(ValueError, match="energy model"):
        make_sequence_scorer(env, None, CEMConfig())


def test_cem_beats_random_actions_on_a_point_mass_and_shapes():
    env = PointEnv(limit=30)
    cfg = CEMConfig(task_weight=1.0, energy_weight=0.0, num_envs=4, episodes=8, **SMALL)
    out = run_cem(env, None, cfg, jax.random.PRNGKey(0), 30)
    assert out["observations"].shape == (31, 8, 2)
    for k in ("episode_return", "episode_length", "success", "planning_score", "energy"):
        assert out[k].shape == (8,), k
    assert out["env_steps"] == int(out["episode_length"].sum())
    assert {"success_rate", "mean_return", "mean_length", "mean_planning_score", "seconds_per_step"} <= set(out)
    # frames after termination repeat the terminal one
    for i in range(8):
        n = out["episode_length"][i]
        assert (out["observations"][n:, i] == out["observations"][n, i]).all()

    def random_policy(obs, key):
        return jax.random.uniform(key, obs.shape, minval=-1.0, maxval=1.0)

    rand = run_episodes(env, random_policy, jax.random.PRNGKey(0), 8, 30)
    assert out["mean_return"] > rand["mean_return"] + 10.0, (out["mean_return"], rand["mean_return"])
    assert out["success_rate"] > rand["success_rate"]
    # the executed first actions of a batched planner stay in the box; vmap over real states
    episodes = make_cem_episodes(env, None, cfg, 3, num_envs=5)
    res = episodes(jax.random.PRNGKey(1))
    assert res["observations"].shape == (4, 5, 2) and res["episode_length"].shape == (5,)
    assert int(res["steps_run"]) == 3


@pytest.fixture(scope="module")
def tiny_energy(tmp_path_factory):
    from near.commands.train_energy import train_energy
    from near.config import compose_config

    out = tmp_path_factory.mktemp("cem_energy")
    cfg = compose_config(["smoke=True", f"out={out}", "progress=False", "energy.iterations=100",
                          "energy.log_every=100", "energy.checkpoint_every=100", "task.num_demo_episodes=10"])
    train_energy(cfg)
    return str(out)


def test_maze_cem_task_runs_end_to_end(tiny_energy, tmp_path, capsys):
    from near.cli import main

    out = tmp_path / "cem"
    assert main(["train", "task=mazeCEM", "train=mazeCEM", "smoke=True", f"energy.checkpoint={tiny_energy}",
                 f"out={out}", "progress=False"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("kind", "task", "algo", "run_dir", "seed", "env_steps", "iterations", "wall_seconds", "success_rate",
                "episode_length", "task_return", "eval_episodes", "planning_score", "sigma_level"):
        assert key in summary, key
    assert summary["algo"] == "CEM" and summary["task"] == "mazeCEM" and summary["iterations"] == 0
    assert summary["eval_episodes"] == 2 and summary["env_steps"] == 2 * 5  # smoke: 2 episodes of 5 steps
    assert 0.0 <= summary["success_rate"] <= 1.0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["step"] == summary["env_steps"]
    assert os.path.exists(out / "trajectories.png") and os.path.exists(out / "config.yaml")
    capsys.readouterr()
    # without an energy model: one clear error, no run folder
    assert main(["train", "task=mazeCEM", "train=mazeCEM", "smoke=True", f"out={tmp_path / 'x'}"]) == 1
    assert "energy.checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    # `near play` works for a CEM run too: it plans again with the run's settings
    assert main(["play", "task=mazeCEM", f"checkpoint={out}", "episodes=2", f"out={tmp_path / 'play'}"]) == 0
    played = json.loads((tmp_path / "play" / "eval.json").read_text())
    assert played["episodes"] == 2 and os.path.exists(played["files"]["trajectories"])
