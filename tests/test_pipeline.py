"""End to end on the maze at tiny sizes: energy model, NEAR policy, resume, play, CLI errors."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from near.cli import main
from near.commands.train import train_policy
from near.commands.train_energy import train_energy
from near.config import compose_config
from near.data.demos import write_zarr_demos
from near.envs.maze_expert import generate_maze_demos
from near.eval.policy_eval import evaluate_policy
from near.factories import demo_pairs, make_env
from near.restore import load_policy, load_train_state
from near.rl.evaluate import run_episodes

FAST_ENERGY = ["energy.iterations=1500", "energy.log_every=500", "energy.checkpoint_every=1500",
               "energy.normalization=whiten", "task.num_demo_episodes=40"]


@pytest.fixture(scope="module")
def energy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("energy")
    cfg = compose_config(FAST_ENERGY + [f"out={out}", "progress=False", "seed=0"])
    summary = train_energy(cfg)
    return str(out), summary


def test_energy_ranks_demo_pairs_above_random_pairs(energy_run):
    _, summary = energy_run
    for key in ("rank_accuracy/level_0", "rank_accuracy/level_25", "rank_accuracy/level_49"):
        assert summary[key] > 0.9, summary
    assert summary["final_loss"] < 5.0


def test_a_model_that_ranks_poorly_gets_a_warning_that_says_where_to_look(energy_run):
    from near.commands.train_energy import ranking_warning

    _, summary = energy_run
    assert ranking_warning(summary) is None  # the maze model ranks over 90 % at every level
    crane = {**summary, "env": "humanoid", "run_dir": "runs/crane", "rank_accuracy/level_25": 0.72}
    warning = ranking_warning(crane)
    assert "only 72 %" in warning and "level 25" in warning
    assert "near viz energy checkpoint=runs/crane` draws its energy along the clips" in warning
    assert "checkpoint=runs/crane` draws its landscape" in ranking_warning({**crane, "env": "maze"})
    assert ranking_warning({**crane, "env": "pusht"}).endswith("over 90 %)")  # push-T has no energy view


def test_viz_energy_writes_its_png_to_out_and_leaves_the_run_folder_alone(energy_run, tmp_path):
    from near.commands.viz import viz_energy

    energy_dir, _ = energy_run
    before = sorted(os.listdir(energy_dir))
    png = viz_energy(compose_config([f"checkpoint={energy_dir}", f"out={tmp_path / 'views'}"]), levels=[0, 49])
    assert png == str(tmp_path / "views" / "energy_landscape.png") and os.path.getsize(png) > 10_000
    assert sorted(os.listdir(energy_dir)) == before


def _mean_energy(model, observations, lengths, level):
    pairs = []
    for i in range(observations.shape[1]):
        traj = observations[: lengths[i] + 1, i]
        pairs.append(np.concatenate([traj[:-1], traj[1:]], 1))
    return float(np.mean(np.asarray(model.energy(jnp.asarray(np.concatenate(pairs)), level))))


def test_near_policy_beats_a_random_policy(energy_run, tmp_path):
    energy_dir, _ = energy_run
    overrides = FAST_ENERGY + [
        f"energy.checkpoint={energy_dir}", f"out={tmp_path / 'policy'}", "progress=False", "seed=0",
        "reward.sigma_level=35", "train.num_envs=32", "train.horizon=32", "train.minibatch_size=256",
        "train.total_env_steps=32768", "train.iterations_per_log=16", "train.checkpoint_every=32",
        "train.eval_episodes=16", "train.actor_hidden=[64,64]", "train.critic_hidden=[64,64]",
        "task.max_episode_steps=200", "train.eval_every=16",
    ]  # 32,768 steps (seeds 0-3): energy 14-23 against the random policy's 2.8, progress 328-379 against its 225
    cfg = compose_config(overrides)
    summary = train_policy(cfg)
    assert summary["env_steps"] == 32768
    records = [json.loads(line) for line in open(os.path.join(summary["run_dir"], "metrics.jsonl"))]
    evals = [r for r in records if "eval/success_rate" in r]  # train.eval_every: iterations 16 and 32
    assert [r["iteration"] for r in evals] == [16, 32] and [r["env_steps"] for r in evals] == [16384, 32768]
    assert {"eval/episode_length", "eval/episode_return", "eval/path_sparc"} <= set(evals[-1])
    for name in ("summary.json", "config.yaml", "metrics.jsonl", "learning_curves.png"):
        assert os.path.exists(os.path.join(summary["run_dir"], name)), name

    from near.energy.train import load_energy_model

    model, _ = load_energy_model(energy_dir)
    env = make_env(cfg)
    trained = evaluate_policy(cfg, summary["run_dir"], episodes=16)
    random = run_episodes(env, lambda obs, key: jax.random.uniform(key, obs.shape, minval=-1, maxval=1),
                          jax.random.PRNGKey(1), 16, cfg.task.max_episode_steps)
    e_trained = _mean_energy(model, trained["observations"], trained["episode_length"], 35)
    e_random = _mean_energy(model, random["observations"], random["episode_length"], 35)
    assert e_trained > e_random, (e_trained, e_random)
    # and it travels further down the corridor toward the goal than the random policy
    def progress(result):
        final = np.array([result["observations"][n, i] for i, n in enumerate(result["episode_length"])])
        return float(np.mean(final[:, 1]))  # y grows downward, along the first corridor

    assert progress(trained) > progress(random) + 20.0


def test_resume_matches_an_uninterrupted_run(energy_run, tmp_path):
    energy_dir, _ = energy_run
    base = [f"energy.checkpoint={energy_dir}", "progress=False", "seed=1", "train.num_envs=8", "train.horizon=16",
            "train.minibatch_size=64", "train.iterations_per_log=2", "train.checkpoint_every=2",
            "train.actor_hidden=[16,16]", "train.critic_hidden=[16,16]", "train.eval_episodes=2",
            "task.max_episode_steps=50", "train.anneal_lr=false"]  # the budget changes below: a decaying rate would follow it
    full = train_policy(compose_config(base + [f"out={tmp_path / 'a'}", "train.total_env_steps=768"]))
    # an interrupted run: it stopped after 4 of 6 iterations (its last checkpoint), then resumes
    train_policy(compose_config(base + [f"out={tmp_path / 'b'}", "train.total_env_steps=512"]))
    resumed = train_policy(compose_config(base + [f"out={tmp_path / 'b'}", "train.total_env_steps=768",
                                                  "resume=True"]))
    assert resumed["iterations"] == full["iterations"] == 6
    cfg = compose_config(base)
    _, params_a, _, _ = load_policy(cfg, str(tmp_path / "a"))
    _, params_b, _, _ = load_policy(cfg, str(tmp_path / "b"))
    for a, b in zip(jax.tree.leaves(params_a), jax.tree.leaves(params_b)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    steps = [json.loads(line)["step"] for line in open(tmp_path / "b" / "metrics.jsonl")]
    assert steps == sorted(set(steps))  # nothing logged twice


def test_real_format_demo_store_is_used(tmp_path):
    demos = generate_maze_demos(5, seed=3)
    store = tmp_path / "demos.zarr"
    write_zarr_demos(str(store), demos.states.astype(np.float64), demos.episode_ends)
    cfg = compose_config([f"task.data={store}"])
    pairs = demo_pairs(cfg)
    assert pairs.shape == (len(demos.states) - demos.num_episodes, 4)


def test_cli_help_lists_commands_and_tasks(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("quickstart", "train-energy", "train", "play", "viz energy", "mazeNEAR"):
        assert word in out


@pytest.mark.parametrize("args, message", [
    (["train", "no_such_key=1"], "unknown key 'no_such_key'"),
    (["train", "train.num_envs=abc"], "train.num_envs=abc"),
    (["train", "task=nope"], "unknown task 'nope'"),
    (["train", "reward.sigma_level=99"], "reward.sigma_level"),
    (["train", "train.minibatch_size=7"], "multiple of train.minibatch_size"),
    (["train", "task.data=/no/such/store.zarr"], "/no/such/store.zarr"),
    (["train", "progress=False"], "energy.checkpoint"),
    (["play"], "checkpoint=RUN_DIR"),
    (["play", "checkpoint=/no/such/run"], "checkpoint not found"),
    (["frobnicate"], "unknown command"),
])
def test_cli_bad_input_gives_one_clear_error(args, message, capsys):
    assert main(args) != 0
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_wrong_checkpoint_kind_and_corrupt_store_leave_run_folder_intact(energy_run, tmp_path, capsys):
    energy_dir, _ = energy_run
    # an energy model is not a policy
    assert main(["play", f"checkpoint={energy_dir}", f"out={tmp_path / 'p'}"]) == 1
    assert "not a policy checkpoint" in capsys.readouterr().err
    # a corrupt store: clear error, and an existing run folder is not touched
    bad = tmp_path / "bad.zarr"
    bad.mkdir()
    (bad / "garbage").write_text("x")
    before = sorted(os.listdir(energy_dir))
    assert main(["train-energy", f"task.data={bad}", f"out={energy_dir}", "resume=True"]) == 1
    assert str(bad) in capsys.readouterr().err
    assert sorted(os.listdir(energy_dir)) == before
    # reusing a run folder without resume=True is refused
    assert main(["train-energy", f"out={energy_dir}", "smoke=True"]) == 1
    assert "already holds a run" in capsys.readouterr().err


def test_quickstart_smoke_writes_the_report(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "smoke=True", f"out={out}", "progress=False"]) == 0
    summary = json.load(open(out / "summary.json"))
    for key in ("success_rate", "wall_seconds", "env_steps", "final_policy_success_rate"):
        assert key in summary
    assert summary["played"] == "final policy"  # 4 iterations: no periodic evaluation (every 25) to keep a best from
    for name in ("energy_landscape.png", "learning_curves.png", "trajectories.png"):
        assert (out / name).stat().st_size > 1000, name
    assert "success_rate" in capsys.readouterr().out


SHORT_RUN = ["progress=False", "seed=0", "train.num_envs=32", "train.horizon=32", "train.minibatch_size=256",
             "train.total_env_steps=65536", "train.iterations_per_log=16", "train.checkpoint_every=32",
             "train.eval_episodes=16", "train.actor_hidden=[64,64]", "train.critic_hidden=[64,64]",
             "task.max_episode_steps=200", "task.num_demo_episodes=40"]


def test_amp_short_run_beats_a_random_policy_on_its_own_reward(tmp_path):
    # half SHORT_RUN's budget: the trained policy's discriminator reward led the random policy's by 0.14-0.47
    # (seeds 0-3; 0.47 at this seed 0) after 32,768 steps, by 0.21-0.30 after 65,536 (2026-12-06)
    cfg = compose_config(["task=mazeAMP", f"out={tmp_path / 'amp'}", "amp.hidden=[64,64]"] + SHORT_RUN
                         + ["train.total_env_steps=32768"])
    summary = train_policy(cfg)
    run_cfg, style, state, _ = load_train_state(cfg, summary["run_dir"])
    env = make_env(cfg)
    trained = evaluate_policy(cfg, summary["run_dir"], episodes=16)
    random = run_episodes(env, lambda obs, key: jax.random.uniform(key, obs.shape, minval=-1, maxval=1),
                          jax.random.PRNGKey(1), 16, cfg.task.max_episode_steps)

    def disc_reward(result):
        obs, lengths = result["observations"], result["episode_length"]
        pairs = np.concatenate([np.concatenate([obs[:n, i], obs[1 : n + 1, i]], 1) for i, n in enumerate(lengths)])
        return float(np.mean(np.asarray(style.logits(state.reward_state, jnp.asarray(pairs)))))

    assert disc_reward(trained) > disc_reward(random)


def test_ppo_short_run_beats_a_random_policy_on_the_task_reward(tmp_path):
    cfg = compose_config(["task=maze", f"out={tmp_path / 'ppo'}"] + SHORT_RUN + ["task.max_episode_steps=650"])
    summary = train_policy(cfg)
    env = make_env(cfg)
    random = run_episodes(env, lambda obs, key: jax.random.uniform(key, obs.shape, minval=-1, maxval=1),
                          jax.random.PRNGKey(1), 16, cfg.task.max_episode_steps)
    assert summary["task_return"] > random["mean_return"], (summary["task_return"], random["mean_return"])


# 128 env steps an iteration, a checkpoint after each
TINY_CHECKPOINTED_RUN = ["progress=False", "train.num_envs=8", "train.horizon=16", "train.minibatch_size=64",
                         "train.iterations_per_log=1", "train.checkpoint_every=1", "train.actor_hidden=[16,16]",
                         "train.critic_hidden=[16,16]", "train.eval_episodes=2", "task.max_episode_steps=50"]


def test_a_killed_run_resumes_from_its_last_checkpoint(energy_run, tmp_path):
    """SIGKILL a real `near train` process after its first checkpoint, then resume it to the end."""
    import signal
    import subprocess
    import sys
    import time

    energy_dir, _ = energy_run
    out = tmp_path / "killed"
    args = [f"energy.checkpoint={energy_dir}", f"out={out}", *TINY_CHECKPOINTED_RUN, "train.total_env_steps=128000"]
    env = dict(os.environ, NEAR_XLA_CACHE=jax.config.jax_compilation_cache_dir or "",  # compiled as this file's
               JAX_DISABLE_MOST_OPTIMIZATIONS=str(int(jax.config.read("jax_disable_most_optimizations"))))  # (conftest)
    proc = subprocess.Popen([sys.executable, "-m", "near.cli", "train", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline:
        steps = [d for d in os.listdir(out / "checkpoints")] if (out / "checkpoints").exists() else []
        if any(d.isdigit() and int(d) >= 3 for d in steps):
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "summary.json").exists()
    killed_at = max(int(d) for d in os.listdir(out / "checkpoints") if d.isdigit())
    assert killed_at < 1000  # it really was interrupted
    # resume, with a budget that ends soon after the kill point
    total = (killed_at + 3) * 8 * 16
    summary = train_policy(compose_config([a for a in args if not a.startswith("train.total")] +
                                          [f"train.total_env_steps={total}", "resume=True"]))
    assert summary["iterations"] == killed_at + 3
    steps = [json.loads(line)["step"] for line in open(out / "metrics.jsonl")]
    assert steps == sorted(set(steps)) and steps[-1] == total


def test_ctrl_c_checkpoints_the_policy_where_it_stopped(energy_run, tmp_path, capsys, interrupt_when):
    """SIGINT to `near train`: it checkpoints at the last finished iteration (here between the periodic
    checkpoints), exits with 130 and says how to resume, leaving no summary; resume=True finishes it."""
    energy_dir, _ = energy_run
    out = tmp_path / "interrupted"
    args = [f"energy.checkpoint={energy_dir}", f"out={out}", *TINY_CHECKPOINTED_RUN, "train.checkpoint_every=1000",
            "train.total_env_steps=12800000"]
    metrics = out / "metrics.jsonl"
    thread = interrupt_when(lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= 3)
    assert main(["train", *args]) == 130
    thread.join()
    assert "stopped by SIGINT at iteration" in capsys.readouterr().err
    assert not (out / "summary.json").exists()
    stopped = max(int(d) for d in os.listdir(out / "checkpoints") if d.isdigit())
    logged = [json.loads(line)["step"] for line in open(metrics)]
    assert 3 <= stopped < 1000 and logged[-1] == stopped * 128
    resumed = train_policy(compose_config([a for a in args if not a.startswith("train.total")] +
                                          [f"train.total_env_steps={(stopped + 1) * 128}", "resume=True"]))
    assert resumed["iterations"] == stopped + 1


def test_time_limit_counts_only_the_resumed_invocation(energy_run, tmp_path):
    """`train.time_limit_s` is this invocation's budget: a resumed run trains on even when the earlier
    invocations together took longer than the limit (wall_seconds still adds them up)."""
    energy_dir, _ = energy_run
    args = [f"energy.checkpoint={energy_dir}", f"out={tmp_path / 'limited'}", *TINY_CHECKPOINTED_RUN]
    first = train_policy(compose_config(args + ["train.total_env_steps=384"]))
    assert first["iterations"] == 3 and first["wall_seconds"] > 0
    resumed = train_policy(compose_config(args + ["train.total_env_steps=640", "resume=True",
                                                  f"train.time_limit_s={first['wall_seconds'] / 2}"]))
    assert resumed["iterations"] > 3, resumed["iterations"]
    assert resumed["wall_seconds"] > first["wall_seconds"]


def test_near_says_when_it_reuses_the_compilation_cache(tmp_path, monkeypatch):
    """The first process compiles into NEAR_XLA_CACHE and says nothing; the second reuses it and says so,
    even for a program that compiles in well under JAX's default 1 s threshold (a start-up compiles ~130,
    most of them small); a threshold that is not a number of seconds is one clear error (exit 2)."""
    import re
    import subprocess
    import sys

    from near.cli import main

    script = ("from near.cli import configure_jax, cache_note; configure_jax(); import jax, jax.numpy as jnp; "
              "jax.jit(lambda x: jnp.sin(x) * 2)(jnp.ones(3)).block_until_ready(); print(repr(cache_note()))")
    env = dict(os.environ, NEAR_XLA_CACHE=str(tmp_path / "xla"))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr[-2000:]
    first, second = (r.stdout.strip().splitlines()[-1] for r in runs)
    assert first == "''"
    assert re.search(r"reused [1-9]\d* compiled programs, compiled 0 ", second) and str(tmp_path / "xla") in second
    monkeypatch.setenv("NEAR_XLA_CACHE", str(tmp_path / "xla2"))
    monkeypatch.setenv("NEAR_XLA_CACHE_MIN_S", "soon")
    assert main(["train", "task=maze"]) == 2


def test_the_compilation_cache_stays_under_its_size_limit(tmp_path, monkeypatch):
    """NEAR_XLA_CACHE_MAX_GB bounds the cache: compiling programs past the limit evicts the least recently
    used (unbounded, the same programs take more room); a limit that is not a size is one clear error."""
    import subprocess
    import sys

    from near.cli import main

    script = ("from near.cli import configure_jax; configure_jax(); import jax, jax.numpy as jnp\n"
              "for n in range({}, {}): jax.jit(lambda x: jnp.sin(x) * n + x @ x.T)(jnp.ones((n, n))).block_until_ready()")

    def cache_bytes(folder, limit: str | None, sizes=(1, 13)) -> int:
        env = dict(os.environ, NEAR_XLA_CACHE=str(folder))
        env.pop("NEAR_XLA_CACHE_MAX_GB", None)
        if limit is not None:
            env["NEAR_XLA_CACHE_MAX_GB"] = limit
        run = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", script.format(*sizes)], env=env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0 and "Error writing" not in run.stderr, run.stderr[-2000:]
        return sum(f.stat().st_size for f in folder.iterdir() if f.name.endswith("-cache"))

    limit = 20_000
    unbounded = cache_bytes(tmp_path / "unbounded", None)  # the default 2 GB: nothing evicted here
    assert unbounded > 2 * limit
    assert 0 < cache_bytes(tmp_path / "bounded", str(limit / 1e9)) <= limit
    # a cache filled with no limit (no last-use stamps) takes new programs once a limit is set; JAX's eviction
    # failed on the unstamped entries and every later write was lost
    cache_bytes(tmp_path / "was_unbounded", "-1", sizes=(1, 4))
    before = len(list((tmp_path / "was_unbounded").glob("*-cache")))
    cache_bytes(tmp_path / "was_unbounded", None, sizes=(4, 7))
    assert len(list((tmp_path / "was_unbounded").glob("*-cache"))) > before
    monkeypatch.setenv("NEAR_XLA_CACHE", str(tmp_path / "xla2"))
    for bad in ("big", "0"):
        monkeypatch.setenv("NEAR_XLA_CACHE_MAX_GB", bad)
        assert main(["train", "task=maze"]) == 2


def test_train_energy_asks_xla_for_deterministic_gpu_ops(monkeypatch):
    """`near train-energy` sets --xla_gpu_deterministic_ops before JAX starts (GPU energy models of one seed
    differed 2x in loss without it); `near train` does not unless NEAR_GPU_DETERMINISTIC=all; off turns it
    off; a user's own XLA_FLAGS are kept; a wrong value is one clear error (exit 2)."""
    from near.cli import main
    from near.utils.jax_setup import DETERMINISTIC_FLAG, configure_jax

    monkeypatch.setenv("NEAR_XLA_CACHE", "off")

    def flags_after(command: str, choice: str | None, own: str = "--xla_cpu_enable_fast_math=false") -> str:
        monkeypatch.setenv("XLA_FLAGS", own)
        if choice is None:
            monkeypatch.delenv("NEAR_GPU_DETERMINISTIC", raising=False)
        else:
            monkeypatch.setenv("NEAR_GPU_DETERMINISTIC", choice)
        configure_jax(command)
        return os.environ["XLA_FLAGS"]

    assert flags_after("train-energy", None) == f"--xla_cpu_enable_fast_math=false {DETERMINISTIC_FLAG}"
    assert flags_after("train", None) == "--xla_cpu_enable_fast_math=false"
    assert DETERMINISTIC_FLAG in flags_after("train", "all")
    assert DETERMINISTIC_FLAG not in flags_after("train-energy", "off")
    # set by the user already (either value): left as it is, not doubled
    assert flags_after("train-energy", None, own="--xla_gpu_deterministic_ops=false") == "--xla_gpu_deterministic_ops=false"
    monkeypatch.setenv("NEAR_GPU_DETERMINISTIC", "sometimes")
    assert main(["train-energy", "task=mazeNEAR"]) == 2


