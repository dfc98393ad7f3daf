"""Reliability of training (issue #17) on tiny maze runs: faults injected during training (a NaN
state, NaN in the energy, the discriminator or the loss, a full disk), determinism (the same seed
and config give bit-identical parameters and metrics), and fuzzed run folders given as checkpoint=.
A real `near train-energy` process killed mid-checkpoint and resumed is the CI size of
benchmarks/reliability_kill.py."""

from __future__ import annotations

import copy
import dataclasses
import errno
import itertools
import json
import os
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))
import reliability_fuzz as F  # noqa: E402

from near.commands import train as train_cmd  # noqa: E402
from near.commands.train import train_policy  # noqa: E402
from near.commands.train_energy import train_energy  # noqa: E402
from near.config import compose_config  # noqa: E402
from near.energy.train import load_energy_model  # noqa: E402
from near.restore import load_policy  # noqa: E402
from near.utils.checkpoint import CheckpointError, load  # noqa: E402
from near.utils.logging import NonFiniteError, read_metrics  # noqa: E402

TINY = F.RUN_OVERRIDES  # the fuzzing's seed runs: 2 envs x 4 steps, 4-unit networks, 2 energy steps
WALL = ("wall_seconds",)


class ExplodingMaze:
    """The maze whose state turns NaN at every episode's 3rd step (a simulation blowing up)."""

    def __init__(self, inner):
        self.inner = inner
        for name in ("obs_dim", "action_dim", "pair_state_dim", "pair_order"):
            setattr(self, name, getattr(inner, name))

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def reset(self, key):
        return self.inner.reset(key)

    def pair_state(self, state):
        return self.inner.pair_state(state)

    def step(self, state, action):
        state, obs, reward, done, info = self.inner.step(state, action)
        boom = state.t == 3
        return state.replace(pos=jnp.where(boom, jnp.nan, state.pos)), jnp.where(boom, jnp.nan, obs), reward, done, info


