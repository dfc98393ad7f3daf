"""``near motion ...``: the motion-data pipeline on the command line (import, T-pose, retarget, view,
list, yaml). ``near motion help`` prints the usage; near/cli.py hands every ``near motion`` call here."""

from __future__ import annotations

import json
import os
import sys

USAGE = """usage: near motion COMMAND ...

  view FILE [out=CLIP.mp4] [clip=NAME|INDEX] [--retargeted] [mapping=cmu] [reference=FILE]
            [layout=side|ghost] [renderer=auto|mujoco|matplotlib] [size=480x640] [frames=N]
                         play a clip kinematically to mp4. FILE: a humanoid clip (.npy, DeepMimic .txt),
                         a motion-set .yaml (pick with clip=), or a source motion (.bvh, other skeletons'
                         .npy): drawn as a stick figure, with --retargeted beside its retargeted humanoid
  list FILE.yaml           clips of a motion set (or one clip): frames, duration, fps, weight, repairs
  yaml DIR [out=DIR/motions.yaml] [check=true]
                         a motion-set yaml listing every .npy / .txt clip under DIR with weight 1.0
  import FILE [out=FILE.npy] [units=auto|m|cm|mm|inch|cmu] [up=y|z] [fps=N]
                         read BVH (or poselib .npy, DeepMimic .txt) and write a poselib SkeletonMotion
  tpose FILE [out=FILE_tpose.npy] [frame=rest|N] [rotation=w,x,y,z]
                         a source T-pose (poselib SkeletonState) from a clip's rest pose or a frame
  retarget SRC --to humanoid [mapping=cmu|humanoid|FILE.yaml] [out=DIR/amp_SRC.npy] [tpose=FILE]
           [units=..] [up=..] [fps=N] [report=FILE.json] [cones=true]
                         inverse kinematics (mink) onto the AMP humanoid; prints a quality report
  mapping [cmu|humanoid]   print a built-in retarget mapping as yaml (a template for your own)

examples:
  near motion import 02_01.bvh units=cmu out=cmu_02_01.npy
  near motion retarget 02_01.bvh --to humanoid mapping=cmu out=amp_02_01.npy
  near motion view 02_01.bvh --retargeted out=02_01.mp4
  near motion yaml motions/walk out=motions/walk.yaml && near motion list motions/walk.yaml
"""

_FLAGS = {"retargeted"}


class UsageError(ValueError):
    pass


def _parse(args: list[str], keys: set[str], n_positional: int = 1) -> tuple[list[str], dict]:
    """Positional arguments, key=value / --key value / --key=value options and --flags."""
    positional, opts, i = [], {}, 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            key = a[2:]
            if "=" in key:
                key, value = key.split("=", 1)
            elif key in _FLAGS:
                value = "true"
            elif i + 1 < len(args):
                value, i = args[i + 1], i + 1
            else:
                raise UsageError(f"--{key} needs a value")
        elif "=" in a:
            key, value = a.split("=", 1)
        else:
            positional.append(a)
            i += 1
            continue
        key = key.replace("-", "_")
        if key not in keys:
            raise UsageError(f"unknown option {key!r}; options: {', '.join(sorted(keys)) or 'none'}")
        opts[key] = value
        i += 1
    if len(positional) != n_positional:
        raise UsageError(f"expected {n_positional} file argument(s), got {positional or 'none'}")
    return positional, opts


def _bool(v: str) -> bool:
    if v.lower() in ("1", "true", "yes", "on"):
        return True
    if v.lower() in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"expected true or false, got {v!r}")


def _size(v: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in v.lower().split("x"))
    except ValueError:
        raise UsageError(f"size must be HEIGHTxWIDTH (e.g. 480x640), got {v!r}") from None
    return h, w


def _source_kwargs(opts: dict) -> dict:
    return {
        "units": opts.get("units"),
        "up": opts.get("up"),
        "fps": float(opts["fps"]) if "fps" in opts else None,
    }


def _is_humanoid(motion) -> bool:
    from near.motion.skeleton import Skeleton

    return motion.skeleton.same_as(Skeleton.amp_humanoid())


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


# ----------------------------------------------------------------------------- commands


