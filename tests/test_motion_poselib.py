"""poselib .npy reader/writer: round trip, the original's format, refusal of foreign pickles, bad files."""

from __future__ import annotations

import collections
import io
import os
import pickle
import pickletools

import numpy as np
import pytest
from numpy.lib import format as npy_format

from near.motion import humanoid as H
from near.motion.poselib import load_poselib, read_poselib_dict, save_poselib
from near.motion.skeleton import (
    MotionDataError,
    Skeleton,
    SkeletonMotion,
    SkeletonState,
    compute_velocities,
)
from near.utils import rotations as rot

SK = Skeleton.amp_humanoid()


def synthetic_clip(n=20, fps=60.0, seed=0) -> SkeletonMotion:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fps
    dof = 0.4 * np.sin(2 * np.pi * t[:, None] * rng.uniform(0.5, 2, 28) + rng.uniform(0, 6, 28))
    local = H.local_rot_from_dof(dof.astype(np.float32))
    local[:, 0] = rot.from_axis_angle(np.array([0, 0, 1.0]), 0.5 * t)
    root = np.stack([0.8 * t, 0.1 * t, 0.9 + 0.02 * np.sin(4 * t)], -1)
    return SkeletonMotion(SK, local, root, fps, source="synthetic")


def _wrap(a, dtype=np.float32):
    a = np.asarray(a, dtype)
    return {"arr": a, "context": {"dtype": str(a.dtype)}}


def _raw_motion_dict(clip: SkeletonMotion) -> collections.OrderedDict:
    """A dict laid out like the original files (xyzw), for writing variants with np.save."""
    lin, ang = compute_velocities(clip.skeleton, clip.local_rot, clip.root_pos, clip.fps)
    return collections.OrderedDict(
        rotation=_wrap(rot.to_xyzw(clip.local_rot)),
        root_translation=_wrap(clip.root_pos),
        global_velocity=_wrap(lin),
        global_angular_velocity=_wrap(ang),
        skeleton_tree=collections.OrderedDict(
            node_names=list(SK.names),
            parent_indices=_wrap(SK.parents, np.int64),
            local_translation=_wrap(SK.offsets),
        ),
        is_local=True,
        fps=int(clip.fps),
        __name__="SkeletonMotion",
    )


def _np_save(path, d):
    arr = np.empty((), dtype=object)
    arr[()] = d
    np.save(path, arr, allow_pickle=True)  # writing only: what poselib itself does
    return path


def _npy_with_payload(path, payload: bytes):
    with open(path, "wb") as f:
        npy_format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": ()})
        f.write(payload)
    return path


def _globals_of(path) -> set[str]:
    with open(path, "rb") as f:
        npy_format.read_magic(f)
        npy_format.read_array_header_1_0(f)
        data = f.read()
    return {arg.replace(" ", ".") for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}


# --------------------------------------------------------------------------------------------------


def test_round_trip(tmp_path):
    clip = synthetic_clip()
    path = tmp_path / "clip.npy"
    save_poselib(path, clip)
    back = load_poselib(path)
    assert isinstance(back, SkeletonMotion) and back.fps == 60.0 and back.source == str(path)
    assert back.skeleton.names == SK.names and back.skeleton.parents == SK.parents
    np.testing.assert_allclose(back.skeleton.offsets, SK.offsets)
    np.testing.assert_allclose(back.local_rot, clip.local_rot, atol=1e-7)  # wxyz in memory again
    np.testing.assert_allclose(back.root_pos, clip.root_pos, atol=1e-7)
    lin, ang = compute_velocities(SK, clip.local_rot, clip.root_pos, clip.fps)
    np.testing.assert_allclose(back.global_velocity, lin, atol=1e-6)
    np.testing.assert_allclose(back.global_angular_velocity, ang, atol=1e-6)


