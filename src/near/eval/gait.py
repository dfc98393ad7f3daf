"""Gait and posture of a humanoid policy against its clips: what the pose error, the fall rate and
whole-episode SPARC do not show (issue #16). Pure functions of arrays, like :mod:`near.eval.metrics`:

* :func:`posture_metrics`: root height and speed ratios, joint-angle distribution distance;
* :func:`window_sparc`: root SPARC of policy and clips over windows of one length;
* :func:`cadence_ratio`, :func:`stride_ratio`: steps per second from the pelvis, strides and landings
  from the feet;
* :func:`foot_slide_ratio`: how fast a foot moves while it is down (skating feet);
* :func:`key_height_distance`: how far the hands' and feet's heights are from the clips' (a knee never
  lifted, an arm never raised).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from near.eval.metrics import HUMANOID_DT, mean_smoothness, nan_median, sample_clip
from near.motion.library import horizontal_speed


def _quantiles(x: np.ndarray, n: int = 200) -> np.ndarray:
    return np.quantile(x, (np.arange(n) + 0.5) / n, axis=0)


def joint_angle_distances(policy_dof: np.ndarray, clip_dof: np.ndarray) -> np.ndarray:
    """Per DOF, the 1-D Wasserstein distance (rad) between the policy's and the clips' angle distributions
    (frames, D) -> (D,): how far each joint's histogram must move to match; 0 for the clips themselves."""
    policy_dof, clip_dof = np.asarray(policy_dof, np.float64), np.asarray(clip_dof, np.float64)
    if policy_dof.ndim != 2 or policy_dof.shape[1:] != clip_dof.shape[1:]:
        raise ValueError(f"DOF arrays must be (frames, D) with the same D, got {policy_dof.shape} and {clip_dof.shape}")
    return np.abs(_quantiles(policy_dof) - _quantiles(clip_dof)).mean(axis=0)


def joint_angle_distance(policy_dof: np.ndarray, clip_dof: np.ndarray) -> float:
    """Mean over DOFs of :func:`joint_angle_distances` (rad). A crouch shifts the knees and hips; a
    wrong arm pose the shoulders."""
    return float(joint_angle_distances(policy_dof, clip_dof).mean())


def _spread(frames: np.ndarray, most: int) -> np.ndarray:
    """At most ``most`` of ``frames``, evenly spaced (all of them when there are fewer)."""
    if len(frames) <= most:
        return frames
    return frames[np.linspace(0, len(frames) - 1, most).round().astype(int)]


def pose_reach(policy_dof: np.ndarray, clip_dof: np.ndarray, parts: dict[str, Sequence[int]] | None = None,
               most: int = 4096, block: int = 256) -> dict:
    """How close the policy ever comes to each of its clips' poses: for every clip frame, the RMS joint-angle
    difference (rad, over the DOFs) to the nearest of the policy's frames, averaged over the clip frames.

    0 when each pose of the clips appears somewhere in the policy's episodes; a move the policy never makes
    (a punch thrown, a knee lifted) keeps its frames far whatever else the policy does well, where the
    histograms of :func:`joint_angle_distances` can match without it. ``policy_dof`` / ``clip_dof``:
    (frames, D) pooled over episodes / clips (at most ``most`` of each are used, evenly spaced).
    Returns ``pose_reach`` and, with ``parts``, ``pose_reach_NAME`` (the same over that part's DOFs alone,
    its nearest policy frame found for it alone: which limb never takes the clips' pose)."""
    policy = _spread(np.asarray(policy_dof, np.float64), most)
    clip = _spread(np.asarray(clip_dof, np.float64), most)
    if policy.ndim != 2 or policy.shape[1:] != clip.shape[1:] or not len(policy) or not len(clip):
        raise ValueError(f"DOF arrays must be non-empty (frames, D) with the same D, got {policy.shape} and {clip.shape}")
    groups = {"": list(range(clip.shape[1])), **{f"_{name}": list(d) for name, d in (parts or {}).items()}}
    out = {}
    for suffix, dofs in groups.items():
        p, c = policy[:, dofs], clip[:, dofs]
        p_sq = (p * p).sum(1)
        nearest = np.concatenate([  # blocks of clip frames: a (block, policy frames) matrix at a time
            np.maximum((cb * cb).sum(1)[:, None] + p_sq[None] - 2.0 * cb @ p.T, 0.0).min(1)
            for cb in (c[i:i + block] for i in range(0, len(c), block))])
        out[f"pose_reach{suffix}"] = float(np.sqrt(nearest / len(dofs)).mean())
    return out


