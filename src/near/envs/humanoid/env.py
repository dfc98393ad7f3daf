"""The humanoid imitation environment (spec near-environments.md §5) on MJX.

Functional like the other environments: ``reset(key)`` and ``step(state, action)`` on pytrees, one
environment at a time, batched with ``jax.vmap``; the same code runs on CPU and GPU.

* Action: 28 PD targets in [-1, 1] (:func:`near.envs.humanoid.model.action_to_targets`); the PD law
  runs at every physics substep, 6 substeps of 5.55 ms per 30 Hz action by default.
* Observation and pair state: the 105 numbers of :mod:`near.envs.humanoid.obs`; the pair is
  [s_{t+1}, s_t] (current first), as in the original, for demos and rollouts alike.
* Reset: reference-state initialisation from a random clip and time of the motion library
  (``state_init``: random | start | weighted_random | default | hybrid).
* Termination: a non-foot body touches the floor while a non-foot body is below 0.3 m (ignored on
  the first step after a reset), the episode cap (299 steps for episode_length 300), or a
  non-finite or exploded physics state: NaN, a speed over 1e3, or the root rising faster than
  ``max_root_up_speed`` (MJX's unconverged contact solve can launch a landing character metres
  up; docs/humanoid_moving_like_the_clips.md, item 69). The last is counted in ``info["nonfinite"]``
  and, apart, in ``info["launched"]`` (training logs ``launch_resets``); its step returns the pre-step
  state so that no NaN or launch reaches the learner.
* Task reward by motion type: "time" (1 per step), "dist" (forward progress of the pelvis per step,
  clipped to [0, 0.5] m and divided by 0.5), "height" (pelvis height / 2.5, clipped); several types
  are averaged. The original does not reset the previous pelvis position at an episode reset (its
  first "dist" reward of an episode spans the reset); we do.
* Tracking (``tracking=True``, task HumanoidTrack; not in the original): the diagnostic of issue #16.
  The env follows the clip it was reset from: the observation adds the clip's next state and the
  root's offset to it, the "track" reward is DeepMimic's (pose, velocity, end effectors, root), an
  episode ends when a body strays 0.5 m from the clip, and is truncated (bootstrapped) at the clip's
  end. If PPO can track a clip, the body, actuation and physics can do the motion.

The state keeps only ``qpos``, ``qvel`` and the solver warm start; the MJX ``Data`` is rebuilt per
step from a template, which keeps auto-reset selects and rollout buffers small.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from near.envs.humanoid import model as hm
from near.envs.humanoid.obs import ANGLE_DIMS, OBS_DIM, VELOCITY_DIMS, observation
from near.motion import library as ml
from near.motion.motion_set import motion_name
from near.utils import rotations as rot

STATE_INITS = ("random", "start", "weighted_random", "default", "hybrid")
REWARD_TYPES = ("time", "dist", "height", "track")
DIST_FULL_STEP = 0.5  # m of forward progress in one control step at which the original's "dist" pays 1
TRACK_OBS_DIM = OBS_DIM + 3  # the clip's next state and the root's offset to it (heading frame)
# DeepMimic's tracking reward (Peng et al. 2018, eq. 5-9): weights and error scales
TRACK_WEIGHTS = {"pose": 0.65, "velocity": 0.1, "end_effector": 0.15, "root": 0.1}
TRACK_SCALES = {"pose": 2.0, "velocity": 0.1, "end_effector": 40.0, "root": 10.0}
_DIST_MOTIONS = ("walk", "run", "cartwheel", "marching", "zombie_walk")
_HEIGHT_MOTIONS = ("jump_in_place", "spin_kick")


def reward_types_for(motion_path: str, original: bool = False) -> tuple[str, ...]:
    """The task-reward types inferred from a motion file or yaml name (spec §5.9).

    One change from the original (``original=True`` keeps its mapping): mummy walk gets forward
    progress ("dist") besides "time". The original's mummy walk walked towards a flag pole; with "time"
    alone, standing still pays as much as walking, and its policy stood (issue #16: root speed ratio
    0.22 with "time", 1.07-1.24 with "time" and "dist")."""
    name = motion_name(motion_path)
    if any(m in name for m in _HEIGHT_MOTIONS):
        return ("time", "height")
    if ("mummy" in name and original) or "turning" in name or "single_cartwheel" in name:
        return ("time",)  # ours: mummy_walk falls through to the walks below
    if any(m in name for m in _DIST_MOTIONS):
        return ("time", "dist")
    return ("time",)


# The original's per-motion env settings beyond the reward (spec near-environments.md §5.8, §5.11):
# the spin kick ran 100-step episodes from clip times biased to the start (t = L * Beta(1, 3)). (The
# single cartwheel's "Hands" config, which also lets the hands touch the floor, is not reproduced.)
_MOTION_TASK_SETTINGS = {"spin_kick": {"max_episode_steps": 100, "state_init": "weighted_random"}}


def task_settings_for(motion_path: str) -> dict:
    """The original's task settings for a motion named like its files (``amp_humanoid_spin_kick.yaml``):
    keys of ``task`` (max_episode_steps, state_init) and their values; {} for the
    motions that ran the defaults. The config applies them where the user set no value."""
    name = motion_name(motion_path)
    return next((dict(v) for k, v in _MOTION_TASK_SETTINGS.items() if k in name), {})


@dataclasses.dataclass(frozen=True)
class HumanoidConfig:
    episode_length: int = 300  # control steps; episodes end at episode_length - 1 as in the original
    termination_height: float = 0.3
    early_termination: bool = True
    state_init: str = "random"
    hybrid_init_prob: float = 0.5
    reward_types: tuple[str, ...] = ("time",)
    dist_full_speed: float = 0.0  # m/s at which "dist" pays 1; 0: the original's 0.5 m per control step
    # m/s: a root rising faster than this is a simulator artefact, not a jump (no person takes off above ~4.5 m/s,
    # the clips at most 2.05); the step ends the episode as a non-finite one does. 0: no such check
    max_root_up_speed: float = 5.0
    local_root_obs: bool = False
    pair_span: int = 1  # control steps between a pair's two states (1: the original's transitions)
    tracking: bool = False  # follow the reset's clip: target in the observation, "track" reward
    tracking_max_distance: float = 0.5  # m: a body farther than this from the clip ends the episode
    physics: hm.PhysicsConfig = dataclasses.field(default_factory=hm.PhysicsConfig)


@struct.dataclass
class HumanoidState:
    qpos: jax.Array  # (43,)
    qvel: jax.Array  # (34,)
    warmstart: jax.Array  # (34,) solver warm start carried between control steps
    step: jax.Array  # int32 control steps since the reset
    obs: jax.Array  # (105,) the observation of this state (also the pair state)
    body_pos: jax.Array  # (15, 3) world positions of the body origins (pose-error metric, rendering)
    clip: jax.Array  # int32 clip of the reset (tracking)
    clip_time: jax.Array  # its time at the reset, s (tracking)
    past_obs: jax.Array  # (max(pair_span - 1, 1), 105) the previous steps' observations, newest first


def default_pose_dof() -> np.ndarray:
    """The original's default pose: DOFs 0 except right/left shoulder x = +pi/2 / -pi/2 (arms out)."""
    dof = np.zeros(hm.NUM_DOF, np.float32)
    dof[6], dof[10] = np.pi / 2, -np.pi / 2
    return dof


