"""The six-motion table of the humanoid: NEAR and AMP per motion, checked against issue #16's limits.

Reads trained run folders (their ``summary.json`` for env steps and wall time, and the ``eval/eval.json``
that ``near eval`` wrote into them for the metrics when it is a final evaluation of 64 deterministic episodes, or
else the summary's final evaluation), merges them into
``benchmarks/results/humanoid_motions.json`` (runs of earlier sessions are kept; a run of the same
motion, method and seed is replaced) and prints the README table with each limit checked:

    python benchmarks/report_humanoid_motions.py walk/NEAR=RUN_DIR run/NEAR=RUN_DIR ... [--device TEXT]
    python benchmarks/report_humanoid_motions.py walk/NEAR=RUN_DIR --variant "train.learn_std=true"

Runs with the shipped configs (``motion=`` the only change) go to ``motions``; a run with other overrides
goes to ``variants`` under its ``--variant`` label (the overrides), in a second table. A run on corner feet
(task.physics.foot_contact=corners, shipped since 2026-12-04) is kept beside the box-feet run of its seed, and a run on
MuJoCo Warp (task.physics.impl=warp) beside the MJX run of its seed and feet.

Limits (NEAR, final evaluation of 64 episodes): fall rate <= 0.10, root height ratio in [0.95, 1.05],
for walk, run and mummy walk a root speed ratio in [0.8, 1.25], and root SPARC no worse than 1.3 x
the expert's (near.eval.metrics.EXPERT_VALUES). The last column names what those limits let pass
(:func:`unseen_by_limits`): feet sliding while down, strides far shorter than the clips', poses no nearer than a statue's.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import os

from near.config import FORMER_DEFAULTS
from near.eval.gait import imitation_flags
from near.eval.metrics import EXPERT_VALUES
from near.motion.humanoid import BODY_PARTS

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "humanoid_motions.json")
MOTIONS = ("walk", "run", "mummy_walk", "crane_pose", "single_left_punch", "spin_kick")
KEYS = ("fall_rate", "root_height_ratio", "root_speed_ratio", "joint_angle_distance", "pose_error", "sparc")
SPEED_MOTIONS = ("walk", "run", "mummy_walk")
# the sets that task.ground_floating_clips changes (docs/humanoid_moving_like_the_clips.md item 16: only the run set's amp_cmu_09_10.npy)
REPAIRED_MOTIONS = ("run",)
# the feet of a run saved before task.physics.foot_contact existed, and of a results row written before then
FORMER_FEET = FORMER_DEFAULTS[("task", "physics", "foot_contact")]
LATER_KEYS = ("window_sparc", "window_sparc_clips", "window_sparc_steps", "step_frequency", "cadence_ratio",
               "stride_length", "stride_length_ratio", "landing_rate", "landing_rate_clips", "foot_slide",
               "foot_slide_clips", *(f"joint_angle_distance_{part}" for part in BODY_PARTS),
               "pose_reach", *(f"pose_reach_{part}" for part in BODY_PARTS), "statue_pose_reach", "clips_root_speed",
               )  # absent from evaluations made before they existed


FINAL_EPISODES = 64  # the final evaluation


def read_run(run_dir: str) -> dict:
    """Metrics of a run: ``near eval``'s eval/eval.json when it is a final evaluation (64 episodes or more, the
    policy's mean action), else the final evaluation of 64 episodes that ``near train`` ran on the device and
    wrote into summary.json (``source`` says which). A shorter or sampled-action ``near eval`` (a quick look on
    the CPU) never replaces the final evaluation."""
    with open(os.path.join(run_dir, "summary.json")) as fh:
        summary = json.load(fh)
    path = os.path.join(run_dir, "eval", "eval.json")
    evaluation = None
    if os.path.exists(path):
        with open(path) as fh:
            evaluation = json.load(fh)
        source = "near eval"
        if (evaluation.get("episodes") or 0) < FINAL_EPISODES or evaluation.get("deterministic") is False:
            print(f"{run_dir}: eval/eval.json has {evaluation.get('episodes')} episodes"
                  f"{' of sampled actions' if evaluation.get('deterministic') is False else ''}, not a final "
                  f"evaluation ({FINAL_EPISODES} of the mean action): left out")
            evaluation = None
    if evaluation is None and all(summary.get(k) is not None for k in KEYS):
        evaluation = dict(summary, episodes=summary.get("eval_episodes"))
        source = "final evaluation of near train"
    if evaluation is None:
        raise SystemExit(f"{run_dir}: no final evaluation (eval/eval.json of {FINAL_EPISODES} deterministic episodes, "
                         f"or summary.json's); run `near eval task=... checkpoint={run_dir} motion=... "
                         f"episodes={FINAL_EPISODES}` first")
    row = {k: evaluation.get(k) for k in KEYS}
    # NaN (a clip that never lands a foot twice: no stride) is left out, as a metric the eval lacked
    row.update({k: evaluation[k] for k in LATER_KEYS if evaluation.get(k) is not None and math.isfinite(evaluation[k])})
    row.update(env_steps=summary.get("env_steps"), wall_seconds=summary.get("wall_seconds"), seed=summary.get("seed"),
               episodes=evaluation.get("episodes"), source=source, **floor_and_clips(run_dir))
    return row


def floor_and_clips(run_dir: str) -> dict:
    """How the run's feet met the floor (task.physics.foot_contact; runs made before the key existed: "box"),
    which physics stepped it (task.physics.impl: MJX "jax" or MuJoCo "warp") and whether it trained on clips
    repaired on loading (task.ground_floating_clips; before the key: no)."""
    import yaml

    with open(os.path.join(run_dir, "config.yaml")) as fh:
        task = yaml.safe_load(fh).get("task", {})
    physics = task.get("physics") or {}
    return {"foot_contact": physics.get("foot_contact", FORMER_FEET), "physics_impl": physics.get("impl", "jax"),
            "clips_repaired": bool(task.get("ground_floating_clips", False))}


def _physics(row: dict) -> tuple[str, str]:
    """(physics, feet) of a results row; rows written before the keys: MJX, the feet of then."""
    return row.get("physics_impl", "jax"), row.get("foot_contact", FORMER_FEET)


def limits_missed(motion: str, row: dict) -> list[str]:
    """The limits of issue #16 a run misses (empty: it passes)."""
    missed = []
    if row["fall_rate"] is None or row["fall_rate"] > 0.10:
        missed.append(f"fall rate {row['fall_rate']:.2f} > 0.10")
    h = row["root_height_ratio"]
    if not 0.95 <= h <= 1.05:
        missed.append(f"height ratio {h:.3f} outside [0.95, 1.05]")
    s = row["root_speed_ratio"]
    if motion in SPEED_MOTIONS and not 0.8 <= s <= 1.25:
        missed.append(f"speed ratio {s:.3f} outside [0.8, 1.25]")
    expert = EXPERT_VALUES[motion]["sparc"]
    if row["sparc"] < 1.3 * expert:
        missed.append(f"SPARC {row['sparc']:.2f} < 1.3 x expert ({1.3 * expert:.2f})")
    return missed


