"""A run folder brought back from a GPU machine without the bulky part of its checkpoints (the
environments' state and AMP's replay buffer: the ``rollout`` item) still resumes: weights,
optimiser, discriminator, RNG and counters go on; the environments start afresh."""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from near.commands.train import train_policy
from near.config import compose_config
from near.factories import make_env, make_style
from near.restore import legacy_train_item, load_state, model_item, train_item
from near.rl.ppo import make_train
from near.envs.core import AutoReset
from near.utils.checkpoint import CheckpointError, Checkpointer, stored_items

# AMP on the maze, 128 env steps an iteration, a checkpoint every 2
TINY_AMP = ["task=mazeAMP", "progress=False", "seed=3", "train.num_envs=8", "train.horizon=16",
            "train.minibatch_size=64", "train.iterations_per_log=2", "train.checkpoint_every=2",
            "train.actor_hidden=[16,16]", "train.critic_hidden=[16,16]", "train.eval_episodes=2",
            "task.max_episode_steps=50", "task.num_demo_episodes=10", "amp.hidden=[16,16]",
            "amp.replay_buffer_size=512", "train.anneal_lr=false"]


def _fresh_state(cfg):
    env = make_env(cfg)
    style, _ = make_style(cfg, env)
    init, _ = make_train(cfg.train, AutoReset(env), style, cfg.reward)
    return init(jax.random.PRNGKey(cfg.seed))


def _leaves_equal(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.fixture(scope="module")
def cut_run(tmp_path_factory):
    """An AMP run stopped after 4 of its 6 iterations, as a GPU call's deadline leaves it."""
    run = str(tmp_path_factory.mktemp("cut") / "amp")
    train_policy(compose_config(TINY_AMP + [f"out={run}", "train.total_env_steps=512"]))
    return run


def test_checkpoints_keep_the_rollout_apart_and_it_restores(cut_run):
    cfg = compose_config(TINY_AMP + [f"out={cut_run}"])
    assert stored_items(cut_run) == {"model", "train", "rollout", "meta"}
    template = _fresh_state(cfg)
    state, meta, with_rollout = load_state(cut_run, template)
    assert with_rollout and int(state.iteration) == 4 and meta["step"] == 4
    assert int(state.reward_state.replay_count) > 0  # the buffer as it was
    assert not _leaves_equal(state.env_state, template.env_state)  # the environments as they were
    # the train item is small: no per-environment array, no replay buffer
    names = {jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(train_item(state))}
    assert not any("env_state" in n or "replay" in n or "obs'" in n for n in names), names


def test_a_run_without_its_rollout_resumes_with_fresh_environments(cut_run, tmp_path, capsys):
    run = str(tmp_path / "brought_back")
    shutil.copytree(cut_run, run)
    steps = os.path.join(run, "checkpoints")
    for step in os.listdir(steps):
        shutil.rmtree(os.path.join(steps, step, "rollout"), ignore_errors=True)
    cfg = compose_config(TINY_AMP + [f"out={run}"])
    template = _fresh_state(cfg)
    saved, _, _ = load_state(cut_run, template)
    state, _, with_rollout = load_state(run, template)
    assert not with_rollout and int(state.iteration) == 4
    assert int(state.reward_state.replay_count) == 0  # an empty buffer, refilled by the next rollouts
    assert _leaves_equal(state.env_state, template.env_state)  # fresh environments
    for part in ("params", "opt_state", "obs_stats", "key"):  # what was learnt goes on
        assert _leaves_equal(getattr(state, part), getattr(saved, part)), part
    assert _leaves_equal(state.reward_state.params, saved.reward_state.params)  # the discriminator
    assert _leaves_equal(state.reward_state.opt_state, saved.reward_state.opt_state)

    summary = train_policy(compose_config(TINY_AMP + [f"out={run}", "train.total_env_steps=768", "resume=True"]))
    assert summary["iterations"] == 6 and summary["env_steps"] == 768
    assert "without its rollout item" in capsys.readouterr().err
    steps_logged = [json.loads(line)["step"] for line in open(os.path.join(run, "metrics.jsonl"))]
    assert steps_logged == sorted(set(steps_logged)) and steps_logged[-1] == 768


def test_a_checkpoint_without_its_train_item_is_refused_clearly(cut_run, tmp_path):
    run = str(tmp_path / "weights_only")
    shutil.copytree(cut_run, run)
    steps = os.path.join(run, "checkpoints")
    for step in os.listdir(steps):
        shutil.rmtree(os.path.join(steps, step, "train"), ignore_errors=True)
    before = sorted(os.listdir(steps))
    with pytest.raises(CheckpointError, match="no 'train' item.*not resumed"):
        train_policy(compose_config(TINY_AMP + [f"out={run}", "train.total_env_steps=768", "resume=True"]))
    assert sorted(os.listdir(steps)) == before  # the run folder is left as it was


def test_checkpoints_of_the_earlier_layout_still_resume(cut_run, tmp_path):
    """Before 2026-12-03 one ``train`` item held everything, the environments included."""
    cfg = compose_config(TINY_AMP + [f"out={cut_run}"])
    template = _fresh_state(cfg)
    saved, meta, _ = load_state(cut_run, template)
    old = Checkpointer(str(tmp_path / "old" / "checkpoints"))
    old.save(4, model_item(saved), legacy_train_item(saved), {k: v for k, v in meta.items() if k != "step"})
    old.close()
    state, _, with_rollout = load_state(str(tmp_path / "old"), template)
    assert with_rollout and int(state.iteration) == 4
    assert _leaves_equal(state.env_state, saved.env_state) and _leaves_equal(state.reward_state, saved.reward_state)
