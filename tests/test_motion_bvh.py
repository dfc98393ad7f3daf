"""BVH import (near.motion.bvh) and the source loader (near.motion.sources) on files the tests write:
known joint angles -> known global positions, channel orders, units and axes, malformed files with
the line named, write/read round trips, `near motion import` and `near motion tpose`."""

from __future__ import annotations

import numpy as np
import pytest

from near import cli
from near.motion import humanoid as H
from near.motion.bvh import load_bvh, parse_bvh, save_bvh
from near.motion.poselib import load_poselib, save_poselib
from near.motion.skeleton import (
    MotionDataError,
    Skeleton,
    SkeletonMotion,
    SkeletonState,
    forward_kinematics,
)
from near.motion.sources import load_source, resample
from near.motion.tpose import humanoid_tpose, tpose_from_motion
from near.utils import rotations as rot

# y up, centimetres. Hips -> Spine -> Head; Hips -> LeftLeg -> LeftFoot (another rotation order).
BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0.0 0.0 0.0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0.0 10.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Head
    {
      OFFSET 0.0 10.0 0.0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0.0 5.0 0.0
      }
    }
  }
  JOINT LeftLeg
  {
    OFFSET 10.0 0.0 0.0
    CHANNELS 3 Xrotation Yrotation Zrotation
    JOINT LeftFoot
    {
      OFFSET 0.0 -40.0 0.0
      CHANNELS 3 Xrotation Yrotation Zrotation
      End Site
      {
        OFFSET 0.0 0.0 5.0
      }
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.0333333
0 90 0  0 0 0   0 0 0   0 0 0   0 0 0   0 0 0
5 90 0  0 0 90  90 0 0  0 0 0   0 0 0   0 0 0
0 90 0  0 0 0   0 0 0   0 0 0   90 90 0 0 0 0
"""
MOTION_LINE = BVH.splitlines().index("MOTION") + 1  # 1-based line of "MOTION"


def write(tmp_path, text, name="clip.bvh"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_known_angles_give_known_positions(tmp_path):
    clip = load_bvh(write(tmp_path, BVH), units="cm", up="y")
    assert clip.skeleton.names == ("Hips", "Spine", "Head", "LeftLeg", "LeftFoot")  # End Sites dropped
    assert clip.skeleton.parents == (-1, 0, 1, 0, 3)
    assert clip.num_frames == 3 and clip.fps == 30.0
    pos, _ = forward_kinematics(clip.skeleton, clip.local_rot, clip.root_pos)
    # hand-computed in the file's frame (y up, cm), then (x, y, z) -> (x, -z, y) / 100
    expect_yup = np.array(
        [
            # rest: all offsets add up
            [[0, 90, 0], [0, 100, 0], [0, 110, 0], [10, 90, 0], [10, 50, 0]],
            # root at x=5 turned 90 deg about y (x -> -z); Spine 90 deg about z (y -> -x) moves the Head
            [[5, 90, 0], [5, 100, 0], [5, 100, 10], [5, 90, -10], [5, 50, -10]],
            # LeftLeg X=90 then Y=90: R = Rx Ry; the foot offset (0,-40,0) -> (0,0,-40)
            [[0, 90, 0], [0, 100, 0], [0, 110, 0], [10, 90, 0], [10, 90, -40]],
        ],
        np.float64,
    )
    expect = np.stack([expect_yup[..., 0], -expect_yup[..., 2], expect_yup[..., 1]], -1) / 100
    np.testing.assert_allclose(pos, expect, atol=1e-6)


def test_units_up_and_end_sites(tmp_path):
    path = write(tmp_path, BVH)
    inch = load_bvh(path, units="inch")
    np.testing.assert_allclose(inch.root_pos[0], [0, 0, 90 * 0.0254], atol=1e-6)
    zup = load_bvh(path, units="m", up="z")  # no axis change: y stays y
    np.testing.assert_allclose(zup.root_pos[1], [5, 90, 0], atol=1e-5)
    ends = load_bvh(path, units="cm", end_sites=True)
    assert ends.skeleton.names == ("Hips", "Spine", "Head", "Head_end", "LeftLeg", "LeftFoot", "LeftFoot_end")
    np.testing.assert_allclose(ends.skeleton.offsets[3], [0, 0, 0.05], atol=1e-7)  # (0, 5, 0) cm, y up
    # auto: a 60-unit-tall skeleton reads best as inches (1.52 m)
    clip, note = load_bvh(path, units="auto", return_note=True)
    assert note.startswith("inch") and clip.root_pos[0, 2] == pytest.approx(90 * 0.0254)
    with pytest.raises(MotionDataError, match="unknown units"):
        load_bvh(path, units="furlong")


@pytest.mark.parametrize(
    "old, new, message",
    [
        # the line named must be the line of the fault
        ("5 90 0  0 0 90  90 0 0", "5 90 0  0 0 90  90 0", "frame 1 has 17 values, expected 18"),
        ("5 90 0  0 0 90  90 0 0", "5 90 0  0 0 90  90 0 abc", "frame 1: 'abc' is not a number"),
        ("Frame Time: 0.0333333", "Frame Time: 0", "frame time must be > 0"),
        ("Xrotation Yrotation Zrotation\n    JOINT LeftFoot", "Xrotation Wrotation Zrotation\n    JOINT LeftFoot",
         "unknown channel 'Wrotation' in 'LeftLeg'"),
        ("CHANNELS 3 Zrotation Xrotation Yrotation\n    JOINT Head", "CHANNELS 4 Zrotation Xrotation Yrotation\n    JOINT Head",
         "CHANNELS 4 of 'Spine' lists 3 channel names"),
        ("    OFFSET 10.0 0.0 0.0", "    OFFSET 10.0 zero 0.0", "OFFSET of 'LeftLeg' must be a number, found 'zero'"),
        ("  JOINT LeftLeg", "  JIONT LeftLeg", "expected JOINT, End Site or '}' in joint 'Hips', found 'JIONT'"),
        ("HIERARCHY", "HIERARCHIE", "a BVH file starts with HIERARCHY"),
        ("      OFFSET 0.0 10.0 0.0", "      OFFSET 0.0 10.0 0.0\n      OFFSET 1 2 3", "expected 'CHANNELS'|found 'OFFSET'"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, old, new, message):
    assert BVH.count(old) == 1
    text = BVH.replace(old, new)
    marker = new.splitlines()[-1] if "OFFSET 1 2 3" in new else new.splitlines()[0]
    line = text[: text.index(marker)].count("\n") + 1
    with pytest.raises(MotionDataError) as err:
        load_bvh(write(tmp_path, text), units="cm")
    assert f"line {line}: " in str(err.value), str(err.value)
    assert any(m in str(err.value) for m in message.split("|")), str(err.value)


def test_malformed_files_other_faults(tmp_path):
    cases = {
        "Frames: 4": f"line {MOTION_LINE + 5}: 'Frames: 4' but the file has 3 frame lines",
        "MOTIONS": "no MOTION section",
    }
    for new, message in cases.items():
        old = "Frames: 3" if new.startswith("Frames") else "MOTION"
        with pytest.raises(MotionDataError, match=message):
            load_bvh(write(tmp_path, BVH.replace(old, new, 1)), units="cm")
    dup = BVH.replace("JOINT Head", "JOINT LeftLeg")
    second = dup[: dup.rindex("JOINT LeftLeg")].count("\n") + 1
    with pytest.raises(MotionDataError, match=rf"line {second}: joint name 'LeftLeg' is used twice"):
        load_bvh(write(tmp_path, dup), units="cm")


def test_truncated_file_says_where(tmp_path):
    head = BVH[: BVH.index("  JOINT LeftLeg")] + "MOTION\nFrames: 1\nFrame Time: 0.1\n0 0 0 0 0 0 0 0 0 0 0 0\n"
    with pytest.raises(MotionDataError, match=r"line \d+: file ends where '}' closing joint 'Hips' \(opened at line 2\)"):
        parse_bvh(head, "cut.bvh")


def humanoid_clip(n=8, fps=30.0, seed=0) -> SkeletonMotion:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fps
    dof = 0.5 * (H.DOF_LOWER + H.DOF_UPPER) + 0.2 * (H.DOF_UPPER - H.DOF_LOWER) * np.sin(
        2 * np.pi * t[:, None] * rng.uniform(0.5, 2, 28) + rng.uniform(0, 6, 28)
    )
    local = H.local_rot_from_dof(dof)
    local[:, 0] = rot.from_axis_angle(np.array([0.3, 0.2, 1.0]), 0.7 + t)
    root = np.stack([0.8 * t, 0.1 * t, 0.9 + 0.02 * np.sin(4 * t)], -1)
    return SkeletonMotion(Skeleton.amp_humanoid(), local, root, fps, source="humanoid")


@pytest.mark.parametrize("order, units", [("ZXY", "cm"), ("XYZ", "m"), ("YZX", "cmu")])
def test_write_read_round_trip(tmp_path, order, units):
    clip = humanoid_clip()
    save_bvh(tmp_path / "h.bvh", clip, order=order, units=units)
    back = load_bvh(tmp_path / "h.bvh", units=units)
    assert back.skeleton.names == clip.skeleton.names and back.fps == clip.fps
    p0, _ = forward_kinematics(clip.skeleton, clip.local_rot, clip.root_pos)
    p1, _ = forward_kinematics(back.skeleton, back.local_rot, back.root_pos)
    np.testing.assert_allclose(p1, p0, atol=2e-5)
    rel = rot.multiply(rot.conjugate(clip.local_rot.astype(np.float64)), back.local_rot.astype(np.float64))
    assert np.degrees(2 * np.arcsin(np.linalg.norm(rel[..., 1:], axis=-1))).max() < 1e-3  # well-conditioned angle


def test_load_source_and_resample(tmp_path):
    clip = humanoid_clip(n=13, fps=60.0)
    save_poselib(tmp_path / "h.npy", clip)
    save_bvh(tmp_path / "h.bvh", clip, units="cm")
    notes: list = []
    a = load_source(tmp_path / "h.bvh", units="cm", notes=notes)
    b = load_source(tmp_path / "h.npy")
    assert notes == ["units: cm"]
    np.testing.assert_allclose(a.root_pos, b.root_pos, atol=1e-5)
    half = load_source(tmp_path / "h.npy", fps=30)
    assert half.num_frames == 7 and half.fps == 30.0
    np.testing.assert_allclose(half.local_rot, b.local_rot[::2], atol=1e-6)  # on the old grid: the old frames
    up = resample(b, 120.0)
    assert up.num_frames == 25 and up.length == pytest.approx(b.length)
    np.testing.assert_allclose(up.root_pos[1], 0.5 * (b.root_pos[0] + b.root_pos[1]), atol=1e-6)
    with pytest.raises(MotionDataError, match="unknown motion file type"):
        load_source(tmp_path / "h.fbx")


def test_tposes(tmp_path):
    t = humanoid_tpose()
    pos, _ = forward_kinematics(t.skeleton, t.local_rot, t.root_pos)
    names = H.BODY_NAMES
    # arms straight out: hands level with the shoulders, left on +y, right on -y
    for side, sign in (("left", 1), ("right", -1)):
        hand, shoulder = pos[names.index(f"{side}_hand")], pos[names.index(f"{side}_upper_arm")]
        np.testing.assert_allclose(hand - shoulder, [0, sign * (0.274788 + 0.258947), 0], atol=1e-6)
    clip = load_bvh(write(tmp_path, BVH), units="cm")
    rest = tpose_from_motion(clip)
    assert isinstance(rest, SkeletonState) and np.allclose(rest.local_rot[:, 0], 1)
    frame = tpose_from_motion(clip, 1, rotation=[np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(frame.root_pos, rot.rotate(np.array([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]),
                                                          clip.root_pos[1].astype(np.float64)), atol=1e-6)
    with pytest.raises(MotionDataError, match="out of range"):
        tpose_from_motion(clip, 5)


def test_cli_import_and_tpose(tmp_path, capsys):
    src = write(tmp_path, BVH)
    out = tmp_path / "clip.npy"
    assert cli.main(["motion", "import", str(src), "units=cm", f"out={out}", "fps=60"]) == 0
    assert "5 joints, 5 frames at 60 fps" in capsys.readouterr().out
    clip = load_poselib(out)
    ref = resample(load_bvh(src, units="cm"), 60)
    np.testing.assert_allclose(clip.root_pos, ref.root_pos, atol=1e-6)
    assert clip.global_velocity is not None  # written with the poselib velocity recipe
    assert cli.main(["motion", "tpose", str(src), "units=cm", "frame=rest"]) == 0
    state = load_poselib(tmp_path / "clip_tpose.npy")
    assert isinstance(state, SkeletonState) and state.skeleton.names == clip.skeleton.names
    # bad input: a clear message and exit code 1, no traceback
    bad = write(tmp_path, BVH.replace("Frames: 3", "Frames: x"), "bad.bvh")
    assert cli.main(["motion", "import", str(bad)]) == 1
    assert f"line {MOTION_LINE + 1}: frame count must be an integer" in capsys.readouterr().err
    assert cli.main(["motion", "import", str(src), "colour=red"]) == 2