def test_without_the_bar_long_work_prints_a_plain_line_at_intervals(monkeypatch, capsys):
    """progress=False (batch jobs): a line per interval with progress, time and what is left; none
    for work shorter than the interval, none at all with NEAR_PROGRESS_EVERY_S=0."""
    import time

    from near.utils.logging import progress_bar

    monkeypatch.setenv("NEAR_PROGRESS_EVERY_S", "0.05")
    progress, desc, total = progress_bar("energy (DSM)", 100, disable=True)
    with progress:
        task = progress.add_task(desc, total=total, completed=20, info="")
        progress.update(task, completed=30, info="loss 1.0")  # within the interval: quiet
        time.sleep(0.06)
        progress.update(task, completed=60, info="loss 0.5")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("energy (DSM): 60/100 (60 %) after ")
    assert "min left; loss 0.5" in lines[0]
    monkeypatch.setenv("NEAR_PROGRESS_EVERY_S", "0")
    progress, desc, total = progress_bar("x", 10, disable=True)
    task = progress.add_task(desc, total=total)
    time.sleep(0.01)
    progress.update(task, completed=5)
    assert capsys.readouterr().out == ""


def test_an_evaluation_compiled_ahead_runs_without_compiling_and_gives_the_same_episodes():
    """Issue #20: training starts compiling its evaluation's program in a background thread. The episodes
    that program runs are those of the program compiled on the spot; it is traced before compile_ahead
    returns and compiled on the background thread, and the first run lowers nothing more. Arguments of
    another type fall back to jit's own path; an error while compiling ahead is raised by run(), on its
    own thread."""
    import threading

    from jax import monitoring

    from near.envs.maze import MazeEnv
    from near.rl.evaluate import make_episode_runner

    env = MazeEnv()

    def policy(weights, obs, key):
        return jnp.tanh(obs[:, :2] @ weights) + 0.1 * jax.random.normal(key, (obs.shape[0], 2))

    weights, key = jnp.asarray([[0.01, -0.02], [0.03, 0.01]]), jax.random.PRNGKey(3)
    on_the_spot = make_episode_runner(env, policy, 6, 40)(weights, key)

    ahead = make_episode_runner(env, policy, 6, 40)
    lowered_on, compiled_on = [], []

    def count(name, secs, **_):
        if name.endswith("jaxpr_to_mlir_module_duration"):
            lowered_on.append(threading.current_thread().name)
        elif name.endswith("backend_compile_duration"):
            compiled_on.append(threading.current_thread().name)

    monitoring.register_event_duration_secs_listener(count)
    try:
        ahead.compile_ahead(weights, jax.random.PRNGKey(0))
        traced_by_then = len(lowered_on)
        result = ahead(weights, key)
    finally:
        monitoring.unregister_event_duration_listener(count)
    # traced on the caller's thread before compile_ahead returns (so the order of traces, which MuJoCo Warp's
    # FFI call numbers follow, is the caller's), compiled on the background thread, nothing lowered by run()
    me = threading.current_thread().name
    assert traced_by_then == len(lowered_on) and set(lowered_on) == {me}, lowered_on
    assert "compile-ahead" in compiled_on and me not in compiled_on, compiled_on
    for name in ("observations", "episode_return", "episode_length", "success"):
        np.testing.assert_array_equal(result[name], on_the_spot[name])

    # weights of another type than those it was compiled for: jit's own path, with the same episodes
    halves = weights.astype(jnp.bfloat16)
    np.testing.assert_array_equal(ahead(halves, key)["episode_return"],
                                  make_episode_runner(env, policy, 6, 40)(halves, key)["episode_return"])

    def broken(weights, obs, key):
        raise ValueError("a policy that cannot be traced")

    failing = make_episode_runner(env, broken, 2, 5)
    failing.compile_ahead(weights, key)
    with pytest.raises(ValueError, match="cannot be traced"):
        failing(weights, key)


