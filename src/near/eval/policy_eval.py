"""Evaluating a policy: deterministic episodes, compiled once, and the numbers of each env.

- :func:`make_policy_evaluator` / :func:`evaluate_policy`: episodes of a policy (end of training,
  ``train.eval_every``, ``near eval``, ``near play``); a CEM run has no weights and plans again
  (:func:`rollout_checkpoint`).
- :func:`task_metrics`: maze / push-T path smoothness (SPARC), push-T's final goal coverage, and the
  humanoid's numbers (:func:`humanoid_metrics`: pose error by DTW against every clip, root smoothness
  and motion, fall rate).
- :func:`make_reference_rollout`: the humanoid from a clip's reference state, beside the clip (videos).

It knows no command (near.commands imports it, never the reverse).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from near.config import Config, physics_overrides
from near.eval import gait as G
from near.eval import metrics as M
from near.factories import make_env
from near.restore import load_policy
from near.rl.evaluate import split_episodes
from near.utils.checkpoint import CheckpointError

# ----------------------------------------------------------------------------------------------
# compiled programs shared within a process
#
# Training, its periodic evaluation and videos, `near eval` and `near play` each build an env and
# the programs that run a policy in it. Tracing a humanoid program (the MJX step) takes seconds and
# compiling it tens of seconds; a process that runs several commands on the same env and networks
# (a sweep's jobs, the tests) reuses the first program instead. The key is everything the program
# bakes in: the env's class, its config and (humanoid) its motion library's arrays, the policy's
# network settings and the sizes; the weights are arguments.

_PROGRAMS: collections.OrderedDict = collections.OrderedDict()
_PROGRAMS_KEPT = 8


def env_key(env) -> tuple:
    """What a compiled program of ``env`` bakes in: its class, config and motion library's arrays."""
    cached = getattr(env, "_program_key", None)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    library = getattr(env, "library", None)
    if library is not None:
        for leaf in jax.tree.leaves(library):
            array = np.asarray(leaf)
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(repr(getattr(library, "clip_names", ())).encode())
    key = (type(env).__module__, type(env).__qualname__, repr(getattr(env, "config", None)), digest.hexdigest())
    try:
        env._program_key = key
    except AttributeError:  # a frozen env: computed again next time
        pass
    return key


def policy_key(train_cfg, action_dim: int) -> tuple:
    """What near.rl.ppo.act bakes in of the run's train config (the networks; the weights are arguments)."""
    # log_std_init acts only at init; min_log_std floors every sampled action's std
    return (tuple(train_cfg.actor_hidden), bool(train_cfg.normalize_obs), float(train_cfg.min_log_std), action_dim)


def on_one_device(tree):
    """The weights a shared program is called with, on the first device (unsharded).

    A training state's arrays are replicated over the training mesh, a checkpoint's come back on one
    device; jit compiles a program anew for each placement (a humanoid episode program: ~20 s of
    tracing and compiling). Putting both on one device lets training's evaluation, ``near eval`` and
    ``near play`` in one process share one program; the numbers are the same (replicated arrays
    hold the same values on every device)."""
    device = jax.devices()[0]
    return jax.device_put(tree, jax.sharding.SingleDeviceSharding(device))


def shared_program(key: tuple, build: Callable):
    """The program built for ``key`` earlier in this process, or ``build()`` (the last few are kept)."""
    key = (*key, jax.config.read("jax_disable_most_optimizations"))  # compiled the same way, too
    if key in _PROGRAMS:
        _PROGRAMS.move_to_end(key)
        return _PROGRAMS[key]
    program = _PROGRAMS[key] = build()
    while len(_PROGRAMS) > _PROGRAMS_KEPT:
        _PROGRAMS.popitem(last=False)
    return program


# ----------------------------------------------------------------------------------------------
# episodes of a policy


