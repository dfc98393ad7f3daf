"""The motion library: all clips of a motion set as one pytree of JAX arrays, evaluated at any time.

Build it once on the host (:func:`build_library` / :func:`load_library`), then sample clips and times
and evaluate states with pure functions that run under ``jax.jit`` and ``jax.vmap``
(:func:`sample_clips`, :func:`sample_times`, :func:`motion_state`; spec near-environments.md §5.7,
§5.8). Frames of all clips are concatenated; clip c owns rows ``start[c] : start[c] + frames[c]``.

Data-quality options (spec §6.3), measured on the NEAR data of all four sets (walk, crane pose,
single left punch, spin kick: 97 clips; benchmarks/inspect_motions.py writes
benchmarks/results/motions_humanoid.json):

* ``drop_tpose_frame`` (default True). All 77 CMU clips of the walk and crane-pose sets start with the
  CMU reference T-pose (every joint at identity but the upper arms at +-90 deg about x) as frame 0,
  then jump 77-120 deg to the first real pose within 1/60 s; none of the 20 segmented clips (19 punch,
  1 spin kick) has it. Left in, it is an expert pair no body can perform, a reset near t = 0 starts
  arms-out, and the jump leaks into the smoothed velocities of the next ~8 frames: the largest root
  angular speed within the first 10 frames is 12.7 rad/s on walk (15.1 on crane pose) with the
  frame, 1.3 (0.08) without. Costs 1 frame of 138-551.
* ``dedupe_frames`` (default True). Every clip of the four sets holds each pose twice: 47-53 % of
  the consecutive frame pairs of a clip are exact copies, 100 % of the pairs at one parity -- 30 Hz
  poses in 60 fps files. With the copies kept, the per-frame DOF velocities of §5.7 alternate between
  0 and twice the true value: 50 % of all frames have every DOF velocity 0, and the DOF velocities
  change by 1.75 rad/s on average per 1/60 s frame (walk), against 0.55 per 1/30 s frame once
  deduplicated. A policy's smooth velocities match neither mode. The option keeps one frame of each pair (every
  second frame) at half the rate: the true 30 Hz poses at their true times, 0 % zero-velocity
  frames, the same mean |DOF velocity| (0.875 vs 0.878 rad/s on walk). Velocities: see
  :func:`clean_clip`. Clips without the pattern (DeepMimic, tai chi) stay as they are.

* ``ground_floating_clips`` (default True). One clip of the run set, ``amp_cmu_09_10.npy``, floats:
  its first real frame stands on the floor (lowest body point 5 cm) and every later one is 1.06 m
  higher (lowest point 1.03-1.18 m), so its root moves 55 m/s between the two. A reset there starts the
  character a metre up, or at the first frame with an upward root velocity of ~30 m/s that throws it
  15 m high within 20 steps (a vmapped reset at every 1/30 s of the run set under small random actions,
  2026-12-02); 1 in 26 evaluation episodes of the run starts there. No other clip of the six sets
  floats or jumps (every root moves < 12 m/s between frames; the lowest point's median is under 5 cm).
  The option drops the frames at a clip's ends whose root jumps faster than 15 m/s to the next, and
  lowers a clip whose lowest body point is more than 30 cm above the floor in 90 % of its frames so
  that its lowest point touches the floor; it warns once per repaired clip. Jumps, flight phases and
  the clips' usual 2 cm of float stay as they are.

Set all three to False to reproduce the original's data exactly.

Times and the t < 0 quirk: :func:`motion_state` clamps t to [0, L] by default, so the earlier
state of a demo pair [s(t), s(t - dt)] drawn at t < dt is the clip's first frame. The original
extrapolates there (blend < 0, §5.7); ``clamp_time=False`` reproduces that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from near.motion import humanoid
from near.motion.skeleton import (
    Skeleton,
    SkeletonMotion,
    compute_velocities,
    fail,
    forward_kinematics,
    velocities,
)
from near.utils import rotations as rot

__all__ = [
    "TIME_MODES",
    "MotionLibrary",
    "MotionState",
    "build_library",
    "clean_clip",
    "duplicate_pairs",
    "ground_repair",
    "has_duplicate_frames",
    "has_tpose_frame",
    "load_library",
    "loading_repairs",
    "motion_state",
    "sample_clips",
    "sample_times",
]

DROP_TPOSE_FRAME = True
DEDUPE_FRAMES = True
GROUND_FLOATING_CLIPS = True
TELEPORT_SPEED = 15.0  # m/s: faster than any human root moves between two frames
FLOAT_HEIGHT = 0.3  # m: a clip floats when its lowest body point is higher than this in 90 % of its frames
TIME_MODES = ("random", "start", "weighted_random")
_SIGMA_SECONDS = 2.0 / 60.0  # poselib smooths velocities over 2 frames of its 60 fps clips


@struct.dataclass
class MotionLibrary:
    """Per-frame arrays (F = all frames of all clips) and per-clip arrays (C clips).

    Frames: root_pos (F, 3) m; local_rot (F, 15, 4) wxyz, entry 0 = the root's global rotation;
    body_pos (F, 15, 3) m, world positions of the body frame origins (FK); root_vel (F, 3) m/s and
    root_ang_vel (F, 3) rad/s, world frame, smoothed (§6.3); dof_vel (F, 28) rad/s (§5.7).
    Clips: start, frames (int32), fps, length = (frames - 1) / fps in s, prob (sums to 1).
    """

    root_pos: jax.Array
    local_rot: jax.Array
    body_pos: jax.Array
    root_vel: jax.Array
    root_ang_vel: jax.Array
    dof_vel: jax.Array
    clip_start: jax.Array
    clip_frames: jax.Array
    clip_fps: jax.Array
    clip_length: jax.Array
    clip_prob: jax.Array
    clip_names: tuple[str, ...] = struct.field(pytree_node=False, default=())

    @property
    def root_rot(self) -> jax.Array:
        return self.local_rot[:, 0]

    @property
    def num_clips(self) -> int:
        return self.clip_start.shape[0]

    @property
    def num_frames(self) -> int:
        return self.root_pos.shape[0]


class MotionState(NamedTuple):
    """The reference motion at (clip, time); leading axes are those of clip_ids/times.

    root_pos (..., 3) m, world; root_rot (..., 4) wxyz, world; root_vel (..., 3) m/s and
    root_ang_vel (..., 3) rad/s, world frame (a MuJoCo free joint wants the angular velocity in the
    body frame: rotate by root_rot^-1); local_rot (..., 15, 4) wxyz; dof_pos (..., 28) rad (exp maps
    for ball groups, angles about y for hinges); dof_vel (..., 28) rad/s (child-frame angular velocity
    relative to the parent, = a MuJoCo ball joint's qvel); body_pos (..., 15, 3) m, world.
    """

    root_pos: jax.Array
    root_rot: jax.Array
    root_vel: jax.Array
    root_ang_vel: jax.Array
    local_rot: jax.Array
    dof_pos: jax.Array
    dof_vel: jax.Array
    body_pos: jax.Array


# --------------------------------------------------------------------------------------------------
# data quality (host side)

_TPOSE = np.tile(np.array([1.0, 0.0, 0.0, 0.0], np.float32), (humanoid.NUM_BODIES, 1))
_TPOSE[3] = rot.from_axis_angle(np.array([1.0, 0.0, 0.0]), -np.pi / 2)  # right upper arm out to -y
_TPOSE[6] = rot.from_axis_angle(np.array([1.0, 0.0, 0.0]), np.pi / 2)  # left upper arm out to +y


def has_tpose_frame(clip: SkeletonMotion, tol_deg: float = 2.0) -> bool:
    """Frame 0 is the CMU reference T-pose: every non-root joint within tol_deg of it."""
    if clip.num_frames < 2:
        return False
    cos = np.abs(np.sum(clip.local_rot[0, 1:] * _TPOSE[1:], axis=-1))
    return bool(np.all(cos >= np.cos(np.radians(tol_deg) / 2)))


def duplicate_pairs(clip: SkeletonMotion, atol: float = 1e-6) -> np.ndarray:
    """(T - 1,) bool: frame i+1 repeats frame i (rotations and root translation)."""
    d_rot = np.abs(np.diff(clip.local_rot, axis=0)).max(axis=(1, 2))
    d_pos = np.abs(np.diff(clip.root_pos, axis=0)).max(axis=1)
    return (d_rot <= atol) & (d_pos <= atol)


def has_duplicate_frames(clip: SkeletonMotion, min_fraction: float = 0.9, min_pairs: int = 3) -> bool:
    """The every-other-frame pattern: >= min_fraction of the (>= min_pairs) frame pairs at one parity
    are copies. A few repeated frames (a pause, a static end) do not make the pattern."""
    dup = duplicate_pairs(clip)
    return any(dup[p::2].size >= min_pairs and dup[p::2].mean() >= min_fraction for p in (0, 1))


def ground_repair(clip: SkeletonMotion, keep: np.ndarray, fps: float) -> tuple[np.ndarray, float, str]:
    """The frames of ``keep`` to keep and the height (m) to lower the clip by, so that it neither jumps
    at its ends nor floats (``ground_floating_clips``), and a note saying what changed ('' if nothing)."""
    root = clip.root_pos[keep]
    speed = np.linalg.norm(np.diff(root, axis=0), axis=-1) * fps  # (n - 1,) root speed between frames
    first, last = 0, len(keep)
    while last - first > 2 and speed[first] > TELEPORT_SPEED:
        first += 1
    while last - first > 2 and speed[last - 2] > TELEPORT_SPEED:
        last -= 1
    notes = [f"dropped {first + len(keep) - last} end frame(s) whose root jumps > {TELEPORT_SPEED:.0f} m/s"] \
        if (first, last) != (0, len(keep)) else []
    keep = keep[first:last]
    body_pos, _ = forward_kinematics(clip.skeleton, clip.local_rot[keep], clip.root_pos[keep])
    lowest = body_pos[..., 2].min(axis=-1)
    drop = float(lowest.min()) if np.percentile(lowest, 10) > FLOAT_HEIGHT else 0.0
    if drop:
        notes.append(f"lowered by {drop:.2f} m: its lowest body point was above {FLOAT_HEIGHT:.2f} m in 90 % of its frames")
    return keep, drop, "; ".join(notes)


def _kept_frames(clip: SkeletonMotion, drop_tpose_frame: bool, dedupe_frames: bool) -> tuple[np.ndarray, float, bool]:
    """The frames that the T-pose and duplicate options keep, their rate, and whether a T-pose was dropped."""
    keep = np.arange(clip.num_frames)
    fps = clip.fps
    tpose = drop_tpose_frame and has_tpose_frame(clip)
    if tpose:
        keep = keep[1:]
    if dedupe_frames and has_duplicate_frames(clip) and len(keep) > 2:
        keep, fps = keep[::2], fps / 2  # one frame of each pair: any phase keeps a uniform 1/30 s grid
    return keep, fps, tpose


def loading_repairs(clip: SkeletonMotion) -> str:
    """What the default cleaning repairs in a clip that jumps at its ends or floats ('' if nothing)."""
    keep, fps, _ = _kept_frames(clip, DROP_TPOSE_FRAME, DEDUPE_FRAMES)
    return ground_repair(clip, keep, fps)[2] if GROUND_FLOATING_CLIPS and len(keep) > 2 else ""


def clean_clip(clip: SkeletonMotion, *, drop_tpose_frame: bool, dedupe_frames: bool,
               ground_floating_clips: bool = GROUND_FLOATING_CLIPS) -> SkeletonMotion:
    """Apply the data-quality options to one clip.

    Velocities: the stored ones at the kept frames (trimmed clips such as the spin kick were smoothed
    before trimming, so their stored edge velocities beat a recomputation), unless a T-pose frame was
    dropped (its jump contaminates the stored ones) or none are stored: then the §6.3 recipe on the
    kept frames, with the smoothing width kept at 2/60 s.
    """
    keep, fps, tpose = _kept_frames(clip, drop_tpose_frame, dedupe_frames)
    drop, jumped = 0.0, False
    if ground_floating_clips and len(keep) > 2:
        trimmed, drop, note = ground_repair(clip, keep, fps)
        jumped, keep = len(trimmed) != len(keep), trimmed
        if note:
            import warnings

            warnings.warn(f"{clip.source}: {note} (task.ground_floating_clips=false keeps it as it is)", stacklevel=2)
    if len(keep) == clip.num_frames and not drop:
        return clip
    local_rot, root_pos = clip.local_rot[keep], clip.root_pos[keep] - np.array([0.0, 0.0, drop], clip.root_pos.dtype)
    # a dropped jump contaminates the stored (smoothed) velocities as a dropped T-pose does
    if tpose or jumped or clip.global_velocity is None or clip.global_angular_velocity is None:
        lin, ang = compute_velocities(clip.skeleton, local_rot, root_pos, fps, sigma=_SIGMA_SECONDS * fps)
    else:
        lin, ang = clip.global_velocity[keep], clip.global_angular_velocity[keep]
    return clip.replace(local_rot=local_rot, root_pos=root_pos, fps=fps, global_velocity=lin, global_angular_velocity=ang)


# --------------------------------------------------------------------------------------------------
# building


def build_library(
    clips: Sequence[SkeletonMotion],
    probs=None,
    *,
    drop_tpose_frame: bool = DROP_TPOSE_FRAME,
    dedupe_frames: bool = DEDUPE_FRAMES,
    ground_floating_clips: bool = GROUND_FLOATING_CLIPS,
) -> MotionLibrary:
    """Concatenate clips of the AMP humanoid into a MotionLibrary. ``probs``: per-clip sampling
    weights (>= 0, normalised here; default uniform over clips)."""
    if not clips:
        raise fail("<clips>", "no clips given")
    amp = Skeleton.amp_humanoid()
    w = np.ones(len(clips)) if probs is None else np.asarray(probs, np.float64)
    if w.shape != (len(clips),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise fail("<clips>", f"probabilities must be {len(clips)} finite numbers >= 0 with a positive sum, got {w}")

    parts = {k: [] for k in ("root_pos", "local_rot", "body_pos", "root_vel", "root_ang_vel", "dof_vel")}
    starts, n_frames, fps = [], [], []
    for clip in clips:
        if not clip.skeleton.same_as(amp):
            raise fail(clip.source, f"skeleton {clip.skeleton.names} does not match the AMP humanoid's")
        clip = clean_clip(clip, drop_tpose_frame=drop_tpose_frame, dedupe_frames=dedupe_frames,
                          ground_floating_clips=ground_floating_clips)
        lin, ang = velocities(clip)
        body_pos, _ = forward_kinematics(amp, clip.local_rot, clip.root_pos)
        parts["root_pos"].append(clip.root_pos)
        parts["local_rot"].append(clip.local_rot)
        parts["body_pos"].append(body_pos)
        parts["root_vel"].append(lin[:, 0])
        parts["root_ang_vel"].append(ang[:, 0])
        parts["dof_vel"].append(humanoid.dof_vel_from_local_rot(clip.local_rot, clip.fps))
        starts.append(sum(n_frames))
        n_frames.append(clip.num_frames)
        fps.append(clip.fps)

    n_frames, fps = np.array(n_frames), np.array(fps)
    return MotionLibrary(
        **{k: jnp.asarray(np.concatenate(v), jnp.float32) for k, v in parts.items()},
        clip_start=jnp.asarray(starts, jnp.int32),
        clip_frames=jnp.asarray(n_frames, jnp.int32),
        clip_fps=jnp.asarray(fps, jnp.float32),
        clip_length=jnp.asarray((n_frames - 1) / fps, jnp.float32),
        clip_prob=jnp.asarray(w / w.sum(), jnp.float32),
        clip_names=tuple(c.source for c in clips),
    )


def load_library(path, **options) -> MotionLibrary:
    """build_library on a motion-set yaml, a poselib .npy or a DeepMimic .txt."""
    from near.motion.motion_set import load_motions

    return build_library(*load_motions(path), **options)


def horizontal_speed(root: np.ndarray, dt: float) -> np.ndarray:
    """The root's horizontal speed (m/s) between consecutive samples dt apart (numpy)."""
    return np.linalg.norm(np.diff(root[:, :2], axis=0), axis=-1) / dt if len(root) > 1 else np.zeros(0)


def clip_speed(lib: MotionLibrary) -> float:
    """The clips' mean horizontal root speed (m/s): each clip's path over its length, weighted by the clip
    probabilities, the measure the evaluation's ``root_speed_ratio`` compares a policy with."""
    root = np.asarray(lib.root_pos, np.float64)
    speeds = [horizontal_speed(root[start:start + frames], 1.0 / fps).mean() if frames > 1 else 0.0
              for start, frames, fps in zip(np.asarray(lib.clip_start), np.asarray(lib.clip_frames), np.asarray(lib.clip_fps))]
    return float(np.dot(np.asarray(lib.clip_prob, np.float64), speeds))


# --------------------------------------------------------------------------------------------------
# sampling and evaluation (jittable)


def sample_clips(lib: MotionLibrary, key: jax.Array, n: int) -> jax.Array:
    """n clip ids (int32) drawn with the library's per-clip probabilities."""
    return jax.random.categorical(key, jnp.log(lib.clip_prob), shape=(n,)).astype(jnp.int32)


def sample_times(lib: MotionLibrary, key: jax.Array, clip_ids: jax.Array, mode: str = "random") -> jax.Array:
    """Times (s) in each clip: 'random' uniform in [0, L], 'start' 0, 'weighted_random' L * Beta(1, 3)."""
    length = lib.clip_length[clip_ids]
    if mode == "random":
        return jax.random.uniform(key, length.shape) * length
    if mode == "start":
        return jnp.zeros_like(length)
    if mode == "weighted_random":
        return jax.random.beta(key, 1.0, 3.0, length.shape) * length
    raise ValueError(f"unknown time sampling mode {mode!r}; expected one of {TIME_MODES}")


def motion_state(lib: MotionLibrary, clip_ids: jax.Array, times: jax.Array, *, clamp_time: bool = True) -> MotionState:
    """The motion of each clip at each time (spec §5.7): positions lerped and rotations slerped between
    the two frames around t, velocities read at the earlier frame (not blended)."""
    clip_ids, times = jnp.broadcast_arrays(jnp.asarray(clip_ids), jnp.asarray(times, jnp.float32))
    n = lib.clip_frames[clip_ids]
    fps = lib.clip_fps[clip_ids]
    length = lib.clip_length[clip_ids]
    t = jnp.clip(times, 0.0, length) if clamp_time else times
    phase = jnp.clip(t / jnp.maximum(length, 1e-9), 0.0, 1.0)
    f0 = jnp.floor(phase * (n - 1)).astype(jnp.int32)
    f1 = jnp.minimum(f0 + 1, n - 1)
    blend = (t - f0 / fps) * fps
    if clamp_time:
        blend = jnp.clip(blend, 0.0, 1.0)  # rounding in the frame index must not extrapolate
    i0 = lib.clip_start[clip_ids] + f0
    i1 = lib.clip_start[clip_ids] + f1
    b = blend[..., None]

    local_rot = rot.slerp(lib.local_rot[i0], lib.local_rot[i1], b)
    return MotionState(
        root_pos=lib.root_pos[i0] + b * (lib.root_pos[i1] - lib.root_pos[i0]),
        root_rot=local_rot[..., 0, :],
        root_vel=lib.root_vel[i0],
        root_ang_vel=lib.root_ang_vel[i0],
        local_rot=local_rot,
        dof_pos=humanoid.dof_from_local_rot(local_rot),
        dof_vel=lib.dof_vel[i0],
        body_pos=lib.body_pos[i0] + b[..., None] * (lib.body_pos[i1] - lib.body_pos[i0]),
    )