class HumanoidEnv:
    action_dim = hm.NUM_DOF
    pair_state_dim = OBS_DIM
    pair_order = "current_first"
    pair_velocity_dims = np.concatenate([VELOCITY_DIMS, VELOCITY_DIMS + OBS_DIM])  # energy.velocity_std_floor
    pair_angle_dims = np.concatenate([ANGLE_DIMS, ANGLE_DIMS + OBS_DIM])  # energy.angle_std_floor

    def __init__(self, library, config: HumanoidConfig = HumanoidConfig()):
        if config.state_init not in STATE_INITS:
            raise ValueError(f"state_init must be one of {STATE_INITS}, got {config.state_init!r}")
        if not config.dist_full_speed >= 0:
            raise ValueError(f"dist_full_speed must be >= 0 m/s (0: the original's 0.5 m per control step), "
                             f"got {config.dist_full_speed!r}")
        if not config.max_root_up_speed >= 0:
            raise ValueError(f"max_root_up_speed must be >= 0 m/s (0: no check), got {config.max_root_up_speed!r}")
        bad = [r for r in config.reward_types if r not in REWARD_TYPES]
        if bad or not config.reward_types:
            raise ValueError(f"reward_types must be a non-empty subset of {REWARD_TYPES}, got {config.reward_types}")
        if ("track" in config.reward_types) != config.tracking:
            raise ValueError("the 'track' reward and tracking=True go together (the reward needs the clip's target, "
                             f"the target needs the reward): got reward_types={config.reward_types}, tracking={config.tracking}")
        if not 1 <= config.pair_span <= 64:
            raise ValueError(f"pair_span must be in [1, 64], got {config.pair_span}")
        if config.physics.floor_contacts == "auto":
            contacts = "feet" if config.early_termination else "all"
            config = dataclasses.replace(config, physics=dataclasses.replace(config.physics, floor_contacts=contacts))
        if config.physics.impl == "auto":
            config = dataclasses.replace(config, physics=dataclasses.replace(config.physics,
                                                                             impl=hm.resolve_impl("auto")))
        self.config = config
        self.library = library
        self.mj_model = hm.load_mj_model(config.physics)
        self.layout = hm.make_layout(self.mj_model, config.physics.torque_limit)
        self._mjx = hm.import_mjx()
        impl = config.physics.impl
        if impl == "warp":
            hm.quiet_warp()
        self.mjx_model = self._mjx.put_model(self.mj_model, impl=impl)
        if impl == "warp":  # no warning on every step that ends at the solver's iteration limits (ours do: 3)
            from mujoco.mjx.third_party.mujoco_warp import OverflowType

            opt = self.mjx_model.opt
            warn = int(opt._impl.warn_overflow) & ~int(OverflowType.ITERATIONS | OverflowType.LS_ITERATIONS)
            self.mjx_model = self.mjx_model.replace(opt=opt.replace(_impl=opt._impl.replace(warn_overflow=warn)))
        # Warp shares one contact buffer among all the envs a program steps (MJX ignores it for "jax")
        contacts = hm.warp_contact_slots(self.mj_model, config.physics.warp_envs) if impl == "warp" else None
        self._template = self._mjx.make_data(self.mj_model, impl=impl, naconmax=contacts)
        self.control_dt = config.physics.control_dt
        # past observations kept in the state; one even where pair_span = 1 does not read it
        # (checkpoints hold the env state, and Orbax cannot save an empty array)
        self._history = max(config.pair_span - 1, 1)
        self.obs_dim = OBS_DIM + (TRACK_OBS_DIM if config.tracking else 0)
        self._key_idx = self.layout.key_bodies - 1  # MuJoCo body id -> motion body index (hands and feet)
        # reset and step are traced once per env and reused by every program that holds them (training,
        # evaluation, videos: tracing MJX's step takes seconds); vmapped, jax batches the traced step
        self._reset, self._step = jax.jit(self._reset_impl), jax.jit(self._step_impl)

    # ------------------------------------------------------------------ state construction

    def _kinematics(self, qpos, qvel):
        return self._mjx.kinematics(self.mjx_model, self._template.replace(qpos=qpos, qvel=qvel))

    def _observe(self, data) -> jax.Array:
        qpos, qvel = data.qpos, data.qvel
        root_rot = qpos[3:7]
        return observation(
            root_pos=qpos[0:3],
            root_rot=root_rot,
            root_vel=qvel[0:3],
            root_ang_vel=rot.rotate(root_rot, qvel[3:6]),
            dof_pos=hm.dof_pos_from_qpos(self.layout, qpos),
            dof_vel=qvel[6:],
            key_pos=data.xpos[self.layout.key_bodies],
            local_root=self.config.local_root_obs,
        )

    def state_from_pose(self, root_pos, root_rot, dof_pos, root_vel, root_ang_vel, dof_vel) -> HumanoidState:
        """A state at a given pose and velocities (root velocities in the world frame)."""
        qpos = hm.qpos_from_pose(self.layout, root_pos, root_rot, dof_pos)
        qvel = hm.qvel_from_velocities(root_rot, root_vel, root_ang_vel, dof_vel)
        data = self._kinematics(qpos, qvel)
        obs = self._observe(data)
        return HumanoidState(
            qpos=qpos,
            qvel=qvel,
            warmstart=jnp.zeros_like(qvel),
            step=jnp.zeros((), jnp.int32),
            obs=obs,
            body_pos=data.xpos[1:],
            clip=jnp.zeros((), jnp.int32),
            clip_time=jnp.zeros((), jnp.float32),
            past_obs=jnp.broadcast_to(obs, (self._history, OBS_DIM)),  # at rest: no history
        )

    def state_from_motion(self, motion_state) -> HumanoidState:
        m = motion_state
        return self.state_from_pose(m.root_pos, m.root_rot, m.dof_pos, m.root_vel, m.root_ang_vel, m.dof_vel)

    def default_state(self) -> HumanoidState:
        zero3 = jnp.zeros(3, jnp.float32)
        return self.state_from_pose(
            jnp.array([0.0, 0.0, 0.89]), jnp.array([1.0, 0.0, 0.0, 0.0]), jnp.asarray(default_pose_dof()),
            zero3, zero3, jnp.zeros(hm.NUM_DOF, jnp.float32),
        )

    # ------------------------------------------------------------------ the protocol

    def reset(self, key: jax.Array) -> tuple[HumanoidState, jax.Array]:
        return self._reset(key)

    def step(self, state: HumanoidState, action: jax.Array):
        return self._step(state, action)

    def _reset_impl(self, key: jax.Array) -> tuple[HumanoidState, jax.Array]:
        c = self.config
        k_clip, k_time, k_mode = jax.random.split(key, 3)
        mode = c.state_init if c.state_init in ml.TIME_MODES else "random"  # default/hybrid draw a clip time too
        clip = ml.sample_clips(self.library, k_clip, 1)
        time = ml.sample_times(self.library, k_time, clip, mode)
        motion = jax.tree.map(lambda x: x[0], ml.motion_state(self.library, clip, time))
        state = self.state_from_motion(motion)
        if c.pair_span > 1:  # a reference state's past is its clip's (held at the clip's first frame)
            lags = jnp.arange(1, c.pair_span, dtype=time.dtype) * self.control_dt
            past = self.reference_state(jnp.broadcast_to(clip, lags.shape), jnp.maximum(time - lags, 0.0))
            state = state.replace(past_obs=past)
        if c.state_init in ("default", "hybrid"):
            use_default = True if c.state_init == "default" else jax.random.uniform(k_mode) >= c.hybrid_init_prob
            default = self.default_state()
            state = jax.tree.map(lambda d, s: jnp.where(use_default, d, s), default, state)
        state = state.replace(clip=clip[0], clip_time=time[0])
        return state, self.policy_obs(state)

    def _step_impl(self, state: HumanoidState, action: jax.Array):
        data, _ = self.simulate(state, action)
        return self.finish_step(state, data)

    def simulate(self, state: HumanoidState, action: jax.Array, record: Callable | None = None):
        """The physics of one control step: the PD law at every substep. Returns the MJX data after it
        (kinematics done) and ``record(data)`` of every substep, stacked (None without ``record``)."""
        mjx, layout = self._mjx, self.layout
        ball_target, hinge_target = hm.action_to_targets(layout, action)
        zeros6 = jnp.zeros(6, state.qpos.dtype)

        def substep(data, _):
            tau = hm.pd_torque(layout, data.qpos, ball_target, hinge_target)
            data = mjx.step(self.mjx_model, data.replace(qfrc_applied=jnp.concatenate([zeros6, tau])))
            return data, (record(data) if record is not None else None)

        data = self._template.replace(qpos=state.qpos, qvel=state.qvel, qacc_warmstart=state.warmstart)
        data, recorded = jax.lax.scan(substep, data, None, length=self.config.physics.substeps)
        return mjx.kinematics(self.mjx_model, data), recorded

    def finish_step(self, state: HumanoidState, data):
        """The step's new state, observation, reward, done and info from the data :meth:`simulate` left."""
        c, layout = self.config, self.layout
        # sound: finite, no speed over 1e3, and not launched (qvel[2]: the free joint's world-frame vertical speed)
        sound = jnp.all(jnp.isfinite(data.qpos)) & jnp.all(jnp.isfinite(data.qvel))
        sound = sound & jnp.all(jnp.abs(data.qvel) < 1e3)
        launched = sound & (data.qvel[2] > c.max_root_up_speed) if c.max_root_up_speed > 0 else jnp.zeros((), bool)
        sound = sound & ~launched
        step = state.step + 1
        new = HumanoidState(
            qpos=data.qpos,
            qvel=data.qvel,
            warmstart=data.qacc_warmstart,
            step=step,
            obs=self._observe(data),
            body_pos=data.xpos[1:],
            clip=state.clip,
            clip_time=state.clip_time,
            past_obs=jnp.concatenate([state.obs[None], state.past_obs])[: self._history],
        )
        # A non-finite or launched state ends the episode at the last sound state.
        new = jax.tree.map(lambda n, s: jnp.where(sound, n, s), new, state.replace(step=step))

        touching = hm.bodies_touching_floor(layout, data.geom_xpos, data.geom_xmat)[layout.fall_bodies]
        low = data.xpos[layout.fall_bodies, 2] < c.termination_height
        fallen = jnp.any(touching) & jnp.any(low) & (step > 1) & c.early_termination
        truncated = step >= c.episode_length - 1
        track = None
        if c.tracking:
            target = self._clip_at(new)
            fallen = fallen | ((step > 1) & (self._tracking_distance(new, target) > c.tracking_max_distance))
            truncated = truncated | (self._clip_time(new) >= self.library.clip_length[new.clip])
            terms = self.tracking_rewards(new, target)
            track = sum(TRACK_WEIGHTS[k] * terms[k] for k in TRACK_WEIGHTS)
        truncated = truncated & ~fallen
        done = fallen | truncated | ~sound

        reward = self.task_reward(state.qpos, new.qpos, track)
        info = {
            "success": truncated & sound,
            "truncated": truncated & sound,
            "fallen": fallen,
            "nonfinite": ~sound,  # the wrappers' name: NaN or launch
            "launched": launched,  # the launches alone (logged apart: launch_resets)
            "body_pos": new.body_pos,
            "qpos": new.qpos,
            "qvel": new.qvel,
        }
        return new, self.policy_obs(new), reward, done, info

    def pair_state(self, state: HumanoidState) -> jax.Array:
        return state.obs

    def pair_before(self, state: HumanoidState) -> jax.Array:
        """The first state of the pair that the step from ``state`` ends: ``pair_span - 1`` steps back."""
        return state.obs if self.config.pair_span == 1 else state.past_obs[self.config.pair_span - 2]

    def policy_obs(self, state: HumanoidState) -> jax.Array:
        """What the policy sees: the state's observation, and with tracking the clip's next state."""
        if not self.config.tracking:
            return state.obs
        target = self._clip_at(state, ahead=1)
        heading_inv = rot.heading_quat_inverse(state.qpos[3:7])
        offset = rot.rotate(heading_inv, target.root_pos - state.qpos[0:3])
        return jnp.concatenate([state.obs, self._motion_obs(target), offset])

    # ------------------------------------------------------------------ tracking (issue #16's check)

    def _clip_time(self, state: HumanoidState, ahead: int = 0) -> jax.Array:
        """The time in the reset's clip at this state's step (+ ahead control steps)."""
        return state.clip_time + (state.step + ahead) * self.control_dt

    def _clip_at(self, state: HumanoidState, ahead: int = 0) -> ml.MotionState:
        """The reset's clip at this state's step (+ ahead control steps), holding its last frame."""
        return ml.motion_state(self.library, state.clip, self._clip_time(state, ahead))

    @staticmethod
    def _tracking_distance(state: HumanoidState, target: ml.MotionState) -> jax.Array:
        return jnp.max(jnp.linalg.norm(state.body_pos - target.body_pos, axis=-1))

    def tracking_rewards(self, state: HumanoidState, target: ml.MotionState) -> dict[str, jax.Array]:
        """DeepMimic's four tracking terms, each in (0, 1]: joint angles, joint speeds, hands and feet
        relative to the root, root position."""
        dof = hm.dof_pos_from_qpos(self.layout, state.qpos)
        root, target_root = state.qpos[0:3], target.root_pos
        key = state.body_pos[self._key_idx] - root
        target_key = target.body_pos[self._key_idx] - target_root
        errors = {
            "pose": jnp.sum((dof - target.dof_pos) ** 2),
            "velocity": jnp.sum((state.qvel[6:] - target.dof_vel) ** 2),
            "end_effector": jnp.sum((key - target_key) ** 2),
            "root": jnp.sum((root - target_root) ** 2),
        }
        return {k: jnp.exp(-TRACK_SCALES[k] * e) for k, e in errors.items()}

    def task_reward(self, qpos_before: jax.Array, qpos_after: jax.Array, track: jax.Array | None = None) -> jax.Array:
        """The mean of the reward types' terms; ``track`` is the tracking term (:meth:`tracking_rewards`)."""
        terms = []
        for kind in self.config.reward_types:
            if kind == "track":
                terms.append(track)
            elif kind == "time":
                terms.append(jnp.ones((), qpos_after.dtype))
            elif kind == "dist":
                full = self.config.dist_full_speed * self.control_dt or DIST_FULL_STEP
                terms.append(jnp.clip(qpos_after[0] - qpos_before[0], 0.0, full) / full)
            else:
                terms.append(jnp.clip(qpos_after[2], 0.0, 2.5) / 2.5)
        return sum(terms) / len(terms)

    # ------------------------------------------------------------------ demonstrations

    def reference_state(self, clip_ids: jax.Array, times: jax.Array) -> jax.Array:
        """The 105-number state of the motion at (clip, time), computed from the clip alone."""
        return self._motion_obs(ml.motion_state(self.library, clip_ids, times))

    def _motion_obs(self, m: ml.MotionState) -> jax.Array:
        """The 105 numbers of a motion state (any batch shape), as the simulator would observe them."""
        return observation(m.root_pos, m.root_rot, m.root_vel, m.root_ang_vel, m.dof_pos, m.dof_vel,
                           m.body_pos[..., self._key_idx, :], local_root=self.config.local_root_obs)

    def demo_pairs(self, key: jax.Array, n: int) -> jax.Array:
        """n expert pairs [s(t), s(t - span)], span = pair_span * control_dt: clips by weight, t uniform
        in [span, L].

        The original draws t in [0, L] and extrapolates s(t - dt) before the clip's start; starting
        at the span keeps every pair a true transition of the clip.
        """
        k_clip, k_time = jax.random.split(key)
        clips = ml.sample_clips(self.library, k_clip, n)
        length = self.library.clip_length[clips]
        dt = jnp.minimum(self.config.pair_span * self.control_dt, length)
        times = dt + jax.random.uniform(k_time, (n,)) * (length - dt)
        return self.reference_pair(clips, times)

    def reference_pair(self, clip_ids: jax.Array, times: jax.Array) -> jax.Array:
        """The expert pair ending at (clip, time): [s(t), s(t - pair_span * control_dt)], the order
        rollouts use."""
        from near.envs.core import make_pair

        before = self.reference_state(clip_ids, times - self.config.pair_span * self.control_dt)
        return make_pair(self, before, self.reference_state(clip_ids, times))