def make_policy_evaluator(cfg: Config, env, episodes: int, *, deterministic: bool = True,
                          train_cfg=None) -> Callable:
    """``evaluate(params, obs_stats, key) -> result``: evaluation episodes of a policy, compiled once.

    Used at the end of training, by ``near eval`` and every ``train.eval_every`` iterations. Humanoid
    results also carry the pose error, smoothness and fall rate under ``result["humanoid"]``.
    """
    runner = _episode_program(cfg, env, episodes, deterministic, train_cfg or cfg.train)
    humanoid = cfg.task.env == "humanoid"
    references = reference_trajectories(env) if humanoid else None
    reset_args = _EVALUATION_RESET if humanoid else ()

    def evaluate(params, obs_stats, key) -> dict:
        result = runner(on_one_device((params, obs_stats)), key, reset_args)
        if humanoid:
            result["humanoid"] = humanoid_metrics(env, result, cfg.task.max_episode_steps, references)
        return result

    def compile_ahead(params, obs_stats) -> None:
        """Start compiling the episode program for these weights' shapes in the background (training's
        first evaluation then finds it compiled: make_episode_runner's compile_ahead)."""
        runner.compile_ahead(on_one_device((params, obs_stats)), jax.random.PRNGKey(0), reset_args)

    evaluate.compile_ahead = compile_ahead
    return evaluate


def _episode_program(cfg: Config, env, episodes: int, deterministic: bool, train_cfg, velocities: bool = False) -> Callable:
    """The shared episode runner of :func:`make_policy_evaluator` (and the humanoid's videos; ``velocities``:
    a program of its own that records the humanoid's qvel too)."""
    from near.rl.evaluate import make_episode_runner
    from near.rl.ppo import act

    def policy(args, obs, key):
        params, obs_stats = args
        return act(params, train_cfg, obs_stats, obs, env.action_dim, None if deterministic else key)

    humanoid = cfg.task.env == "humanoid"
    record = (("body_pos", "qpos") + (("qvel",) if velocities else ())) if humanoid else ()
    key = ("episodes", env_key(env), policy_key(train_cfg, env.action_dim), deterministic, episodes,
           cfg.task.max_episode_steps, record)
    reset = _humanoid_reset(env) if humanoid else None
    return shared_program(key, lambda: make_episode_runner(env, policy, episodes, cfg.task.max_episode_steps,
                                                           record=record, reset=reset))


def with_run_physics(cfg: Config, overrides: list[str]) -> Config:
    """``near play`` and ``near eval`` of a humanoid policy: ``cfg`` with the physics its run trained with
    (the command line's warp_envs, a buffer size), unless ``overrides`` name a task.physics key."""
    if cfg.task.env != "humanoid" or not cfg.checkpoint or is_cem_run(cfg.checkpoint):
        return cfg
    keys = [o.lstrip("+~").split("=")[0] for o in overrides]
    if any(k.startswith("task.physics") and k != "task.physics.warp_envs" for k in keys):
        return cfg  # evaluating under other physics on purpose (warn_other_physics says how it differs)
    from near.restore import trained_physics

    physics = dataclasses.replace(trained_physics(cfg.checkpoint), warp_envs=cfg.task.physics.warp_envs)
    return dataclasses.replace(cfg, task=dataclasses.replace(cfg.task, physics=physics))


def warn_other_physics(cfg: Config, run_cfg: Config, run_dir: str) -> None:
    """A humanoid policy evaluated under other physics than it trained with (a MuJoCo Warp run played with
    MJX, say) behaves otherwise: say so, naming the keys that would match the run."""
    if cfg.task.env != "humanoid":
        return
    keys = physics_overrides(cfg.task.physics, run_cfg.task.physics)
    if keys:
        warnings.warn(f"{run_dir} trained with other physics than this evaluation's: pass {keys} (or no "
                      "task.physics key) to evaluate it as it trained (a policy under other physics can stand, "
                      "slide or fall where it did not)", stacklevel=2)


def plays_mean(cfg: Config, deterministic: bool | None) -> bool:
    """Whether an episode acts with the policy's mean: as asked, else as ``cfg.sample_actions`` says (play, eval)."""
    return not cfg.sample_actions if deterministic is None else deterministic


def evaluate_policy(cfg: Config, run_dir: str, *, state=None, env=None, episodes: int = 32,
                    deterministic: bool | None = None, seed: int | None = None, evaluator: Callable | None = None) -> dict:
    """Episodes of a training ``state``, or of the policy checkpoint in ``run_dir`` (checked first); with the
    policy's mean unless ``deterministic=False`` or, by default, ``cfg.sample_actions``."""
    deterministic = plays_mean(cfg, deterministic)
    env = env or make_env(cfg)
    if state is not None:
        run_cfg, params, obs_stats = cfg, state.params, state.obs_stats
    else:
        run_cfg, params, obs_stats, _ = load_policy(cfg, run_dir)
        warn_other_physics(cfg, run_cfg, run_dir)
    evaluate = evaluator or make_policy_evaluator(cfg, env, episodes, deterministic=deterministic,
                                                  train_cfg=run_cfg.train)
    return evaluate(params, obs_stats, jax.random.PRNGKey(cfg.seed + 10_000 if seed is None else seed))