def train_exploding(overrides: list[str]) -> dict:
    """`near train` on ExplodingMaze (train_policy builds its env with near.commands.train.make_env)."""
    with pytest.MonkeyPatch.context() as m:
        make_env = train_cmd.make_env
        m.setattr(train_cmd, "make_env", lambda cfg: ExplodingMaze(make_env(cfg)))
        return train_policy(compose_config(TINY + overrides))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny energy run, and a tiny NEAR policy run on a maze whose state turns NaN every few steps
    (the NaN-state fault); they are also the inputs of the run-folder fuzzing."""
    root = str(tmp_path_factory.mktemp("runs"))
    energy, policy = os.path.join(root, "energy"), os.path.join(root, "policy")
    train_energy(compose_config(TINY + [f"out={energy}"]))
    train_exploding([f"out={policy}", f"energy.checkpoint={energy}"])
    return {"energy": energy, "policy": policy}


def _arrays(run: str) -> dict:
    r = load(run, items=("model", "train", "rollout"))
    return {jax.tree_util.keystr(p): np.asarray(x) for p, x in jax.tree_util.tree_leaves_with_path(r)}


def _records(run: str) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in WALL} for line in open(os.path.join(run, "metrics.jsonl"))]


def test_same_seed_and_config_give_bit_identical_runs(runs, tmp_path):
    """A second NEAR run of the same seed and config: every checkpointed array (weights, optimiser,
    environments, RNG) and every metric record bit-identical to the first."""
    again = str(tmp_path / "again")
    train_exploding([f"out={again}", f"energy.checkpoint={runs['energy']}"])
    a, b = _arrays(runs["policy"]), _arrays(again)
    assert len(a) > 20 and a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    records = _records(again)
    assert len(records) == 3 and _records(runs["policy"]) == records
    assert any(r["critic_loss"] != records[0]["critic_loss"] for r in records)  # it trained: values change


def test_killed_energy_training_resumes_to_the_unkilled_result(runs, tmp_path):
    """`near train-energy` in its own process, SIGKILLed while it writes a checkpoint, then resumed:
    the folder loads after the kill and the finished run equals the unkilled one (the fixture's) bit
    for bit: weights, optimiser, metrics, summary (the CI size of benchmarks/reliability_kill.py)."""
    import signal
    import subprocess
    import time

    import reliability_kill as K

    target = str(tmp_path / "killed")
    args = ["train-energy", *TINY, f"out={target}"]
    env = dict(os.environ, NEAR_XLA_CACHE=jax.config.jax_compilation_cache_dir or "off")
    proc = subprocess.Popen(K.near_cmd(args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    while proc.poll() is None and not K.writing_checkpoint(target) and time.time() < deadline:
        time.sleep(0.001)
    assert proc.poll() is None, "the run ended before a checkpoint write was seen"
    os.killpg(proc.pid, signal.SIGKILL)  # our own process group
    proc.wait()
    assert not os.path.exists(os.path.join(target, "summary.json"))
    K.check_after_kill(target, runs["energy"], {})  # loads, no corrupt checkpoint, at most one interval lost
    train_energy(compose_config(TINY + [f"out={target}", "resume=True"]))  # what `near train-energy ... resume=True` runs
    facts = K.compare_finished(target, runs["energy"])
    assert facts["arrays_compared"] > 10 and facts["metric_records_compared"] == 2


def test_run_folders_given_as_checkpoint_survive_fuzzing(runs, tmp_path):
    cases = F.FULL_CASES if os.environ.get("NEAR_FULL_RELIABILITY") == "1" else 25
    row = F.fuzz("run_folder", cases, str(tmp_path), hypothesis_seed=17, runs=runs)
    assert row["fault"] is None, row["fault"]
    assert row["cases"] >= cases and row["loaded"] > 0 and row["refused"] > 0


def test_edited_checkpoint_metadata_cannot_size_allocations(runs, tmp_path):
    """Checkpoint metadata that claims huge or wrong sizes is refused (by range, or by the stored arrays'
    shapes) before anything of that size is allocated."""
    import shutil

    for kind, field, value, where, match in (
            ("policy", "obs_dim", 10**6, None, "stored with shape"), ("policy", "obs_dim", "maze", None, "obs_dim"),
            ("policy", "action_dim", 10**9, None, "action_dim"), ("energy", "num_levels", 10**9, "energy", "num_levels"),
            ("energy", "latent_dim", 10**9, "energy", "stored with shape")):
        run = str(tmp_path / f"{kind}_{field}_{value}")
        shutil.copytree(runs[kind], run)
        for step in os.listdir(os.path.join(run, "checkpoints")):
            path = os.path.join(run, "checkpoints", step, "meta", "metadata")
            meta = json.load(open(path))
            (meta[where] if where else meta)[field] = value
            json.dump(meta, open(path, "w"))
        with F.guarded(), pytest.raises(CheckpointError, match=match):
            if kind == "policy":
                load_policy(compose_config(TINY), run)
            else:
                load_energy_model(run, expect_pair_dim=4, expect_env="maze")


# ----------------------------------------------------------------------------------------------
# faults injected during training


def test_nan_state_resets_that_env_counts_it_and_training_goes_on(runs):
    """The fixture's policy run: its maze state went NaN at every episode's 3rd step."""
    history = read_metrics(runs["policy"])
    assert history["iteration"] == [1, 2, 3]  # training went on to the end
    assert min(history["nonfinite_resets"]) >= 2  # both envs, every iteration: counted in the logs
    assert max(history["launch_resets"]) == 0  # the maze has no launch guard: a NaN is not counted as one
    assert all(np.isfinite(history[k]).all() for k in ("critic_loss", "actor_loss", "style_reward", "energy"))
    _, params, stats, _ = load_policy(compose_config(TINY), runs["policy"])
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves((params, stats)))
    assert json.load(open(os.path.join(runs["policy"], "summary.json")))["iterations"] == 3


class PoisonedStyle:
    """A style reward whose model goes NaN from iteration ``at + 1`` on: the energy network's weights
    (NEAR) or the discriminator's (AMP; poisoned inside its update)."""

    def __init__(self, inner, at: int, part: str):
        self.inner, self.at, self.part, self.name = inner, at, part, inner.name

    def init(self, key):
        return self.inner.init(key), jnp.zeros((), jnp.int32)

    def _poison(self, count, tree):
        return jax.tree.map(lambda p: p + jnp.where(count >= self.at, jnp.nan, 0.0), tree)

    def compute(self, state, pairs):
        inner_state, count = state
        inner = self.inner
        if self.part == "energy":
            inner = copy.copy(inner)
            inner.model = dataclasses.replace(inner.model, params=self._poison(count, inner.model.params))
        reward, inner_state, metrics = inner.compute(inner_state, pairs)
        return reward, (inner_state, count), metrics

    def update(self, state, pairs, key):
        inner_state, count = state
        if self.part == "discriminator":
            inner_state = inner_state.replace(params=self._poison(count, inner_state.params))
        inner_state, metrics = self.inner.update(inner_state, pairs, key)
        return (inner_state, count + 1), metrics


@pytest.mark.parametrize("part, task, quantity", [("energy", "mazeNEAR", "energy"),
                                                  ("discriminator", "mazeAMP", "disc_loss"),
                                                  ("loss", "mazeNEAR", "loss")])
def test_nan_in_a_model_or_the_loss_stops_at_its_step_keeping_the_last_checkpoint(part, task, quantity, runs,
                                                                                   tmp_path, monkeypatch):
    import shutil

    extra = [f"energy.checkpoint={runs['energy']}"] if task == "mazeNEAR" else []
    out = str(tmp_path / part)
    if part == "loss":  # the fixture's 3 good iterations, resumed with a learning rate that overflows the weights
        shutil.copytree(runs["policy"], out)
        os.remove(os.path.join(out, "summary.json"))
        extra += ["train.learning_rate=1e30", "resume=True"]
    else:
        make_style = train_cmd.make_style
        monkeypatch.setattr(train_cmd, "make_style",
                            lambda cfg, env: (PoisonedStyle(make_style(cfg, env)[0], 1, part), {}))
    with pytest.raises(NonFiniteError) as err:
        overrides = [f"task={task}", f"out={out}", "train.total_env_steps=40", *extra]
        train_exploding(overrides) if part == "loss" else train_policy(compose_config(TINY + overrides))
    message = str(err.value)
    stopped = int(message.split(" at iteration ")[1].split()[0])
    assert f"non-finite {quantity}" in message or (quantity == "loss" and "_loss at iteration" in message), message
    good = 3 if part == "loss" else 1
    assert stopped == good + 1 and f"checkpoint (iteration {good}) is kept" in message  # the first bad iteration
    # the last good checkpoint loads, with finite weights, at the iteration before the NaN
    _, params, _, meta = load_policy(compose_config(TINY + [f"task={task}"]), out)
    assert meta["step"] == stopped - 1 and all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))
    assert max(read_metrics(out)["iteration"]) == stopped - 1  # nothing of the bad iteration is logged