def test_training_evaluates_the_same_with_its_evaluation_compiled_ahead(tmp_path):
    """train.compile_eval_ahead=always (the default, auto, does so on a GPU) changes when the evaluation
    compiles, not what it measures: the periodic and final evaluations of a run match those of a run with
    it off, number for number. A bad value is one clear error."""
    base = ["progress=False", "seed=2", "task=maze", "train.num_envs=8", "train.horizon=16", "train.minibatch_size=64",
            "train.iterations_per_log=2", "train.checkpoint_every=4", "train.actor_hidden=[16,16]",
            "train.critic_hidden=[16,16]", "train.eval_episodes=4", "train.eval_every=2", "task.max_episode_steps=50",
            "train.total_env_steps=512"]
    runs = {flag: train_policy(compose_config(base + [f"out={tmp_path / flag}", f"train.compile_eval_ahead={flag}"]))
            for flag in ("always", "never")}

    def evaluations(summary):
        records = [json.loads(line) for line in open(os.path.join(summary["run_dir"], "metrics.jsonl"))]
        return [{k: v for k, v in r.items() if k.startswith("eval/")} for r in records if "eval/episode_return" in r]

    assert len(evaluations(runs["always"])) == 2  # iterations 2 and 4
    assert evaluations(runs["always"]) == evaluations(runs["never"])
    for key in ("success_rate", "episode_length", "task_return"):
        assert runs["always"][key] == runs["never"][key], key
    from near.config import ConfigError

    with pytest.raises(ConfigError, match="compile_eval_ahead"):
        compose_config(base + ["train.compile_eval_ahead=sometimes"])


@pytest.mark.parametrize(("key", "what"), [("velocity_std_floor", "velocity"), ("angle_std_floor", "joint-angle")])
def test_a_std_floor_on_an_env_without_those_features_stops_before_the_run_folder(tmp_path, key, what):
    from near.config import ConfigError

    out = tmp_path / "energy"
    cfg = compose_config([f"energy.{key}=0.5", "energy.normalization=diagonal", "task.num_demo_episodes=4", f"out={out}", "progress=False"])
    with pytest.raises(ConfigError, match=f"maze env's pairs have no {what} features"):
        train_energy(cfg)
    assert not out.exists()
