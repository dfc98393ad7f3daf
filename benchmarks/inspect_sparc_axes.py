"""Where a humanoid policy's root SPARC is lost: per velocity axis, in the world and in the heading frame,
and over windows of several lengths, against its clips (issue #16's SPARC limit).

The original's SPARC is the mean over the world x, y and z axes of the SPARC of the root's velocity
along each, over a whole 10 s episode; its expert values are those of 1-5 s clips. This splits a
policy's value into its axes, repeats it in the root's heading frame (forward, sideways, up: a policy
that turns moves forward speed between world x and y at low frequency, which clips that run straight do
not) and over windows of the clips' length and longer, beside the clips' own values:

    python benchmarks/inspect_sparc_axes.py --policy RUN --motion SET.yaml [--task HumanoidAMP] \
        [--episodes 16] [--windows 75 150] [--name sparc_axes_run_AMP_700]
    python benchmarks/inspect_sparc_axes.py --clips-only --motion SET.yaml [--continue-to 37 300]

It also continues each clip's own stride (two footsteps, found from the vertical velocity's
autocorrelation) seamlessly, as its Fourier series, to the policy's episode length: what the clips' gait
would score over a whole episode, had it been recorded that long (locomotion only).

Only episodes that last the whole time limit are used (a fall ends a signal early). Writes
benchmarks/results/<name>.json and prints a table (CPU: about a minute per policy).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result  # noqa: E402

from near.cli import configure_jax  # noqa: E402
from near.eval.gait import consecutive_windows  # noqa: E402
from near.eval.metrics import nan_mean, sample_clip, sparc  # noqa: E402
from near.utils import rotations as rot  # noqa: E402


def heading_frame_velocity(root_pos: np.ndarray, root_rot: np.ndarray, dt: float) -> np.ndarray:
    """Root velocity (T-1, 3) with its horizontal part turned into the root's heading at each step:
    forward, sideways, up. ``root_rot``: (T, 4) quaternions (w, x, y, z)."""
    vel = np.diff(np.asarray(root_pos, np.float64), axis=0) / dt
    return rot.rotate(rot.heading_quat_inverse(np.asarray(root_rot, np.float64)[:-1]), vel)


def axis_sparc(velocities, dt: float) -> list[float]:
    """Mean over trajectories of each axis' SPARC; velocities: list of (T, 3)."""
    per = np.array([sparc(v.T, 1.0 / dt) for v in velocities if len(v) > 2])  # (n, 3)
    return [nan_mean(per[:, a]) for a in range(3)] if len(per) else [float("nan")] * 3


def step_period(vel: np.ndarray, shortest: int = 8) -> int:
    """Steps of one footstep: the first strong repeat (after ``shortest`` steps) of the vertical velocity's
    autocorrelation; the pelvis bobs once a step."""
    z = vel[:, 2] - vel[:, 2].mean()
    ac = np.correlate(z, z, "full")[len(z) - 1:]
    if len(z) - 4 <= shortest:
        return len(z)
    return shortest + int(np.argmax(ac[shortest:len(z) - 4]))


def periodic_continuation(cycle: np.ndarray, length: int) -> np.ndarray:
    """``length`` steps of the band-limited periodic signal whose one period is ``cycle`` (P, d): its
    Fourier series, so the seams add nothing (a plain tiling would jump at each one)."""
    period = len(cycle)
    coeffs = np.fft.rfft(cycle, axis=0)
    k = np.arange(coeffs.shape[0])
    weight = np.full(k.shape, 2.0)
    weight[0] = 1.0
    if period % 2 == 0:
        weight[-1] = 1.0
    phase = np.exp(2j * np.pi * np.outer(np.arange(length), k) / period)
    return ((phase * weight) @ coeffs / period).real


def continued_clips(clip_world, dt: float, lengths) -> dict:
    """SPARC of each clip's own stride (two footsteps) repeated seamlessly for ``lengths`` steps: what the
    clips' gait would score over a policy's episode, were it recorded that long (locomotion only)."""
    cycles = []
    for v in clip_world:
        period = 2 * step_period(v)
        if period <= len(v):
            cycles.append(v[:period])
    rows = {}
    for length in lengths:
        axes = axis_sparc([periodic_continuation(c, length) for c in cycles], dt)
        rows[f"{length} steps"] = {"n": len(cycles), "world_axes": axes, "world_mean": nan_mean(axes)}
    return rows


def summarize(world, heading, dt: float) -> dict:
    w, h = axis_sparc(world, dt), axis_sparc(heading, dt)
    return {"n": len(world), "world_axes": w, "world_mean": nan_mean(w), "heading_axes": h, "heading_mean": nan_mean(h)}