def is_cem_run(path: str) -> bool:
    summary = os.path.join(os.path.expanduser(path), "summary.json")
    if not os.path.exists(summary):
        return False
    with open(summary) as fh:
        return json.load(fh).get("algo") == "CEM"


def replan_cem(cfg: Config, run_dir: str) -> dict:
    """A CEM run has no weights: evaluating it plans again with the run's own settings."""
    from omegaconf import OmegaConf

    from near.config import from_dict
    from near.energy.train import load_energy_model
    from near.rl.cem import run_cem

    config_path = os.path.join(os.path.expanduser(run_dir), "config.yaml")
    run_cfg = from_dict(OmegaConf.to_container(OmegaConf.load(config_path)))
    if run_cfg.task.env != cfg.task.env:
        raise CheckpointError(f"{run_dir} is a CEM run on env {run_cfg.task.env!r}, not {cfg.task.env!r}")
    env = make_env(run_cfg)
    energy_fn = None
    if run_cfg.cem.energy_weight != 0:
        energy_fn = load_energy_model(run_cfg.energy.checkpoint, expect_pair_dim=2 * env.pair_state_dim)[0].energy
    c = dataclasses.replace(run_cfg.cem, episodes=cfg.episodes, num_envs=min(run_cfg.cem.num_envs, cfg.episodes))
    max_steps = c.max_steps or run_cfg.task.max_episode_steps
    return run_cem(env, energy_fn, c, jax.random.PRNGKey(cfg.seed + 10_000), max_steps)


def rollout_checkpoint(cfg: Config) -> dict:
    """``cfg.episodes`` evaluation episodes of ``cfg.checkpoint``: a policy, or a CEM run planned again."""
    if is_cem_run(cfg.checkpoint):
        return replan_cem(cfg, cfg.checkpoint)
    return evaluate_policy(cfg, cfg.checkpoint, episodes=cfg.episodes)  # checks the checkpoint first


# ----------------------------------------------------------------------------------------------
# the numbers of each env


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
    and, on push-T, the coverage of the goal T at the end of each episode; the humanoid's own."""
    out = {}
    if env_name == "humanoid":
        return dict(result.get("humanoid", {}))
    if env_name in ("maze", "pusht"):  # observations start with the agent's x, y
        out.update(M.path_metrics([e[:, :2] for e in split_episodes(result)], step_seconds(env_name)))
    if env_name != "pusht":
        return out
    from near.viz.pusht_plots import states_coverage

    final = states_coverage(np.stack([e[-1] for e in split_episodes(result)]))  # one call: one compile
    return {**out, "final_coverage": float(final.mean()),
            "final_coverage_per_episode": [round(float(c), 4) for c in final]}


def eval_scalars(env_name: str, result: dict) -> dict:
    """The scalar numbers of an evaluation result: success, return, length and the task's metrics."""
    out = {"success_rate": result["success_rate"], "episode_return": result["mean_return"],
           "episode_length": result["mean_length"]}
    out.update({k: v for k, v in task_metrics(env_name, result).items() if np.isscalar(v)})
    return out


# ----------------------------------------------------------------------------------------------
# the humanoid


@dataclasses.dataclass(frozen=True)
class HumanoidReferences:
    """A motion's clips every control step: what the humanoid's evaluation compares a policy with."""

    body_pos: list[np.ndarray]  # (T_c, 15, 3) per clip: the DTW pose error
    root: list[np.ndarray]  # (T_c, 3) per clip: root height and speed ratios
    dof: list[np.ndarray]  # (T_c, 28) per clip: the joint-angle distance


def reference_trajectories(env) -> HumanoidReferences:
    """Each clip's body positions, root positions and DOF positions every control step."""
    from near.motion.humanoid import dof_from_local_rot

    lib = env.library
    starts, frames, fps = (np.asarray(x) for x in (lib.clip_start, lib.clip_frames, lib.clip_fps))
    body_pos = np.asarray(lib.body_pos)
    dof = np.asarray(dof_from_local_rot(lib.local_rot))
    roots, dofs = G.clip_postures(np.asarray(lib.root_pos), dof, starts, frames, fps, env.control_dt)
    bodies = [M.sample_clip(body_pos[s : s + n], 1.0 / f, env.control_dt) for s, n, f in zip(starts, frames, fps)]
    return HumanoidReferences(body_pos=bodies, root=roots, dof=dofs)