def test_written_file_has_the_original_layout(tmp_path):
    path = tmp_path / "clip.npy"
    save_poselib(path, synthetic_clip())
    with open(path, "rb") as f:
        assert npy_format.read_magic(f) == (1, 0)
        shape, _, dtype = npy_format.read_array_header_1_0(f)
    assert shape == () and dtype == np.dtype(object)
    # the four globals of the original files, under their NumPy 1.x names (NumPy 1.x can load it)
    assert _globals_of(path) == {
        "collections.OrderedDict", "numpy.dtype", "numpy.ndarray", "numpy.core.multiarray._reconstruct"
    }  # fmt: skip
    d = read_poselib_dict(path)
    assert list(d) == [
        "rotation", "root_translation", "global_velocity", "global_angular_velocity",
        "skeleton_tree", "is_local", "fps", "__name__",
    ]  # fmt: skip
    assert d["fps"] == 60 and isinstance(d["fps"], int) and d["__name__"] == "SkeletonMotion"
    assert d["rotation"]["arr"].dtype == np.float32 and d["rotation"]["context"] == {"dtype": "float32"}
    assert d["skeleton_tree"]["parent_indices"]["arr"].dtype == np.int64
    # xyzw on disk: an identity rotation is stored as (0, 0, 0, 1)
    np.testing.assert_allclose(d["rotation"]["arr"][0, 5], [0, 0, 0, 1], atol=1e-7)


def test_reads_files_written_by_numpy_itself(tmp_path):
    """np.save output (protocol 4, NumPy 2 names its reconstructor numpy._core...), fps as a 0-d array."""
    clip = synthetic_clip(n=6)
    d = _raw_motion_dict(clip)
    d["fps"] = np.array(30, np.int32)
    path = _np_save(tmp_path / "np.npy", d)
    assert b"numpy._core.multiarray" in path.read_bytes()  # protocol 4, STACK_GLOBAL
    back = load_poselib(path)
    assert back.fps == 30.0
    np.testing.assert_allclose(back.local_rot, clip.local_rot, atol=1e-7)


def test_global_rotations_are_made_local(tmp_path):
    clip = synthetic_clip(n=4)
    from near.motion.skeleton import forward_kinematics

    _, grot = forward_kinematics(SK, clip.local_rot, clip.root_pos)
    d = _raw_motion_dict(clip)
    d["rotation"] = _wrap(rot.to_xyzw(grot))
    d["is_local"] = False
    back = load_poselib(_np_save(tmp_path / "global.npy", d))
    np.testing.assert_allclose(np.abs(np.sum(back.local_rot * clip.local_rot, -1)), 1.0, atol=1e-6)


def test_skeleton_state_round_trip(tmp_path):
    pose = np.tile(np.array([1.0, 0, 0, 0], np.float32), (15, 1))
    pose[3] = rot.from_axis_angle(np.array([1.0, 0, 0]), -np.pi / 2)
    state = SkeletonState(SK, pose, np.array([0, 0, 0.9]))
    path = tmp_path / "tpose.npy"
    save_poselib(path, state)
    assert "fps" not in read_poselib_dict(path)
    back = load_poselib(path)
    assert isinstance(back, SkeletonState)
    np.testing.assert_allclose(back.local_rot, pose, atol=1e-7)
    np.testing.assert_allclose(back.root_pos, [0, 0, 0.9])


# --------------------------------------------------------------------------------------------------
# never execute what a file names


class _System:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class _Eval:
    def __reduce__(self):
        return (eval, ("__import__('pathlib').Path('EVAL_MARKER').touch()",))


