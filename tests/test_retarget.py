"""Retargeting onto the humanoid (near.motion.retarget, `near motion retarget`), on motions the tests
make: the humanoid onto itself recovers its joint angles; a CMU-named BVH skeleton (another scale,
y up, facing +z, extra joints, hips joint above the hip line) built from a known humanoid pose
sequence lands on that pose; limits, grounding, mapping files, name variants."""

from __future__ import annotations

import json

import numpy as np
import pytest

from near import cli
from near.motion import humanoid as H
from near.motion import retarget as R
from near.motion.bvh import save_bvh
from near.motion.motion_set import load_motion_file
from near.motion.qpos import pose_from_qpos, qpos_from_pose
from near.motion.skeleton import (
    MotionDataError,
    Skeleton,
    SkeletonMotion,
    forward_kinematics,
)
from near.motion.sources import load_source
from near.motion.tpose import humanoid_tpose
from near.utils import rotations as rot

mink = pytest.importorskip("mink")  # the retarget extra; the module itself imports without it
mujoco = pytest.importorskip("mujoco")

SK = Skeleton.amp_humanoid()
EZ = np.array([0.0, 0.0, 1.0])
ANGLE_TOL_DEG = 0.5  # stated tolerance: joint angles recovered by IK
POS_TOL_M = 0.002  # stated tolerance: body positions after retargeting


