"""Retargeting: a source skeleton's motion onto the AMP humanoid by inverse kinematics (mink).

The original (spec near-environments.md §7.3) copies rotation changes from the source's T-pose to
the humanoid's and projects elbows and knees onto their hinges; nothing holds the feet. Here every
frame is solved by differential IK on the humanoid's MuJoCo model with `mink`_ instead:

1. **Align.** The source (clip and T-pose; metres, z up) is turned about z so that its T-pose faces
   +x like the humanoid (``rotation: auto``: its left hip ends on +y) and its lengths are scaled
   (``scale: auto``: the humanoid's leg length over the source's, root motion included).
2. **Targets.** For each mapped pair (source joint -> humanoid body):

   * orientation: the source joint's rotation change since its T-pose applied to the body's T-pose
     rotation, R_b(t) = R_j(t) R_j^T^-1 R_b^T (the original's rule);
   * position (``proportions: target``, the default): the source's bone vectors with the humanoid's
     proportions. The pelvis target is the source root plus a fixed offset in the root's frame that
     puts it where the humanoid's pelvis sits relative to its hips (the hip midpoints of both
     T-poses coincide); every other body is its mapped parent's target plus the scaled source bone
     vector plus a fixed correction turning with the source segment that holds the bone, chosen so
     the T-poses match exactly. ``proportions: source`` drops the corrections (targets = the scaled
     source positions): feet keep the source's contact points, limbs of another length then cannot
     reach every target.
3. **IK.** One mink problem per frame, warm-started from the previous frame: a frame task per mapped
   body (position and orientation weights from the mapping), a small posture task towards the
   previous frame (smoothness; decides twists positions leave open), joint limits: the elbows' and
   knees' hinge ranges, and for ball joints (unlimited in the simulation model) a cone on the total
   rotation angle: the largest the original's per-axis ranges allow (:data:`CONE_DEG`).
4. **Ground.** Root height shifted so that the lowest point of any geom over the clip is at z = 0 plus
   ``root_height_offset``.
5. **Convert.** IK qpos -> local rotations (ball joints' quaternions as they are, hinge angles as
   rotations about y, hands identity) -> a poselib clip of the humanoid at the source's frame rate,
   velocities by the poselib recipe when saved.

:func:`retarget` returns the clip, the qpos and a quality report: per-body position and orientation
error against the targets, joint-limit violations (and how many frames leave the original's per-axis
ranges, as NEAR's own clips do), and foot sliding while in contact. Mapping files are yaml, see
:func:`load_mapping`; :data:`BUILTIN_MAPPINGS` has the CMU BVH skeleton (both common joint-name
variants and the ASF names) and the humanoid itself.

One file on purpose (over the project's ~450 lines): alignment, targets, the IK solve and the quality
report are the four steps above, each reading the previous one's arrays; split apart, every step would
need the mapping and skeleton bookkeeping passed around again.

.. _mink: https://github.com/kevinzakka/mink
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence

import numpy as np

from near.motion import humanoid
from near.motion.qpos import QPOS_SIZE, motion_from_qpos, pose_from_qpos
from near.motion.skeleton import (
    MotionDataError,
    SkeletonMotion,
    SkeletonState,
    fail,
    forward_kinematics,
    short,
)
from near.motion.tpose import humanoid_tpose, tpose_from_motion
from near.utils import rotations as rot

__all__ = [
    "BUILTIN_MAPPINGS",
    "IKOptions",
    "JointMap",
    "Mapping",
    "RetargetResult",
    "builtin_mapping",
    "humanoid_model_path",
    "load_mapping",
    "mapping_to_yaml",
    "resolve_mapping",
    "retarget",
]

BODIES = humanoid.BODY_NAMES
PELVIS = 0
# Ball-joint cones: the original's three DOFs of a ball joint are exp-map components, each within its
# hinge range, so the joint's total rotation angle is at most the norm of the three largest |limits|:
# the cone around the original's box (abdomen 119 deg, neck 90, hips 163, ankles 74; shoulders, whose
# box allows more than 180 deg, stay free).
CONE_DEG = {
    g.body: float(np.linalg.norm([max(abs(lo), abs(hi)) for lo, hi in g.range_deg]))
    for g in humanoid.DOF_GROUPS
    if g.size == 3 and np.linalg.norm([max(abs(lo), abs(hi)) for lo, hi in g.range_deg]) < 180.0
}


def humanoid_model_path() -> str:
    """The humanoid's MJCF (shipped with near.envs; read as a file, motion code imports no env)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(here, "envs", "humanoid", "assets", "amp_humanoid.xml")


# ----------------------------------------------------------------------------- mappings


@dataclasses.dataclass(frozen=True)
class JointMap:
    """One source joint (the first of ``source`` the skeleton has) driving one humanoid body."""

    source: tuple[str, ...]
    body: str
    position: float = 1.0  # weight of the position target (per metre)
    orientation: float = 0.0  # weight of the orientation target (per radian)