def humanoid_eval_metrics(rollout: dict, demo_trajs: Sequence[np.ndarray], dt: float = M.HUMANOID_DT,
                          k: int = M.TOP_K) -> dict:
    """The humanoid's numbers from one deterministic rollout (spec §9).

    rollout: ``body_pos`` (T+1, n_envs, 15, 3) world positions, ``learnt_return`` (n_envs,) raw energy
    (AMP: discriminator reward) summed until each env's first termination, ``episode_return`` and
    ``episode_length`` (n_envs,) up to it, ``max_steps``. demo_trajs: the motion's clips as body
    positions (T_c, 15, 3) every dt (:func:`near.eval.metrics.sample_clip`).
    """
    out = M.humanoid_metrics(rollout["body_pos"], rollout["learnt_return"], demo_trajs, dt=dt, k=k)
    out.update(M.episode_stats(rollout["episode_return"], rollout["episode_length"]))
    # an episode that ended early without success fell (tracking: or strayed from its clip before its end)
    out["fall_rate"] = M.fall_rate(rollout["episode_length"], rollout["max_steps"], rollout.get("success"))
    return out


POSE_REACH_SKIP_S = 1.0  # pose_reach leaves out each episode's first second


def humanoid_metrics(env, result: dict, max_steps: int, references: HumanoidReferences) -> dict:
    """Pose error (DTW against each clip of ``references``, see reference_trajectories), root smoothness,
    fall rate, and posture against the clips of a humanoid evaluation (a :func:`make_policy_evaluator` result).

    The original scores the 20 envs with the highest learnt return (energy or discriminator reward);
    we rank by task return, which needs no reward model at evaluation time. The posture numbers
    (root height and speed ratios, joint-angle distance: :func:`near.eval.gait.posture_metrics`)
    use every env until its episode ends: a crouch or a policy that stands still shows there; so does the
    root SPARC over windows as long as the clips (:func:`near.eval.gait.window_sparc`), which compares
    the policy's smoothness with the clips' at one signal length, and the cadence (steps per second,
    :func:`near.eval.gait.cadence_ratio`) and the feet's stride length against the clips'
    (:func:`near.eval.gait.stride_ratio`), which show short, quick steps, and how fast the feet move
    while down (:func:`near.eval.gait.foot_slide_ratio`), which shows feet that skate. ``pose_reach``
    (:func:`near.eval.gait.pose_reach`, after each episode's first second): a move of the clips the policy
    never makes, a punch or a lifted knee.
    """
    from near.envs.humanoid.model import KEY_BODIES, dof_pos_from_qpos
    from near.motion import humanoid as MH
    first = result["body_pos"][:1]  # the reset frame is not recorded; repeat the first step's
    rollout = {"body_pos": np.concatenate([first, result["body_pos"]]), "learnt_return": result["episode_return"],
               "episode_return": result["episode_return"], "episode_length": result["episode_length"],
               "max_steps": max_steps - 1, "success": result.get("success")}
    out = humanoid_eval_metrics(rollout, references.body_pos, dt=env.control_dt,
                                k=min(20, len(result["episode_return"])))
    qpos = np.asarray(result["qpos"])  # (T, n_envs, 43), the steps after each reset
    lengths = np.maximum(np.asarray(result["episode_length"]).astype(int), 1)
    dof = np.asarray(dof_pos_from_qpos(env.layout, jnp.asarray(qpos)))
    roots = [qpos[:n, i, :3] for i, n in enumerate(lengths)]
    policy_dof = [dof[:n, i] for i, n in enumerate(lengths)]
    out.update(G.posture_metrics(roots, policy_dof, references.root, references.dof, env.control_dt, parts=MH.BODY_PARTS))
    # the poses the policy takes on its own: an episode starts in a clip's pose (reference-state init)
    settle = int(round(POSE_REACH_SKIP_S / env.control_dt))
    own = [d[settle:] for d in policy_dof if len(d) > settle]
    if own:
        out.update(G.pose_reach(np.concatenate(own), np.concatenate(references.dof), parts=MH.BODY_PARTS))
    out["statue_pose_reach"] = G.statue_pose_reach(references.dof)["pose_reach"]  # the scale: the clips' mean pose, held
    out.update(G.window_sparc(roots, references.root, env.control_dt))
    out.update(G.cadence_ratio(roots, references.root, env.control_dt))
    # body_pos rows are the motion data's bodies (MuJoCo's without the world body): MH's indices
    body_pos = np.asarray(result["body_pos"])
    episodes = [body_pos[:n, i] for i, n in enumerate(lengths)]
    feet, hands_feet = list(MH.CONTACT_BODIES), list(MH.KEY_BODIES)
    policy_feet = [e[:, feet] for e in episodes]
    clip_feet = [clip[:, feet] for clip in references.body_pos]
    out.update(G.stride_ratio(policy_feet, clip_feet, env.control_dt))
    out.update(G.foot_slide_ratio(policy_feet, clip_feet, env.control_dt))
    out.update(G.key_height_distance([e[:, hands_feet] for e in episodes],
                                     [clip[:, hands_feet] for clip in references.body_pos], KEY_BODIES))
    return {k: v for k, v in out.items() if np.isscalar(v)}


