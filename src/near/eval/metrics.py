"""Evaluation metrics of the original (spec near-algorithm.md §9): DTW pose error, SPARC, root motion.

Everything here is a pure function of arrays, so any rollout plugs in:

* humanoid: body positions ``[T+1, n_envs, n_bodies, 3]`` of a deterministic rollout, the learnt
  return per env (to pick the top k) and the motion's reference trajectories -> :func:`humanoid_metrics`;
* maze / push-T: the agent's 2-D path per episode -> :func:`path_metrics`;
* any env: :func:`episode_stats` (success, return, length), :func:`fall_rate`.

Where we differ from the original, and why:

* DTW is our own jitted JAX version of ``tslearn.metrics.dtw`` (unconstrained, squared-Euclidean local
  cost, square root of the accumulated cost). Same numbers (tests check it against ``dtaidistance``),
  float32 instead of float64.
* ``sparc`` clamps the cut-off to the Nyquist frequency. The reference keeps every bin with f <= fc of
  the *full* FFT (0..fs), so for fs < 2 fc (the maze's 3.3 Hz, push-T's 10 Hz) it would also walk the
  mirrored half of the spectrum. For the humanoid (fs = 30.1 Hz, fc = 10 Hz) nothing changes.
* A signal that is exactly zero (an agent that never moves) has no normalised spectrum: its SPARC is
  NaN, where the reference would divide by zero; means over trajectories skip NaNs.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

HUMANOID_DT = 2 * 0.0166  # the original's control step: demo sampling and the env (spec §12.9)
TOP_K = 20  # trajectories scored per evaluation (spec §9)

# Expert reference values of the original's plots (experiment_plotter.py ``expert_values``): root
# SPARC, mean root speed (m/s), acceleration (m/s^2) and jerk (m/s^3) of each reference motion.
EXPERT_VALUES = {
    "walk": {"sparc": -5.40, "root_velocity": 1.31, "root_acceleration": 3.37, "root_jerk": 130.11},
    "run": {"sparc": -3.79, "root_velocity": 3.55, "root_acceleration": 16.35, "root_jerk": 513.68},
    "crane_pose": {"sparc": -12.28, "root_velocity": 0.03, "root_acceleration": 0.96, "root_jerk": 49.05},
    "single_left_punch": {"sparc": -1.73, "root_velocity": 0.16, "root_acceleration": 2.51, "root_jerk": 72.49},
    "mummy_walk": {"sparc": -4.71, "root_velocity": 0.73, "root_acceleration": 2.32, "root_jerk": 79.63},
    "spin_kick": {"sparc": -3.39, "root_velocity": 1.05, "root_acceleration": 10.31, "root_jerk": 273.61},
}


# the original's motion names (experiment_generator.py), to tell "walk" from "turning_walk"
MOTION_NAMES = ("walk", "turning_walk", "run", "turning_run", "crane_pose", "single_left_punch", "zombie_walk", "bow",
                "marching", "tai_chi", "mummy_walk", "single_cartwheel", "spin_kick", "locate_and_strike",
                "walk_and_wave")


def expert_values_for(motion_path: str) -> tuple[str, dict] | None:
    """(motion name, expert values) for a motion file or set named like the original's
    (``amp_humanoid_walk.yaml``, ``walk.npy``); None for other motions or names."""
    from near.motion.motion_set import motion_name

    stem = motion_name(motion_path)
    names = [n for n in MOTION_NAMES if stem == n or stem.endswith("_" + n)]
    if not names:
        return None
    name = max(names, key=len)  # "turning_walk" over "walk"
    return (name, EXPERT_VALUES[name]) if name in EXPERT_VALUES else None


# ----------------------------------------------------------------------------------------------
# dynamic time warping


def _min_plus_combine(a, b):
    # Element j is the map x -> min(b_j, x + c_j); composing "a then b" is again such a map.
    b1, c1 = a
    b2, c2 = b
    return jnp.minimum(b2, b1 + c2), c1 + c2


def dtw_accumulated(x: jax.Array, y: jax.Array, x_len=None, y_len=None) -> jax.Array:
    """Optimal accumulated squared-Euclidean cost of aligning x[:x_len] (n, d) with y[:y_len] (m, d).

    D[i, j] = |x_i - y_j|^2 + min(D[i-1, j-1], D[i-1, j], D[i, j-1]); one ``lax.scan`` step per row of
    x. Within a row the recurrence D_j = min(b_j, D_{j-1} + c_j) is a (min, +) linear recurrence, solved
    by an associative scan (log depth instead of m sequential steps). Entries past the lengths never
    feed back into D[:x_len, :y_len], so padded batches give exact results.
    """
    n, m = x.shape[0], y.shape[0]
    x_len = n if x_len is None else x_len
    y_len = m if y_len is None else y_len
    inf = jnp.asarray(jnp.inf, x.dtype)

    def row(carry, inputs):
        prev, out = carry
        i, xi = inputs
        cost = jnp.sum((xi[None, :] - y) ** 2, axis=-1)  # (m,): one row of the local cost, no n*m*d array
        corner = jnp.where(i == 0, jnp.zeros((), x.dtype), inf)  # D[-1, -1] = 0 starts the path
        diag = jnp.concatenate([corner[None], prev[:-1]])
        best_above = jnp.minimum(diag, prev)
        cur, _ = jax.lax.associative_scan(_min_plus_combine, (best_above + cost, cost))
        out = jnp.where(i == x_len - 1, cur, out)
        return (cur, out), None

    init = (jnp.full((m,), inf, x.dtype), jnp.full((m,), inf, x.dtype))
    (_, last_row), _ = jax.lax.scan(row, init, (jnp.arange(n), x))
    return last_row[y_len - 1]


@jax.jit
def dtw(x: jax.Array, y: jax.Array) -> jax.Array:
    """tslearn's ``dtw(x, y)``: sqrt of the optimal accumulated squared-Euclidean cost. x (n, d), y (m, d)."""
    x, y = jnp.atleast_2d(x.T).T, jnp.atleast_2d(y.T).T  # 1-D series become (n, 1)
    return jnp.sqrt(dtw_accumulated(x, y))


