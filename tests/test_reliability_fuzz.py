"""Fuzzed readers (issue #17), CI size: benchmarks/reliability_fuzz.py with a few hundred mutated
inputs per reader (NEAR_FULL_RELIABILITY=1: 10,000 each). Every input must load into a valid object
or raise the project's own error naming the file; never another exception, a hang, a memory
blow-up, or code run by a pickle. Then the faults the fuzzing found, one regression case each."""

from __future__ import annotations

import io
import json
import os
import pickle
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))
import reliability_fuzz as F  # noqa: E402

from near.config import ConfigError, compose_config  # noqa: E402
from near.data.demos import DemoDataError, load_zarr_demos, write_zarr_demos  # noqa: E402
from near.motion.bvh import load_bvh  # noqa: E402
from near.motion.deepmimic import load_deepmimic  # noqa: E402
from near.motion.motion_set import load_motions  # noqa: E402
from near.motion.poselib import load_poselib  # noqa: E402
from near.motion.retarget import load_mapping  # noqa: E402
from near.motion.skeleton import MotionDataError  # noqa: E402

FULL = os.environ.get("NEAR_FULL_RELIABILITY") == "1"
# cases per reader in CI (610 in all, a few seconds; the cheap readers get more)
CI_CASES = {"poselib": 150, "deepmimic": 150, "bvh": 100, "motion_set": 60, "mapping": 40, "zarr_maze": 40,
            "zarr_pusht": 40, "overrides": 30}


@pytest.mark.parametrize("reader", list(CI_CASES))  # run folders: tests/test_reliability_training.py
def test_reader_survives_fuzzing(reader, tmp_path):
    cases = F.FULL_CASES if FULL else CI_CASES[reader]
    row = F.fuzz(reader, cases, str(tmp_path), hypothesis_seed=17)
    assert row["fault"] is None, row["fault"]
    assert row["cases"] >= cases
    assert row["loaded"] > 0 and row["refused"] > 0, row  # both outcomes are reached: the mutations bite


# ----------------------------------------------------------------------------------------------
# the faults fuzzing found, each as one fixed input


def _refused(load, path, *match):
    with F.guarded():
        with pytest.raises((MotionDataError, DemoDataError, ConfigError)) as err:
            load(path)
    for m in (str(path),) + match:
        assert m in str(err.value), str(err.value)


def _npy(path, payload: bytes, header=b""):
    from numpy.lib import format as npy_format

    out = io.BytesIO()
    npy_format.write_array_header_1_0(out, {"descr": "|O", "fortran_order": False, "shape": ()})
    path.write_bytes(header or out.getvalue() + payload)
    return path


def test_malicious_pickles_are_refused_and_nothing_runs(tmp_path):
    markers = tmp_path / "markers"
    (markers / "precious").mkdir(parents=True)
    for k, evil in enumerate(F.evil_payloads(str(markers))):
        for protocol in (2, 3, 5):
            path = _npy(tmp_path / f"evil{k}_{protocol}.npy", pickle.dumps({"rotation": evil}, protocol=protocol))
            _refused(load_poselib, path)
    assert sorted(os.listdir(markers)) == ["precious"] and os.path.isdir(markers / "precious")


def test_pickle_lengths_and_headers_cannot_allocate_or_crash(tmp_path):
    huge_bytes = b"\x80\x05\x8e" + (1 << 40).to_bytes(8, "little") + b"abc."  # BINBYTES8 of a terabyte
    _refused(load_poselib, _npy(tmp_path / "bytes8.npy", huge_bytes), "truncated")
    broken_header = b"\x93NUMPY\x01\x00\x16\x00{'descr': '|O', (((\n"
    _refused(load_poselib, _npy(tmp_path / "header.npy", b"", header=broken_header), "not a valid .npy")


