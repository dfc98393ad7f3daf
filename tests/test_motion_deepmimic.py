"""DeepMimic humanoid3d clips: conversion to the AMP humanoid on small synthetic files, and on the
clips of the pybullet wheel when it is installed."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from near.motion import humanoid as H
from near.motion.deepmimic import FRAME_SIZE, deepmimic_clip_path, load_deepmimic
from near.motion.motion_set import load_motions
from near.motion.skeleton import MotionDataError, forward_kinematics
from near.utils import rotations as rot

IDENT = [1.0, 0.0, 0.0, 0.0]


def dm_frame(dt, root=(0.0, 0.85, 0.0), root_rot=IDENT, chest=IDENT, r_knee=0.0, l_elbow=0.0):
    """One 44-number DeepMimic frame (y up, quaternions wxyz); other joints at rest."""
    f = [dt, *root, *root_rot, *chest, *IDENT]  # duration, root pos, root rot, chest, neck
    f += [*IDENT, r_knee, *IDENT, *IDENT, 0.0]  # right hip, knee, ankle, shoulder, elbow
    f += [*IDENT, 0.0, *IDENT, *IDENT, l_elbow]  # left hip, knee, ankle, shoulder, elbow
    assert len(f) == FRAME_SIZE
    return f


def write_clip(path, frames, loop="wrap"):
    path.write_text(json.dumps({"Loop": loop, "Frames": frames}))
    return path


def test_conversion_of_axes_angles_and_positions(tmp_path):
    half = np.sqrt(0.5)
    yaw90 = [half, 0.0, half, 0.0]  # 90 deg about DeepMimic's up axis (+y)
    chest_x = list(rot.from_axis_angle(np.array([1.0, 0, 0]), 0.3))  # about x, which stays x
    frames = [
        dm_frame(1 / 30, root=(1.0, 2.0, 3.0), root_rot=yaw90, chest=chest_x, r_knee=-0.5, l_elbow=0.7),
        dm_frame(1 / 30),
        dm_frame(0.0),
    ]
    clip = load_deepmimic(write_clip(tmp_path / "humanoid3d_test.txt", frames))
    assert clip.num_frames == 3 and clip.fps == 30.0 and clip.skeleton.names == H.BODY_NAMES
    np.testing.assert_allclose(clip.root_pos[0], [1.0, -3.0, 2.0], atol=1e-6)  # (x, -z, y)
    # DeepMimic yaw about +y is AMP yaw about +z: the character's forward x turns to +y
    np.testing.assert_allclose(rot.rotate(clip.local_rot[0, 0], np.array([1.0, 0, 0])), [0, 1, 0], atol=1e-6)
    dof = H.dof_from_local_rot(clip.local_rot[0])
    assert dof[H.DOF_NAMES.index("right_knee")] == pytest.approx(0.5)  # -theta: flexion is positive
    assert dof[H.DOF_NAMES.index("left_elbow")] == pytest.approx(-0.7)  # -theta: flexion is negative
    np.testing.assert_allclose(dof[:3], [0.3, 0, 0], atol=1e-6)  # abdomen_x
    np.testing.assert_allclose(clip.local_rot[:, [5, 8]], np.tile(IDENT, (3, 2, 1)))  # hands
    # a standing rest pose: foot joints 0.421546 + 0.40987 below the pelvis
    pos, _ = forward_kinematics(clip.skeleton, clip.local_rot[1], clip.root_pos[1])
    assert pos[14, 2] == pytest.approx(0.85 - 0.421546 - 0.409870, abs=1e-6)


def test_quaternions_are_normalised(tmp_path):
    frames = [dm_frame(1 / 60, root_rot=[0.98, 0.0, 0.0, 0.0], chest=[0.0, 0.0, 0.0, 1.02]), dm_frame(0.0)]
    clip = load_deepmimic(write_clip(tmp_path / "c.txt", frames))
    np.testing.assert_allclose(np.linalg.norm(clip.local_rot, axis=-1), 1.0, atol=1e-6)
    assert clip.fps == 60.0


def test_mixed_frame_durations_are_resampled(tmp_path):
    # times 0, 1/60, 3/60, 4/60 with x = 60 t: a uniform 60 fps grid sees x = 0, 1, 2, 3, 4
    durations = [1 / 60, 2 / 60, 1 / 60, 0.0]
    xs = [0.0, 1.0, 3.0, 4.0]
    knees = [0.0, -0.1, -0.3, -0.4]
    frames = [dm_frame(d, root=(x, 0.8, 0.0), r_knee=k) for d, x, k in zip(durations, xs, knees)]
    clip = load_deepmimic(write_clip(tmp_path / "roll.txt", frames))
    assert clip.fps == 60.0 and clip.num_frames == 5
    np.testing.assert_allclose(clip.root_pos[:, 0], [0, 1, 2, 3, 4], atol=1e-5)
    knee = H.dof_from_local_rot(clip.local_rot)[:, H.DOF_NAMES.index("right_knee")]
    np.testing.assert_allclose(knee, [0, 0.1, 0.2, 0.3, 0.4], atol=1e-5)
    # an explicit rate resamples a uniform clip too
    up = load_deepmimic(write_clip(tmp_path / "u.txt", [dm_frame(0.1, root=(0, 0.8, 0)), dm_frame(0.0, root=(1, 0.8, 0))]), fps=40)
    assert up.num_frames == 5 and up.fps == 40.0
    np.testing.assert_allclose(up.root_pos[:, 0], [0, 0.25, 0.5, 0.75, 1.0], atol=1e-6)


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "invalid JSON"),
        (json.dumps({"Loop": "none"}), "no 'Frames'"),
        (json.dumps({"Frames": [[0.1] * 43]}), r"shape \(1, 43\)"),
        (json.dumps({"Frames": [[0.1] * 44, [0.1] * 40]}), "equal-length"),
        (json.dumps({"Frames": []}), "expected"),
        (json.dumps({"Frames": [dm_frame(0.0), dm_frame(0.0)]}), "durations must be > 0"),
        (json.dumps({"Frames": [dm_frame(0.1, root_rot=[0, 0, 0, 0]), dm_frame(0.0)]}), "zero-norm"),
        ('{"Frames": [[NaN' + ", 0" * 43 + "]]}", "non-finite"),
    ],
)
def test_bad_clips(tmp_path, content, match):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(MotionDataError, match=match) as err:
        load_deepmimic(path)
    assert "bad.txt" in str(err.value)


def test_txt_goes_through_load_motions(tmp_path):
    write_clip(tmp_path / "walk.txt", [dm_frame(1 / 30), dm_frame(0.0)])
    clips, probs = load_motions(tmp_path / "walk.txt")
    assert clips[0].num_frames == 2 and probs.tolist() == [1.0]


def test_clip_path_without_pybullet(monkeypatch):
    monkeypatch.setitem(sys.modules, "pybullet_data", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"pip install 'near-rl\[deepmimic\]'"):
        deepmimic_clip_path("walk")


# --------------------------------------------------------------------------------------------------
# the real clips (pybullet installed)


def _out_of_range_frames(clip):
    dof = H.dof_from_local_rot(clip.local_rot)
    return int(((dof < H.DOF_LOWER - 1e-6) | (dof > H.DOF_UPPER + 1e-6)).any(-1).sum())


def test_pybullet_walk_and_backflip():
    pytest.importorskip("pybullet_data")
    walk = load_deepmimic(deepmimic_clip_path("walk"))
    assert walk.num_frames == 39 and walk.fps == 30.0
    assert 0.84 < walk.root_pos[:, 2].min() and walk.root_pos[:, 2].max() < 0.88
    pos, _ = forward_kinematics(walk.skeleton, walk.local_rot, walk.root_pos)
    feet = pos[:, [11, 14], 2]
    assert 0.045 < feet.min() < 0.065  # ankle joints at stance, soles just above the ground
    assert walk.root_pos[-1, 0] - walk.root_pos[0, 0] > 0.5  # walks forward along +x
    assert _out_of_range_frames(walk) == 0
    knee = H.dof_from_local_rot(walk.local_rot)[:, H.DOF_NAMES.index("right_knee")]
    assert (knee > -0.05).all() and knee.max() > 1.0  # knees bend the right way

    flip = load_deepmimic(deepmimic_clip_path("humanoid3d_backflip.txt"))
    assert flip.num_frames == 29 and flip.fps == 16.0
    assert flip.root_pos[:, 2].max() > 1.1 and _out_of_range_frames(flip) <= 5
    roll = load_deepmimic(deepmimic_clip_path("roll"))  # mixed 1/60 and 1/30 durations
    assert roll.fps == 60.0 and roll.length == pytest.approx(2.0, abs=0.05)
    turn = load_deepmimic(deepmimic_clip_path("walker/turn_left0"))
    assert turn.num_frames == 38
    with pytest.raises(FileNotFoundError, match="available.*walk"):
        deepmimic_clip_path("moonwalk")