@jax.jit
def dtw_matrix(xs: jax.Array, ys: jax.Array, x_lens: jax.Array, y_lens: jax.Array) -> jax.Array:
    """DTW between every padded series of xs (a, n, d) and of ys (b, m, d): (a, b)."""
    one = lambda x, xl, y, yl: jnp.sqrt(dtw_accumulated(x, y, xl, yl))
    over_y = jax.vmap(one, in_axes=(None, None, 0, 0))
    return jax.vmap(over_y, in_axes=(0, 0, None, None))(xs, x_lens, ys, y_lens)


def pad_series(series: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A list of (len_i, ...) arrays -> (k, max_len, ...) zero-padded, and the lengths (k,)."""
    lengths = np.array([len(s) for s in series], np.int32)
    if len(series) == 0 or lengths.min() < 1:
        raise ValueError("every series needs at least one frame")
    out = np.zeros((len(series), lengths.max()) + np.shape(series[0])[1:], np.float32)
    for i, s in enumerate(series):
        out[i, : len(s)] = s
    return out, lengths


# ----------------------------------------------------------------------------------------------
# pose error (humanoid)


def root_relative(body_pos: np.ndarray, root: int = 0) -> np.ndarray:
    """(..., n_bodies, 3) -> (..., n_bodies * 3): positions minus the root body's, no heading alignment."""
    body_pos = np.asarray(body_pos, np.float32)
    rel = body_pos - body_pos[..., root : root + 1, :]
    return rel.reshape(rel.shape[:-2] + (-1,))


def pose_error(agent_traj: np.ndarray, demo_trajs: Sequence[np.ndarray], root: int = 0) -> float:
    """The original's mean DTW pose error.

    agent_traj: body positions (T+1, k, n_bodies, 3) of the k scored trajectories (time first, as
    the rollout records them); demo_trajs: the motion's clips, each (T_c, n_bodies, 3), sampled at the
    env's control step. mean over agents of mean over clips of DTW(demo, agent) / n_bodies.
    """
    agent_traj = np.asarray(agent_traj)
    n_bodies = agent_traj.shape[-2]
    agents = root_relative(np.swapaxes(agent_traj, 0, 1), root)  # (k, T+1, 3B)
    demos, demo_lens = pad_series([root_relative(d, root) for d in demo_trajs])
    agent_lens = np.full(len(agents), agents.shape[1], np.int32)
    dist = np.asarray(dtw_matrix(jnp.asarray(demos), jnp.asarray(agents), demo_lens, agent_lens))  # (clips, k)
    return float((dist / n_bodies).mean(axis=0).mean())


def sample_clip(frames: np.ndarray, clip_dt: float, dt: float = HUMANOID_DT) -> np.ndarray:
    """A clip's frames (F, ...) at times 0, dt, 2dt, ... <= its duration, as the original's demo
    fetcher does: frame index = floor(phase * (F - 1)), phase = t / duration."""
    frames = np.asarray(frames)
    duration = (len(frames) - 1) * clip_dt
    times = np.arange(0.0, duration + 1e-9, dt)
    phase = times / duration if duration > 0 else np.zeros_like(times)
    return frames[np.floor(phase * (len(frames) - 1) + 1e-9).astype(int)]


# ----------------------------------------------------------------------------------------------
# smoothness and root motion


def sparc(signal: np.ndarray, fs: float, pad_level: int = 4, fc: float = 10.0, amp_th: float = 0.05) -> np.ndarray:
    """Spectral arc length of each series along the last axis (Balasubramanian et al.'s algorithm).

    Magnitude spectrum zero-padded to 2^(ceil(log2 n) + pad_level), normalised by its maximum, cut at
    fc, then at the first and last bins >= amp_th; minus the arc length of that curve with the
    frequency axis scaled to [0, 1]. Higher (closer to 0) is smoother. float64 numpy, like the reference.
    """
    signal = np.asarray(signal, np.float64)
    n = signal.shape[-1]
    nfft = int(2 ** (np.ceil(np.log2(n)) + pad_level))
    freqs = np.arange(nfft) * fs / nfft
    mag = np.abs(np.fft.fft(signal, nfft, axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        mag = mag / mag.max(axis=-1, keepdims=True)  # all-zero signal -> NaN (see module docstring)
    keep = freqs <= min(fc, fs / 2)
    freqs, mag = freqs[keep], mag[..., keep]
    above = mag >= amp_th
    first = np.argmax(above, axis=-1)
    last = mag.shape[-1] - 1 - np.argmax(above[..., ::-1], axis=-1)
    idx = np.arange(mag.shape[-1])
    inside = (idx[:-1] >= first[..., None]) & (idx[1:] <= last[..., None])  # segment k joins bins k, k+1
    span = np.maximum(last - first, 1)[..., None] * (fs / nfft)  # f_last - f_first (no segment if 0)
    seg = np.sqrt((np.diff(freqs) / span) ** 2 + np.diff(mag, axis=-1) ** 2)
    out = -np.sum(np.where(inside, seg, 0.0), axis=-1)
    return np.where(np.isnan(mag).any(axis=-1), np.nan, out)


def finite_differences(pos: np.ndarray, dt: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Velocity, acceleration and jerk of positions by successive forward differences along ``axis``."""
    vel = np.diff(np.asarray(pos, np.float64), axis=axis) / dt
    acc = np.diff(vel, axis=axis) / dt
    return vel, acc, np.diff(acc, axis=axis) / dt


def smoothness(pos: np.ndarray, dt: float, fc: float = 10.0) -> dict:
    """SPARC and root motion of one trajectory of positions (T+1, d), the original's way.

    ``sparc``: mean over the d axes of SPARC of each signed velocity component; ``root_velocity`` etc.:
    mean over time of the norm of each derivative.
    """
    vel, acc, jerk = finite_differences(pos, dt)
    return {"sparc": nan_mean(sparc(vel.T, 1.0 / dt, fc=fc)) if len(vel) else float("nan"),
            "root_velocity": _mean_norm(vel), "root_acceleration": _mean_norm(acc), "root_jerk": _mean_norm(jerk)}


def nan_mean(values) -> float:
    """The mean of the values that are not NaN; NaN (without numpy's empty-slice warning) when none is."""
    values = np.asarray(values, np.float64)
    return float(np.nanmean(values)) if (~np.isnan(values)).any() else float("nan")


def nan_median(values) -> float:
    """The median of the values that are not NaN; NaN (without numpy's all-NaN warning) when none is."""
    values = np.asarray(values, np.float64)
    return float(np.nanmedian(values)) if (~np.isnan(values)).any() else float("nan")


def _mean_norm(x: np.ndarray) -> float:
    return float(np.linalg.norm(x, axis=-1).mean()) if len(x) else float("nan")


def mean_smoothness(trajectories: Sequence[np.ndarray], dt: float, fc: float = 10.0) -> dict:
    """:func:`smoothness` averaged over trajectories (NaNs skipped)."""
    rows = [smoothness(t, dt, fc) for t in trajectories]
    keys = ("sparc", "root_velocity", "root_acceleration", "root_jerk")
    return {k: nan_mean([r[k] for r in rows]) for k in keys}


# ----------------------------------------------------------------------------------------------
# episodes


def episode_stats(episode_return: np.ndarray, episode_length: np.ndarray, success: np.ndarray | None = None) -> dict:
    """Mean and std of the task return and episode length, and the success rate if the task has one."""
    ret, length = np.asarray(episode_return, np.float64), np.asarray(episode_length, np.float64)
    out = {"task_return": float(ret.mean()), "task_return_std": float(ret.std()),
           "episode_length": float(length.mean()), "episode_length_std": float(length.std())}
    if success is not None:
        out["success_rate"] = float(np.asarray(success, np.float64).mean())
    return out


def fall_rate(episode_length: np.ndarray, max_steps: int, success: np.ndarray | None = None) -> float:
    """Fraction of episodes that ended before the time limit without success (humanoid: a fall)."""
    early = np.asarray(episode_length) < max_steps
    if success is not None:
        early &= ~np.asarray(success, bool)
    return float(early.mean())


def top_k(learnt_return: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Indices of the k envs with the highest learnt return (raw energy or AMP reward), best first."""
    learnt_return = np.asarray(learnt_return)
    return np.argsort(-learnt_return, kind="stable")[: min(k, len(learnt_return))]


def path_metrics(positions: Sequence[np.ndarray], dt: float) -> dict:
    """Smoothness of the agent's path on a 2-D task: per episode its positions (len+1, 2).

    ``path_sparc``: SPARC of the per-axis velocity (fc clamped to Nyquist), ``path_speed``: mean speed.
    """
    m = mean_smoothness([p for p in positions if len(p) > 1], dt)
    return {"path_sparc": m["sparc"], "path_speed": m["root_velocity"]}


def humanoid_metrics(body_pos: np.ndarray, learnt_return: np.ndarray, demo_trajs: Sequence[np.ndarray],
                     dt: float = HUMANOID_DT, k: int = TOP_K, root: int = 0) -> dict:
    """The original's imitation metrics of one evaluation rollout (spec §9).

    body_pos: (T+1, n_envs, n_bodies, 3) world positions from a deterministic rollout (frames after an
    env's termination included); learnt_return: (n_envs,) accumulated raw energy at the current level
    (AMP: discriminator reward), used to pick the top k envs; demo_trajs: the motion's clips as body
    positions (T_c, n_bodies, 3) sampled every dt (:func:`sample_clip`).
    """
    chosen = np.asarray(body_pos)[:, top_k(learnt_return, k)]
    roots = [chosen[:, i, root] for i in range(chosen.shape[1])]
    return {"pose_error": pose_error(chosen, demo_trajs, root), **mean_smoothness(roots, dt), "scored": len(roots)}

__all__ = [
    "HUMANOID_DT",
    "TOP_K",
    "dtw",
    "dtw_accumulated",
    "dtw_matrix",
    "episode_stats",
    "fall_rate",
    "finite_differences",
    "humanoid_metrics",
    "mean_smoothness",
    "pad_series",
    "path_metrics",
    "pose_error",
    "root_relative",
    "sample_clip",
    "smoothness",
    "sparc",
    "top_k",
]
