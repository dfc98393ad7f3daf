"""What each command does, as functions of a Config: train-energy, train, play, viz, quickstart.

The CLI parses arguments and calls these; nothing here imports the CLI.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from near.config import Config, ConfigError, to_dict, to_yaml
from near.utils.checkpoint import Checkpointer, CheckpointError, load, load_meta
from near.utils.logging import (
    MetricLogger,
    NonFiniteError,
    prepare_run_dir,
    progress_bar,
    truncate_metrics,
    write_json,
)

# ----------------------------------------------------------------------------------------------
# environments and demonstrations


def make_env(cfg: Config):
    if cfg.task.env == "maze":
        from near.envs.maze import MazeConfig, MazeEnv

        return MazeEnv(MazeConfig(max_steps=cfg.task.max_episode_steps))
    if cfg.task.env == "pusht":
        from near.envs.pusht import PushTConfig, PushTEnv

        return PushTEnv(PushTConfig(max_steps=cfg.task.max_episode_steps))
    if cfg.task.env == "humanoid":
        return make_humanoid_env(cfg)
    raise ConfigError(f"unknown env {cfg.task.env!r} (task {cfg.task.name}); available: maze, pusht, humanoid")


MOTION_HELP = ("pass motion=PATH: a motion-set yaml ({motions: [{file, weight}]}), a poselib .npy clip or a "
               "DeepMimic humanoid3d_*.txt clip (e.g. the NEAR walk set amp_humanoid_walk.yaml, or "
               "pybullet_data/data/motions/humanoid3d_walk.txt from `pip install pybullet`)")


def make_humanoid_env(cfg: Config):
    from near.envs.humanoid.env import HumanoidConfig, HumanoidEnv, reward_types_for
    from near.envs.humanoid.model import PhysicsConfig
    from near.motion.library import load_library

    t = cfg.task
    if not cfg.motion:
        raise ConfigError(f"task {t.name} imitates motion clips: {MOTION_HELP}")
    library = load_library(os.path.expanduser(cfg.motion), drop_tpose_frame=t.drop_tpose_frame,
                           dedupe_frames=t.dedupe_frames)
    try:
        env_cfg = HumanoidConfig(
            episode_length=t.max_episode_steps, termination_height=t.termination_height,
            early_termination=t.early_termination, state_init=t.state_init, hybrid_init_prob=t.hybrid_init_prob,
            reward_types=tuple(t.reward_types) or reward_types_for(cfg.motion), local_root_obs=t.local_root_obs,
            physics=PhysicsConfig(**dataclasses.asdict(t.physics)))
        return HumanoidEnv(library, env_cfg)
    except ValueError as exc:
        raise ConfigError(f"task {t.name}: {exc}") from None


PUSHT_DATA_HELP = ("push-T has no scripted expert: pass task.data=PATH, the Diffusion Policy replay store "
                   "pusht_cchi_v7_replay.zarr (206 human episodes; data/state (N, 5) = agent x, y, block x, y, "
                   "angle; in this project /work/shared/data/pusht/pusht_cchi_v7_replay.zarr, originally "
                   "data/pusht/ of the NEAR / Diffusion Policy repos, spec near-environments.md §6.2)")

STATE_DIMS = {"maze": (2, "x, y"), "pusht": (5, "agent x, agent y, block x, block y, block angle")}


def load_demos(cfg: Config):
    """The task's demonstrations: a zarr store (task.data) or, on the maze, the scripted expert."""
    if cfg.task.env not in STATE_DIMS:
        raise ConfigError(f"no demonstrations defined for env {cfg.task.env!r}")
    if cfg.task.env == "pusht" and not cfg.task.data:
        raise ConfigError(f"task {cfg.task.name}: {PUSHT_DATA_HELP}")
    if cfg.task.data:
        from near.data.demos import load_zarr_demos

        demos = load_zarr_demos(os.path.expanduser(cfg.task.data))
        dim, names = STATE_DIMS[cfg.task.env]
        if demos.state_dim != dim:
            raise ConfigError(f"{cfg.task.data}: {cfg.task.env} demos need {dim} numbers per state ({names}), "
                              f"found {demos.state_dim}")
        if cfg.task.demo_drop_repeated or cfg.task.demo_upsample > 1:
            from near.data.demos import resample_demos

            demos = resample_demos(demos, drop_repeated=cfg.task.demo_drop_repeated, upsample=cfg.task.demo_upsample)
        return demos
    from near.envs.maze_expert import generate_maze_demos

    return generate_maze_demos(cfg.task.num_demo_episodes, seed=cfg.seed)


def demo_pairs(cfg: Config, env=None) -> np.ndarray:
    from near.data.demos import transition_pairs

    env = env or make_env(cfg)
    if cfg.task.env == "humanoid":  # pairs drawn from the motion library at random clips and times
        sample = jax.jit(env.demo_pairs, static_argnums=1)
        return np.asarray(sample(jax.random.PRNGKey(cfg.seed), cfg.task.num_demo_pairs))
    return transition_pairs(load_demos(cfg), order=env.pair_order)


def default_out(cfg: Config, command: str) -> str:
    return cfg.out or os.path.join("runs", f"{cfg.task.name}-{command}-{time.strftime('%Y%m%d-%H%M%S')}")