def pose_sequence(n=16, fps=30.0, seed=0) -> SkeletonMotion:
    """A smooth humanoid clip inside the joint limits and cones, elbows and knees bent >= ~30 deg (a
    straight limb leaves its twist to the posture task, not to the data), walking and turning."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fps
    mid, half = 0.5 * (H.DOF_LOWER + H.DOF_UPPER), 0.5 * (H.DOF_UPPER - H.DOF_LOWER)
    dof = mid + 0.5 * half * np.sin(2 * np.pi * t[:, None] * rng.uniform(0.5, 1.5, 28) + rng.uniform(0, 6, 28))
    local = H.local_rot_from_dof(dof)
    local[:, 0] = rot.multiply(rot.from_axis_angle(EZ, 0.3 + 0.6 * t), rot.from_axis_angle(np.array([1.0, 0, 0]), 0.1))
    root = np.stack([0.8 * t, 0.2 * t, 0.9 + 0.02 * np.sin(4 * t)], -1)
    return SkeletonMotion(SK, local, root, fps, source="known")


def angle_deg(a, b):
    rel = rot.multiply(rot.conjugate(np.asarray(a, np.float64)), np.asarray(b, np.float64))
    return np.degrees(2 * np.arcsin(np.clip(np.linalg.norm(rel[..., 1:], axis=-1), 0, 1)))


@pytest.fixture(scope="module")
def known():
    return pose_sequence()


def test_qpos_layout_matches_the_mujoco_model(known):
    from near.envs.humanoid import model as M

    layout = M.make_layout(M.load_mj_model())
    qpos = qpos_from_pose(known.local_rot, known.root_pos)
    dof = H.dof_from_local_rot(known.local_rot)
    ref = np.asarray(M.qpos_from_pose(layout, known.root_pos, known.local_rot[:, 0], dof))
    same_sign = np.where(np.sum(qpos[:, layout.ball_qpos] * ref[:, layout.ball_qpos], -1, keepdims=True) < 0, -1, 1)
    np.testing.assert_allclose(qpos[:, layout.ball_qpos] * same_sign, ref[:, layout.ball_qpos], atol=1e-5)
    np.testing.assert_allclose(qpos[:, layout.hinge_qpos], ref[:, layout.hinge_qpos], atol=1e-5)
    local, root = pose_from_qpos(qpos)
    assert angle_deg(local, known.local_rot).max() < 1e-3 and np.allclose(root, known.root_pos, atol=1e-6)


def test_humanoid_onto_itself_recovers_joint_angles(known):
    res = R.retarget(known, "humanoid")
    shift = res.report["ground_shift_m"]
    err = angle_deg(res.motion.local_rot, known.local_rot)
    assert err.max() < ANGLE_TOL_DEG, err.max(0)
    np.testing.assert_allclose(res.motion.root_pos - [0, 0, shift], known.root_pos, atol=POS_TOL_M)
    assert res.report["position_error_cm"]["all"]["max"] < 100 * POS_TOL_M
    assert res.report["scale"] == 1.0 and np.allclose(res.report["rotation_wxyz"], [1, 0, 0, 0], atol=1e-9)
    lim = res.report["joint_limits"]
    assert lim["hinge_violation_frames"] == 0 and lim["cone_violation_frames"] == 0
    assert res.report["lowest_point_m"] == pytest.approx(0.0, abs=1e-9)  # grounded at offset 0
    assert res.motion.fps == known.fps and res.motion.skeleton.same_as(SK)


# --------------------------------------------------------------------------- a CMU-named skeleton

CMU_HIP_RISE = 0.1  # m: CMU's Hips joint sits above the hip joints, the humanoid's pelvis on their line


def cmu_skeleton_spec(k: float):
    """(name, parent, offset) of a CMU BVH skeleton ('MotionBuilder-friendly' names) whose T-pose
    puts the mapped joints exactly where the humanoid's T-pose has its bodies, times k; z up, +x fwd."""
    h = CMU_HIP_RISE
    spec = [("Hips", None, (0, 0, 0))]
    for s, side in ((1, "Left"), (-1, "Right")):
        c = side[0]
        spec += [
            (f"{c}HipJoint", "Hips", (0, 0, 0)),
            (f"{side}UpLeg", f"{c}HipJoint", (0, s * 0.084887, -h)),
            (f"{side}Leg", f"{side}UpLeg", (0, 0, -0.421546)),
            (f"{side}Foot", f"{side}Leg", (0, 0, -0.409870)),
            (f"{side}ToeBase", f"{side}Foot", (0.12, 0, -0.05)),
        ]
    spec += [
        ("LowerBack", "Hips", (0, 0, 0)),
        ("Spine", "LowerBack", (0, 0, 0.07)),
        ("Spine1", "Spine", (0, 0, 0.236151 - 0.07 - h)),
        ("Neck", "Spine1", (0, 0, 0)),
        ("Neck1", "Neck", (0, 0, 0.1)),
        ("Head", "Neck1", (0, 0, 0.223894 - 0.1)),
    ]
    for s, side in ((1, "Left"), (-1, "Right")):
        spec += [
            (f"{side}Shoulder", "Spine1", (0, s * 0.03, 0.2)),
            (f"{side}Arm", f"{side}Shoulder", (-0.02405, s * (0.18311 - 0.03), 0.2435 - 0.2)),
            (f"{side}ForeArm", f"{side}Arm", (0, s * 0.274788, 0)),  # T-pose: arms straight out
            (f"{side}Hand", f"{side}ForeArm", (0, s * 0.258947, 0)),
            (f"{side}HandIndex1", f"{side}Hand", (0, s * 0.08, 0)),
        ]
    names = [n for n, _, _ in spec]
    parents = [-1 if p is None else names.index(p) for _, p, _ in spec]
    return names, parents, np.array([o for _, _, o in spec], np.float64) * k


CMU_OF_BODY = {
    "pelvis": "Hips", "torso": "Spine1", "head": "Head",
    "left_upper_arm": "LeftArm", "left_lower_arm": "LeftForeArm", "left_hand": "LeftHand",
    "right_upper_arm": "RightArm", "right_lower_arm": "RightForeArm", "right_hand": "RightHand",
    "left_thigh": "LeftUpLeg", "left_shin": "LeftLeg", "left_foot": "LeftFoot",
    "right_thigh": "RightUpLeg", "right_shin": "RightLeg", "right_foot": "RightFoot",
}  # fmt: skip