def test_full_disk_while_writing_a_checkpoint(tmp_path, monkeypatch):
    """The second checkpoint write fails with ENOSPC part-way: one clear error naming the step and
    the disk's answer; the first checkpoint stays loadable and no half-written step is left."""
    import orbax.checkpoint as ocp

    real = ocp.JsonCheckpointHandler.async_save
    calls = []

    async def full_disk(self, directory, *args, **kwargs):
        calls.append(directory)
        if len(calls) >= 2:  # part-way through the second step's items
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(directory))
        return await real(self, directory, *args, **kwargs)

    monkeypatch.setattr(ocp.JsonCheckpointHandler, "async_save", full_disk)
    out = str(tmp_path / "energy")
    with pytest.raises(CheckpointError) as err:
        train_energy(compose_config(TINY + [f"out={out}"]))
    message = str(err.value)
    assert "cannot write checkpoint 2" in message and "No space left on device" in message
    assert "previous checkpoint (1) is intact" in message
    monkeypatch.setattr(ocp.JsonCheckpointHandler, "async_save", real)
    _, meta = load_energy_model(out)
    assert meta["step"] == 1 and sorted(os.listdir(os.path.join(out, "checkpoints"))) == ["1"]


def test_a_shorter_last_chunk_reuses_the_compiled_program():
    """A run's iterations are seldom a multiple of train.iterations_per_log (60 M humanoid steps: 915);
    its last, shorter chunk runs in the same compiled program, with only its first iterations active,
    and matches a chunk compiled for that length (it compiled a second program: a minute on the GPU)."""
    from near.energy.reward import RewardConfig
    from near.envs.core import AutoReset
    from near.envs.maze import MazeEnv
    from near.rl.ppo import NoStyle, PPOConfig, make_train

    cfg = PPOConfig(num_envs=4, horizon=4, minibatch_size=8, update_epochs=1, actor_hidden=[8], critic_hidden=[8])
    init, train_chunk = make_train(cfg, AutoReset(MazeEnv()), NoStyle(), RewardConfig(task_weight=1.0, style_weight=0.0))
    state = init(jax.random.PRNGKey(0))
    full, _ = train_chunk(state, 3, np.int32(3))
    full, _ = train_chunk(full, 3, np.int32(3))  # the output's placement can differ from init's: lowered again
    compiled = []

    def count(name, secs, **_):
        if name.endswith("backend_compile_duration"):
            compiled.append(name)

    jax.monitoring.register_event_duration_secs_listener(count)
    try:
        part, metrics = train_chunk(full, 3, np.int32(1))
    finally:
        jax.monitoring.unregister_event_duration_listener(count)
    assert compiled == []  # no new program for the shorter chunk
    assert int(full.iteration) == 6 and int(part.iteration) == 7
    assert not np.any(np.asarray(metrics["critic_loss"][1:]))  # the inactive iterations report zeros
    alone, alone_metrics = train_chunk(full, 1)  # the same iteration compiled on its own
    for a, b in zip(jax.tree.leaves(part.params), jax.tree.leaves(alone.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["critic_loss"][0], alone_metrics["critic_loss"][0], rtol=1e-5)


def test_anneal_lr_decays_the_step_linearly_to_zero_over_the_run():
    # the maze configs (every method: one PPO) decay the rate: a constant one let seed 42's quickstart policy collapse late
    from near.rl.ppo import PPOConfig, make_optimizer

    cfg = PPOConfig(num_envs=4, horizon=8, minibatch_size=16, update_epochs=2, total_env_steps=64,
                    learning_rate=0.1, max_grad_norm=0.0, anneal_lr=True)  # 2 iterations x 2 epochs x 2 minibatches
    assert compose_config(["task=mazeNEAR"]).train.anneal_lr and compose_config(["task=maze"]).train.anneal_lr
    assert not PPOConfig().anneal_lr  # off unless a config asks for it (the original's rate is constant)
    params = {"w": jnp.zeros(())}
    opt = make_optimizer(cfg)
    state = opt.init(params)
    sizes = []
    for _ in range(9):
        update, state = opt.update({"w": jnp.ones(())}, state, params)
        sizes.append(abs(float(update["w"])))
    assert sizes[0] == pytest.approx(0.1, rel=1e-3)  # Adam's first step is the rate itself
    assert all(a > b for a, b in zip(sizes[:7], sizes[1:8]))  # it shrinks at every step
    assert sizes[8] == 0.0  # and is zero once the run's 8 minibatch steps are done
    constant = make_optimizer(dataclasses.replace(cfg, anneal_lr=False))
    state = constant.init(params)
    for _ in range(9):
        update, state = constant.update({"w": jnp.ones(())}, state, params)
    assert abs(float(update["w"])) == pytest.approx(0.1, rel=1e-3)


def test_kl_threshold_adapts_the_rate_to_each_epochs_kl_as_rl_games_does():
    # issue #19: push-T's successes dropped where PPO's approx KL rose past 0.1 as the policy's std shrank
    from near.config import ConfigError
    from near.energy.reward import RewardConfig
    from near.envs.core import AutoReset
    from near.envs.maze import MazeEnv
    from near.rl.ppo import (
        NoStyle,
        PPOConfig,
        make_optimizer,
        make_train,
        next_learning_rate,
    )

    assert PPOConfig().kl_threshold == 0.0  # off unless asked for: the original's rate is constant
    rate, rates = jnp.float32(1e-3), []
    for kl in (0.05, 0.05, 0.01, 0.001, 0.001):  # over 2 x, over 2 x, inside the band, under half, under half
        rate = next_learning_rate(rate, jnp.float32(kl), 0.01)
        rates.append(float(rate))
    np.testing.assert_allclose(rates, [1e-3 / 1.5, 1e-3 / 2.25, 1e-3 / 2.25, 1e-3 / 1.5, 1e-3], rtol=1e-5)
    assert float(next_learning_rate(jnp.float32(9e-3), jnp.float32(0.0), 0.01)) == pytest.approx(1e-2)  # bounded
    assert float(next_learning_rate(jnp.float32(1.2e-6), jnp.float32(1.0), 0.01)) == pytest.approx(1e-6)
    # the optimiser's step is Adam's at the rate its state holds (Adam's first step is the rate itself)
    opt = make_optimizer(PPOConfig(learning_rate=1e-3, max_grad_norm=0.0, kl_threshold=0.01))
    params = {"w": jnp.zeros(())}
    state = opt.init(params)
    update, state = opt.update({"w": jnp.ones(())}, state, params)
    assert abs(float(update["w"])) == pytest.approx(1e-3, rel=1e-3)
    update, _ = opt.update({"w": jnp.ones(())}, state._replace(learning_rate=jnp.float32(4e-3)), params)
    assert abs(float(update["w"])) == pytest.approx(4e-3, rel=1e-3)
    with pytest.raises(ConfigError, match="two learning-rate schedules"):
        compose_config(["task=mazeNEAR", "train.kl_threshold=0.008"])  # the maze decays its rate already

    # in training: a threshold every epoch's KL exceeds slows the rate, one none reaches speeds it up
    env, reward_cfg = AutoReset(MazeEnv()), RewardConfig(task_weight=1.0, style_weight=0.0)
    logged = {}
    for threshold in (1e-9, 10.0):
        small = PPOConfig(num_envs=4, horizon=4, minibatch_size=8, update_epochs=2, actor_hidden=[8], critic_hidden=[8],
                          learning_rate=1e-3, kl_threshold=threshold)
        init, train_chunk = make_train(small, env, NoStyle(), reward_cfg)
        _, metrics = train_chunk(init(jax.random.PRNGKey(0)), 3)
        logged[threshold] = np.asarray(metrics["learning_rate"])  # each iteration's mean rate over its 4 steps
    assert logged[1e-9][0] < 1e-3 and np.all(np.diff(logged[1e-9]) < 0)
    assert logged[10.0][0] > 1e-3 and np.all(np.diff(logged[10.0]) > 0)


def test_a_resume_with_another_optimiser_shape_is_refused_naming_the_runs_keys(runs, tmp_path):
    import pathlib
    import shutil

    from near.config import ConfigError

    out = str(tmp_path / "policy")
    shutil.copytree(runs["policy"], out)
    os.remove(os.path.join(out, "summary.json"))
    config_path = pathlib.Path(out) / "config.yaml"
    config = config_path.read_text()
    with pytest.raises(ConfigError, match=r"pass train.kl_threshold=0.0 train.anneal_lr=True to resume it"):
        train_policy(compose_config(TINY + [f"out={out}", f"energy.checkpoint={runs['energy']}", "resume=True",
                                            "train.total_env_steps=40", "train.kl_threshold=0.008", "train.anneal_lr=false"]))
    assert config_path.read_text() == config  # the folder as it was


def test_network_precision_reaches_the_networks_and_not_the_physics():
    """train.network_precision=tensorfloat32 lowers the policy's, critic's and style reward's matrix
    products at TF32 (HIGH), and bfloat16 with bfloat16 inputs, while a matrix product inside the env's step
    stays at full float32 (HIGHEST): a lower precision in the physics is what the global float32 setting
    guards against. float32 changes nothing."""
    from near.config import ConfigError
    from near.energy.reward import RewardConfig
    from near.envs.core import AutoReset
    from near.envs.maze import MazeEnv
    from near.rl.amp import AMPConfig, AMPReward
    from near.rl.ppo import PPOConfig, make_train

    swap = jnp.array([[0.0, 1.0], [1.0, 0.0]])

    class SwappedActions:  # the maze with a 2 x 2 matrix product in its step, as a physics engine has
        def __init__(self, env):
            self.env = env

        def __getattr__(self, name):
            return getattr(self.env, name)

        def step(self, state, action):
            return self.env.step(state, action @ swap)

    demo = np.random.default_rng(0).uniform(50, 450, (64, 4)).astype(np.float32)

    def dot_precisions(precision):
        cfg = PPOConfig(num_envs=4, horizon=4, minibatch_size=8, update_epochs=1, actor_hidden=[8],
                        critic_hidden=[8], network_precision=precision)
        style = AMPReward(demo, AMPConfig(hidden=[16], minibatch_size=8, replay_buffer_size=32), updates_per_iteration=2)
        init, chunk = make_train(cfg, AutoReset(SwappedActions(MazeEnv())), style,
                                 RewardConfig(task_weight=0.5, style_weight=0.5))
        text = chunk.lower(init(jax.random.PRNGKey(0)), 1).as_text()
        dots = [line for line in text.splitlines() if "dot_general" in line]
        physics = [line for line in dots if "tensor<2x2xf32>" in line]

        def precisions(lines):
            return {re.search(r"precision = (\[[A-Z, ]+\])", line).group(1) for line in lines}

        networks = [line for line in dots if line not in physics]
        return {"physics": precisions(physics), "networks": precisions(networks),
                "bf16_inputs": {"lhs_precision_type = bf16, rhs_precision_type = bf16" in line for line in networks},
                "discriminator": any("tensor<16x1xf32>" in line for line in dots)}

    default, tf32, bf16 = dot_precisions("float32"), dot_precisions("tensorfloat32"), dot_precisions("bfloat16")
    assert PPOConfig().network_precision == "tensorfloat32"  # the default since 2026-12-05 (issue #20)
    assert default["discriminator"] and tf32["discriminator"]  # the style reward's network is in the program
    assert default["physics"] == tf32["physics"] == {"[HIGHEST, HIGHEST]"}
    assert default["networks"] == {"[HIGHEST, HIGHEST]"}
    assert tf32["networks"] == {"[HIGH, HIGH]"} and tf32["bf16_inputs"] == {False}
    # bfloat16: every network product takes bfloat16 inputs (float32 sums); the physics keeps float32
    assert bf16["bf16_inputs"] == {True} and bf16["physics"] == {"[HIGHEST, HIGHEST]"} and bf16["discriminator"]
    with pytest.raises(ConfigError, match="network_precision"):
        compose_config(["task=maze", "train.network_precision=fp8"])


def test_min_log_std_floors_the_std_the_policy_samples_and_is_scored_with():
    # issue #19: push-T's learnt log-std fell from -1 to -4.3 and PPO's KL grew with it
    from near.config import ConfigError
    from near.rl.networks import Actor
    from near.rl.ppo import PPOConfig, act

    actor = Actor(2, (8,), log_std_init=-1.0, min_log_std=-3.0)
    params = actor.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)))
    params["params"]["log_std"] = jnp.array([-5.0, -2.0])  # one below the floor, one above
    _, log_std = actor.apply(params, jnp.zeros((1, 3)))
    np.testing.assert_allclose(np.asarray(log_std), [[-3.0, -2.0]])
    grad = jax.grad(lambda p: actor.apply(p, jnp.zeros((1, 3)))[1].sum())(params)["params"]["log_std"]
    np.testing.assert_allclose(np.asarray(grad), [0.0, 1.0])  # the floored one no longer moves
    # act() samples at the floored std: the spread of many draws is exp(-3), not exp(-5)
    cfg = PPOConfig(actor_hidden=[8], log_std_init=-1.0, min_log_std=-3.0, normalize_obs=False)
    policy = {"actor": params}
    draws = jax.vmap(lambda k: act(policy, cfg, None, jnp.zeros((1, 3)), 2, k))(jax.random.split(jax.random.PRNGKey(1), 4000))
    mean = act(policy, cfg, None, jnp.zeros((1, 3)), 2)
    spread = np.asarray(draws - mean).reshape(-1, 2).std(axis=0)
    np.testing.assert_allclose(spread, np.exp([-3.0, -2.0]), rtol=0.08)
    assert PPOConfig().min_log_std == -20.0  # off unless asked for (the original has no floor)
    # a floor is baked into the shared episode programs: two runs with other floors must not share one
    from near.eval.policy_eval import policy_key

    assert policy_key(cfg, 2) != policy_key(dataclasses.replace(cfg, min_log_std=-20.0), 2)
    with pytest.raises(ConfigError, match="min_log_std"):
        compose_config(["task=mazeNEAR", "train.min_log_std=0.0"])  # above the maze's start, -1