def merge(results: dict, motion: str, method: str, row: dict, variant: str = "") -> None:
    """Add ``row``, replacing a run of the same seed, physics and feet (and variant); one run is a dict, several a list."""
    home = results.setdefault("variants" if variant else "motions", {}).setdefault(motion, {})
    if variant:
        home = home.setdefault(method, {})
    key = variant or method
    runs = home.get(key, [])
    runs = runs if isinstance(runs, list) else [runs]
    same = (row["seed"], *_physics(row))
    runs = [r for r in runs if (r.get("seed"), *_physics(r)) != same] + [row]
    runs.sort(key=lambda r: (*_physics(r), r["seed"]))
    home[key] = runs[0] if len(runs) == 1 else runs


def runs_of(results: dict, variants: bool = False):
    """``(motion, method, label, row)`` for every run of the shipped configs, or of the variants."""
    groups = results.get("variants" if variants else "motions", {})
    for motion in MOTIONS:
        for method in ("NEAR", "AMP"):
            entries = groups.get(motion, {}).get(method)
            if not entries:
                continue
            for label, runs in entries.items() if variants else [("", entries)]:
                for row in runs if isinstance(runs, list) else [runs]:
                    yield motion, method, label, row


@functools.lru_cache(maxsize=None)  # one read per motion, not per table row
def continued_clips_sparc(motion: str, steps: int = 300) -> float | None:
    """The clips' own stride repeated seamlessly for an episode's ``steps`` (benchmarks/inspect_sparc_axes.py
    --clips-only, sparc_continued_MOTION.json): what the clips' gait scores at the policies' length."""
    path = os.path.join(os.path.dirname(RESULTS), f"sparc_continued_{motion}.json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        rows = json.load(fh)["results"][0]["continued_clips"]
    return rows.get(f"{steps} steps", {}).get("world_mean")


def sparc_cell(motion: str, row: dict) -> str:
    """The policy's whole-episode SPARC, the original's expert value, and the clips' stride over an episode."""
    continued = continued_clips_sparc(motion)
    extra = f"; clips' stride, 300 steps: {continued:.2f}" if continued is not None else ""
    return f"{row['sparc']:.2f} ({EXPERT_VALUES[motion]['sparc']:.2f}{extra})"


def window(row: dict) -> str:
    """The policy's and the clips' root SPARC over windows of the clips' length, and their ratio."""
    if row.get("window_sparc") is None:
        return "-"
    ratio = row["window_sparc"] / row["window_sparc_clips"]
    return f"{row['window_sparc']:.2f} / {row['window_sparc_clips']:.2f} ({ratio:.2f}x, {row['window_sparc_steps']} steps)"


def cadence(row: dict) -> str:
    """The policy's steps per second and its ratio to the clips', and its strides' length ratio."""
    if row.get("cadence_ratio") is None:
        return "-"
    strides = f"; strides {row['stride_length_ratio']:.2f}x" if row.get("stride_length_ratio") is not None else ""
    landings = (f"; landings {row['landing_rate']:.1f}/s vs {row['landing_rate_clips']:.1f}"
                if row.get("landing_rate") is not None and row.get("landing_rate_clips") is not None else "")
    return f"{row['step_frequency']:.1f} ({row['cadence_ratio']:.2f}x{strides}{landings})"


def joint_angles(row: dict) -> str:
    """The joint-angle distance, with the body part farthest from the clips' where the evaluation has parts."""
    parts = {k.removeprefix("joint_angle_distance_").replace("_", " "): v for k, v in row.items()
             if k.startswith("joint_angle_distance_") and v is not None}
    if not parts:
        return f"{row['joint_angle_distance']:.3f}"
    worst = max(parts, key=parts.get)
    return f"{row['joint_angle_distance']:.3f} ({worst} {parts[worst]:.3f})"


def slide(row: dict) -> str:
    """How fast the policy's and the clips' feet move while down (m/s)."""
    if row.get("foot_slide") is None:
        return "-"
    return f"{row['foot_slide']:.2f} / {row['foot_slide_clips']:.2f}"


POSE_REACH = os.path.join(os.path.dirname(RESULTS), "pose_reach_humanoid.json")


@functools.lru_cache(maxsize=None)
def measured_pose_reach() -> tuple[dict, ...]:
    """The rows of report_pose_reach.py (runs evaluated on the CPU for pose_reach, each with its clips' statue)."""
    if not os.path.exists(POSE_REACH):
        return ()
    with open(POSE_REACH) as fh:
        return tuple(json.load(fh)["results"])


def measured_statue_reach(motion: str) -> float | None:
    """The pose reach of a statue in the clips' mean pose (report_pose_reach.py), where it was measured."""
    return next((r["statue_pose_reach"] for r in measured_pose_reach()
                 if r.get("motion") == f"amp_humanoid_{motion}.yaml" and "statue_pose_reach" in r), None)


def pose_reach_source(motion: str, method: str, row: dict) -> dict | None:
    """The row itself where its evaluation has pose_reach, else report_pose_reach.py's measure of the same motion,
    method, seed and physics (a row evaluated before the metric existed), else None."""
    def same(r):
        return (r.get("motion") == f"amp_humanoid_{motion}.yaml" and r.get("method") == method
                and r.get("seed") == row["seed"] and r.get("physics") == _physics(row)[0])
    return row if row.get("pose_reach") is not None else next((r for r in measured_pose_reach() if same(r)), None)


def pose_reach_cell(motion: str, method: str, row: dict) -> str:
    """The policy's pose reach beside a statue's in the clips' mean pose (report_pose_reach.py), with the body part
    farthest from the clips' poses; above the statue, the clips' defining poses are never taken. A row evaluated
    before the metric existed takes report_pose_reach.py's measure of the same motion, method, seed and physics
    (marked *)."""
    source = pose_reach_source(motion, method, row)
    if source is None:
        return "-"
    statue = measured_statue_reach(motion)
    parts = {k.removeprefix("pose_reach_").replace("_", " "): v for k, v in source.items()
             if k.startswith("pose_reach_") and v is not None}
    worst = max(parts, key=parts.get) if parts else None
    text = f"{source['pose_reach']:.3f}" + ("*" if source is not row else "")
    text += f" ({worst} {parts[worst]:.3f})" if worst else ""
    return text + (f"; statue {statue:.3f}" if statue is not None else "")


def unseen_by_limits(motion: str, method: str, row: dict) -> list[str]:
    """What a run does unlike its clips that the issue's limits do not test (:func:`near.eval.gait.imitation_flags`:
    feet sliding while down, strides far shorter than the clips' on walk, run and mummy walk, poses no nearer the
    clips' than a statue's). A row evaluated before pose_reach existed takes report_pose_reach.py's measure, and one
    before statue_pose_reach its statue."""
    source = pose_reach_source(motion, method, row)
    metrics = dict(row, pose_reach=source["pose_reach"] if source else None,
                   statue_pose_reach=row.get("statue_pose_reach") or measured_statue_reach(motion))
    return imitation_flags(metrics, travels=motion in SPEED_MOTIONS)


def motion_cell(motion: str, row: dict) -> str:
    """The motion, with what sets the run apart from the others of its motion: repaired clips, corner feet, Warp."""
    physics, feet = _physics(row)
    notes = (["clips repaired"] if row.get("clips_repaired") and motion in REPAIRED_MOTIONS else []) + \
            (["corner feet"] if feet == "corners" else []) + (["MuJoCo Warp"] if physics == "warp" else [])
    return f"{motion} ({', '.join(notes)})" if notes else motion


# the physics every humanoid row trains on now (MuJoCo Warp on the GPU, corner feet): the README's first table
SHIPPED_PHYSICS = ("warp", "corners")


def table(results: dict, variants: bool = False, shipped_only: bool = False) -> str:
    """The README table of the shipped configs' runs (or of the variants); ``shipped_only``: only the runs on
    today's shipped physics (:data:`SHIPPED_PHYSICS`), the table a reader wants first."""
    variant_col = (" variant |", "---|") if variants else ("", "")
    lines = ["| motion | method |" + variant_col[0] + " seed | env steps (M) | fall rate | height ratio | speed ratio "
             "| joint-angle dist. (rad; the farthest body part) | pose error | SPARC (expert; the clips' own stride repeated for 300 steps) "
             "| SPARC, clip-length windows: policy / clips "
             "| steps/s (cadence ratio; stride ratio; foot landings/s: policy vs clips) | feet while down, m/s: policy / clips "
             "| pose reach, rad (the farthest body part; a statue in the clips' mean pose; * 16 CPU episodes) | limits missed "
             "| what the limits let pass |",
             "|---|---|" + variant_col[1] + "---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for motion, method, label, r in runs_of(results, variants):
        if shipped_only and _physics(r) != SHIPPED_PHYSICS:
            continue
        missed, unseen = limits_missed(motion, r), unseen_by_limits(motion, method, r)
        lines.append(
            f"| {motion_cell(motion, r)} "
            f"| {method} |" + (f" `{label}` |" if variants else "") + f" {r['seed']} "
            f"| {r['env_steps'] / 1e6:.1f} | {r['fall_rate']:.2f} "
            f"| {r['root_height_ratio']:.3f} | {r['root_speed_ratio']:.3f} | {joint_angles(r)} "
            f"| {r['pose_error']:.3f} | {sparc_cell(motion, r)} | {window(r)} "
            f"| {cadence(r)} | {slide(r)} | {pose_reach_cell(motion, method, r)} | {'; '.join(missed) if missed else 'none'} "
            f"| {'; '.join(unseen) if unseen else '-'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*", help="MOTION/METHOD=RUN_DIR")
    parser.add_argument("--device", default="", help="where the runs trained, stored with them")
    parser.add_argument("--variant", default="", help="the overrides besides motion= (a run that is not the shipped config)")
    args = parser.parse_args()
    results = {"motions": {}}
    if os.path.exists(RESULTS):
        with open(RESULTS) as fh:
            results = json.load(fh)
    for spec in args.runs:
        label, run_dir = spec.split("=", 1)
        motion, method = label.split("/")
        if motion not in MOTIONS or method not in ("NEAR", "AMP"):
            raise SystemExit(f"{spec}: MOTION must be one of {MOTIONS} and METHOD NEAR or AMP")
        row = read_run(run_dir)
        row.update(device=args.device, date=datetime.date.today().isoformat())
        merge(results, motion, method, row, args.variant)
    with open(RESULTS, "w") as fh:
        json.dump(results, fh, indent=2)
    print("On the shipped physics (MuJoCo Warp, corner feet):")
    print(table(results, shipped_only=True))
    print()
    print("Every run of the shipped configs:")
    print(table(results))
    if results.get("variants"):
        print()
        print(table(results, variants=True))
    print(RESULTS)


if __name__ == "__main__":
    main()