@pytest.mark.parametrize("kind", ["system", "eval", "nested"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "PWNED"
    if kind == "system":
        obj, name = _System(f"touch {marker}"), "system"
    elif kind == "eval":
        obj, name, marker = _Eval(), "builtins.eval", tmp_path / "EVAL_MARKER"
    else:  # hidden inside an otherwise valid motion dict
        obj = _raw_motion_dict(synthetic_clip(n=3))
        obj["skeleton_tree"]["node_names"] = _System(f"touch {marker}")
        name = "system"
    path = _npy_with_payload(tmp_path / "evil.npy", pickle.dumps(obj, protocol=3))
    with pytest.raises(MotionDataError) as err:
        load_poselib(path)
    msg = str(err.value)
    assert "evil.npy" in msg and "refused" in msg and name in msg
    assert not marker.exists()


def test_protocol_5_and_other_numpy_globals_are_refused(tmp_path):
    # a pickle naming a numpy function outside the four (e.g. numpy.load) is refused as well
    payload = pickle.dumps(np.load, protocol=3)
    with pytest.raises(MotionDataError, match="numpy.*load"):
        load_poselib(_npy_with_payload(tmp_path / "f.npy", payload))


# --------------------------------------------------------------------------------------------------
# bad files


def test_truncated_and_corrupt_files(tmp_path):
    good = tmp_path / "good.npy"
    save_poselib(good, synthetic_clip())
    raw = good.read_bytes()
    cut = tmp_path / "cut.npy"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(MotionDataError, match="cut.npy.*corrupt or truncated"):
        load_poselib(cut)
    header_only = tmp_path / "header.npy"
    header_only.write_bytes(raw[:128])
    with pytest.raises(MotionDataError, match="corrupt or truncated"):
        load_poselib(header_only)
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"this is not numpy at all")
    with pytest.raises(MotionDataError, match="junk.npy.*not a valid .npy"):
        load_poselib(junk)
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    with pytest.raises(MotionDataError, match="not a valid .npy"):
        load_poselib(empty)
    with pytest.raises(MotionDataError, match="cannot read"):
        load_poselib(tmp_path / "missing.npy")
    plain = tmp_path / "plain.npy"
    np.save(plain, np.zeros((3, 2)))
    with pytest.raises(MotionDataError, match="plain float64 array"):
        load_poselib(plain)


def _variant(tmp_path, name, edit):
    d = _raw_motion_dict(synthetic_clip(n=5))
    edit(d)
    return _np_save(tmp_path / f"{name}.npy", d)


@pytest.mark.parametrize(
    "name, edit, match",
    [
        ("nokey", lambda d: d.pop("root_translation"), "missing key 'root_translation'"),
        ("notree", lambda d: d["skeleton_tree"].pop("local_translation"), "skeleton_tree.local_translation"),
        ("shape", lambda d: d.update(rotation=_wrap(np.zeros((5, 14, 4)))), r"'rotation' has shape \(5, 14, 4\)"),
        ("rootshape", lambda d: d.update(root_translation=_wrap(np.zeros((4, 3)))), r"root_translation.*\(5, 3\)"),
        ("nan", lambda d: d["root_translation"]["arr"].__setitem__((2, 1), np.nan), "non-finite"),
        ("zeroq", lambda d: d["rotation"]["arr"].__setitem__((1, 3), 0.0), "zero norm"),
        ("fps", lambda d: d.update(fps="fast"), "'fps'"),
        ("negfps", lambda d: d.update(fps=-60), "positive"),
        ("kind", lambda d: d.update(__name__="Skeleton"), "__name__"),
        ("parents", lambda d: d["skeleton_tree"].update(parent_indices=_wrap([-1, 2] + [0] * 13, np.int64)), "topological"),
    ],
)
def test_malformed_content_names_file_and_fault(tmp_path, name, edit, match):
    path = _variant(tmp_path, name, edit)
    with pytest.raises(MotionDataError, match=match) as err:
        load_poselib(path)
    assert f"{name}.npy" in str(err.value)


def test_payload_that_is_not_a_dict(tmp_path):
    path = _npy_with_payload(tmp_path / "list.npy", pickle.dumps([1, 2, 3], protocol=3))
    with pytest.raises(MotionDataError, match="expected a dict"):
        load_poselib(path)
    buf = io.BytesIO()
    pickle.dump(collections.OrderedDict(a=1), buf, protocol=3)
    with pytest.raises(MotionDataError, match="missing key .skeleton_tree."):
        load_poselib(_npy_with_payload(tmp_path / "dict.npy", buf.getvalue()))