def cmu_motion_from(known: SkeletonMotion, k: float, yaw: float, rest_turns=None) -> SkeletonMotion:
    """The CMU skeleton performing the humanoid's clip: each mapped joint turns like its body turns
    from the T-pose, the others follow their parent; then the whole is turned by ``yaw`` (z up).
    ``rest_turns`` {joint: quaternion P}: the rest pose holds that joint's bone turned by P (e.g. legs
    apart, arms down), the motion is unchanged (the joint's rotation becomes G P^-1)."""
    names, parents, offsets = cmu_skeleton_spec(k)
    rest_turns = rest_turns or {}
    for name, p in rest_turns.items():
        child = parents.index(names.index(name))  # each turned joint has exactly one child here
        offsets[child] = rot.rotate(np.asarray(p), offsets[child])
    tp = humanoid_tpose()
    _, rh = forward_kinematics(SK, known.local_rot.astype(np.float64), known.root_pos.astype(np.float64))
    _, rh_t = forward_kinematics(SK, tp.local_rot, tp.root_pos)
    t = known.num_frames
    g = np.zeros((t, len(names), 4))
    for j, name in enumerate(names):
        body = next((b for b, n in CMU_OF_BODY.items() if n == name), None)
        if body is not None:
            b = H.BODY_NAMES.index(body)
            g[:, j] = rot.multiply(rh[:, b], rot.conjugate(rh_t[b]))
            if name in rest_turns:
                g[:, j] = rot.multiply(g[:, j], rot.conjugate(np.asarray(rest_turns[name])))
        else:
            g[:, j] = g[:, parents[j]]
    local = g.copy()
    for j in range(1, len(names)):
        local[:, j] = rot.multiply(rot.conjugate(g[:, parents[j]]), g[:, j])
    root = k * (known.root_pos + rot.rotate(rh[:, 0], np.broadcast_to([0, 0, CMU_HIP_RISE], (t, 3))))
    y = rot.from_axis_angle(EZ, yaw)  # change of basis: the whole skeleton turned about z
    offsets, root = rot.rotate(y, offsets), rot.rotate(y, root)
    local = rot.multiply(rot.multiply(y, local), rot.conjugate(y))
    return SkeletonMotion(Skeleton(names, parents, offsets), local, root, known.fps, source="cmu_like")


@pytest.fixture(scope="module")
def cmu_bvh(tmp_path_factory, known):
    """Written as CMU BVH files are: y up, facing +z, in CMU units (0.056444 m), 1.1 x the humanoid."""
    path = tmp_path_factory.mktemp("cmu") / "01_01.bvh"
    save_bvh(path, cmu_motion_from(known, 1.1, -np.pi / 2), order="ZYX", up="y", units="cmu")
    return path


def test_cmu_like_skeleton_retargets_to_the_known_pose(cmu_bvh, known):
    notes: list = []
    src = load_source(cmu_bvh, notes=notes)  # units auto-detected
    assert len(notes) == 1 and notes[0].startswith("units: cmu (auto: rest pose")
    res = R.retarget(src, "cmu")
    rep = res.report
    assert rep["scale"] == pytest.approx(1 / 1.1, rel=1e-5)  # leg-length ratio
    np.testing.assert_allclose(abs(angle_deg([1, 0, 0, 0], rep["rotation_wxyz"])), 90.0, atol=1e-3)
    assert rep["mapped"] == CMU_OF_BODY
    # every body where the known clip has it (up to the grounding shift), and the same joint angles
    pos_known, _ = forward_kinematics(SK, known.local_rot, known.root_pos)
    pos_ret, _ = forward_kinematics(SK, res.motion.local_rot, res.motion.root_pos)
    shift = rep["ground_shift_m"]
    np.testing.assert_allclose(np.asarray(pos_ret) - [0, 0, shift], pos_known, atol=POS_TOL_M)
    assert angle_deg(res.motion.local_rot, known.local_rot).max() < ANGLE_TOL_DEG
    assert rep["position_error_cm"]["all"]["max"] < 100 * POS_TOL_M
    # the aligned source positions (for viewing beside the result): turned, scaled, feet where ours are
    feet = [src.skeleton.names.index(n) for n in ("LeftFoot", "RightFoot")]
    ours = [H.BODY_NAMES.index(n) for n in ("left_foot", "right_foot")]
    np.testing.assert_allclose(res.source_positions[:, feet], np.asarray(pos_ret)[:, ours], atol=POS_TOL_M)