def test_actor_output_scale_shrinks_the_initial_mean_layer_alone_and_defaults_to_torch_s_init():
    # issue #16 (item 84): the humanoid's action is an absolute PD target, so the initial mean action is a pose
    from near.config import ConfigError
    from near.rl.networks import Actor
    from near.rl.ppo import PPOConfig, make_networks

    key, obs = jax.random.PRNGKey(3), jnp.zeros((1, 5))
    default = Actor(4, (16, 8)).init(key, obs)["params"]
    small = Actor(4, (16, 8), output_scale=0.01).init(key, obs)["params"]
    mean_layer = "Dense_0"  # flax names it first: it is built before the hidden layers it is applied to
    np.testing.assert_allclose(np.asarray(small[mean_layer]["kernel"]), 0.01 * np.asarray(default[mean_layer]["kernel"]),
                               rtol=1e-5)
    for hidden in ("Dense_1", "Dense_2"):
        np.testing.assert_array_equal(np.asarray(small[hidden]["kernel"]), np.asarray(default[hidden]["kernel"]))
    # 1.0 (the default) is torch's default init, the original's: uniform within 1 / sqrt(fan_in)
    bound = np.abs(np.asarray(default[mean_layer]["kernel"])).max()
    assert 0.8 / np.sqrt(8) < bound <= 1.0 / np.sqrt(8)
    assert PPOConfig().actor_output_scale == 1.0
    assert make_networks(PPOConfig(actor_output_scale=0.01), 4)[0].output_scale == 0.01
    with pytest.raises(ConfigError, match="actor_output_scale"):
        compose_config(["task=mazeNEAR", "train.actor_output_scale=0"])