def make_reference_rollout(cfg: Config, env, run_cfg, *, episodes: int, clip: int = 0, start: float = 0.0,
                           velocities: bool = False, deterministic: bool | None = None):
    """``rollout(params, obs_stats) -> (policy qpos (T+1, 43), reference qpos (T+1, 43), length)``: a
    deterministic (by default as ``cfg.sample_actions`` says, see :func:`plays_mean`) episode from the reference state of one clip at ``start``
    seconds, beside the clip itself over the same steps. Call it with any parameters of the same networks. With ``velocities``
    the policy's qvel (T+1, 34) follows as a fourth item (its pairs, as an energy model sees them).

    It runs in the program of :func:`make_policy_evaluator` (with ``velocities``, one of its own) for ``episodes``
    episodes (every env from the clip's frame; the first is kept): a video beside an evaluation of that size compiles nothing
    more (a humanoid episode program: ~10 s of compilation on two CPU cores)."""
    from near.envs.humanoid import model as hm
    from near.motion.library import motion_state

    steps = cfg.task.max_episode_steps - 1
    times = start + jnp.arange(steps + 1) * env.control_dt
    motion = motion_state(env.library, jnp.full(steps + 1, clip, jnp.int32), times)  # holds the last frame
    reference = np.asarray(hm.qpos_from_pose(env.layout, motion.root_pos, motion.root_rot, motion.dof_pos))
    runner = _episode_program(cfg, env, episodes, plays_mean(cfg, deterministic), run_cfg.train, velocities)
    reset_args = (jnp.array(True), jnp.array(clip, jnp.int32), jnp.array(start, jnp.float32))

    def rollout(params, obs_stats):
        result = runner(on_one_device((params, obs_stats)), jax.random.PRNGKey(0), reset_args)
        qpos = np.concatenate([reference[:1], result["qpos"][:steps, 0]])  # the start is the clip's frame
        length = min(int(result["episode_length"][0]), steps)
        if not velocities:
            return qpos, reference, length
        first = hm.qvel_from_velocities(motion.root_rot[0], motion.root_vel[0], motion.root_ang_vel[0], motion.dof_vel[0])
        return qpos, reference, length, np.concatenate([np.asarray(first)[None], result["qvel"][:steps, 0]])

    return rollout


# reset_args of an evaluation: env.reset's random starts (the clip and time are not read)
_EVALUATION_RESET = (np.array(False), np.array(0, np.int32), np.array(0.0, np.float32))


def _humanoid_reset(env) -> Callable:
    """``reset((from_clip, clip, time), key)``: ``env.reset(key)``, or where ``from_clip`` the reference
    state of ``clip`` at ``time`` (:func:`make_reference_rollout`)."""
    from near.motion.library import motion_state

    def reset(args, key):
        from_clip, clip, time = args
        state, _ = env.reset(key)
        motion = jax.tree.map(lambda x: x[0], motion_state(env.library, clip[None], time[None]))
        chosen = env.state_from_motion(motion).replace(clip=clip, clip_time=time)
        state = jax.tree.map(lambda c, s: jnp.where(from_clip, c, s), chosen, state)
        return state, env.policy_obs(state)

    return reset


__all__ = ["HumanoidReferences", "eval_scalars", "evaluate_policy", "humanoid_eval_metrics", "humanoid_metrics", "is_cem_run",
           "make_policy_evaluator", "make_reference_rollout", "reference_trajectories", "replan_cem",
           "rollout_checkpoint", "step_seconds", "task_metrics"]