def test_rest_pose_that_is_no_t_pose(tmp_path, known):
    """CMU's rest pose stands with the legs ~20 deg apart; an A-pose holds the arms 45 deg down. The
    limbs of the source T-pose are straightened onto the humanoid's before calibrating; without that,
    the retargeted legs and arms tilt by as much."""
    ex = np.array([1.0, 0.0, 0.0])
    turns = {"LeftUpLeg": rot.from_axis_angle(ex, np.radians(20)), "RightUpLeg": rot.from_axis_angle(ex, np.radians(-20)),
             "LeftArm": rot.from_axis_angle(ex, np.radians(-45)), "RightArm": rot.from_axis_angle(ex, np.radians(45))}
    save_bvh(tmp_path / "a.bvh", cmu_motion_from(known, 1.0, -np.pi / 2, turns), up="y", units="cm")
    src = load_source(tmp_path / "a.bvh", units="cm")
    res = R.retarget(src, "cmu")
    assert any("largest turn 45.0 deg" in n for n in res.report["notes"])
    pos_known, _ = forward_kinematics(SK, known.local_rot, known.root_pos)
    pos_ret, _ = forward_kinematics(SK, res.motion.local_rot, res.motion.root_pos)
    np.testing.assert_allclose(np.asarray(pos_ret) - [0, 0, res.report["ground_shift_m"]], pos_known, atol=POS_TOL_M)
    crooked = R.retarget(src, R.Mapping(R.builtin_mapping("cmu").joints, straighten_limbs=False, name="crooked"))
    _, grot = forward_kinematics(SK, crooked.motion.local_rot, crooked.motion.root_pos)
    _, grot_known = forward_kinematics(SK, known.local_rot, known.root_pos)
    assert angle_deg(grot[:, H.BODY_NAMES.index("left_upper_arm")],
                     grot_known[:, H.BODY_NAMES.index("left_upper_arm")]).min() > 20


def test_cmu_like_skeleton_with_other_proportions_and_source_mode(cmu_bvh):
    """Longer shins than the humanoid: the targets are rebuilt with the humanoid's proportions, so IK
    still meets them; with proportions=source the feet cannot reach the scaled source positions."""
    src = load_source(cmu_bvh)
    sk = src.skeleton
    offsets = sk.offsets.copy()
    for side in ("Left", "Right"):
        offsets[sk.names.index(f"{side}Foot")] *= 1.25
    longer = src.replace(skeleton=Skeleton(sk.names, sk.parents, offsets))
    target = R.retarget(longer, "cmu")
    assert target.report["position_error_cm"]["all"]["max"] < 1.0
    source_mode = R.retarget(longer, R.Mapping(R.builtin_mapping("cmu").joints, proportions="source", name="src"))
    assert source_mode.report["position_error_cm"]["left_foot"]["max"] > 2.0