def key_height_distance(policy_key: Sequence[np.ndarray], clip_key: Sequence[np.ndarray],
                        names: Sequence[str]) -> dict:
    """Per key body (hands, feet), the 1-D Wasserstein distance (m) between the policy's and the clips'
    height distributions, pooled over episodes / clips of world positions (T, K, 3) of the bodies ``names``:
    ``key_height_distance`` (their mean) and ``key_height_distance_NAME``. A crane policy that never lifts
    its knee keeps its right foot near the floor where the clips hold it half a metre up for most of a clip:
    that foot's distance is about 0.24 m (AMP's crane, lifting it part way: 0.14); the clips against
    themselves give 0."""
    def heights(trajectories):
        parts = [np.asarray(x, np.float64)[..., 2] for x in trajectories if len(x)]
        if not parts:
            raise ValueError("key_height_distance needs at least one non-empty trajectory on each side")
        return np.concatenate(parts)

    policy, clips = heights(policy_key), heights(clip_key)
    if policy.shape[1] != len(names):
        raise ValueError(f"{policy.shape[1]} key bodies against {len(names)} names")
    per_body = joint_angle_distances(policy, clips)
    return {"key_height_distance": float(per_body.mean()),
            **{f"key_height_distance_{name}": float(d) for name, d in zip(names, per_body)}}


def posture_metrics(policy_root: Sequence[np.ndarray], policy_dof: Sequence[np.ndarray],
                    clip_root: Sequence[np.ndarray], clip_dof: Sequence[np.ndarray], dt: float,
                    parts: dict[str, Sequence[int]] | None = None) -> dict:
    """Posture and speed of the policy against its clips, over whole trajectories sampled every dt.

    policy_root / clip_root: root positions (T, 3) per episode / clip (only the steps before the end of
    each episode); policy_dof / clip_dof: DOF positions (T, 28). Returns ``root_height_ratio`` (mean root
    height, policy / clips: below 1 is a crouch), ``root_speed_ratio`` (mean horizontal root speed:
    0 stands still), ``clips_root_speed`` (the clips' mean horizontal root speed, m/s: whether they are a gait) and ``joint_angle_distance`` (:func:`joint_angle_distance`, rad); with ``parts``
    ({name: DOF indices}, e.g. :data:`near.motion.humanoid.BODY_PARTS`) also ``joint_angle_distance_NAME``,
    the mean over that part's DOFs: which limb is off (a knee never lifted, a punch never thrown).
    """
    def pooled(parts, f=lambda x: x):
        parts = [f(np.asarray(x, np.float64)) for x in parts]
        parts = [x for x in parts if len(x)]
        if not parts:
            raise ValueError("posture_metrics needs at least one non-empty trajectory on each side")
        return np.concatenate(parts)

    height = pooled(policy_root)[:, 2].mean() / pooled(clip_root)[:, 2].mean()
    clip_speed = pooled(clip_root, lambda r: horizontal_speed(r, dt)).mean()
    policy_speed = [horizontal_speed(np.asarray(r, np.float64), dt) for r in policy_root]
    policy_speed = np.concatenate(policy_speed) if any(len(v) for v in policy_speed) else np.full(1, np.nan)
    speed = policy_speed.mean() / clip_speed if clip_speed > 1e-6 else float("nan")  # nan: one-step episodes only
    per_dof = joint_angle_distances(pooled(policy_dof), pooled(clip_dof))
    out = {"root_height_ratio": float(height), "root_speed_ratio": float(speed),
           "joint_angle_distance": float(per_dof.mean()), "clips_root_speed": float(clip_speed)}
    for name, dofs in (parts or {}).items():
        out[f"joint_angle_distance_{name}"] = float(per_dof[list(dofs)].mean())
    return out