@dataclasses.dataclass(frozen=True)
class Mapping:
    """How a source skeleton drives the humanoid (see the module docstring)."""

    joints: tuple[JointMap, ...]
    scale: float | None = None  # humanoid metres per source metre; None: leg-length ratio
    rotation: tuple[float, ...] | None = None  # wxyz turning the source to face +x; None: auto
    root_height_offset: float = 0.0  # lowest geom point over the clip ends this high (m)
    proportions: str = "target"  # target | source
    tpose: str | None = None  # source T-pose file (poselib SkeletonState); None: the rest pose
    straighten_limbs: bool = True  # turn the source T-pose's limbs onto the humanoid's (see square_tpose)
    name: str = ""


def _jm(source, body, position=1.0, orientation=0.0) -> JointMap:
    return JointMap(tuple([source] if isinstance(source, str) else source), body, position, orientation)


def _sides(names: Callable[[str, str], Sequence[str]], body: str, position=1.0, orientation=0.0):
    """The left and right entries of one limb joint; ``names(side_word, side_letter)``."""
    return (
        _jm(names("Left", "L"), f"left_{body}", position, orientation),
        _jm(names("Right", "R"), f"right_{body}", position, orientation),
    )


# Joint names of the CMU BVH conversions: "MotionBuilder-friendly" (Hips, LHipJoint, LeftUpLeg, ...,
# LowerBack, Spine, Spine1, Neck, Neck1, Head, LeftShoulder, LeftArm, LeftForeArm, LeftHand), the
# "Daz-friendly" set (hip, abdomen, chest, neck, head, lCollar, lShldr, lForeArm, lHand, lThigh,
# lShin, lFoot) and the ASF names (root, lfemur, ltibia, lfoot, thorax, head, lhumerus, lradius, lwrist).
_CMU = Mapping(
    name="cmu",
    joints=(
        _jm(["Hips", "hip", "root", "Hip", "pelvis"], "pelvis", 1.0, 1.0),
        _jm(["Spine1", "chest", "thorax", "Chest", "Spine2", "upperback"], "torso", 1.0, 0.3),
        _jm(["Head", "head"], "head", 1.0, 0.3),
        *_sides(lambda s, c: [f"{s}Arm", f"{c.lower()}Shldr", f"{c.lower()}humerus", f"{s}UpperArm"], "upper_arm", 1.0, 0.1),
        *_sides(lambda s, c: [f"{s}ForeArm", f"{c.lower()}ForeArm", f"{c.lower()}radius", f"{s}LowerArm"], "lower_arm", 1.0, 0.1),
        *_sides(lambda s, c: [f"{s}Hand", f"{c.lower()}Hand", f"{c.lower()}wrist"], "hand", 1.0, 0.0),
        *_sides(lambda s, c: [f"{s}UpLeg", f"{c.lower()}Thigh", f"{c.lower()}femur", f"{s}UpperLeg", f"{s}Hip"], "thigh", 1.0, 0.1),
        *_sides(lambda s, c: [f"{s}Leg", f"{c.lower()}Shin", f"{c.lower()}tibia", f"{s}LowerLeg", f"{s}Knee"], "shin", 1.0, 0.1),
        *_sides(lambda s, c: [f"{s}Foot", f"{c.lower()}Foot", f"{c.lower()}foot", f"{s}Ankle"], "foot", 1.0, 0.5),
    ),
)
# the humanoid onto itself (e.g. DeepMimic or poselib clips of this humanoid): same weights as CMU
_HUMANOID = Mapping(
    name="humanoid",
    joints=tuple(_jm([b], b, jm.position, jm.orientation) for b, jm in zip(
        [j.body for j in _CMU.joints], _CMU.joints)),
    scale=1.0,
)
BUILTIN_MAPPINGS = {"cmu": _CMU, "humanoid": _HUMANOID}


def builtin_mapping(name: str) -> Mapping:
    try:
        return BUILTIN_MAPPINGS[name.lower()]
    except KeyError:
        raise ValueError(f"no built-in mapping {name!r}; available: {sorted(BUILTIN_MAPPINGS)}") from None


def _finite_number(v) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int of 400 digits
        return False


def _number(doc, key, source, default, positive=False):
    v = doc.get(key, default)
    if v is None or v == "auto":
        return None if default is None or v == "auto" else default
    if not _finite_number(v) or (positive and v <= 0):
        raise fail(source, f"'{key}' must be {'a positive' if positive else 'a'} number or auto, got {short(v)}")
    return float(v)


def _flag(doc, key, source) -> bool:
    v = doc.get(key, True)
    if not isinstance(v, bool):
        raise fail(source, f"'{key}' must be true or false, got {short(v)}")
    return v


