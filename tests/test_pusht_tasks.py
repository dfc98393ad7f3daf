"""Push-T through the pipeline at smoke sizes: energy model, NEAR, AMP, PPO, CEM, play, rendering.

A tiny synthetic replay store (a few short episodes of 5-number states) stands in for the real
Diffusion Policy store; nothing here reads /work/shared.
"""

import json
import os

import numpy as np
import pytest

from near.cli import main
from near.commands.play import play as play_policy
from near.commands.train import train_policy
from near.commands.train_energy import train_energy
from near.commands.viz import viz_energy
from near.config import ConfigError, compose_config
from near.data.demos import write_zarr_demos
from near.envs.pusht import GOAL_POSE
from near.factories import load_demos
from near.viz.pusht_plots import GOAL_RGB, render_pusht_frames, t_polygons

# short episodes keep the evaluation rollouts cheap; compile time dominates anyway
FAST = ["smoke=True", "progress=False", "seed=0", "task.max_episode_steps=10", "train.eval_episodes=2",
        "energy.iterations=100", "energy.log_every=50", "energy.checkpoint_every=100"]


def _synthetic_store(path) -> str:
    rng = np.random.default_rng(0)
    episodes = []
    for _ in range(4):
        t = 25
        agent = 200 + np.cumsum(rng.normal(0, 5, (t, 2)), 0)
        block = 250 + np.cumsum(rng.normal(0, 2, (t, 2)), 0)
        angle = np.mod(1.0 + np.cumsum(rng.normal(0, 0.05, t)), 2 * np.pi)
        episodes.append(np.concatenate([agent, block, angle[:, None]], 1))
    states = np.concatenate(episodes).astype(np.float32)
    write_zarr_demos(str(path), states, np.cumsum([len(e) for e in episodes]))
    return str(path)


@pytest.fixture(scope="module", autouse=True)
def cheap_compiles():
    """The push-T physics (10 unrolled Gauss-Seidel sweeps over 18 contacts) dominates these tests'
    time through XLA compilation; the runs are tiny, so compile them with fewer optimisations."""
    import jax

    old = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", old)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return _synthetic_store(tmp_path_factory.mktemp("pusht") / "replay.zarr")