def step_frequency(root: np.ndarray, dt: float, band: tuple[float, float] = (0.5, 8.0)) -> float:
    """Steps per second of one trajectory of root positions (T, 3): the strongest frequency of the
    vertical root velocity within ``band`` (the pelvis rises once per step). NaN if too short."""
    root = np.asarray(root, np.float64)
    if len(root) < 8:
        return float("nan")
    vz = np.diff(root[:, 2]) / dt
    n = max(1024, 2 * len(vz))  # zero-padded: a fine frequency grid for short clips
    spectrum = np.abs(np.fft.rfft(vz - vz.mean(), n=n))
    freqs = np.fft.rfftfreq(n, dt)
    inside = (freqs >= band[0]) & (freqs <= band[1])
    return float(freqs[inside][np.argmax(spectrum[inside])]) if spectrum[inside].max() > 0 else float("nan")


def cadence_ratio(policy_root: Sequence[np.ndarray], clip_root: Sequence[np.ndarray], dt: float) -> dict:
    """``step_frequency`` (median over the policy's episodes) and ``cadence_ratio`` (that over the clips'
    median): a gait of short, quick steps at the clips' speed shows here (the walk at 53 M steps: 4.4 steps/s
    against the clips' 1.8). Where the pelvis sways once per stride more than it bobs once per step, the
    strongest frequency is the stride's, half the steps: read it with the strides, the speed and the feet's
    ``landing_rate`` (speed is about strides x cadence)."""
    policy = nan_median([step_frequency(r, dt) for r in policy_root])
    clips = nan_median([step_frequency(r, dt) for r in clip_root])
    return {"step_frequency": float(policy), "cadence_ratio": float(policy / clips) if clips > 0 else float("nan")}


def touchdowns(foot_height: np.ndarray, low: float = 0.04, rise: float = 0.03) -> np.ndarray:
    """Steps at which a foot lands: its height (T,) comes within ``low`` of its own 2nd percentile (the
    floor: the clips' feet float above theirs) after rising ``rise`` above its lowest point since the
    last landing (a shuffle's feet barely rise, and land a few cm apart in height)."""
    z = np.asarray(foot_height, np.float64)
    floor = np.percentile(z, 2)
    down, lowest, landed = bool(z[0] < floor + low), z[0], []
    for t, height in enumerate(z):
        if down:
            lowest = min(lowest, height)
            if height > lowest + rise:
                down = False
        elif height < floor + low:
            down, lowest = True, height
            landed.append(t)
    return np.asarray(landed, int)


def _pooled_median(parts: Sequence[np.ndarray]) -> float:
    """Median of the values of all parts together; NaN where there are none."""
    values = np.concatenate(parts) if len(parts) else np.zeros(0)
    return float(np.median(values)) if len(values) else float("nan")


def _strides_of(landings: np.ndarray, foot_xy: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(foot_xy[landings], axis=0), axis=-1)


def stride_lengths(feet: np.ndarray) -> np.ndarray:
    """Horizontal distances between consecutive landings of the same foot, from feet positions (T, F, 3)."""
    feet = np.asarray(feet, np.float64)
    return np.concatenate([_strides_of(touchdowns(feet[:, f, 2]), feet[:, f, :2]) for f in range(feet.shape[1])])


