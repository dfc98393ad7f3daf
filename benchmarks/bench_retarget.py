"""Retargeting speed and accuracy on CPU, measured on pybullet's DeepMimic clips.

The DeepMimic humanoid *is* the AMP humanoid (spec near-environments.md §8.2), so every clip has an
exact conversion (§8.3, near.motion.deepmimic). Here the exact clip is used as a *source* motion and
sent through the IK path of near.motion.retarget (targets from its forward kinematics, the built-in
"humanoid" mapping); the result is compared with the exact conversion:

* position error: per body origin, cm (after removing the grounding shift, which both share);
* joint-angle error: per joint, the angle of the rotation between IK and exact local rotations, deg;
* retarget time per second of motion (one CPU core's work: mink + daqp, a Python loop over frames).

Where the exact clip leaves a hinge range (a knee bent backwards) or a ball-joint cone, the IK result
cannot follow it by design; the table counts those frames, which explain the largest errors.

Variants: ``default`` (position targets on all 15 bodies, orientation hints as in the CMU mapping,
ball-joint cones), ``no_cones`` (the same without the cones), ``positions_only`` (orientation only
for the pelvis: what positions alone determine). Also renders a frame strip of a NEAR walk clip for
the README (docs/motion_walk_strip.png) when the data folder is present.

    MUJOCO_GL=osmesa PYTHONPATH=src python benchmarks/bench_retarget.py [--clips walk run ...] [--no-render]

Writes benchmarks/results/retarget_cpu.json and prints a table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result

from near.motion import humanoid as H
from near.motion import retarget as R
from near.motion.deepmimic import deepmimic_motions_dir, load_deepmimic
from near.motion.skeleton import forward_kinematics

WALK_SET = "/work/shared/data/humanoid/amp_humanoid_walk.yaml"
DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def angle_deg(a, b):
    rel = R.rot.multiply(R.rot.conjugate(np.asarray(a, np.float64)), np.asarray(b, np.float64))
    return np.degrees(2 * np.arcsin(np.clip(np.linalg.norm(rel[..., 1:], axis=-1), 0, 1)))


def variants() -> dict:
    base = R.builtin_mapping("humanoid")
    pos_only = tuple(R.JointMap(j.source, j.body, j.position, 1.0 if j.body == "pelvis" else 0.0) for j in base.joints)
    return {
        "default": (base, R.IKOptions()),
        "no_cones": (base, R.IKOptions(cones=False)),
        "positions_only": (R.Mapping(pos_only, scale=1.0, name="positions_only"), R.IKOptions()),
    }


def clip_paths(names: list[str] | None) -> list[str]:
    folder = deepmimic_motions_dir()
    paths = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.startswith("humanoid3d_"))
    paths += sorted(os.path.join(folder, "walker", f) for f in os.listdir(os.path.join(folder, "walker")))
    if names:
        paths = [p for p in paths if os.path.basename(p)[:-4].removeprefix("humanoid3d_") in names]
    return paths


def measure(path: str, mapping, options) -> dict:
    exact = load_deepmimic(path)
    t0 = time.perf_counter()
    res = R.retarget(exact, mapping, options=options)
    wall = time.perf_counter() - t0
    shift = res.report["ground_shift_m"]
    p_exact, _ = forward_kinematics(exact.skeleton, exact.local_rot, exact.root_pos)
    p_ik, _ = forward_kinematics(res.motion.skeleton, res.motion.local_rot, res.motion.root_pos - [0, 0, shift])
    pos_err = np.linalg.norm(np.asarray(p_ik) - np.asarray(p_exact), axis=-1) * 100  # (T, 15) cm
    ang = angle_deg(exact.local_rot, res.motion.local_rot)  # (T, 15) deg; pelvis = root orientation
    joints = {g.name: g.body for g in H.DOF_GROUPS}
    # frames where the exact clip itself leaves a cone (the IK cannot follow it there)
    outside_cone = np.zeros(exact.num_frames, bool)
    for b, deg in R.CONE_DEG.items():
        outside_cone |= angle_deg(np.array([1.0, 0, 0, 0]), exact.local_rot[:, b]) > deg
    hinge = [g.start for g in H.DOF_GROUPS if g.size == 1]
    dof = H.dof_from_local_rot(exact.local_rot)[:, hinge]
    outside_hinge = ((dof < H.DOF_LOWER[hinge] - 1e-6) | (dof > H.DOF_UPPER[hinge] + 1e-6)).any(-1)
    seconds = exact.num_frames / exact.fps
    return {
        "clip": os.path.basename(path)[:-4].removeprefix("humanoid3d_"),
        "frames": exact.num_frames,
        "fps": exact.fps,
        "motion_s": seconds,
        "ik_s": res.report["ik"]["seconds"],
        "wall_s": wall,
        "ik_s_per_motion_s": res.report["ik"]["seconds"] / seconds,
        "iterations_mean": res.report["ik"]["iterations_mean"],
        "position_error_cm": {"mean": float(pos_err.mean()), "p95": float(np.percentile(pos_err, 95)),
                              "max": float(pos_err.max())},
        "position_error_cm_by_body": {n: float(pos_err[:, b].max()) for b, n in enumerate(H.BODY_NAMES)},
        "angle_error_deg": {"mean": float(ang[:, 1:].mean()), "p95": float(np.percentile(ang[:, 1:], 95)),
                            "max": float(ang[:, 1:].max()), "root_max": float(ang[:, 0].max())},
        "angle_error_deg_by_joint": {n: {"mean": float(ang[:, b].mean()), "max": float(ang[:, b].max())}
                                     for n, b in joints.items()},
        "frames_exact_outside_cones": int(outside_cone.sum()),
        "frames_exact_outside_hinge_ranges": int(outside_hinge.sum()),
        "hinge_violation_frames": res.report["joint_limits"]["hinge_violation_frames"],
        "foot_slide_cm": {f: s["slide_cm"] for f, s in res.report["foot_sliding"].items()},
    }


def summary(rows: list[dict]) -> dict:
    motion = sum(r["motion_s"] for r in rows)
    frames = sum(r["frames"] for r in rows)
    w = np.array([r["frames"] for r in rows], np.float64)
    return {
        "clips": len(rows),
        "frames": frames,
        "motion_s": motion,
        "ik_s_per_motion_s": sum(r["ik_s"] for r in rows) / motion,
        "ms_per_frame": 1000 * sum(r["ik_s"] for r in rows) / frames,
        "position_error_cm_mean": float(np.average([r["position_error_cm"]["mean"] for r in rows], weights=w)),
        "position_error_cm_max": max(r["position_error_cm"]["max"] for r in rows),
        "angle_error_deg_mean": float(np.average([r["angle_error_deg"]["mean"] for r in rows], weights=w)),
        "angle_error_deg_max": max(r["angle_error_deg"]["max"] for r in rows),
        "clips_with_position_error_max_below_1cm": sum(r["position_error_cm"]["max"] < 1.0 for r in rows),
    }


def render_walk_strip() -> str | None:
    """docs/motion_walk_strip.png: the first clip of the NEAR walk set, T-pose frame dropped."""
    if not os.path.isfile(WALK_SET):
        print(f"(no {WALK_SET}: README strip not rendered)")
        return None
    from near.motion.motion_set import read_motion_set
    from near.motion.poselib import load_poselib
    from near.motion.qpos import qpos_from_motion
    from near.viz.humanoid_video import Camera, render_frame_strip

    entry = read_motion_set(WALK_SET)[0]
    clip = load_poselib(entry.path)
    qpos = qpos_from_motion(clip)[1 : 1 + int(2.0 * clip.fps)]  # frame 0 is the CMU T-pose (spec §6.3)
    out = os.path.join(DOCS, "motion_walk_strip.png")
    render_frame_strip(out, qpos, n=6, size=(300, 220), fps=clip.fps, camera=Camera(azimuth=100, distance=3.2))
    print(f"README strip: {out} ({os.path.basename(entry.path)}, frames 1-{len(qpos)})")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="*", help="DeepMimic clip names (default: all)")
    ap.add_argument("--variants", nargs="*", default=list(variants()), choices=list(variants()))
    ap.add_argument("--no-render", action="store_true")
    args = ap.parse_args()

    paths = clip_paths(args.clips)
    results = []
    for name in args.variants:
        mapping, options = variants()[name]
        rows = [measure(p, mapping, options) for p in paths]
        s = summary(rows)
        results.append({"variant": name, "summary": s, "clips": rows})
        print(f"\n[{name}] {s['clips']} clips, {s['frames']} frames, {s['motion_s']:.1f} s of motion: "
              f"{s['ik_s_per_motion_s']:.2f} s per second of motion ({s['ms_per_frame']:.1f} ms/frame)")
        head = f"{'clip':>18} {'frames':>6} {'fps':>4} {'s/s':>5} {'pos cm mean':>11} {'pos cm max':>10} " \
               f"{'ang deg mean':>12} {'ang deg max':>11} {'worst joint':>16} {'exact out of cone/hinge':>23}"
        print(head)
        print("-" * len(head))
        for r in rows:
            worst = max(r["angle_error_deg_by_joint"].items(), key=lambda kv: kv[1]["max"])[0]
            print(f"{r['clip']:>18} {r['frames']:>6} {r['fps']:>4.0f} {r['ik_s_per_motion_s']:>5.2f} "
                  f"{r['position_error_cm']['mean']:>11.3f} {r['position_error_cm']['max']:>10.3f} "
                  f"{r['angle_error_deg']['mean']:>12.3f} {r['angle_error_deg']['max']:>11.2f} {worst:>16} "
                  f"{r['frames_exact_outside_cones']:>11} / {r['frames_exact_outside_hinge_ranges']:<9}")
        print(f"{'all':>18} {s['frames']:>6} {'':>4} {s['ik_s_per_motion_s']:>5.2f} "
              f"{s['position_error_cm_mean']:>11.3f} {s['position_error_cm_max']:>10.3f} "
              f"{s['angle_error_deg_mean']:>12.3f} {s['angle_error_deg_max']:>11.2f}")
    strip = None if args.no_render else render_walk_strip()
    path = write_result("retarget_cpu", "bench_retarget", results + ([{"readme_strip": strip}] if strip else []))
    print("\nwritten:", path)


if __name__ == "__main__":
    main()