@pytest.fixture(scope="module")
def energy_run(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("pusht_energy")
    summary = train_energy(compose_config(["task=pushTNEAR", f"task.data={store}", f"out={out}"] + FAST))
    assert summary["num_pairs"] == 4 * 24
    return str(out)


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    cfg = compose_config(["task=pushTNEAR", f"out={tmp_path / 'e'}"] + FAST)
    with pytest.raises(ConfigError, match="task.data=PATH.*pusht_cchi_v7_replay.zarr"):
        train_energy(cfg)
    assert not os.path.exists(tmp_path / "e")
    assert main(["train", "task=pushTAMP", f"out={tmp_path / 'a'}"] + FAST) == 1
    assert "push-T has no scripted expert" in capsys.readouterr().err


def test_wrong_state_width_is_rejected(tmp_path):
    path = tmp_path / "maze.zarr"
    write_zarr_demos(str(path), np.zeros((10, 2), np.float32), np.array([10]))
    with pytest.raises(ConfigError, match="pusht demos need 5 numbers"):
        load_demos(compose_config(["task=pushTNEAR", f"task.data={path}"] + FAST))


def test_train_yamls_compose():
    near = compose_config(["task=pushTNEAR"])
    assert (near.task.env, near.task.max_episode_steps, near.train.gamma) == ("pusht", 150, 0.99)
    assert (near.reward.task_weight, near.reward.style_weight, near.energy.normalization) == (0.5, 0.5, "whiten")
    amp = compose_config(["task=pushTAMP"])
    assert amp.amp.grad_penalty == 10.0 and amp.amp.normalization == "whiten"
    # AMP learns its std from NEAR's start (the original freezes it: train.learn_std=false)
    assert amp.train.learn_std and amp.train.log_std_init == near.train.log_std_init
    assert compose_config(["task=pushT"]).reward.style_weight == 0.0
    # the bonus per remaining step covers the combined reward's most per step, task_weight + style_weight
    for cfg in (near, amp):
        r = cfg.reward
        assert cfg.task.success_bonus_per_step * r.task_weight == r.task_weight + r.style_weight
    assert compose_config(["task=pushT"]).task.success_bonus_per_step == 1.0
    cem = compose_config(["task=pushTCEM"])
    assert cem.task.algo == "CEM" and cem.cem.sigma_level == 22


def test_near_train_and_play(energy_run, tmp_path):
    run = tmp_path / "near"
    summary = train_policy(compose_config(["task=pushTNEAR", f"energy.checkpoint={energy_run}",
                                           f"out={run}"] + FAST))
    assert 0.0 <= summary["final_coverage"] <= 1.0 and summary["episode_length"] <= 10
    assert json.load(open(run / "summary.json"))["final_coverage"] == summary["final_coverage"]
    play = play_policy(compose_config(["task=pushTNEAR", f"checkpoint={run}", f"out={tmp_path / 'play'}", "gif=True"]
                                      + FAST))
    assert os.path.getsize(play["files"]["video"]) > 0 and play["files"]["video"].endswith((".mp4", ".gif"))
    import imageio.v3 as iio

    assert play["files"]["gif"].endswith(".gif") and iio.improps(play["files"]["gif"], index=None).shape[0] > 1
    assert os.path.getsize(play["files"]["trajectories"]) > 0
    evaluation = json.load(open(tmp_path / "play" / "eval.json"))
    assert 0.0 <= evaluation["final_coverage"] <= 1.0 and len(evaluation["final_coverage_per_episode"]) == 2


@pytest.mark.parametrize("task", ["pushTAMP", "pushT"])
def test_amp_and_ppo_smoke(task, store, tmp_path):
    summary = train_policy(compose_config([f"task={task}", f"task.data={store}", f"out={tmp_path}"] + FAST))
    assert summary["algo"] == ("AMP" if task == "pushTAMP" else "PPO")
    assert np.isfinite(summary["task_return"]) and 0.0 <= summary["final_coverage"] <= 1.0


def test_cem_smoke(energy_run, tmp_path):
    summary = train_policy(compose_config(["task=pushTCEM", "train=pushTCEM", f"energy.checkpoint={energy_run}",
                                           f"out={tmp_path}", "cem.max_steps=3"] + FAST))
    assert summary["algo"] == "CEM" and 0.0 <= summary["final_coverage"] <= 1.0
    assert os.path.getsize(summary["trajectories"]) > 0


def test_viz_energy_refuses_pusht(energy_run):
    with pytest.raises(ConfigError, match="maze"):
        viz_energy(compose_config(["task=pushTNEAR", f"checkpoint={energy_run}"] + FAST))


def test_render_puts_goal_colour_on_the_goal_t():
    # agent and block far from the goal, so the goal T is fully visible
    states = np.array([[40.0, 40.0, 420.0, 60.0, 0.0]] * 2)
    frames = render_pusht_frames(states, coverage=np.array([0.0, 0.5]), size=128)
    assert frames.shape[0] == 2 and frames.shape[2] == 128 and frames.dtype == np.uint8
    world = frames[0, :128].astype(int)
    is_goal = np.all(world == GOAL_RGB, axis=-1)
    # pixel centres inside the goal T's boxes are goal-coloured, pixels far away are not
    from matplotlib.path import Path

    centres = (np.arange(128) + 0.5) * 4.0
    px, py = np.meshgrid(centres, centres)
    points = np.stack([px.ravel(), py.ravel()], 1)
    inside = np.zeros(len(points), bool)
    for box in t_polygons(*GOAL_POSE):
        inside |= Path(box).contains_points(points, radius=-1e-6)
    inside = inside.reshape(128, 128)
    assert inside.sum() > 100
    assert np.mean(is_goal[inside]) > 0.98 and np.mean(is_goal[~inside]) < 0.01
    # the coverage bar of the second frame is longer
    assert (frames[1, 128:] != frames[0, 128:]).any()


def test_training_resets_from_demonstration_states(tmp_path):
    """task.state_init=demo / hybrid start training episodes from recorded states (never from one that
    already covers the goal); random keeps the original's reset, which evaluation always uses."""
    import jax

    from near.envs.core import AutoReset
    from near.factories import make_env, training_reset

    rng = np.random.default_rng(1)
    recorded = np.concatenate([rng.uniform(150, 350, (40, 4)), rng.uniform(0, 2 * np.pi, (40, 1))], 1)
    recorded[:, :2] = recorded[:, 2:4] + [0.0, -80.0]  # agent clear of the block: the settling step moves nothing
    recorded[7] = [100.0, 100.0, *GOAL_POSE]  # a solved state: coverage 1
    store = str(tmp_path / "demos.zarr")
    write_zarr_demos(store, recorded.astype(np.float32), np.array([20, 40]))
    base = ["task=pushT", f"task.data={store}"]

    cfg = compose_config(base)
    env = make_env(cfg)
    assert training_reset(cfg, env) == env.reset  # the original's starts by default

    def starts(state_init, n=256):
        c = compose_config(base + [f"task.state_init={state_init}", "task.hybrid_init_prob=0.5"])
        wrapped = AutoReset(env, reset=training_reset(c, env))
        _, obs = jax.jit(jax.vmap(wrapped.reset))(jax.random.split(jax.random.PRNGKey(0), n))
        obs = np.asarray(obs)
        nearest = np.abs(obs[:, None, :4] - recorded[None, :, :4]).max(-1).min(-1)
        return obs, nearest < 1e-2

    obs, from_demo = starts("demo")
    assert from_demo.all()
    assert not (np.abs(obs[:, 2:4] - GOAL_POSE[:2]).max(-1) < 1e-2).any()  # the solved state is never drawn
    _, from_demo = starts("hybrid")
    assert 0.35 < from_demo.mean() < 0.65
    with pytest.raises(ConfigError, match="state_init must be one of"):
        training_reset(compose_config(base + ["task.state_init=start"]), env)


def test_final_coverage_compiles_once_per_evaluation_size():
    """Push-T's evaluation scores every episode's final coverage in one call of one jitted program:
    a fresh jit per episode compiled 64 times per evaluation (80 s on a 2-core CPU, 2/3 of a GPU run)."""
    from near.envs.pusht import coverage
    from near.eval.policy_eval import task_metrics
    from near.viz.pusht_plots import _coverage_program

    rng = np.random.default_rng(0)
    lengths = np.array([3, 5, 4])
    observations = rng.uniform(100, 400, (6, 3, 5)).astype(np.float32)  # (time, episode, state)
    result = {"observations": observations, "episode_length": lengths}
    program = _coverage_program()
    before = program._cache_size()
    for _ in range(3):
        metrics = task_metrics("pusht", result)
    assert program._cache_size() - before <= 1
    final = observations[lengths, np.arange(3)]
    expected = [float(coverage(s[2:4], s[4])) for s in final]
    assert metrics["final_coverage_per_episode"] == pytest.approx(expected, abs=1e-4)