def stride_ratio(policy_feet: Sequence[np.ndarray], clip_feet: Sequence[np.ndarray], dt: float) -> dict:
    """``stride_length`` (m, median over the policy's strides) and ``stride_length_ratio`` (that over the
    clips'): the feet's own measure of short steps, beside the pelvis's :func:`cadence_ratio` (the walk
    at 53 M steps: strides 0.68 m against the clips' 1.4). NaN where no foot lands twice. And
    ``landing_rate`` / ``landing_rate_clips``: landings of both feet per second, pooled over the
    trajectories; feet that skate instead of stepping land seldom, and their few strides read long."""
    def strides_and_rate(trajectories) -> tuple[float, float]:
        strides, landings, seconds = [], 0, 0.0
        for feet in trajectories:
            feet = np.asarray(feet, np.float64)
            seconds += len(feet) * dt
            for f in range(feet.shape[1]):
                landed = touchdowns(feet[:, f, 2])  # once per foot: strides and the landing count
                landings += len(landed)
                strides.append(_strides_of(landed, feet[:, f, :2]))
        return _pooled_median(strides), landings / seconds if seconds > 0 else float("nan")

    (policy, policy_rate), (clips, clip_rate) = strides_and_rate(policy_feet), strides_and_rate(clip_feet)
    return {"stride_length": policy, "stride_length_ratio": policy / clips if clips > 1e-6 else float("nan"),
            "landing_rate": policy_rate, "landing_rate_clips": clip_rate}


def foot_slide(feet: np.ndarray, dt: float, low: float = 0.015) -> np.ndarray:
    """Horizontal speeds (m/s) of the feet while they stay within ``low`` of their floor (their own 2nd
    percentile of height) over a step, from feet positions (T, F, 3) every ``dt``: a planted foot's is
    near 0, a skating foot's is not."""
    feet = np.asarray(feet, np.float64)
    out = []
    for f in range(feet.shape[1]):
        z = feet[:, f, 2]
        planted = z < np.percentile(z, 2) + low
        both = planted[1:] & planted[:-1]
        out.append(np.linalg.norm(np.diff(feet[:, f, :2], axis=0), axis=-1)[both] / dt)
    return np.concatenate(out) if out else np.zeros(0)


def foot_slide_ratio(policy_feet: Sequence[np.ndarray], clip_feet: Sequence[np.ndarray], dt: float) -> dict:
    """``foot_slide`` (median of :func:`foot_slide` over the policy's episodes, m/s) and ``foot_slide_clips``
    (the clips'): feet that skate along the floor instead of being planted, which neither the stride
    (a skating foot seldom lifts to land again) nor the pelvis's cadence measures."""
    def median(trajectories) -> float:
        return _pooled_median([foot_slide(f, dt) for f in trajectories if len(f) > 1])

    return {"foot_slide": median(policy_feet), "foot_slide_clips": median(clip_feet)}


def consecutive_windows(trajectories: Sequence[np.ndarray], length: int) -> list[np.ndarray]:
    """Each trajectory cut into consecutive, non-overlapping pieces of ``length`` steps (float64); what
    is left at a trajectory's end, and a trajectory shorter than ``length``, is dropped."""
    return [np.asarray(r, np.float64)[s : s + length] for r in trajectories for s in range(0, len(r) - length + 1, length)]


def window_sparc(policy_root: Sequence[np.ndarray], clip_root: Sequence[np.ndarray], dt: float,
                 fc: float = 10.0) -> dict:
    """Root SPARC of the policy and of its clips over windows of one length, the clips' median length.

    SPARC falls with the length of the signal: a longer recording of the same gait has sharper harmonics
    and a longer spectral arc (the walk clips: -3.9 over 50 steps, -4.9 over 100, -5.8 over 150). The
    original compares 10 s episodes with clips of 1-5 s, which counts that length as jerk; here both
    sides are cut into consecutive windows of ``window_sparc_steps`` positions (clips shorter than that
    and the rest of each trajectory are left out). Returns ``window_sparc`` (policy), ``window_sparc_clips``
    and ``window_sparc_steps``; NaN where a side has no full window.
    """
    lengths = [len(r) for r in clip_root]
    if not lengths:
        raise ValueError("window_sparc needs at least one clip")
    window = max(int(np.median(lengths)), 3)

    def mean_over_windows(trajectories) -> float:
        pieces = consecutive_windows(trajectories, window)
        return mean_smoothness(pieces, dt, fc)["sparc"] if pieces else float("nan")

    return {"window_sparc": mean_over_windows(policy_root), "window_sparc_clips": mean_over_windows(clip_root),
            "window_sparc_steps": window}


