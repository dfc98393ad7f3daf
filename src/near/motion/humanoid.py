"""The AMP humanoid skeleton: bodies, joints, DOF layout and gains (spec near-environments.md §5.1, §5.2).

This module is the single source of truth for the numbers of ``amp_humanoid.xml``; the MuJoCo model
generator and the motion library both import them.

Conventions
-----------
* z up, the character faces +x, its right side is -y.
* Body order = depth-first MJCF order = poselib node order (15 bodies).
* ``OFFSETS[j]`` is the position of body j's frame origin in its parent's frame (metres), exactly the
  poselib ``local_translation``. The root entry (0, 0, 1) is the MJCF spawn ``pos`` of the pelvis; it is
  *not* used by forward kinematics, where the root's global position is the clip's root translation.
* 28 DOFs in Isaac Gym / MJCF joint order. A 3-DoF ("ball") group's three values are the exp map
  (axis * angle, angle in [0, pi]) of the body's local rotation; a 1-DoF group (elbows, knees) is the
  signed angle about the body's local +y axis, wrapped to [-pi, pi]. The pelvis (root) and the hands
  carry no DOF.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from near.utils import rotations as rot

BODY_NAMES = (
    "pelvis", "torso", "head",
    "right_upper_arm", "right_lower_arm", "right_hand",
    "left_upper_arm", "left_lower_arm", "left_hand",
    "right_thigh", "right_shin", "right_foot",
    "left_thigh", "left_shin", "left_foot",
)  # fmt: skip
NUM_BODIES = len(BODY_NAMES)
PARENTS = (-1, 0, 1, 1, 3, 4, 1, 6, 7, 0, 9, 10, 0, 12, 13)
OFFSETS = np.array(
    [
        [0.0, 0.0, 1.0],  # pelvis: MJCF spawn position (ignored by FK)
        [0.0, 0.0, 0.236151],
        [0.0, 0.0, 0.223894],
        [-0.02405, -0.18311, 0.24350],
        [0.0, 0.0, -0.274788],
        [0.0, 0.0, -0.258947],
        [-0.02405, 0.18311, 0.24350],
        [0.0, 0.0, -0.274788],
        [0.0, 0.0, -0.258947],
        [0.0, -0.084887, 0.0],
        [0.0, 0.0, -0.421546],
        [0.0, 0.0, -0.409870],
        [0.0, 0.084887, 0.0],
        [0.0, 0.0, -0.421546],
        [0.0, 0.0, -0.409870],
    ],
    dtype=np.float32,
)
OFFSETS.setflags(write=False)

KEY_BODIES = (5, 8, 11, 14)  # right_hand, left_hand, right_foot, left_foot: the state vector's order
CONTACT_BODIES = (11, 14)  # feet: the only bodies allowed to touch the ground (without "Hands")
HAND_BODIES = (5, 8)  # added to CONTACT_BODIES by the cartwheel "Hands" configs


class DofGroup(NamedTuple):
    """One MJCF joint group: a ball-like triple of hinges (x, y, z) or a single hinge about y."""

    name: str
    body: int  # index into BODY_NAMES of the body the joint moves
    start: int  # first index of the group in the 28-vector
    size: int  # 3 (ball: exp map) or 1 (hinge about y)
    joint_names: tuple[str, ...]
    range_deg: tuple[tuple[float, float], ...]  # per joint (lo, hi), degrees
    kp: float  # MJCF stiffness, used as the PD gain
    kd: float  # MJCF damping, used as the PD gain
    armature: float
    gear: float

    @property
    def dofs(self) -> slice:
        return slice(self.start, self.start + self.size)


def _group(name, body, start, size, ranges, kp, kd, armature, gear):
    joints = tuple(f"{name}_{a}" for a in "xyz") if size == 3 else (name,)
    return DofGroup(name, body, start, size, joints, ranges, kp, kd, armature, gear)


_ANKLE = ((-30.0, 30.0), (-55.0, 55.0), (-40.0, 40.0))
DOF_GROUPS = (
    _group("abdomen", 1, 0, 3, ((-60.0, 60.0), (-60.0, 90.0), (-50.0, 50.0)), 600.0, 60.0, 0.025, 125.0),
    _group("neck", 2, 3, 3, ((-50.0, 50.0), (-40.0, 60.0), (-45.0, 45.0)), 50.0, 5.0, 0.017, 20.0),
    _group("right_shoulder", 3, 6, 3, ((-180.0, 45.0), (-180.0, 60.0), (-90.0, 90.0)), 200.0, 20.0, 0.02, 70.0),
    _group("right_elbow", 4, 9, 1, ((-160.0, 0.0),), 150.0, 15.0, 0.015, 60.0),
    _group("left_shoulder", 6, 10, 3, ((-45.0, 180.0), (-180.0, 60.0), (-90.0, 90.0)), 200.0, 20.0, 0.02, 70.0),
    _group("left_elbow", 7, 13, 1, ((-160.0, 0.0),), 150.0, 15.0, 0.015, 60.0),
    _group("right_hip", 9, 14, 3, ((-60.0, 15.0), (-140.0, 60.0), (-60.0, 35.0)), 300.0, 30.0, 0.02, 125.0),
    _group("right_knee", 10, 17, 1, ((0.0, 160.0),), 300.0, 30.0, 0.02, 100.0),
    _group("right_ankle", 11, 18, 3, _ANKLE, 200.0, 20.0, 0.01, 50.0),
    _group("left_hip", 12, 21, 3, ((-15.0, 60.0), (-140.0, 60.0), (-35.0, 60.0)), 300.0, 30.0, 0.02, 125.0),
    _group("left_knee", 13, 24, 1, ((0.0, 160.0),), 300.0, 30.0, 0.02, 100.0),
    _group("left_ankle", 14, 25, 3, _ANKLE, 200.0, 20.0, 0.01, 50.0),
)
NUM_DOF = 28
DOF_OFFSETS = tuple(g.start for g in DOF_GROUPS) + (NUM_DOF,)  # [0, 3, 6, 9, 10, 13, 14, 17, 18, 21, 24, 25, 28]

# Per-DOF views of the table (28 entries each, DOF order).
DOF_NAMES = tuple(j for g in DOF_GROUPS for j in g.joint_names)
DOF_BODY = np.array([g.body for g in DOF_GROUPS for _ in range(g.size)], np.int32)
# which exp-map component holds the DOF: x, y, z for ball groups; y for the hinges
DOF_AXIS = np.array([a for g in DOF_GROUPS for a in (range(3) if g.size == 3 else (1,))], np.int32)
DOF_LOWER = np.radians([r[0] for g in DOF_GROUPS for r in g.range_deg]).astype(np.float32)
DOF_UPPER = np.radians([r[1] for g in DOF_GROUPS for r in g.range_deg]).astype(np.float32)
DOF_KP = np.array([g.kp for g in DOF_GROUPS for _ in range(g.size)], np.float32)
DOF_KD = np.array([g.kd for g in DOF_GROUPS for _ in range(g.size)], np.float32)
DOF_ARMATURE = np.array([g.armature for g in DOF_GROUPS for _ in range(g.size)], np.float32)
DOF_GEAR = np.array([g.gear for g in DOF_GROUPS for _ in range(g.size)], np.float32)
# The DOFs of each body part, for per-part numbers (a crane that never lifts its knee shows in the right
# leg's, a punch never thrown in the left arm's)
BODY_PARTS = {
    part: tuple(i for i, n in enumerate(DOF_NAMES) if n.startswith(prefixes))
    for part, prefixes in (("trunk", ("abdomen", "neck")), ("right_arm", ("right_shoulder", "right_elbow")),
                           ("left_arm", ("left_shoulder", "left_elbow")),
                           ("right_leg", ("right_hip", "right_knee", "right_ankle")),
                           ("left_leg", ("left_hip", "left_knee", "left_ankle")))
}
for _a in (DOF_BODY, DOF_AXIS, DOF_LOWER, DOF_UPPER, DOF_KP, DOF_KD, DOF_ARMATURE, DOF_GEAR):
    _a.setflags(write=False)
assert sorted(i for d in BODY_PARTS.values() for i in d) == list(range(NUM_DOF))
assert len(DOF_NAMES) == NUM_DOF and DOF_OFFSETS[-2] + DOF_GROUPS[-1].size == NUM_DOF


def dof_range_excess(dof, tolerance: float = 0.0):
    """How far each DOF (..., 28) lies outside the original's per-axis ranges (rad; 0 inside), with
    ``tolerance`` (rad) of slack: Isaac Gym limits each hinge of a three-hinge joint, our ball joints do not."""
    return np.maximum(DOF_LOWER - tolerance - dof, 0.0) + np.maximum(dof - DOF_UPPER - tolerance, 0.0)


def dof_from_exp_maps(e):
    """Per-body exp maps (..., 15, 3) -> the 28-vector (ball groups: all 3 components; hinges: y)."""
    return e[..., DOF_BODY, DOF_AXIS]


def dof_from_local_rot(local_rot):
    """Local body rotations (..., 15, 4) wxyz -> DOF positions (..., 28), rad (spec §5.7)."""
    return dof_from_exp_maps(rot.to_exp_map(local_rot))


def local_rot_from_dof(dof):
    """DOF positions (..., 28) -> local body rotations (..., 15, 4) wxyz.

    Pelvis and hands come out as the identity (the root's rotation is not a DOF).
    """
    if rot.xp_of(dof) is np:  # host side: no jax dispatch
        dof = np.asarray(dof)
        e = np.zeros(dof.shape[:-1] + (NUM_BODIES, 3), dof.dtype)
        e[..., DOF_BODY, DOF_AXIS] = dof
    else:
        e = jnp.zeros(dof.shape[:-1] + (NUM_BODIES, 3), dof.dtype).at[..., DOF_BODY, DOF_AXIS].set(dof)
    return rot.from_exp_map(e)


def dof_vel_from_local_rot(local_rot, fps):
    """Per-frame DOF velocities (T, 28) of a clip's local rotations (T, 15, 4), spec §5.7.

    exp map of q_f^-1 q_{f+1} times fps: the child-frame angular velocity relative to the parent
    (what a MuJoCo ball joint's qvel holds); hinges keep its y component. The last frame repeats the
    previous one; a single-frame clip has zero velocity.
    """
    xp = rot.xp_of(local_rot)
    local_rot = xp.asarray(local_rot)
    if local_rot.shape[0] < 2:
        return xp.zeros((local_rot.shape[0], NUM_DOF), local_rot.dtype)
    rel = rot.multiply(rot.conjugate(local_rot[:-1]), local_rot[1:])
    vel = dof_from_exp_maps(rot.to_exp_map(rel)) * fps
    return xp.concatenate([vel, vel[-1:]], axis=0)
