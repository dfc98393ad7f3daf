"""What a run config builds: the env, the demonstrations and their state pairs, the style reward.

Shared by the commands and the evaluators (near.eval.policy_eval); it knows no command.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import numpy as np

from near.config import Config, ConfigError

MOTION_HELP = ("pass motion=PATH: a motion-set yaml ({motions: [{file, weight}]}), a poselib .npy clip or a "
               "DeepMimic humanoid3d_*.txt clip (e.g. the NEAR walk set amp_humanoid_walk.yaml, or "
               "pybullet_data/data/motions/humanoid3d_walk.txt from `pip install pybullet`)")

PUSHT_DATA_HELP = ("push-T has no scripted expert: pass task.data=PATH, the Diffusion Policy replay store "
                   "pusht_cchi_v7_replay.zarr (206 human episodes; data/state (N, 5) = agent x, y, block x, y, "
                   "angle; in this project /work/shared/data/pusht/pusht_cchi_v7_replay.zarr, originally "
                   "data/pusht/ of the NEAR / Diffusion Policy repos, spec near-environments.md §6.2)")

STATE_DIMS = {"maze": (2, "x, y"), "pusht": (5, "agent x, agent y, block x, block y, block angle")}


def make_env(cfg: Config):
    if cfg.task.env == "maze":
        from near.envs.maze import MazeConfig, MazeEnv

        return MazeEnv(MazeConfig(max_steps=cfg.task.max_episode_steps))
    if cfg.task.env == "pusht":
        from near.envs.pusht import PushTConfig, PushTEnv

        try:
            return PushTEnv(PushTConfig(max_steps=cfg.task.max_episode_steps, success_bonus=cfg.task.success_bonus,
                                        success_bonus_per_step=cfg.task.success_bonus_per_step))
        except ValueError as exc:
            raise ConfigError(f"task {cfg.task.name}: task.{exc}") from None
    if cfg.task.env == "humanoid":
        return make_humanoid_env(cfg)
    raise ConfigError(f"unknown env {cfg.task.env!r} (task {cfg.task.name}); available: maze, pusht, humanoid")


def make_humanoid_env(cfg: Config):
    from near.envs.humanoid.env import HumanoidConfig, HumanoidEnv, reward_types_for
    from near.envs.humanoid.model import PhysicsConfig
    from near.motion.library import load_library

    t = cfg.task
    if not cfg.motion:
        raise ConfigError(f"task {t.name} imitates motion clips: {MOTION_HELP}")
    library = load_library(os.path.expanduser(cfg.motion), drop_tpose_frame=t.drop_tpose_frame,
                           dedupe_frames=t.dedupe_frames, ground_floating_clips=t.ground_floating_clips)
    reward_types = tuple(t.reward_types) or reward_types_for(cfg.motion)
    # Warp's contact buffer holds the largest batch any program of the command steps
    warp_envs = t.physics.warp_envs or max(cfg.train.num_envs, cfg.train.eval_episodes, cfg.episodes)
    if t.physics.impl == "jax" and jax.default_backend() == "gpu":
        print("humanoid physics: MJX (task.physics.impl=jax) on the GPU; the shipped GPU physics is MuJoCo Warp "
              '(pip install "near[warp]"; task.physics.impl=auto picks it): its converged contact solve walks at '
              "the clips' cadence")
    try:
        env_cfg = HumanoidConfig(
            episode_length=t.max_episode_steps, termination_height=t.termination_height,
            early_termination=t.early_termination, state_init=t.state_init, hybrid_init_prob=t.hybrid_init_prob,
            reward_types=reward_types, dist_full_speed=dist_full_speed_for(t, library, reward_types),
            max_root_up_speed=t.max_root_up_speed,
            local_root_obs=t.local_root_obs,
            pair_span=t.pair_span, tracking=t.tracking,
            physics=PhysicsConfig(**{**dataclasses.asdict(t.physics), "warp_envs": warp_envs}))
        return HumanoidEnv(library, env_cfg)
    except ValueError as exc:
        raise ConfigError(f"task {t.name}: {exc}") from None


def dist_full_speed_for(task, library, reward_types) -> float:
    """The speed at which "dist" pays in full: task.dist_full_speed where set (> 0), else with
    task.dist_at_clip_speed the clips' own mean root speed (an error where that leaves nothing to pay for),
    else 0, the original's scale."""
    if task.dist_full_speed or not task.dist_at_clip_speed:
        return task.dist_full_speed
    if "dist" not in reward_types:  # the crane, the punch: nothing to pay for moving
        return task.dist_full_speed
    from near.motion.library import clip_speed

    speed = clip_speed(library)
    if speed < 0.05:
        raise ConfigError(f"task {task.name}: task.dist_at_clip_speed=true, but the clips hardly move (mean root speed "
                          f"{speed:.3f} m/s), so forward progress has no speed to be paid at; pass task.dist_at_clip_speed=false "
                          "(the original's scale) or task.dist_full_speed=M_PER_S for this motion")
    print(f"forward progress pays in full at {speed:.2f} m/s, the clips' mean root speed (task.dist_at_clip_speed)")
    return speed