def clip_postures(root_pos: np.ndarray, dof_pos: np.ndarray, clip_start, clip_frames, clip_fps,
                  dt: float = HUMANOID_DT) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each clip's root positions (T_c, 3) and DOF positions (T_c, 28) every dt, from a motion
    library's concatenated frames (:func:`sample_clip`)."""
    roots, dofs = [], []
    for s, n, f in zip(np.asarray(clip_start), np.asarray(clip_frames), np.asarray(clip_fps)):
        roots.append(sample_clip(root_pos[s : s + n], 1.0 / f, dt))
        dofs.append(sample_clip(dof_pos[s : s + n], 1.0 / f, dt))
    return roots, dofs


# What a look at a humanoid run finds and the limits (falls, height, speed, SPARC) let pass (issue #16):
SLIDE_TIMES, SLIDE_EXCESS = 2.0, 0.15  # feet moving while down: over 2 x the clips' and 0.15 m/s faster (glide, shuffle)
SHORT_STRIDES = 0.6  # strides under 0.6 x the clips' on a gait (a patter or a shuffle)
STATUE_SHARE = 0.95  # pose reach within 5 % of a statue's in the clips' mean pose, or farther
TRAVELS = 0.5  # m/s: clips whose root moves this fast on average are a gait (walk 1.3, mummy walk 0.73, run 3.4)


def statue_pose_reach(clip_dof: Sequence[np.ndarray], parts: dict[str, Sequence[int]] | None = None) -> dict:
    """:func:`pose_reach` of a statue holding the clips' mean pose (its keys, with ``parts`` per part): the scale for
    a policy's, no simulation needed. A policy whose reach is no nearer than this never takes the clips' defining
    poses (the punch, the crane's knee)."""
    frames = np.concatenate([np.asarray(c, np.float64) for c in clip_dof])
    return pose_reach(frames.mean(0, keepdims=True), frames, parts)


def imitation_flags(metrics: dict, travels: bool | None = None) -> list[str]:
    """What an evaluation of a humanoid policy shows unlike its clips that the fall, height, speed and SPARC limits
    do not test: feet that slide while down (a glide, a shuffle), strides far shorter than the clips' on a gait
    (``travels``; default: the clips' mean root speed, ``clips_root_speed``, at least :data:`TRAVELS`), and a pose
    reach no nearer than a statue's (``statue_pose_reach``). Empty where none shows or the measures are absent."""
    flags = []
    slide, clips = metrics.get("foot_slide"), metrics.get("foot_slide_clips")
    if slide is not None and clips is not None and slide >= SLIDE_TIMES * clips and slide - clips >= SLIDE_EXCESS:
        flags.append(f"feet slide {slide:.2f} m/s while down ({slide / max(clips, 1e-9):.1f} x the clips')")
    if travels is None:
        travels = (metrics.get("clips_root_speed") or 0.0) >= TRAVELS
    strides = metrics.get("stride_length_ratio")
    if travels and strides is not None and np.isfinite(strides) and strides < SHORT_STRIDES:
        flags.append(f"strides {strides:.2f} x the clips'")
    reach, statue = metrics.get("pose_reach"), metrics.get("statue_pose_reach")
    if reach is not None and statue is not None and reach >= STATUE_SHARE * statue:
        flags.append(f"poses no nearer the clips' than a statue's ({reach:.3f} vs {statue:.3f})")
    return flags


__all__ = [
    "cadence_ratio",
    "clip_postures",
    "foot_slide",
    "foot_slide_ratio",
    "imitation_flags",
    "joint_angle_distance",
    "joint_angle_distances",
    "key_height_distance",
    "posture_metrics",
    "statue_pose_reach",
    "step_frequency",
    "stride_lengths",
    "stride_ratio",
    "touchdowns",
    "window_sparc",
]