def load_mapping(path) -> Mapping:
    """A mapping yaml::

        scale: auto                # or humanoid metres per source metre
        rotation: auto             # or [w, x, y, z] turning the (z-up) source to face +x
        root_height_offset: 0.0    # m between the floor and the clip's lowest point
        proportions: target        # target | source (see near.motion.retarget)
        tpose: null                # source T-pose .npy (relative to this file); null: rest pose
        straighten_limbs: true     # turn the T-pose's arms and legs onto the humanoid's directions
        joints:                    # source joint -> humanoid body; first name present wins
          - {source: Hips, body: pelvis, position: 1.0, orientation: 1.0}
          - {source: [LeftUpLeg, lThigh], body: left_thigh}
    """
    from near.motion.motion_set import read_yaml

    source = os.fspath(path)
    doc = read_yaml(source, "the mapping")
    if not isinstance(doc, dict) or not isinstance(doc.get("joints"), list) or not doc["joints"]:
        raise fail(source, "a mapping is a yaml mapping with a non-empty 'joints' list")
    keys = {"name", "scale", "rotation", "root_height_offset", "proportions", "tpose", "straighten_limbs", "joints"}
    unknown = set(doc) - keys
    if unknown:
        raise fail(source, f"unknown keys {short(sorted(map(str, unknown)))}")
    joints = []
    for i, e in enumerate(doc["joints"]):
        if not isinstance(e, dict) or "source" not in e or "body" not in e:
            raise fail(source, f"joints[{i}] needs 'source' and 'body', got {short(e)}")
        names = [e["source"]] if isinstance(e["source"], str) else e["source"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise fail(source, f"joints[{i}].source must be a joint name or a list of names")
        if not isinstance(e["body"], str) or e["body"] not in BODIES:
            raise fail(source, f"joints[{i}].body {short(e['body'])} is not a humanoid body; bodies: {list(BODIES)}")
        weights = []
        for key, default in (("position", 1.0), ("orientation", 0.0)):
            w = e.get(key, default)
            if not _finite_number(w) or w < 0:
                raise fail(source, f"joints[{i}].{key} must be a number >= 0, got {short(w)}")
            weights.append(float(w))
        joints.append(JointMap(tuple(names), e["body"], *weights))
    rotation = doc.get("rotation", "auto")
    if not (rotation is None or rotation == "auto"):
        if not isinstance(rotation, list) or len(rotation) != 4 or not all(_finite_number(v) and abs(v) < 1e6 for v in rotation):
            raise fail(source, f"'rotation' must be auto or [w, x, y, z] (finite numbers), got {short(rotation)}")
        if np.linalg.norm(rotation) < 1e-6:
            raise fail(source, "'rotation' has zero norm")
        rotation = tuple(float(v) for v in np.asarray(rotation) / np.linalg.norm(rotation))
    else:
        rotation = None
    proportions = doc.get("proportions", "target")
    if not isinstance(proportions, str) or proportions not in ("target", "source"):
        raise fail(source, f"'proportions' must be target or source, got {short(proportions)}")
    name = doc.get("name", os.path.splitext(os.path.basename(source))[0])
    if not isinstance(name, (str, int, float)) or isinstance(name, bool):
        raise fail(source, f"'name' must be a string, got {short(name)}")
    tpose = doc.get("tpose")
    if tpose is not None:
        if not isinstance(tpose, str):
            raise fail(source, f"'tpose' must be a file name, got {short(tpose)}")
        tpose = os.path.join(os.path.dirname(os.path.abspath(source)), tpose)
    return Mapping(
        joints=tuple(joints),
        scale=_number(doc, "scale", source, None, positive=True),
        rotation=rotation,
        root_height_offset=_number(doc, "root_height_offset", source, 0.0) or 0.0,
        proportions=proportions,
        tpose=tpose,
        straighten_limbs=_flag(doc, "straighten_limbs", source),
        name=str(name)[:200],
    )


def mapping_to_yaml(mapping: Mapping) -> str:
    """The yaml text of a mapping (a starting point for one's own)."""
    lines = [
        f"# near motion retarget mapping: source joint -> AMP humanoid body ({mapping.name or 'custom'})",
        f"scale: {'auto' if mapping.scale is None else mapping.scale}",
        f"rotation: {'auto' if mapping.rotation is None else list(mapping.rotation)}",
        f"root_height_offset: {mapping.root_height_offset}",
        f"proportions: {mapping.proportions}",
        f"tpose: {mapping.tpose or 'null'}",
        f"straighten_limbs: {str(mapping.straighten_limbs).lower()}",
        "joints:",
    ]
    for j in mapping.joints:
        src = j.source[0] if len(j.source) == 1 else "[" + ", ".join(j.source) + "]"
        lines.append(f"  - {{source: {src}, body: {j.body}, position: {j.position}, orientation: {j.orientation}}}")
    return "\n".join(lines) + "\n"


def resolve_mapping(mapping: Mapping, names: Sequence[str]) -> list[tuple[int, int, JointMap]]:
    """(source joint index, body index, entry) per mapped body present in the skeleton, bodies in
    humanoid order. Names match exactly, else ignoring case. The pelvis must be mapped."""
    exact = {n: i for i, n in enumerate(names)}
    folded = {n.lower(): i for i, n in reversed(list(enumerate(names)))}
    pairs, seen = {}, set()
    for jm in mapping.joints:
        b = BODIES.index(jm.body)
        if b in pairs:
            raise MotionDataError(f"mapping {mapping.name!r}: body {jm.body!r} is mapped twice")
        j = next((exact[n] for n in jm.source if n in exact), None)
        if j is None:
            j = next((folded[n.lower()] for n in jm.source if n.lower() in folded), None)
        if j is not None:
            if j in seen:
                raise MotionDataError(f"mapping {mapping.name!r}: source joint {names[j]!r} drives two bodies")
            seen.add(j)
            pairs[b] = (j, b, jm)
    if PELVIS not in pairs:
        want = next((jm.source for jm in mapping.joints if jm.body == "pelvis"), ())
        raise MotionDataError(
            f"mapping {mapping.name!r}: no source joint for the pelvis (looked for {list(want)}); "
            f"the skeleton's joints: {list(names)}"
        )
    if len(pairs) < 5:
        raise MotionDataError(
            f"mapping {mapping.name!r} matches only {len(pairs)} joints of this skeleton "
            f"({[names[p[0]] for p in pairs.values()]}); its joints: {list(names)}"
        )
    return [pairs[b] for b in sorted(pairs)]


# ----------------------------------------------------------------------------- targets


def _fk(skeleton, local, root):
    pos, grot = forward_kinematics(skeleton, np.asarray(local, np.float64), np.asarray(root, np.float64))
    return np.asarray(pos, np.float64), np.asarray(grot, np.float64)


def _yaw(angle: float) -> np.ndarray:
    return np.array([math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)])