def _pick_clip(path: str, clip: str | None) -> str:
    """The file of one clip of a motion-set yaml (by index or by name), or the path itself."""
    from near.motion.motion_set import read_motion_set

    if os.path.splitext(path)[1].lower() not in (".yaml", ".yml"):
        return path
    entries = read_motion_set(path)
    if clip is None:
        return entries[0].path
    if clip.lstrip("-").isdigit():
        k = int(clip)
        if not -len(entries) <= k < len(entries):
            raise UsageError(f"clip={k}: the set has {len(entries)} clips (0..{len(entries) - 1})")
        return entries[k].path
    for e in entries:
        if clip in (os.path.basename(e.path), _stem(e.path)) or e.path.endswith(clip):
            return e.path
    names = [_stem(e.path) for e in entries]
    raise UsageError(f"clip={clip!r} is not in {path}; clips: {names[:10]}{' ...' if len(names) > 10 else ''}")


def cmd_view(args: list[str]) -> int:
    from near.motion.qpos import qpos_from_motion
    from near.motion.sources import load_source, resample
    from near.viz.humanoid_video import StickFigure, render_humanoid

    keys = {"out", "clip", "retargeted", "mapping", "reference", "layout", "renderer", "size", "frames",
            "units", "up", "fps", "tpose"}
    (path,), opts = _parse(args, keys)
    file = _pick_clip(path, opts.get("clip"))
    motion = load_source(file, **_source_kwargs(opts))
    if "frames" in opts:
        motion = motion.replace(
            local_rot=motion.local_rot[: int(opts["frames"])], root_pos=motion.root_pos[: int(opts["frames"])],
            global_velocity=None, global_angular_velocity=None,
        )
    out = opts.get("out", f"{_stem(file)}.mp4")
    qpos, reference, sticks = None, None, []
    if _is_humanoid(motion):
        qpos = qpos_from_motion(motion)
    elif _bool(opts.get("retargeted", "false")):
        result = _retarget(motion, opts)
        qpos = result.qpos
        src = result.source_positions.copy()
        src[..., 1] += 1.5  # beside the humanoid, on its left
        sticks.append(StickFigure(src, motion.skeleton.parents))
    else:
        from near.motion.skeleton import forward_kinematics

        pos, _ = forward_kinematics(motion.skeleton, motion.local_rot, motion.root_pos)
        sticks.append(StickFigure(pos, motion.skeleton.parents))
    if "reference" in opts:
        ref = load_source(_pick_clip(opts["reference"], None))
        if not _is_humanoid(ref):
            raise UsageError(f"reference={opts['reference']} is not a humanoid clip")
        reference = qpos_from_motion(resample(ref, motion.fps))
    written = render_humanoid(
        out, qpos, motion.fps, reference_qpos=reference, layout=opts.get("layout", "side"), sticks=sticks,
        size=_size(opts.get("size", "480x640")), renderer=opts.get("renderer", "auto"),
    )
    print(f"{written}: {motion.num_frames} frames at {motion.fps:g} fps ({motion.length:.2f} s)")
    return 0


