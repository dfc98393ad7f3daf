"""Inspect humanoid motion sets: size, timing, data-quality facts and what the library options do.

For every motion-set yaml in a folder (default: the NEAR humanoid data), and for the DeepMimic clips
of pybullet when it is installed, prints a table and writes benchmarks/results/motions_humanoid.json:

* clips, frames, total duration, fps; clips whose frame 0 is the CMU T-pose (and the joint jump to
  frame 1); fraction of consecutive frame pairs that are exact copies;
* root height range; % of frames with a DOF outside the MJCF joint ranges (and the worst DOFs);
* stored velocities against the §6.3 recipe recomputed here (max abs error, frames 10.. of each clip);
* the effect of the library options (``drop_tpose_frame``, ``dedupe_frames``): frames kept, share of
  frames whose DOF velocities are all 0, mean |DOF velocity|, frame-to-frame DOF-velocity jitter, and
  the largest root angular speed in the first 10 frames.

    PYTHONPATH=src python benchmarks/inspect_motions.py [--data FOLDER] [--no-deepmimic]
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result

from near.motion import humanoid as H
from near.motion.library import (
    build_library,
    duplicate_pairs,
    has_duplicate_frames,
    has_tpose_frame,
)
from near.motion.motion_set import load_motions
from near.motion.skeleton import compute_velocities

DATA = "/work/shared/data/humanoid"


def _angle_deg(a, b):
    return np.degrees(2 * np.arccos(np.clip(np.abs(np.sum(a * b, -1)), 0, 1)))


def clip_facts(clips) -> dict:
    frames = np.array([c.num_frames for c in clips])
    fps = sorted({c.fps for c in clips})
    tpose = [has_tpose_frame(c) for c in clips]
    jumps = [float(_angle_deg(c.local_rot[0], c.local_rot[1]).max()) for c, t in zip(clips, tpose) if t]
    dup = np.concatenate([duplicate_pairs(c) for c in clips])
    dofs = np.concatenate([np.asarray(H.dof_from_local_rot(c.local_rot)) for c in clips])
    out = (dofs < H.DOF_LOWER - 1e-6) | (dofs > H.DOF_UPPER + 1e-6)
    worst = np.argsort(-out.mean(0))[:3]
    root_z = np.concatenate([c.root_pos[:, 2] for c in clips])
    err_lin, err_ang = [], []
    for c in clips:
        if c.global_velocity is None:
            continue
        lin, ang = compute_velocities(c.skeleton, c.local_rot, c.root_pos, c.fps)
        err_lin.append(np.abs(lin - c.global_velocity)[10:].max(initial=0))
        err_ang.append(np.abs(ang - c.global_angular_velocity)[10:].max(initial=0))
    return {
        "clips": len(clips),
        "frames": int(frames.sum()),
        "duration_s": float(sum(c.length for c in clips)),
        "fps": fps,
        "tpose_frame_clips": int(sum(tpose)),
        "tpose_jump_deg": [round(min(jumps), 1), round(max(jumps), 1)] if jumps else None,
        "duplicate_pair_fraction": float(dup.mean()) if dup.size else 0.0,
        "duplicate_pattern_clips": int(sum(has_duplicate_frames(c) for c in clips)),
        "root_height_m": [float(root_z.min()), float(root_z.max())],
        "frames_outside_ranges_pct": float(100 * out.any(-1).mean()),
        "worst_dofs_outside_pct": {H.DOF_NAMES[i]: round(float(100 * out[:, i].mean()), 1) for i in worst},
        "stored_vs_recipe_max_err": {"lin_m_s": float(max(err_lin, default=0)), "ang_rad_s": float(max(err_ang, default=0))}
        if err_lin
        else None,
    }


def option_effects(clips, probs) -> dict:
    rows = {}
    for drop, dedupe in ((False, False), (True, False), (True, True)):
        t0 = time.perf_counter()
        lib = build_library(clips, probs, drop_tpose_frame=drop, dedupe_frames=dedupe)
        build_s = time.perf_counter() - t0
        dv = np.asarray(lib.dof_vel)
        starts, n = np.asarray(lib.clip_start), np.asarray(lib.clip_frames)
        jitter = np.concatenate([np.abs(np.diff(dv[s : s + k], axis=0)).mean(-1) for s, k in zip(starts, n)])
        first = np.concatenate([np.linalg.norm(np.asarray(lib.root_ang_vel[s : s + min(k, 10)]), axis=-1) for s, k in zip(starts, n)])
        rows[f"drop_tpose={drop},dedupe={dedupe}"] = {
            "frames": int(lib.num_frames),
            "fps": sorted({float(f) for f in np.asarray(lib.clip_fps)}),
            "zero_dof_vel_frames_pct": float(100 * (np.abs(dv).max(-1) < 1e-3).mean()),
            "mean_abs_dof_vel": float(np.abs(dv).mean()),
            "dof_vel_jitter": float(jitter.mean()),
            "max_root_ang_speed_first_10_frames": float(first.max()),
            "build_s": round(build_s, 3),
        }
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--no-deepmimic", action="store_true")
    args = ap.parse_args()

    results = []
    for yml in sorted(glob.glob(os.path.join(args.data, "*.yaml"))):
        t0 = time.perf_counter()
        clips, probs = load_motions(yml)
        row = {"set": os.path.basename(yml), "load_s": round(time.perf_counter() - t0, 3), **clip_facts(clips)}
        row["options"] = option_effects(clips, probs)
        results.append(row)
    if not args.no_deepmimic:
        try:
            from near.motion.deepmimic import (
                deepmimic_clip_path,
                deepmimic_motions_dir,
                load_deepmimic,
            )

            folder = deepmimic_motions_dir()
        except ImportError as e:
            print(f"(DeepMimic clips skipped: {e})")
        else:
            for f in sorted(glob.glob(os.path.join(folder, "humanoid3d_*.txt"))):
                name = os.path.basename(f)[len("humanoid3d_") : -4]
                clip = load_deepmimic(deepmimic_clip_path(name))
                results.append({"set": f"deepmimic:{name}", **clip_facts([clip])})

    head = f"{'set':42s} {'clips':>5s} {'frames':>6s} {'dur s':>6s} {'fps':>8s} {'T-pose':>6s} {'dup %':>6s} {'root z (m)':>13s} {'out %':>6s}"
    print(head)
    print("-" * len(head))
    for r in results:
        fps = "/".join(f"{f:g}" for f in r["fps"])
        z = f"{r['root_height_m'][0]:.3f}-{r['root_height_m'][1]:.3f}"
        print(
            f"{r['set']:42s} {r['clips']:5d} {r['frames']:6d} {r['duration_s']:6.1f} {fps:>8s} {r['tpose_frame_clips']:6d} "
            f"{100 * r['duplicate_pair_fraction']:6.1f} {z:>13s} {r['frames_outside_ranges_pct']:6.1f}"
        )
    print("\nlibrary options (per set): frames, zero-DOF-velocity frames, mean |dof vel|, jitter, max root |w| first 10 frames")
    for r in results:
        for name, o in r.get("options", {}).items():
            print(
                f"{r['set']:42s} {name:30s} {o['frames']:6d} {o['zero_dof_vel_frames_pct']:5.1f} % "
                f"{o['mean_abs_dof_vel']:6.3f} {o['dof_vel_jitter']:6.3f} {o['max_root_ang_speed_first_10_frames']:7.2f}"
            )
    print("\nwritten:", write_result("motions_humanoid", "inspect_motions", results))


if __name__ == "__main__":
    main()