def _episodes(result: dict) -> list[np.ndarray]:
    """Per-episode observations (length + 1, obs_dim) of a run_episodes / run_cem result."""
    obs, lengths = result["observations"], result["episode_length"]
    return [obs[: lengths[i] + 1, i] for i in range(obs.shape[1])]


def step_seconds(env_name: str) -> float | None:
    """Seconds per env step (the sampling period of SPARC); None where unknown."""
    if env_name == "maze":
        from near.envs.maze import MazeConfig

        return MazeConfig().step_seconds
    if env_name == "pusht":
        from near.envs.pusht import PushTConfig

        return PushTConfig().substeps * PushTConfig().dt
    return None


def task_metrics(env_name: str, result: dict) -> dict:
    """Env-specific evaluation numbers: the smoothness of the agent's 2-D path (SPARC, near.eval.metrics)
    and, on push-T, the coverage of the goal T at the end of each episode."""
    out = {}
    if env_name == "humanoid":
        return dict(result.get("humanoid", {}))
    if env_name in ("maze", "pusht"):  # observations start with the agent's x, y
        from near.eval.metrics import path_metrics

        out.update(path_metrics([e[:, :2] for e in _episodes(result)], step_seconds(env_name)))
    if env_name != "pusht":
        return out
    from near.viz.pusht_plots import states_coverage

    final = np.array([states_coverage(e[-1:])[0] for e in _episodes(result)])
    return {**out, "final_coverage": float(final.mean()),
            "final_coverage_per_episode": [round(float(c), 4) for c in final]}


def eval_scalars(env_name: str, result: dict) -> dict:
    """The scalar numbers of an evaluation result: success, return, length and the task's metrics."""
    out = {"success_rate": result["success_rate"], "episode_return": result["mean_return"],
           "episode_length": result["mean_length"]}
    out.update({k: v for k, v in task_metrics(env_name, result).items() if np.isscalar(v)})
    return out


def plot_episodes(cfg: Config, result: dict, path: str, title: str, demo_states=None) -> str:
    """The trajectories PNG of an evaluation: the maze plane, or a grid of push-T episodes."""
    episodes = _episodes(result)
    if cfg.task.env == "pusht":
        from near.viz.pusht_plots import plot_pusht_episodes

        return plot_pusht_episodes(episodes, path, success=list(result["success"]), title=title)
    from near.viz.maze_plots import plot_trajectories

    return plot_trajectories(episodes, path, demo_states=demo_states, success=list(result["success"]), title=title)


def render_episode(cfg: Config, states: np.ndarray, size: int = 256) -> np.ndarray:
    if cfg.task.env == "pusht":
        from near.viz.pusht_plots import render_pusht_frames, states_coverage

        return render_pusht_frames(states, states_coverage(states), size=size)
    from near.viz.maze_plots import render_maze_frames

    return render_maze_frames(states, size=size)


def _write_config(run_dir: str, cfg: Config) -> None:
    with open(os.path.join(run_dir, "config.yaml"), "w") as fh:
        fh.write(to_yaml(cfg))


# ----------------------------------------------------------------------------------------------
# step 1: the energy model