@dataclasses.dataclass(frozen=True)
class Alignment:
    rotation: np.ndarray  # (4,) wxyz applied to the source
    scale: float
    notes: tuple[str, ...]


def _pair_of(pairs, body_name):
    b = BODIES.index(body_name)
    return next((p for p in pairs if p[1] == b), None)


_LIMBS = (("left_upper_arm", "left_lower_arm"), ("left_lower_arm", "left_hand"),
          ("right_upper_arm", "right_lower_arm"), ("right_lower_arm", "right_hand"),
          ("left_thigh", "left_shin"), ("left_shin", "left_foot"),
          ("right_thigh", "right_shin"), ("right_shin", "right_foot"))


def _min_rotation(a, b) -> np.ndarray:
    """The smallest rotation (wxyz) turning direction a onto direction b."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis, cos = np.cross(a, b), float(np.dot(a, b))
    if np.linalg.norm(axis) < 1e-9:
        if cos > 0:
            return np.array([1.0, 0, 0, 0])
        axis = np.cross(a, [1.0, 0, 0]) if abs(a[0]) < 0.9 else np.cross(a, [0, 1.0, 0])
    return rot.from_axis_angle(axis, math.atan2(np.linalg.norm(np.cross(a, b)), cos))


def square_tpose(tpose: SkeletonState, pairs, rotation) -> tuple[SkeletonState, float]:
    """The source T-pose with each mapped limb bone (upper arm, forearm, thigh, shin: joint to the next
    mapped joint) turned onto the direction the humanoid's T-pose has, and the largest turn (deg).

    A source's rest pose is often no exact T-pose (CMU's legs stand ~20 deg apart, A-poses hold the
    arms down); calibrating against it would tilt the retargeted limbs by as much. Spine, neck, hands
    and feet are left as they are. ``rotation`` is the alignment (applied before comparing directions).
    """
    src_of = {b: j for j, b, _ in pairs}
    ht = humanoid_tpose()
    ph, _ = _fk(ht.skeleton, ht.local_rot, ht.root_pos)
    sk = tpose.skeleton
    local, worst = tpose.local_rot.astype(np.float64).copy(), 0.0
    for body, child in _LIMBS:
        b, c = BODIES.index(body), BODIES.index(child)
        if b not in src_of or c not in src_of:
            continue
        j, k = src_of[b], src_of[c]
        p, g = _fk(sk, local, tpose.root_pos)
        p = rot.rotate(rotation, p)
        q = _min_rotation(p[k] - p[j], ph[c] - ph[b])  # in the aligned frame
        q = rot.multiply(rot.multiply(rot.conjugate(rotation), q), rotation)  # back in the source's frame
        worst = max(worst, float(np.degrees(2 * math.acos(min(1.0, abs(q[0]))))))
        parent = sk.parents[j]
        g_parent = g[parent] if parent >= 0 else np.array([1.0, 0, 0, 0])
        local[j] = rot.multiply(rot.conjugate(g_parent), rot.multiply(q, g[j]))  # turn j's subtree about j
    return SkeletonState(sk, local, tpose.root_pos, source=f"{tpose.source} (limbs straightened)"), worst


def align(pairs, tpose: SkeletonState, mapping: Mapping) -> Alignment:
    """Frame rotation and scale (explicit in the mapping, or derived from the T-poses)."""
    notes = []
    ps, _ = _fk(tpose.skeleton, tpose.local_rot, tpose.root_pos)
    ht = humanoid_tpose()
    ph, _ = _fk(ht.skeleton, ht.local_rot, ht.root_pos)
    if mapping.rotation is not None:
        c = np.asarray(mapping.rotation, np.float64)
    else:
        for left, right in (("left_thigh", "right_thigh"), ("left_upper_arm", "right_upper_arm")):
            lp, rp = _pair_of(pairs, left), _pair_of(pairs, right)
            if lp and rp and np.linalg.norm((ps[lp[0]] - ps[rp[0]])[:2]) > 1e-6:
                d = ps[lp[0]] - ps[rp[0]]
                c = _yaw(math.pi / 2 - math.atan2(d[1], d[0]))  # the source's left onto +y
                notes.append(f"rotation: auto, {math.degrees(math.pi / 2 - math.atan2(d[1], d[0])):.1f} deg about z (from {left}/{right})")
                break
        else:
            c = np.array([1.0, 0, 0, 0])
            notes.append("rotation: no left/right pair mapped; source used as it faces")
    if mapping.scale is not None:
        return Alignment(c, float(mapping.scale), tuple(notes))
    legs = []
    for side in ("left", "right"):
        chain = [_pair_of(pairs, f"{side}_{b}") for b in ("thigh", "shin", "foot")]
        if all(chain):
            src = sum(np.linalg.norm(ps[chain[k + 1][0]] - ps[chain[k][0]]) for k in range(2))
            tgt = sum(np.linalg.norm(ph[chain[k + 1][1]] - ph[chain[k][1]]) for k in range(2))
            if src > 1e-6:
                legs.append(tgt / src)
    if legs:
        scale = float(np.mean(legs))
        notes.append(f"scale: auto, {scale:.4f} (humanoid leg length / source leg length)")
    else:
        scale = 1.0
        notes.append("scale: no leg chain mapped; 1.0")
    return Alignment(c, scale, tuple(notes))


def build_targets(
    motion: SkeletonMotion, tpose: SkeletonState, pairs, alignment: Alignment, proportions: str = "target"
) -> tuple[np.ndarray, np.ndarray]:
    """Position (T, M, 3) and orientation (T, M, 4) targets of the M mapped bodies (module docstring)."""
    c, s = alignment.rotation, alignment.scale
    p, r = _fk(motion.skeleton, motion.local_rot, motion.root_pos)
    pt, rt = _fk(tpose.skeleton, tpose.local_rot, tpose.root_pos)
    p, pt = rot.rotate(c, p), rot.rotate(c, pt)
    r, rt = rot.multiply(c, r), rot.multiply(c, rt)
    ht = humanoid_tpose()
    ph, rh = _fk(ht.skeleton, ht.local_rot, ht.root_pos)

    src_of = {b: j for j, b, _ in pairs}
    hips = [src_of.get(BODIES.index(n)) for n in ("left_thigh", "right_thigh")]
    if None not in hips:  # anchor: the hip midpoint, the same anatomical point in both skeletons
        a_src, a_tgt = pt[hips].mean(0), ph[[BODIES.index("left_thigh"), BODIES.index("right_thigh")]].mean(0)
    else:
        a_src, a_tgt = pt[src_of[PELVIS]], ph[PELVIS]
    parents = motion.skeleton.parents
    t, m = motion.num_frames, len(pairs)
    pos, ori = np.zeros((t, m, 3)), np.zeros((t, m, 4))
    slot = {}
    for k, (j, b, _) in enumerate(pairs):
        ori[:, k] = rot.multiply(rot.multiply(r[:, j], rot.conjugate(rt[j])), rh[b])
        if b == PELVIS:
            delta = rot.rotate_inverse(rt[j], (ph[b] - a_tgt) - s * (pt[j] - a_src))
            pos[:, k] = s * p[:, j] + rot.rotate(r[:, j], np.broadcast_to(delta, (t, 3)))
        else:
            mb = humanoid.PARENTS[b]
            while mb not in src_of:  # nearest mapped ancestor (the pelvis is always mapped)
                mb = humanoid.PARENTS[mb]
            jp, ip = src_of[mb], max(parents[j], 0)
            bone = s * (p[:, j] - p[:, jp])
            if proportions == "target":
                delta = rot.rotate_inverse(rt[ip], (ph[b] - ph[mb]) - s * (pt[j] - pt[jp]))
                bone = bone + rot.rotate(r[:, ip], np.broadcast_to(delta, (t, 3)))
            pos[:, k] = pos[:, slot[mb]] + bone
        slot[b] = k
    return pos, ori


# ----------------------------------------------------------------------------- IK


@dataclasses.dataclass(frozen=True)
class IKOptions:
    """Differential IK settings (mink, QP solver daqp)."""

    iterations_first: int = 200  # for frame 0, solved from the T-pose
    iterations: int = 30  # per later frame, warm-started from the previous one
    tolerance: float = 1e-6  # stop when the step's largest entry is below this (rad or m)
    damping: float = 1e-3  # Levenberg-Marquardt damping of every step
    posture: float = 1e-2  # weight pulling towards the previous frame's solution
    cones: bool = True  # cone limits on ball joints (CONE_DEG)
    solver: str = "daqp"


def _ik_model(cones: bool):
    import mujoco

    model = mujoco.MjModel.from_xml_path(humanoid_model_path())
    if cones:
        for j in range(model.njnt):
            body = int(model.jnt_bodyid[j]) - 1
            if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_BALL and body in CONE_DEG:
                model.jnt_limited[j] = 1
                model.jnt_range[j] = (0.0, math.radians(CONE_DEG[body]))
    return model


def _import_mink():
    try:
        import mink
    except ImportError as e:
        raise ImportError(
            f"retargeting needs mink (differential IK on MuJoCo): pip install 'near-rl[retarget]' ({e})"
        ) from None
    return mink


def solve_ik(
    pos_targets: np.ndarray,
    rot_targets: np.ndarray,
    bodies: Sequence[int],
    weights: Sequence[tuple[float, float]],
    options: IKOptions = IKOptions(),
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """qpos (T, 43) that best meets the targets of ``bodies`` (humanoid body indices), and the IK
    iterations used per frame."""
    mink = _import_mink()

    model = _ik_model(options.cones)
    cfg = mink.Configuration(model)
    tasks = [
        mink.FrameTask(BODIES[b], "body", position_cost=wp, orientation_cost=wo)
        for b, (wp, wo) in zip(bodies, weights)
    ]
    posture = mink.PostureTask(model, cost=options.posture)
    limits = [mink.ConfigurationLimit(model)]
    t = len(pos_targets)
    out, iters = np.zeros((t, QPOS_SIZE)), np.zeros(t, np.int32)
    # start from the T-pose of the humanoid at the first pelvis target
    q = np.zeros(model.nq)
    q[:3], q[3:7] = pos_targets[0, 0], rot_targets[0, 0]
    for f in range(t):
        for task, p, r in zip(tasks, pos_targets[f], rot_targets[f]):
            task.set_target(mink.SE3.from_rotation_and_translation(mink.SO3(rot.normalize(r)), p))
        posture.set_target(q)
        cfg.update(q)
        n = options.iterations_first if f == 0 else options.iterations
        for it in range(n):
            try:
                v = mink.solve_ik(cfg, [*tasks, posture], 1.0, options.solver, damping=options.damping, limits=limits)
            except getattr(mink, "NoSolutionFound", RuntimeError) as e:
                raise RuntimeError(f"IK found no solution at frame {f} ({e})") from None
            cfg.integrate_inplace(v, 1.0)
            if np.abs(v).max() < options.tolerance:
                break
        q = cfg.q.copy()
        out[f], iters[f] = q, it + 1
        if progress is not None:
            progress(f + 1, t)
    return out, iters


# ----------------------------------------------------------------------------- quality


def _geom_bottoms(model, data) -> np.ndarray:
    """Lowest z of every geom (sphere, capsule, box) of the current kinematics; floor excluded (inf)."""
    z = data.geom_xpos[:, 2]
    zrow = np.abs(data.geom_xmat.reshape(-1, 3, 3)[:, 2, :])
    size = model.geom_size
    out = np.full(model.ngeom, np.inf)
    t = model.geom_type
    out = np.where(t == 2, z - size[:, 0], out)  # sphere
    out = np.where(t == 3, z - size[:, 0] - zrow[:, 2] * size[:, 1], out)  # capsule
    out = np.where(t == 6, z - (zrow * size).sum(-1), out)  # box
    return np.where(model.geom_bodyid == 0, np.inf, out)


def _kinematics(qpos: np.ndarray):
    """Body positions (T, 15, 3), rotations (T, 15, 4) and geom bottoms (T, ngeom) per frame."""
    import mujoco

    model = mujoco.MjModel.from_xml_path(humanoid_model_path())
    data = mujoco.MjData(model)
    t = len(qpos)
    xpos, xquat, bottoms = np.zeros((t, 15, 3)), np.zeros((t, 15, 4)), np.zeros((t, model.ngeom))
    for f in range(t):
        data.qpos[:] = qpos[f]
        mujoco.mj_kinematics(model, data)
        xpos[f], xquat[f] = data.xpos[1:], data.xquat[1:]
        bottoms[f] = _geom_bottoms(model, data)
    return model, xpos, xquat, bottoms


def _angle_deg(a, b):
    d = np.abs(np.sum(rot.normalize(a) * rot.normalize(b), axis=-1))
    return np.degrees(2 * np.arccos(np.clip(d, 0.0, 1.0)))


def _stats(x) -> dict:
    x = np.asarray(x, np.float64)
    return {"mean": float(x.mean()) if x.size else 0.0, "max": float(x.max()) if x.size else 0.0}


def _box_corners(model, body: int) -> np.ndarray:
    """(8, 3) corners of the body's box geom (the foot) in the body frame."""
    g = int(np.flatnonzero((model.geom_bodyid == body) & (model.geom_type == 6))[0])
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64)
    return model.geom_pos[g] + rot.rotate(model.geom_quat[g], signs * model.geom_size[g])