def test_joint_limits_and_ground_offset(known):
    """A knee bent backwards (beyond its hinge range) stays in range; the clip sits at the offset."""
    local = known.local_rot.copy()
    knee = H.BODY_NAMES.index("left_shin")
    local[:, knee] = rot.from_axis_angle(np.array([0.0, 1.0, 0.0]), -0.6)  # hyperextension
    bent = known.replace(local_rot=local, global_velocity=None, global_angular_velocity=None)
    mapping = R.Mapping(R.builtin_mapping("humanoid").joints, scale=1.0, root_height_offset=0.05, name="h")
    res = R.retarget(bent, mapping)
    dof = H.dof_from_local_rot(res.motion.local_rot)
    knee_dof = dof[:, H.DOF_NAMES.index("left_knee")]
    assert knee_dof.min() >= -1e-4  # the knee stops at its limit (0) instead of bending backwards
    assert res.report["joint_limits"]["hinge_violation_frames"] == 0
    assert res.report["lowest_point_m"] == pytest.approx(0.05, abs=1e-9)
    assert res.report["position_error_cm"]["left_foot"]["max"] > 1.0  # the unreachable target shows


def test_mapping_files_and_name_variants(tmp_path):
    text = R.mapping_to_yaml(R.builtin_mapping("cmu"))
    (tmp_path / "m.yaml").write_text(text)
    loaded = R.load_mapping(tmp_path / "m.yaml")
    assert loaded.joints == R.builtin_mapping("cmu").joints and loaded.scale is None and loaded.rotation is None
    daz = ["hip", "abdomen", "chest", "neck", "head", "lCollar", "lShldr", "lForeArm", "lHand", "rCollar", "rShldr",
           "rForeArm", "rHand", "lThigh", "lShin", "lFoot", "rThigh", "rShin", "rFoot"]
    asf = ["root", "lhipjoint", "lfemur", "ltibia", "lfoot", "rhipjoint", "rfemur", "rtibia", "rfoot", "lowerback",
           "upperback", "thorax", "lowerneck", "upperneck", "head", "lclavicle", "lhumerus", "lradius", "lwrist",
           "rclavicle", "rhumerus", "rradius", "rwrist"]
    mb = cmu_skeleton_spec(1.0)[0]
    for names in (daz, asf, mb, [n.lower() for n in mb]):
        pairs = R.resolve_mapping(R.builtin_mapping("cmu"), names)
        assert [H.BODY_NAMES[b] for _, b, _ in pairs] == list(H.BODY_NAMES), names
    assert names[pairs[1][0]] == "spine1"  # torso <- Spine1 (case-insensitive match)
    bad = tmp_path / "bad.yaml"
    bad.write_text("joints:\n  - {source: Hips, body: tail}\n")
    with pytest.raises(MotionDataError, match="'tail' is not a humanoid body"):
        R.load_mapping(bad)
    bad.write_text("joints:\n  - {source: Hips, body: pelvis}\nscale: -1\n")
    with pytest.raises(MotionDataError, match="'scale' must be a positive number"):
        R.load_mapping(bad)
    with pytest.raises(MotionDataError, match="no source joint for the pelvis"):
        R.resolve_mapping(R.builtin_mapping("cmu"), ["Foo", "Bar"])


def test_cli_retarget_and_view_side_by_side(cmu_bvh, tmp_path, capsys):
    out = tmp_path / "amp_01_01.npy"
    assert cli.main(["motion", "retarget", str(cmu_bvh), "--to", "humanoid", "mapping=cmu", f"out={out}"]) == 0
    printed = capsys.readouterr().out
    assert "retarget: 01_01.bvh -> humanoid (cmu)" in printed and "hinge violations 0 frames" in printed
    clip = load_motion_file(out)
    assert clip.skeleton.same_as(SK) and clip.global_velocity is not None
    report = json.loads((tmp_path / "amp_01_01_report.json").read_text())
    assert report["position_error_cm"]["all"]["max"] < 100 * POS_TOL_M
    video = tmp_path / "side.mp4"
    args = ["motion", "view", str(cmu_bvh), "--retargeted", f"out={video}", "renderer=matplotlib", "size=96x128",
            "frames=4"]
    assert cli.main(args) == 0
    assert video.exists() and video.stat().st_size > 0
    assert cli.main(["motion", "retarget", str(cmu_bvh), "--to", "robot"]) == 2