def test_deepmimic_numbers_nesting_and_durations(tmp_path):
    frame = F._frame()
    (tmp_path / "bigint.txt").write_text(json.dumps({"Frames": [frame, frame]}).replace("0.85", "1" + "0" * 400, 1))
    _refused(load_deepmimic, tmp_path / "bigint.txt", "Frames")
    (tmp_path / "deep.txt").write_text('{"Frames": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _refused(load_deepmimic, tmp_path / "deep.txt", "nested")
    tiny = [F._frame(1 / 30), F._frame(1e-9), F._frame(1 / 30)]  # resampling at 1 GHz: billions of frames
    (tmp_path / "tiny.txt").write_text(json.dumps({"Frames": tiny}))
    _refused(load_deepmimic, tmp_path / "tiny.txt", "frame durations")


def test_bvh_nesting_frame_time_and_flat_units(tmp_path):
    chain = "".join(f"JOINT j{k}\n{{\nOFFSET 0 1 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n" for k in range(3000))
    text = F.SMALL_BVH.replace("  JOINT Spine", chain + "}\n" * 3000 + "  JOINT Spine", 1)
    (tmp_path / "deep.bvh").write_text(text)
    _refused(load_bvh, tmp_path / "deep.bvh", "nested more than")
    (tmp_path / "time.bvh").write_text(F.SMALL_BVH.replace("Frame Time: 0.0333333", "Frame Time: 1e-320"))
    _refused(load_bvh, tmp_path / "time.bvh", "fps")
    flat = F.SMALL_BVH.replace("10.0", "1e-320").replace("-40.0", "0").replace("5.0", "0")
    (tmp_path / "flat.bvh").write_text(flat)
    assert load_bvh(tmp_path / "flat.bvh").skeleton.num_joints == 3  # a rest pose of height ~0: metres assumed


def test_yaml_readers_bytes_nesting_and_laughs(tmp_path):
    ctx = F._motion_set_prepare(str(tmp_path / "seed"))
    (tmp_path / "bad.yaml").write_bytes(b"\xed\xa0" + b"motions: []\n")
    _refused(load_motions, tmp_path / "bad.yaml", "UTF-8")
    (tmp_path / "deep.yaml").write_text("motions: " + "[" * 50_000 + "]" * 50_000)
    _refused(load_motions, tmp_path / "deep.yaml", "nested")
    laughs = F._motion_set_materialise(ctx, ([], [], ("laughs", 12)), str(tmp_path))  # 9^12 leaves if printed
    _refused(load_motions, laughs, "motions[0]")
    (tmp_path / "weights.yaml").write_text("motions:\n- {file: dm.txt, weight: 1.0e+308}\n- {file: dm.txt, weight: 1.0e+308}\n")
    _refused(load_motions, tmp_path / "weights.yaml", "sum to inf")
    (tmp_path / "stamp.yaml").write_text("motions:\n- {file: dm.txt, weight: !!timestamp 12-14}\n")
    _refused(load_motions, tmp_path / "stamp.yaml", "not valid yaml")  # PyYAML: AttributeError
    (tmp_path / "map.yaml").write_text("1: 2\nx: 3\njoints: [{source: Hips, body: pelvis}]\n")
    _refused(load_mapping, tmp_path / "map.yaml", "unknown keys")
    (tmp_path / "rot.yaml").write_text("rotation: [.nan, 0, 0, 1]\njoints: [{source: Hips, body: pelvis}]\n")
    _refused(load_mapping, tmp_path / "rot.yaml", "rotation")


def test_zarr_declared_sizes_and_object_arrays(tmp_path):
    store = tmp_path / "demo.zarr"
    write_zarr_demos(store, np.ones((12, 2), np.float32), np.array([5, 12]))
    meta_path = store / "data" / "state" / ".zarray"
    meta = json.loads(meta_path.read_text())
    meta["shape"] = [1 << 40, 2]  # a terabyte of fill values behind 100 stored bytes
    meta_path.write_text(json.dumps(meta))
    _refused(load_zarr_demos, store, "declares shape")
    meta.update(shape=[12, 2], dtype="|O", filters=[{"id": "pickle"}], compressor=None)
    meta_path.write_text(json.dumps(meta))
    with F.guarded():
        with pytest.raises(DemoDataError):  # zarr 3 cannot open it; zarr 2 would unpickle it: refused by dtype
            load_zarr_demos(store)


@pytest.mark.parametrize("override, match", [
    ("train.checkpoint_every=0", "train.checkpoint_every"), ("energy.sigma_begin=inf", "finite"),
    ("seed=-1", "seed"), ("train.actor_hidden=[0]", "layer widths"), ("a" * 300 + "=1", "bad overrides"),
    ("energy.num_levels=1000000000", "energy.num_levels"), ("task=Humanoid task.physics.cone=round", "task.physics.cone"),
    ("task=Humanoid task.physics.impl=physx", "task.physics.impl"), ("task=pushT task.success_bonus=always", "task.success_bonus"),
    ("task=pushT task.success_bonus_per_step=-1", "task.success_bonus_per_step"),
    ("task=maze task.pair_span=2", "task.pair_span"), ("task=Humanoid task.pair_span=0", "task.pair_span"),
])
def test_overrides_that_used_to_pass_or_crash(override, match):
    with pytest.raises(ConfigError, match=match):
        compose_config(override.split(" "))


def test_warp_physics_without_warp_lang_says_how_to_get_it():
    import importlib.util

    if importlib.util.find_spec("warp") is not None:
        pytest.skip("warp-lang is installed here")
    with pytest.raises(ConfigError, match="pip install warp-lang"):
        compose_config(["task=Humanoid", "task.physics.impl=warp"])