def summarize_windows(world, heading, length: int, dt: float) -> dict:
    """:func:`summarize` over consecutive windows of ``length`` positions (``length - 1`` velocities)."""
    return summarize(consecutive_windows(world, length - 1), consecutive_windows(heading, length - 1), dt)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", help="a trained humanoid run folder (not needed with --clips-only)")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--task", default="HumanoidNEAR")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--windows", type=int, nargs="*", default=[75, 150])
    parser.add_argument("--name", default="sparc_axes")
    parser.add_argument("--clips-only", action="store_true",
                        help="only the clips, and their stride continued seamlessly (--policy is then ignored)")
    parser.add_argument("--continue-to", type=int, nargs="*", default=[37, 75, 150, 300],
                        help="lengths (steps) of the clips' stride continued periodically")
    args = parser.parse_args(argv)
    configure_jax()
    from near.config import compose_config
    from near.eval.policy_eval import evaluate_policy, reference_trajectories
    from near.factories import make_env

    if not args.clips_only and not args.policy:
        parser.error("--policy RUN is needed (or --clips-only)")
    overrides = [f"task={args.task}", f"motion={args.motion}"]
    env = make_env(compose_config(overrides))
    dt = env.control_dt
    refs = reference_trajectories(env)
    clip_world = [np.diff(np.asarray(r, np.float64), axis=0) / dt for r in refs.root]
    continued = continued_clips(clip_world, dt, args.continue_to)
    print(f"{args.motion}: the clips' stride continued seamlessly (SPARC, world axes x / y / z, mean)")
    for label, r in continued.items():
        print(f"  {label}: " + " / ".join(f"{v:.2f}" for v in r["world_axes"]) + f", mean {r['world_mean']:.2f} ({r['n']} clips)")
    if args.clips_only:
        print(write_result(args.name, "the clips' root SPARC, their stride continued (inspect_sparc_axes.py)",
                           [{"motion": os.path.basename(args.motion), "continued_clips": continued}]))
        return 0
    cfg = compose_config(overrides + [f"checkpoint={args.policy}"])
    out = evaluate_policy(cfg, args.policy, env=env, episodes=args.episodes, seed=args.seed)
    qpos, lengths = np.asarray(out["qpos"]), np.asarray(out["episode_length"]).astype(int)
    full = [i for i, n in enumerate(lengths) if n >= qpos.shape[0] - 1]  # a time-out ends at T - 1 steps
    if not full:
        raise SystemExit(f"{args.policy}: no evaluation episode lasted the whole {qpos.shape[0]} steps")
    n = int(lengths.max())
    world = [np.diff(qpos[:n, i, :3].astype(np.float64), axis=0) / dt for i in full]
    heading = [heading_frame_velocity(qpos[:n, i, :3], qpos[:n, i, 3:7], dt) for i in full]

    lib = env.library
    rots = [sample_clip(np.asarray(lib.root_rot)[start:start + count], 1.0 / fps, dt)
            for start, count, fps in zip(np.asarray(lib.clip_start), np.asarray(lib.clip_frames), np.asarray(lib.clip_fps))]
    clip_heading = [heading_frame_velocity(r, q, dt) for r, q in zip(refs.root, rots)]
    clip_len = max(int(np.median([len(r) for r in refs.root])), 3)
    rows = {"whole episode": summarize(world, heading, dt),
            f"clip-length windows ({clip_len} steps)": summarize_windows(world, heading, clip_len, dt)}
    clips = {"whole clips": summarize(clip_world, clip_heading, dt)}
    for length in args.windows:
        rows[f"{length}-step windows"] = summarize_windows(world, heading, length, dt)
        if consecutive_windows(clip_world, length - 1):  # clips shorter than the window have none
            clips[f"{length}-step windows"] = summarize_windows(clip_world, clip_heading, length, dt)

    print(f"{args.policy}: {len(full)} of {len(lengths)} episodes last {qpos.shape[0]} steps; SPARC (higher is smoother)")
    print("| signal | pieces | world x | world y | world z | world mean | forward | sideways | up | heading mean |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, r in rows.items():
        print(f"| policy, {label} | {r['n']} | " + " | ".join(f"{v:.2f}" for v in r["world_axes"])
              + f" | {r['world_mean']:.2f} | " + " | ".join(f"{v:.2f}" for v in r["heading_axes"])
              + f" | {r['heading_mean']:.2f} |")
    for label, r in clips.items():
        print(f"| clips, {label} | {r['n']} | " + " | ".join(f"{v:.2f}" for v in r["world_axes"])
              + f" | {r['world_mean']:.2f} | " + " | ".join(f"{v:.2f}" for v in r["heading_axes"])
              + f" | {r['heading_mean']:.2f} |")
    path = write_result(args.name, "root SPARC per axis, frame and window length (inspect_sparc_axes.py)",
                        [{"policy": args.policy, "motion": os.path.basename(args.motion), "task": args.task,
                          "episodes": int(len(lengths)), "full_episodes": len(full), "policy_rows": rows,
                          "clip_rows": clips, "continued_clips": continued}])
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