def foot_sliding(corners, fps, height: float = 0.01) -> dict:
    """Sliding of a foot whose box corners (T, 8, 3) are known per frame: over consecutive frames,
    the horizontal motion of the corners that are within ``height`` of the floor in both (the points
    that should stick). Mean over contact frame pairs (cm/s) and total (cm)."""
    low = corners[..., 2] < height
    both = low[1:] & low[:-1]  # (T-1, 8)
    step = np.linalg.norm(np.diff(corners[..., :2], axis=0), axis=-1)  # (T-1, 8)
    pairs = both.any(-1)
    per_pair = np.where(both, step, 0.0).sum(-1)[pairs] / both.sum(-1)[pairs]
    return {
        "contact_frames": int(low.any(-1).sum()),
        "slide_cm_per_s": float(per_pair.mean() * fps * 100) if per_pair.size else 0.0,
        "slide_cm": float(per_pair.sum() * 100),
        "contact_height_m": height,
    }


def quality_report(qpos, pos_targets, rot_targets, pairs, weights, fps, ground_shift, feet_height=0.01) -> dict:
    model, xpos, xquat, bottoms = _kinematics(qpos)
    bodies = [b for _, b, _ in pairs]
    err = np.linalg.norm(xpos[:, bodies] - pos_targets - [0, 0, ground_shift], axis=-1) * 100  # cm
    ang = _angle_deg(xquat[:, bodies], rot_targets)
    position = {BODIES[b]: _stats(err[:, k]) for k, b in enumerate(bodies) if weights[k][0] > 0}
    orientation = {BODIES[b]: _stats(ang[:, k]) for k, b in enumerate(bodies) if weights[k][1] > 0}
    # limits: hinges (enforced), ball-joint cones (enforced when on), the original's per-axis ranges
    local, _ = pose_from_qpos(qpos)
    dof = humanoid.dof_from_local_rot(local)
    outside = humanoid.dof_range_excess(dof, math.radians(0.5)) > 0
    hinge_cols = [g.start for g in humanoid.DOF_GROUPS if g.size == 1]
    cone_bad = np.zeros(len(qpos), bool)
    for b, deg in CONE_DEG.items():
        cone_bad |= _angle_deg(local[:, b], np.array([1.0, 0, 0, 0])) > deg + 0.5
    per_axis = {g.name: int(outside[:, g.dofs].any(-1).sum()) for g in humanoid.DOF_GROUPS}
    feet = {}
    for name in ("left_foot", "right_foot"):
        b = BODIES.index(name)
        box = _box_corners(model, b + 1)
        corners = xpos[:, b, None] + rot.rotate(xquat[:, b, None], box)
        feet[name] = foot_sliding(corners, fps, feet_height)
        if b in bodies:  # what the targets ask for: the box at the foot's position and orientation targets
            k = bodies.index(b)
            target = pos_targets[:, k, None] + [0, 0, ground_shift] + rot.rotate(rot_targets[:, k, None], box)
            feet[name]["target_slide_cm"] = foot_sliding(target, fps, feet_height)["slide_cm"]
    all_err = err[:, [k for k in range(len(bodies)) if weights[k][0] > 0]]
    return {
        "position_error_cm": {"all": _stats(all_err), **position},
        "orientation_error_deg": orientation,
        "joint_limits": {
            "hinge_violation_frames": int(outside[:, hinge_cols].any(-1).sum()),
            "cone_violation_frames": int(cone_bad.sum()),
            "frames_outside_original_ranges": int(outside.any(-1).sum()),
            "outside_original_ranges_by_joint": per_axis,
        },
        "foot_sliding": feet,
        "lowest_point_m": float(bottoms.min()),
    }