PUSHT_STATE_INITS = ("random", "demo", "hybrid")


def training_reset(cfg: Config, env):
    """The reset training's episodes start from (``AutoReset(env, reset=...)``): the env's own, or on
    push-T with ``task.state_init`` demo / hybrid a recorded demonstration state (agent, block pose;
    the agent at rest) with probability 1 (demo) or ``task.hybrid_init_prob`` (hybrid), else the original's
    random start.
    States whose coverage already counts as success are left out. Evaluation keeps ``env.reset``."""
    if cfg.task.env != "pusht" or cfg.task.state_init == "random":
        return env.reset
    if cfg.task.state_init not in PUSHT_STATE_INITS:
        raise ConfigError(f"task {cfg.task.name}: task.state_init must be one of {PUSHT_STATE_INITS} on push-T, "
                          f"got {cfg.task.state_init!r}")
    if not 0.0 <= cfg.task.hybrid_init_prob <= 1.0:
        raise ConfigError(f"task.hybrid_init_prob must be in [0, 1], got {cfg.task.hybrid_init_prob}")
    import jax.numpy as jnp

    from near.envs.pusht import coverage

    states = np.asarray(load_demos(cfg).states, np.float32)
    solved = np.asarray(jax.vmap(coverage)(jnp.asarray(states[:, 2:4]), jnp.asarray(states[:, 4])))
    starts = jnp.asarray(states[solved <= env.config.success_coverage])
    if len(starts) == 0:
        raise ConfigError(f"{cfg.task.data}: every demonstration state already covers the goal; no start to draw")
    p_demo = 1.0 if cfg.task.state_init == "demo" else cfg.task.hybrid_init_prob

    def reset(key):
        k_use, k_pick, k_random = jax.random.split(key, 3)
        agent, block, angle = env.sample_start(k_random)
        demo = starts[jax.random.randint(k_pick, (), 0, len(starts))]
        use = jax.random.uniform(k_use) < p_demo
        return env.reset_to(jnp.where(use, demo[0:2], agent), jnp.where(use, demo[2:4], block),
                            jnp.where(use, demo[4], angle), settle=True)

    return reset


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


def make_style(cfg: Config, env):
    """The style reward of the task's algorithm: the only thing that differs between methods."""
    from near.rl.ppo import NoStyle

    algo = cfg.task.algo
    if algo == "NEAR":
        from near.energy.reward import sign_trap_error
        from near.energy.train import load_energy_model, trained_pair_span
        from near.rl.near import NEARReward

        if not cfg.energy.checkpoint:
            raise ConfigError("task NEAR needs a trained energy model: pass energy.checkpoint=RUN_DIR "
                              "(made by `near train-energy`)")
        model, meta = load_energy_model(cfg.energy.checkpoint, expect_pair_dim=2 * env.pair_state_dim,
                                        expect_env=cfg.task.env)
        trained_span = trained_pair_span(meta)
        if trained_span != cfg.task.pair_span:
            raise ConfigError(f"energy model {cfg.energy.checkpoint} was trained on pairs {trained_span} step(s) apart "
                              f"(task.pair_span={trained_span}); this run's are {cfg.task.pair_span}: pass the same task.pair_span")
        trap = sign_trap_error(model.net.output_activation, cfg.reward)
        if trap:
            raise ConfigError(f"energy model {cfg.energy.checkpoint}: {trap}")
        return NEARReward(model, cfg.reward), meta
    if algo == "AMP":
        from near.rl.amp import AMPReward

        return AMPReward(demo_pairs(cfg, env), cfg.amp, updates_per_iteration=cfg.train.updates_per_iteration), {}
    if algo == "PPO":
        return NoStyle(), {}
    raise ConfigError(f"algorithm {algo!r} is not available yet (task {cfg.task.name})")


__all__ = ["demo_pairs", "load_demos", "make_env", "make_humanoid_env", "make_style"]