def test_sample_actions_evaluates_the_policy_with_its_noise(runs):
    from near.commands.evaluate import evaluate_2d
    from near.eval.policy_eval import rollout_checkpoint

    def config(*extra):
        return compose_config(TINY + [f"checkpoint={runs['policy']}", "episodes=6", *extra])

    assert evaluate_2d(config())["deterministic"] and not evaluate_2d(config("sample_actions=True"))["deterministic"]
    mean, again, sampled = (np.asarray(rollout_checkpoint(config(*extra))["observations"])
                            for extra in ((), (), ("sample_actions=True",)))
    np.testing.assert_array_equal(mean, again)  # the mean's paths repeat exactly
    assert np.abs(sampled - mean).max() > 1e-3  # the sampled ones leave them


def test_keep_best_keeps_the_best_evaluated_policy_as_its_own_checkpoint_across_a_resume(runs, tmp_path, monkeypatch):
    from near.config import ConfigError

    # the tiny maze scores 0 in every evaluation: script the evaluations' returns, the n-th evaluation's is returns[n]
    returns = {1: 1.0, 2: 5.0, 3: 3.0, 4: 5.0, 5: 2.0, 6: 0.0, 7: 4.0, 8: 3.0, 9: 4.5, 10: 1.0, 11: 6.0, 12: 6.0}
    scalars, calls = train_cmd.eval_scalars, itertools.count(1)
    monkeypatch.setattr(train_cmd, "eval_scalars", lambda env_name, result: dict(
        scalars(env_name, result), success_rate=0.0, episode_return=returns[next(calls)]))
    out = str(tmp_path / "policy")
    # a constant rate: a run stopped at iteration 2 then makes the same steps as this one's first two
    base = TINY + [f"energy.checkpoint={runs['energy']}", "train.eval_every=1", "train.keep_best=true",
                   "train.anneal_lr=false"]
    summary = train_policy(compose_config(base + [f"out={out}", "train.total_env_steps=48"]))  # 6 iterations
    assert summary["best"] == {"checkpoint": os.path.join(out, "best"), "iteration": 2, "success_rate": 0.0,
                               "episode_return": 5.0}  # the first of the two 5s
    # checkpoint=RUN/best holds the weights of iteration 2: those of the same run stopped there (runs are deterministic)
    short = str(tmp_path / "short")
    train_policy(compose_config(base + [f"out={short}", "train.total_env_steps=16", "train.keep_best=false",
                                        "train.eval_every=0"]))
    _, best_params, _, best_meta = load_policy(compose_config(TINY), os.path.join(out, "best"))
    _, short_params, _, _ = load_policy(compose_config(TINY), short)
    assert best_meta["step"] == 2
    jax.tree.map(np.testing.assert_array_equal, best_params, short_params)
    # a resumed run goes on comparing with the kept one (its score rides in that checkpoint's metadata):
    # iterations 7-10 score under it, 11 over it
    resumed = train_policy(compose_config(base + [f"out={out}", "train.total_env_steps=80", "resume=True"]))
    assert resumed["best"]["iteration"] == 2 and load_policy(compose_config(TINY), os.path.join(out, "best"))[3]["step"] == 2
    resumed = train_policy(compose_config(base + [f"out={out}", "train.total_env_steps=96", "resume=True"]))
    assert resumed["best"]["iteration"] == 11 and resumed["best"]["episode_return"] == 6.0
    with pytest.raises(ConfigError, match="train.eval_every"):
        compose_config(["task=mazeNEAR", "train.keep_best=true"])