# ----------------------------------------------------------------------------- entry point


@dataclasses.dataclass(frozen=True)
class RetargetResult:
    motion: SkeletonMotion  # the humanoid clip (poselib-ready)
    qpos: np.ndarray  # (T, 43), grounded
    pos_targets: np.ndarray  # (T, M, 3), grounded like qpos
    rot_targets: np.ndarray  # (T, M, 4)
    bodies: tuple[int, ...]  # the M mapped bodies
    source_positions: np.ndarray  # (T, J, 3) source joints aligned and scaled like the targets, grounded
    report: dict


def retarget(
    motion: SkeletonMotion,
    mapping: Mapping | str = "cmu",
    *,
    source_tpose: SkeletonState | None = None,
    options: IKOptions = IKOptions(),
    progress: Callable[[int, int], None] | None = None,
) -> RetargetResult:
    """Retarget a source clip (metres, z up; near.motion.sources.load_source) onto the humanoid.

    ``source_tpose``: the source skeleton in a T-pose (arms out, legs straight). Default: the
    mapping's ``tpose`` file, else the humanoid's T-pose when the source *is* the humanoid, else the
    source's rest pose (the T-pose of CMU BVH files).
    """
    from near.motion.poselib import load_poselib

    if isinstance(mapping, str):
        mapping = load_mapping(mapping) if os.path.isfile(mapping) else builtin_mapping(mapping)
    pairs = resolve_mapping(mapping, motion.skeleton.names)
    if source_tpose is None and mapping.tpose:
        source_tpose = load_poselib(mapping.tpose)
        if not isinstance(source_tpose, SkeletonState):
            raise fail(mapping.tpose, "the mapping's tpose must be a SkeletonState (a single pose)")
    if source_tpose is None:
        from near.motion.skeleton import Skeleton

        same = motion.skeleton.same_as(Skeleton.amp_humanoid())
        source_tpose = humanoid_tpose() if same else tpose_from_motion(motion)
    if source_tpose.skeleton.names != motion.skeleton.names:
        raise fail(source_tpose.source, "the T-pose's skeleton has other joints than the clip's")
    alignment = align(pairs, source_tpose, mapping)
    notes = list(alignment.notes)
    if mapping.straighten_limbs:
        source_tpose, turned = square_tpose(source_tpose, pairs, alignment.rotation)
        if turned > 0.5:
            notes.append(f"T-pose: limbs straightened onto the humanoid's (largest turn {turned:.1f} deg)")
    alignment = dataclasses.replace(alignment, notes=tuple(notes))
    pos_t, rot_t = build_targets(motion, source_tpose, pairs, alignment, mapping.proportions)
    weights = [(jm.position, jm.orientation) for _, _, jm in pairs]
    bodies = tuple(b for _, b, _ in pairs)

    start = time.perf_counter()
    qpos, iters = solve_ik(pos_t, rot_t, bodies, weights, options, progress)
    seconds = time.perf_counter() - start

    # ground: the lowest geom point over the clip at z = offset
    _, _, _, bottoms = _kinematics(qpos)
    shift = mapping.root_height_offset - float(bottoms.min())
    qpos[:, 2] += shift
    report = quality_report(qpos, pos_t, rot_t, pairs, weights, motion.fps, shift)
    pos_t = pos_t + [0, 0, shift]

    src_pos, _ = _fk(motion.skeleton, motion.local_rot, motion.root_pos)
    src_pos = alignment.scale * rot.rotate(alignment.rotation, src_pos) + [0, 0, shift]  # as the targets

    name = os.path.splitext(os.path.basename(motion.source))[0] or "clip"
    out = motion_from_qpos(qpos, motion.fps, source=f"{name} retargeted ({mapping.name or 'mapping'})")
    report = {
        "source": motion.source,
        "mapping": mapping.name,
        "frames": motion.num_frames,
        "fps": motion.fps,
        "duration_s": motion.length,
        "mapped": {BODIES[b]: motion.skeleton.names[j] for j, b, _ in pairs},
        "unmapped_bodies": [n for i, n in enumerate(BODIES) if i not in bodies],
        "scale": alignment.scale,
        "rotation_wxyz": [float(v) for v in alignment.rotation],
        "proportions": mapping.proportions,
        "notes": list(alignment.notes),
        "ground_shift_m": shift,
        "ik": {
            "seconds": seconds,
            "seconds_per_motion_second": seconds / max(motion.num_frames / motion.fps, 1e-9),
            "iterations_mean": float(iters.mean()),
            "iterations_max": int(iters.max()),
        },
        **report,
    }
    return RetargetResult(out, qpos, pos_t, rot_t, bodies, src_pos, report)