def train_energy(cfg: Config) -> dict:
    from near.energy.train import fit, load_energy_model, ranking_accuracy

    env = make_env(cfg)
    pairs = demo_pairs(cfg, env)  # read the demos before touching the run folder
    run_dir = prepare_run_dir(default_out(cfg, "energy"), resume=cfg.resume)
    _write_config(run_dir, cfg)
    start = time.time()
    meta = {"task": cfg.task.name, "env": cfg.task.env, "data": cfg.task.data or "generated", "config": to_dict(cfg)}
    _, last = fit(cfg.energy, pairs, run_dir, seed=cfg.seed, meta=meta, resume=cfg.resume, show_progress=cfg.progress)
    model, _ = load_energy_model(run_dir)
    rng = np.random.default_rng(cfg.seed)
    random_pairs = _random_pairs(env, pairs, rng, len(pairs))
    levels = sorted({0, cfg.energy.num_levels // 2, cfg.energy.num_levels - 1})
    accuracy = {f"rank_accuracy/level_{c}": ranking_accuracy(model, pairs[:4096], random_pairs[:4096], c) for c in levels}
    summary = {"kind": "energy", "task": cfg.task.name, "run_dir": run_dir, "num_pairs": len(pairs),
               "wall_seconds": round(time.time() - start, 2), "final_loss": last.get("loss"),
               "test_loss": last.get("test_loss"), **accuracy}
    write_json(os.path.join(run_dir, "summary.json"), summary)
    return summary


def _random_pairs(env, pairs: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Pairs of uniformly random states within the demos' bounding box: the 'not expert' reference."""
    d = pairs.shape[1] // 2
    states = np.concatenate([pairs[:, :d], pairs[:, d:]])
    low, high = states.min(0), states.max(0)
    return rng.uniform(np.tile(low, 2), np.tile(high, 2), size=(n, 2 * d)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# step 2: the policy


def make_style(cfg: Config, env):
    """The style reward of the task's algorithm: the only thing that differs between methods."""
    from near.rl.ppo import NoStyle

    algo = cfg.task.algo
    if algo == "NEAR":
        from near.energy.train import load_energy_model
        from near.rl.near import NEARReward

        if not cfg.energy.checkpoint:
            raise ConfigError("task NEAR needs a trained energy model: pass energy.checkpoint=RUN_DIR "
                              "(made by `near train-energy`)")
        model, meta = load_energy_model(cfg.energy.checkpoint, expect_pair_dim=2 * env.pair_state_dim,
                                        expect_env=cfg.task.env)
        return NEARReward(model, cfg.reward), meta
    if algo == "AMP":
        from near.rl.amp import AMPReward

        steps = cfg.train.update_epochs * (cfg.train.batch_size // cfg.train.minibatch_size)
        return AMPReward(demo_pairs(cfg, env), cfg.amp, updates_per_iteration=steps), {}
    if algo == "PPO":
        return NoStyle(), {}
    raise ConfigError(f"algorithm {algo!r} is not available yet (task {cfg.task.name})")


def _check_finite(metrics: dict, iteration: int, run_dir: str) -> None:
    bad = [k for k, v in metrics.items() if not np.all(np.isfinite(np.asarray(v))) and not k.startswith("episode")
           and k != "success_rate"]
    if bad:
        raise NonFiniteError(f"policy training produced non-finite {', '.join(sorted(bad))} by iteration {iteration} "
                             f"(run {run_dir}); the last good checkpoint is kept")


def train_policy(cfg: Config) -> dict:
    if cfg.task.algo == "CEM":
        return run_cem_task(cfg)
    from near.envs.core import AutoReset
    from near.rl.ppo import make_train, summarize_chunk

    env = make_env(cfg)
    wrapped = AutoReset(env)
    style, _ = make_style(cfg, env)
    run_dir = prepare_run_dir(default_out(cfg, "train"), resume=cfg.resume)
    _write_config(run_dir, cfg)
    p = cfg.train
    if cfg.task.algo == "AMP":
        p = dataclasses.replace(p, learn_std=False)
    init, train_chunk = make_train(p, wrapped, style, cfg.reward)
    state = init(jax.random.PRNGKey(cfg.seed))
    meta = {"kind": "policy", "task": cfg.task.name, "env": cfg.task.env, "algo": cfg.task.algo,
            "obs_dim": env.obs_dim, "action_dim": env.action_dim, "config": to_dict(cfg)}
    ckpt = Checkpointer(os.path.join(run_dir, "checkpoints"))
    wall_offset = 0.0
    if cfg.resume and ckpt.latest_step() is not None:
        restored = load(run_dir, model_target=_model_item(state), train_target=_train_item(state),
                        items=("model", "train", "meta"))
        state = _restore_state(state, restored["model"], restored["train"])
        wall_offset = float(restored["meta"].get("wall_seconds", 0.0))
        truncate_metrics(run_dir, int(state.iteration) * p.batch_size)

    logger = MetricLogger(run_dir)
    logger.start -= wall_offset
    save_video = periodic_eval = None
    total = p.num_iterations
    last: dict = {}
    progress, desc, _ = progress_bar(f"{cfg.task.name} PPO", total, disable=not cfg.progress)
    with progress:
        bar = progress.add_task(desc, total=total, completed=int(state.iteration), info="")
        while int(state.iteration) < total:
            if p.time_limit_s and time.time() - logger.start >= p.time_limit_s:
                if ckpt.latest_step() != int(state.iteration):
                    meta["wall_seconds"] = time.time() - logger.start
                    ckpt.save(int(state.iteration), _model_item(state), _train_item(state), meta)
                break
            n = min(p.iterations_per_log, total - int(state.iteration))
            new_state, metrics = train_chunk(state, n)
            iteration = int(new_state.iteration)
            host = jax.device_get(metrics)  # the chunk's per-iteration metrics, stacked by lax.scan
            _check_finite(summarize_chunk(host), iteration, run_dir)
            state = new_state
            for i in range(n):
                record = summarize_chunk({k: v[i : i + 1] for k, v in host.items()})
                it = iteration - n + i + 1
                record["iteration"] = it
                last = logger.log(it * p.batch_size, {"env_steps": it * p.batch_size, **record})
            last = dict(last, **{k: v for k, v in summarize_chunk(host).items() if k in
                                 ("episode_return", "success_rate", "episode_length")})
            info = f"return {last['episode_return']:.1f} success {last['success_rate']:.2f}"
            if "sigma_level" in last:
                info += f" level {int(last['sigma_level'])}"
            progress.update(bar, completed=iteration, info=info)
            if iteration % p.checkpoint_every < n or iteration == total:
                meta["wall_seconds"] = time.time() - logger.start
                ckpt.save(iteration, _model_item(state), _train_item(state), meta)
            if p.video_every and (iteration % p.video_every < n or iteration == total):
                save_video = save_video or training_video(cfg, env, run_dir)
                save_video(state, iteration)
            if p.eval_every and iteration % p.eval_every < n:
                periodic_eval = periodic_eval or make_policy_evaluator(cfg, env, p.eval_episodes, train_cfg=p)
                scores = eval_scalars(cfg.task.env, periodic_eval(state.params, state.obs_stats,
                                                                 jax.random.PRNGKey(cfg.seed + 20_000 + iteration)))
                logger.log(iteration * p.batch_size, {"env_steps": iteration * p.batch_size, "iteration": iteration,
                                                      **{f"eval/{k}": v for k, v in scores.items()}})
    logger.close()
    ckpt.close()

    evaluation = evaluate_policy(cfg, run_dir, state=state, env=env, episodes=p.eval_episodes, evaluator=periodic_eval)
    summary = {
        "kind": "policy", "task": cfg.task.name, "algo": cfg.task.algo, "run_dir": run_dir, "seed": cfg.seed,
        "env_steps": int(state.iteration) * p.batch_size, "iterations": int(state.iteration),
        "wall_seconds": round(time.time() - logger.start, 2),
        "success_rate": evaluation["success_rate"], "episode_length": evaluation["mean_length"],
        "task_return": evaluation["mean_return"], "eval_episodes": p.eval_episodes,
        "train_success_rate_last": last.get("success_rate"), "train_episode_return_last": last.get("episode_return"),
        "style_reward_last": last.get("style_reward"), "sigma_level_last": last.get("sigma_level"),
        "energy_checkpoint": cfg.energy.checkpoint if cfg.task.algo == "NEAR" else None,
        **task_metrics(cfg.task.env, evaluation),
    }
    write_json(os.path.join(run_dir, "summary.json"), summary)
    from near.utils.logging import smoothed_metrics
    from near.viz.maze_plots import plot_learning_curves

    plot_learning_curves(smoothed_metrics(run_dir), os.path.join(run_dir, "learning_curves.png"),
                         keys=["success_rate", "episode_return", "episode_length", "style_reward", "sigma_level",
                               "energy", "critic_loss", "log_std", "eval/success_rate", "eval/fall_rate",
                               "eval/pose_error"], title=f"{cfg.task.name} (seed {cfg.seed}; episode statistics: mean of the last 10 iterations)")
    return summary


def run_cem_task(cfg: Config) -> dict:
    """task.algo=CEM: model-predictive CEM with the simulator and the energy reward (near.rl.cem).

    Nothing is trained; the run folder gets config.yaml, summary.json (train_policy's keys plus
    planning ones), a one-record metrics.jsonl and trajectories.png.
    """
    from near.rl.cem import run_cem, validate_cem

    c = cfg.cem
    try:
        validate_cem(c)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if cfg.resume:
        raise ConfigError("CEM trains nothing, so there is nothing to resume; drop resume=True")
    env = make_env(cfg)
    energy_fn, sigma = None, None
    if c.energy_weight != 0:
        from near.energy.train import load_energy_model

        if not cfg.energy.checkpoint:
            raise ConfigError("task CEM scores plans with a trained energy model: pass energy.checkpoint=RUN_DIR "
                              "(made by `near train-energy`), or cem.energy_weight=0 for task reward only")
        model, _ = load_energy_model(cfg.energy.checkpoint, expect_pair_dim=2 * env.pair_state_dim,
                                     expect_env=cfg.task.env)
        if not 0 <= c.sigma_level < model.sigmas.shape[0]:
            raise ConfigError(f"cem.sigma_level must be in [0, {model.sigmas.shape[0] - 1}], got {c.sigma_level}")
        energy_fn, sigma = model.energy, float(model.sigmas[c.sigma_level])
    run_dir = prepare_run_dir(default_out(cfg, "train"))
    _write_config(run_dir, cfg)
    logger = MetricLogger(run_dir)
    max_steps = c.max_steps or cfg.task.max_episode_steps
    result = run_cem(env, energy_fn, c, jax.random.PRNGKey(cfg.seed if c.seed < 0 else c.seed), max_steps)
    logger.log(result["env_steps"], {"env_steps": result["env_steps"], "iteration": 0,
                                     "success_rate": result["success_rate"], "episode_return": result["mean_return"],
                                     "episode_length": result["mean_length"], "energy": result["mean_energy"],
                                     "planning_score": result["mean_planning_score"]})
    logger.close()
    plot = plot_episodes(cfg, result, os.path.join(run_dir, "trajectories.png"),
                         title=f"{cfg.task.name}: success {result['success_rate']:.0%}")
    summary = {
        "kind": "policy", "task": cfg.task.name, "algo": "CEM", "run_dir": run_dir, "seed": cfg.seed,
        "env_steps": result["env_steps"], "iterations": 0, "wall_seconds": round(time.time() - logger.start, 2),
        "success_rate": result["success_rate"], "episode_length": result["mean_length"],
        "task_return": result["mean_return"], "eval_episodes": c.episodes,
        "planning_score": result["mean_planning_score"], "energy": result["mean_energy"], "sigma_level": c.sigma_level,
        "sigma": sigma, "horizon": c.horizon, "population": c.population, "refits": c.refits,
        "sim_steps": result["sim_steps"], "compile_seconds": round(result["compile_seconds"], 2),
        "run_seconds": round(result["run_seconds"], 2), "seconds_per_step": result["seconds_per_step"],
        "energy_checkpoint": cfg.energy.checkpoint if energy_fn is not None else None, "trajectories": plot,
        **task_metrics(cfg.task.env, result),
    }
    write_json(os.path.join(run_dir, "summary.json"), summary)
    return summary


def _model_item(state) -> dict:
    return {"params": state.params, "obs_stats": state.obs_stats, "value_stats": state.value_stats}


def _train_item(state) -> dict:
    return {"opt_state": state.opt_state, "env_state": state.env_state, "obs": state.obs,
            "reward_state": state.reward_state, "key": state.key, "iteration": state.iteration}


def _restore_state(state, model: dict, train: dict):
    return state.replace(params=model["params"], obs_stats=model["obs_stats"], value_stats=model["value_stats"],
                         **train)


# ----------------------------------------------------------------------------------------------
# using a trained policy


def load_policy(cfg: Config, path: str):
    """(cfg of the run, params, obs_stats) of a policy checkpoint, checked against the task."""
    from near.config import from_dict
    from near.rl.ppo import make_networks
    from near.utils.running_stats import RunningStats

    meta = load_meta(path)
    if meta.get("kind") != "policy":
        raise CheckpointError(f"{path} is not a policy checkpoint (kind={meta.get('kind')!r}); "
                              f"energy models are used with energy.checkpoint=... or `near viz energy`")
    if cfg.task.env != meta.get("env"):
        raise CheckpointError(f"checkpoint {path} is a {meta.get('task')} policy (env {meta.get('env')!r}), "
                              f"not for task {cfg.task.name} (env {cfg.task.env!r})")
    run_cfg = from_dict(meta["config"])
    actor, critic = make_networks(run_cfg.train, meta["action_dim"])
    dummy = jnp.zeros((1, meta["obs_dim"]))
    key = jax.random.PRNGKey(0)
    target = {"params": {"actor": actor.init(key, dummy), "critic": critic.init(key, dummy)},
              "obs_stats": RunningStats.create(meta["obs_dim"]), "value_stats": RunningStats.create(1)}
    model = load(path, model_target=target, items=("model",))["model"]
    return run_cfg, model["params"], model["obs_stats"], meta


def make_policy_evaluator(cfg: Config, env, episodes: int, *, deterministic: bool = True,
                          train_cfg=None) -> Callable:
    """``evaluate(params, obs_stats, key) -> result``: evaluation episodes of a policy, compiled once.

    Used at the end of training, by ``near eval`` and every ``train.eval_every`` iterations. Humanoid
    results also carry the pose error, smoothness and fall rate under ``result["humanoid"]``.
    """
    from near.rl.evaluate import make_episode_runner
    from near.rl.ppo import act

    train_cfg = train_cfg or cfg.train

    def policy(args, obs, key):
        params, obs_stats = args
        return act(params, train_cfg, obs_stats, obs, env.action_dim, None if deterministic else key)

    humanoid = cfg.task.env == "humanoid"
    runner = make_episode_runner(env, policy, episodes, cfg.task.max_episode_steps,
                                 record=("body_pos", "qpos") if humanoid else ())
    references = reference_trajectories(env) if humanoid else None

    def evaluate(params, obs_stats, key) -> dict:
        result = runner((params, obs_stats), key)
        if humanoid:
            result["humanoid"] = humanoid_metrics(env, result, cfg.task.max_episode_steps, references)
        return result

    return evaluate


def evaluate_policy(cfg: Config, run_dir: str, *, state=None, env=None, episodes: int = 32,
                    deterministic: bool = True, seed: int | None = None, evaluator: Callable | None = None) -> dict:
    env = env or make_env(cfg)
    if state is not None:
        run_cfg, params, obs_stats = cfg, state.params, state.obs_stats
    else:
        run_cfg, params, obs_stats, _ = load_policy(cfg, run_dir)
    evaluate = evaluator or make_policy_evaluator(cfg, env, episodes, deterministic=deterministic,
                                                  train_cfg=run_cfg.train)
    return evaluate(params, obs_stats, jax.random.PRNGKey(cfg.seed + 10_000 if seed is None else seed))


def reference_trajectories(env) -> list[np.ndarray]:
    """Each clip's body positions (T_c, 15, 3) every control step, for the DTW pose error."""
    from near.eval.metrics import sample_clip

    lib = env.library
    starts, frames, fps = (np.asarray(x) for x in (lib.clip_start, lib.clip_frames, lib.clip_fps))
    body_pos = np.asarray(lib.body_pos)
    return [sample_clip(body_pos[s : s + n], 1.0 / f, env.control_dt) for s, n, f in zip(starts, frames, fps)]


def humanoid_metrics(env, result: dict, max_steps: int, references: list[np.ndarray]) -> dict:
    """Pose error (DTW against each clip of ``references``, see reference_trajectories), root smoothness
    and fall rate of a humanoid evaluation.

    The original scores the 20 envs with the highest learnt return (energy or discriminator reward);
    we rank by task return, which needs no reward model at evaluation time.
    """
    from near.eval.evaluate import humanoid_eval_metrics

    first = result["body_pos"][:1]  # the reset frame is not recorded; repeat the first step's
    rollout = {"body_pos": np.concatenate([first, result["body_pos"]]), "learnt_return": result["episode_return"],
               "episode_return": result["episode_return"], "episode_length": result["episode_length"],
               "max_steps": max_steps - 1}
    out = humanoid_eval_metrics(rollout, references, dt=env.control_dt,
                                k=min(20, len(result["episode_return"])))
    return {k: v for k, v in out.items() if np.isscalar(v)}


def _is_cem_run(path: str) -> bool:
    summary = os.path.join(os.path.expanduser(path), "summary.json")
    if not os.path.exists(summary):
        return False
    with open(summary) as fh:
        return json.load(fh).get("algo") == "CEM"


def _replan_cem(cfg: Config, run_dir: str) -> dict:
    """A CEM run has no weights: playing it plans again with the run's own settings."""
    from omegaconf import OmegaConf

    from near.config import from_dict
    from near.energy.train import load_energy_model
    from near.rl.cem import run_cem

    run_cfg = from_dict(OmegaConf.to_container(OmegaConf.load(os.path.join(os.path.expanduser(run_dir), "config.yaml"))))
    if run_cfg.task.env != cfg.task.env:
        raise CheckpointError(f"{run_dir} is a CEM run on env {run_cfg.task.env!r}, not {cfg.task.env!r}")
    env = make_env(run_cfg)
    energy_fn = None
    if run_cfg.cem.energy_weight != 0:
        energy_fn = load_energy_model(run_cfg.energy.checkpoint, expect_pair_dim=2 * env.pair_state_dim)[0].energy
    c = dataclasses.replace(run_cfg.cem, episodes=cfg.episodes, num_envs=min(run_cfg.cem.num_envs, cfg.episodes))
    return run_cem(env, energy_fn, c, jax.random.PRNGKey(cfg.seed + 10_000), c.max_steps or run_cfg.task.max_episode_steps)


def play(cfg: Config) -> dict:
    """Roll a trained policy out: trajectories PNG, video, eval.json."""
    from near.viz.video import frame_strip, write_video

    if not cfg.checkpoint:
        raise ConfigError("play needs checkpoint=RUN_DIR (a run folder made by `near train`)")
    if cfg.task.env == "humanoid":
        return play_humanoid(cfg)
    if _is_cem_run(cfg.checkpoint):
        result = _replan_cem(cfg, cfg.checkpoint)
    else:
        result = evaluate_policy(cfg, cfg.checkpoint, episodes=cfg.episodes)  # checks the checkpoint first
    out = cfg.out or os.path.join(os.path.abspath(os.path.expanduser(cfg.checkpoint)), "play")
    os.makedirs(out, exist_ok=True)
    trajectories = _episodes(result)
    demos = None
    if cfg.task.env == "maze":
        try:
            demos = load_demos(cfg).states
        except Exception:  # noqa: BLE001 - the overlay is optional
            pass
    files = {"trajectories": plot_episodes(cfg, result, os.path.join(out, "trajectories.png"), demo_states=demos,
                                           title=f"{cfg.task.name}: success {result['success_rate']:.0%}")}
    if cfg.video:
        frames = render_episode(cfg, trajectories[0], size=256)
        files["video"] = write_video(frames, os.path.join(out, "episode0.mp4"), fps=30 if cfg.task.env == "maze" else 10)
        import imageio.v3 as iio

        files["strip"] = os.path.join(out, "episode0_strip.png")
        iio.imwrite(files["strip"], frame_strip(frames, 6))
    summary = {"checkpoint": cfg.checkpoint, "episodes": cfg.episodes, "success_rate": result["success_rate"],
               "episode_length": result["mean_length"], "task_return": result["mean_return"],
               **task_metrics(cfg.task.env, result), "files": files}
    write_json(os.path.join(out, "eval.json"), summary)
    return summary


def make_reference_rollout(cfg: Config, env, run_cfg, clip: int = 0, start: float = 0.0):
    """``rollout(params, obs_stats) -> (policy qpos (T+1, 43), reference qpos (T+1, 43), length)``: a
    deterministic episode from the reference state of one clip at ``start`` seconds, beside the clip
    itself over the same steps. Compiled once; call it with any parameters of the same networks."""
    from near.envs.humanoid import model as hm
    from near.motion.library import motion_state
    from near.rl.ppo import act

    steps = cfg.task.max_episode_steps - 1
    times = start + jnp.arange(steps + 1) * env.control_dt
    motion = motion_state(env.library, jnp.full(steps + 1, clip, jnp.int32), times)  # holds the last frame
    reference = np.asarray(hm.qpos_from_pose(env.layout, motion.root_pos, motion.root_rot, motion.dof_pos))

    @jax.jit
    def episode(params, obs_stats, motion):
        state = env.state_from_motion(jax.tree.map(lambda x: x[0], motion))

        def step(carry, _):
            state, alive = carry
            action = act(params, run_cfg.train, obs_stats, state.obs[None], env.action_dim)[0]
            new, _, _, done, _ = env.step(state, action)
            state = jax.tree.map(lambda n, o: jnp.where(alive, n, o), new, state)
            return (state, alive & ~done), (state.qpos, alive)

        _, (qpos, alive) = jax.lax.scan(step, (state, jnp.array(True)), None, length=steps)
        return jnp.concatenate([state.qpos[None], qpos]), alive.sum()

    def rollout(params, obs_stats):
        qpos, length = episode(params, obs_stats, motion)
        return np.asarray(qpos), reference, int(length)

    return rollout


def training_video(cfg: Config, env, run_dir: str):
    """``save(state, iteration) -> path``: a short video of the current policy (``train.video_every``)."""
    from near.viz.video import write_video

    folder = os.path.join(run_dir, "videos")
    if cfg.task.env == "humanoid":
        from near.viz.humanoid_video import render_humanoid

        rollout = make_reference_rollout(cfg, env, cfg)

        def save(state, iteration: int) -> str:
            qpos, reference, length = rollout(state.params, state.obs_stats)
            n = min(len(qpos), length + 15)  # the episode and half a second after it ends
            return render_humanoid(os.path.join(folder, f"iteration_{iteration:06d}.mp4"), qpos[:n],
                                   1.0 / env.control_dt, reference_qpos=reference[:n], size=(240, 320))
        return save

    def save(state, iteration: int) -> str:
        result = evaluate_policy(cfg, run_dir, state=state, env=env, episodes=1)
        frames = render_episode(cfg, _episodes(result)[0], size=192)
        return write_video(frames, os.path.join(folder, f"iteration_{iteration:06d}.mp4"),
                           fps=30 if cfg.task.env == "maze" else 10)
    return save


def play_humanoid(cfg: Config) -> dict:
    """The humanoid's play: evaluation metrics over cfg.episodes episodes, and a video of the policy
    beside the reference clip (both from the clip's first frame), rendered with MuJoCo where OpenGL
    works and matplotlib otherwise (near.viz.humanoid_video)."""
    from near.viz.humanoid_video import render_frame_strip, render_humanoid

    env = make_env(cfg)
    run_cfg, params, obs_stats, _ = load_policy(cfg, cfg.checkpoint)
    result = evaluate_policy(cfg, cfg.checkpoint, env=env, episodes=cfg.episodes)
    out = cfg.out or os.path.join(os.path.abspath(os.path.expanduser(cfg.checkpoint)), "play")
    os.makedirs(out, exist_ok=True)
    files = {}
    if cfg.video:
        qpos, reference, length = make_reference_rollout(cfg, env, run_cfg)(params, obs_stats)
        fps = 1.0 / env.control_dt
        files["video"] = render_humanoid(os.path.join(out, "episode0.mp4"), qpos, fps, reference_qpos=reference)
        files["strip"] = render_frame_strip(os.path.join(out, "episode0_strip.png"), qpos[: max(length, 2)], n=6,
                                            reference_qpos=reference[: max(length, 2)], fps=fps)
    summary = {"checkpoint": cfg.checkpoint, "episodes": cfg.episodes, "success_rate": result["success_rate"],
               "episode_length": result["mean_length"], "task_return": result["mean_return"],
               **task_metrics(cfg.task.env, result), "files": files}
    write_json(os.path.join(out, "eval.json"), summary)
    return summary


# ----------------------------------------------------------------------------------------------
# visualisation of the energy landscape


def viz_energy(cfg: Config, out_path: str | None = None, levels: list[int] | None = None) -> str:
    from near.energy.train import load_energy_model
    from near.viz.maze_plots import energy_landscape, plot_energy_landscape

    if not cfg.checkpoint:
        raise ConfigError("viz energy needs checkpoint=RUN_DIR (a run folder made by `near train-energy`)")
    model, meta = load_energy_model(cfg.checkpoint)
    if meta.get("env") != "maze":
        raise ConfigError(f"viz energy draws the maze plane; checkpoint {cfg.checkpoint} is for env {meta.get('env')!r}")
    num_levels = int(model.sigmas.shape[0])
    levels = levels or sorted({0, num_levels // 4, num_levels // 2, (3 * num_levels) // 4, num_levels - 1})
    run_cfg_data = meta.get("config", {}).get("task", {}).get("data", "")
    demos = None
    try:
        demos = load_demos(dataclasses.replace(cfg, task=dataclasses.replace(cfg.task, data=run_cfg_data))).states
    except Exception:  # noqa: BLE001
        pass
    step = 3.5
    if demos is not None and len(demos) > 1:
        steps = np.linalg.norm(np.diff(demos, axis=0), axis=1)
        step = float(np.median(steps[(steps > 0) & (steps < 50)]))
    energy = jax.jit(model.energy)
    landscape = energy_landscape(lambda pairs, level: np.asarray(energy(jnp.asarray(pairs), level)),
                                 levels=levels, sigmas=np.asarray(model.sigmas), step=step)
    out_path = out_path or os.path.join(os.path.abspath(os.path.expanduser(cfg.checkpoint)), "energy_landscape.png")
    return plot_energy_landscape(landscape, levels=levels, sigmas=np.asarray(model.sigmas), path=out_path,
                                 demo_states=demos, title=f"energy landscape ({meta.get('task')}), pair step {step:.1f} px")


def load_train_state(cfg: Config, path: str):
    """The full training state of a policy run (for the reward model inside it, e.g. AMP's discriminator)."""
    from near.config import from_dict
    from near.envs.core import AutoReset
    from near.rl.ppo import make_train

    meta = load_meta(path)
    if meta.get("kind") != "policy":
        raise CheckpointError(f"{path} is not a policy run (kind={meta.get('kind')!r})")
    run_cfg = from_dict(meta["config"])
    env = make_env(run_cfg)
    style, _ = make_style(run_cfg, env)
    p = dataclasses.replace(run_cfg.train, learn_std=run_cfg.task.algo != "AMP" and run_cfg.train.learn_std)
    init, _ = make_train(p, AutoReset(env), style, run_cfg.reward)
    template = init(jax.random.PRNGKey(0))
    restored = load(path, model_target=_model_item(template), train_target=_train_item(template),
                    items=("model", "train"))
    return run_cfg, style, _restore_state(template, restored["model"], restored["train"])


def viz_disc(cfg: Config, out_path: str | None = None) -> str:
    """AMP's reward -log(1 - D) over the maze plane (best direction per point), like the energy view."""
    from near.viz.maze_plots import energy_landscape, plot_energy_landscape

    if not cfg.checkpoint:
        raise ConfigError("viz disc needs checkpoint=RUN_DIR (a run folder made by `near train task=mazeAMP`)")
    meta = load_meta(cfg.checkpoint)
    if meta.get("algo") != "AMP":
        raise ConfigError(f"viz disc needs an AMP run; {cfg.checkpoint} is a {meta.get('algo')!r} run")
    if meta.get("env") != "maze":
        raise ConfigError(f"viz disc draws the maze plane; checkpoint {cfg.checkpoint} is for env {meta.get('env')!r}")
    run_cfg, style, state = load_train_state(cfg, cfg.checkpoint)
    demos = load_demos(run_cfg).states
    steps = np.linalg.norm(np.diff(demos, axis=0), axis=1)
    step = float(np.median(steps[(steps > 0) & (steps < 50)]))
    from near.rl.amp import amp_reward

    reward = jax.jit(lambda pairs: amp_reward(style.logits(state.reward_state, pairs), style.cfg.reward_scale))
    landscape = energy_landscape(lambda pairs, level: np.asarray(reward(jnp.asarray(pairs))), levels=[0],
                                 sigmas=np.zeros(1), step=step)
    out_path = out_path or os.path.join(os.path.abspath(os.path.expanduser(cfg.checkpoint)), "disc_landscape.png")
    return plot_energy_landscape(landscape, levels=[0], sigmas=np.zeros(1), path=out_path, demo_states=demos,
                                 title=f"AMP reward -log(1-D), best of 16 directions, step {step:.1f} px "
                                       f"({meta.get('task')}, iteration {meta.get('step')})")


# ----------------------------------------------------------------------------------------------
# quickstart: the whole maze pipeline


def quickstart(cfg: Config) -> dict:
    start = time.time()
    root = prepare_run_dir(cfg.out or os.path.join("runs", f"quickstart-{time.strftime('%Y%m%d-%H%M%S')}"))
    energy_cfg = dataclasses.replace(cfg, out=os.path.join(root, "energy"), resume=False)
    energy_summary = train_energy(energy_cfg)
    landscape = viz_energy(dataclasses.replace(cfg, checkpoint=energy_summary["run_dir"]),
                           out_path=os.path.join(root, "energy_landscape.png"))
    policy_cfg = dataclasses.replace(cfg, out=os.path.join(root, "policy"), resume=False,
                                     energy=dataclasses.replace(cfg.energy, checkpoint=energy_summary["run_dir"]))
    policy_summary = train_policy(policy_cfg)
    play_cfg = dataclasses.replace(policy_cfg, out=root, checkpoint=policy_summary["run_dir"],
                                   episodes=max(cfg.train.eval_episodes, 1))
    play_summary = play(play_cfg)
    import shutil

    shutil.copy(os.path.join(policy_summary["run_dir"], "learning_curves.png"), os.path.join(root, "learning_curves.png"))
    summary = {
        "task": cfg.task.name, "data": cfg.task.data or "generated", "seed": cfg.seed,
        "success_rate": play_summary["success_rate"], "episode_length": play_summary["episode_length"],
        "eval_episodes": play_summary["episodes"], "env_steps": policy_summary["env_steps"],
        "wall_seconds": round(time.time() - start, 2),
        "energy_seconds": energy_summary["wall_seconds"], "policy_seconds": policy_summary["wall_seconds"],
        "energy_rank_accuracy_level_0": energy_summary.get("rank_accuracy/level_0"),
        "files": {"energy_landscape": landscape, "learning_curves": os.path.join(root, "learning_curves.png"),
                  **play_summary["files"]},
        "runs": {"energy": energy_summary["run_dir"], "policy": policy_summary["run_dir"]},
    }
    write_json(os.path.join(root, "summary.json"), summary)
    return summary


def summary_table(summary: dict, title: str) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if isinstance(value, (int, float, str)) or value is None:
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console = Console()
    with console.capture() as capture:
        console.print(table)
    return capture.get()


__all__ = ["evaluate_policy", "play", "quickstart", "train_energy", "train_policy", "viz_disc", "viz_energy"]