def cmd_list(args: list[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    from near.motion.library import loading_repairs
    from near.motion.motion_set import load_motion_file, read_motion_set

    (path,), _ = _parse(args, set())
    if os.path.splitext(path)[1].lower() in (".yaml", ".yml"):
        entries = read_motion_set(path)
    else:
        from near.motion.motion_set import MotionEntry

        entries = [MotionEntry(path, 1.0)]
    total_w = sum(e.weight for e in entries)
    folder = os.path.dirname(os.path.abspath(path))
    table = Table(title=f"{path}: {len(entries)} clips")
    for col in ("#", "clip", "frames", "duration (s)", "fps", "weight", "p", "repaired on loading"):
        table.add_column(col, justify="left" if col in ("clip", "repaired on loading") else "right")
    frames = seconds = 0.0
    for k, e in enumerate(entries):
        clip = load_motion_file(e.path)
        frames += clip.num_frames
        seconds += clip.length
        name = os.path.relpath(e.path, folder)
        table.add_row(str(k), name, str(clip.num_frames), f"{clip.length:.2f}", f"{clip.fps:g}", f"{e.weight:g}",
                      f"{e.weight / total_w:.3f}", loading_repairs(clip))
    table.add_section()
    table.add_row("", "total", f"{frames:.0f}", f"{seconds:.2f}", "", f"{total_w:g}", "1.000", "")
    Console(width=max(100, Console().width)).print(table)
    return 0


def cmd_yaml(args: list[str]) -> int:
    from near.motion.motion_set import load_motion_file
    from near.motion.skeleton import MotionDataError

    (folder,), opts = _parse(args, {"out", "check"})
    if not os.path.isdir(folder):
        raise UsageError(f"{folder} is not a folder")
    out = opts.get("out", os.path.join(folder, "motions.yaml"))
    base = os.path.dirname(os.path.abspath(out))
    files = sorted(
        os.path.join(root, f)
        for root, _, names in os.walk(folder)
        for f in names
        if f.lower().endswith((".npy", ".txt"))
    )
    lines, skipped = ["motions:"], []
    for f in files:
        if _bool(opts.get("check", "true")):
            try:
                clip = load_motion_file(f)
                if not _is_humanoid(clip):
                    raise MotionDataError(f"{f}: not a clip of the AMP humanoid (retarget it first)")
            except MotionDataError as e:
                skipped.append(str(e))
                continue
        rel = os.path.relpath(os.path.abspath(f), base).replace(os.sep, "/")
        lines.append(f"- file: {json.dumps(rel)}\n  weight: 1.0")
    if len(lines) == 1:
        raise UsageError(f"no usable .npy / .txt clips under {folder}" + (f" ({skipped[0]})" if skipped else ""))
    os.makedirs(base, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)
    print(f"{out}: {len(lines) - 1} clips")
    return 0


def cmd_import(args: list[str]) -> int:
    from near.motion.poselib import save_poselib
    from near.motion.sources import load_source

    (path,), opts = _parse(args, {"out", "units", "up", "fps"})
    notes: list[str] = []
    motion = load_source(path, notes=notes, **_source_kwargs(opts))
    out = opts.get("out") or os.path.splitext(path)[0] + ("_imported.npy" if path.lower().endswith(".npy") else ".npy")
    save_poselib(out, motion)
    import numpy as np

    from near.motion.skeleton import forward_kinematics

    pos, _ = forward_kinematics(motion.skeleton, motion.local_rot[:1], motion.root_pos[:1])
    height = float(np.ptp(np.asarray(pos)[0, :, 2]))
    for n in notes:
        print(n)
    print(f"{out}: {motion.skeleton.num_joints} joints, {motion.num_frames} frames at {motion.fps:g} fps "
          f"({motion.length:.2f} s); frame-0 joint height span {height:.2f} m")
    return 0


def cmd_tpose(args: list[str]) -> int:
    from near.motion.poselib import save_poselib
    from near.motion.sources import load_source
    from near.motion.tpose import tpose_from_motion

    (path,), opts = _parse(args, {"out", "frame", "rotation", "units", "up"})
    motion = load_source(path, units=opts.get("units"), up=opts.get("up"))
    frame = opts.get("frame", "rest")
    frame = None if frame == "rest" else int(frame)
    rotation = None
    if "rotation" in opts:
        rotation = [float(v) for v in opts["rotation"].strip("[]()").split(",")]
        if len(rotation) != 4:
            raise UsageError("rotation must be w,x,y,z")
    state = tpose_from_motion(motion, frame, rotation)
    out = opts.get("out", os.path.splitext(path)[0] + "_tpose.npy")
    save_poselib(out, state)
    print(f"{out}: T-pose of {motion.skeleton.num_joints} joints from {'the rest pose' if frame is None else f'frame {frame}'}")
    return 0


def _retarget(motion, opts: dict):
    from rich.progress import Progress

    from near.motion.poselib import load_poselib
    from near.motion.retarget import IKOptions, retarget

    mapping = opts.get("mapping") or ("humanoid" if _is_humanoid(motion) else "cmu")
    tpose = load_poselib(opts["tpose"]) if opts.get("tpose") else None
    options = IKOptions(cones=_bool(opts.get("cones", "true")))
    with Progress(transient=True) as bar:
        task = bar.add_task("inverse kinematics", total=motion.num_frames)
        return retarget(motion, mapping, source_tpose=tpose, options=options,
                        progress=lambda k, n: bar.update(task, completed=k))


def report_table(report: dict):
    """The retarget quality report as a rich table."""
    from rich.table import Table

    table = Table(title=f"retarget: {os.path.basename(report['source'])} -> humanoid ({report['mapping']})")
    table.add_column("body")
    table.add_column("source joint")
    table.add_column("pos. error cm (mean / max)", justify="right")
    table.add_column("orient. error deg (mean / max)", justify="right")
    for body, joint in report["mapped"].items():
        p = report["position_error_cm"].get(body)
        o = report["orientation_error_deg"].get(body)
        table.add_row(body, joint, f"{p['mean']:.2f} / {p['max']:.2f}" if p else "-",
                      f"{o['mean']:.1f} / {o['max']:.1f}" if o else "-")
    a = report["position_error_cm"]["all"]
    table.add_section()
    table.add_row("all", "", f"{a['mean']:.2f} / {a['max']:.2f}", "")
    return table


def print_report(report: dict) -> None:
    from rich.console import Console

    console = Console(width=max(100, Console().width))
    for n in report["notes"]:
        console.print(n)
    console.print(report_table(report))
    lim, ik = report["joint_limits"], report["ik"]
    console.print(
        f"frames {report['frames']} at {report['fps']:g} fps; IK {ik['seconds']:.2f} s "
        f"({ik['seconds_per_motion_second']:.2f} s per second of motion, {ik['iterations_mean']:.1f} iterations/frame)"
    )
    console.print(
        f"joint limits: hinge violations {lim['hinge_violation_frames']} frames, cone violations "
        f"{lim['cone_violation_frames']}; outside the original's per-axis ranges {lim['frames_outside_original_ranges']} "
        f"frames ({', '.join(f'{k} {v}' for k, v in lim['outside_original_ranges_by_joint'].items() if v) or 'none'})"
    )
    for foot, s in report["foot_sliding"].items():
        extra = f" (targets: {s['target_slide_cm']:.1f} cm)" if "target_slide_cm" in s else ""
        console.print(f"{foot}: {s['contact_frames']} contact frames, slides {s['slide_cm']:.1f} cm in contact"
                      f" ({s['slide_cm_per_s']:.1f} cm/s){extra}")


def cmd_retarget(args: list[str]) -> int:
    from near.motion.poselib import save_poselib
    from near.motion.sources import load_source

    (path,), opts = _parse(args, {"to", "mapping", "out", "tpose", "units", "up", "fps", "report", "cones"})
    if opts.get("to", "humanoid") != "humanoid":
        raise UsageError(f"--to {opts['to']}: the only target is 'humanoid' (the AMP humanoid)")
    notes: list[str] = []
    motion = load_source(path, notes=notes, **_source_kwargs(opts))
    for n in notes:
        print(n)
    result = _retarget(motion, opts)
    out = opts.get("out", os.path.join(os.path.dirname(path), f"amp_{_stem(path)}.npy"))
    save_poselib(out, result.motion)
    report_path = opts.get("report", os.path.splitext(out)[0] + "_report.json")
    with open(report_path, "w", encoding="utf-8") as fh:
        json.dump(result.report, fh, indent=1)
    print_report(result.report)
    print(f"{out}: {result.motion.num_frames} frames at {result.motion.fps:g} fps; report {report_path}")
    return 0


def cmd_mapping(args: list[str]) -> int:
    from near.motion.retarget import builtin_mapping, mapping_to_yaml

    if len(args) > 1:
        raise UsageError("near motion mapping [cmu|humanoid]")
    print(mapping_to_yaml(builtin_mapping(args[0] if args else "cmu")), end="")
    return 0


COMMANDS = {"view": cmd_view, "list": cmd_list, "yaml": cmd_yaml, "import": cmd_import, "tpose": cmd_tpose,
            "retarget": cmd_retarget, "mapping": cmd_mapping}


def main(args: list[str]) -> int:
    if not args or args[0] in ("help", "-h", "--help") or any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"near motion: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    from near.motion.skeleton import MotionDataError

    try:
        return COMMANDS[command](rest)
    except UsageError as e:
        print(f"near motion {command}: {e}", file=sys.stderr)
        return 2
    except (MotionDataError, ValueError, ImportError, OSError, RuntimeError) as e:
        print(f"near motion {command}: error: {e}", file=sys.stderr)
        return 1
