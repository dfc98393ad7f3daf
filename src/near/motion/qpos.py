"""The humanoid's MuJoCo ``qpos`` (43 numbers) <-> motion poses, without MuJoCo.

``qpos`` of ``amp_humanoid.xml``: root position (3), root quaternion wxyz (4), then one entry per joint
group in MJCF order (= ``humanoid.DOF_GROUPS`` order): a ball joint's local quaternion (4, wxyz) or a
hinge angle about the body's local +y (1). Hands have no joint.

A ball joint's qpos *is* the body's local rotation, so poses convert exactly; a hinge keeps the twist
of the local rotation about y (for a clip that was built for this humanoid that is all there is).
"""

from __future__ import annotations

import numpy as np

from near.motion import humanoid
from near.motion.skeleton import Skeleton, SkeletonMotion, fail

__all__ = [
    "BALL_BODIES",
    "BALL_QPOS",
    "HINGE_BODIES",
    "HINGE_QPOS",
    "QPOS_SIZE",
    "motion_from_qpos",
    "pose_from_qpos",
    "qpos_from_motion",
    "qpos_from_pose",
]


def _layout():
    ball_body, ball_qpos, hinge_body, hinge_qpos = [], [], [], []
    adr = 7  # after the free joint
    for g in humanoid.DOF_GROUPS:
        if g.size == 3:
            ball_body.append(g.body)
            ball_qpos.append(list(range(adr, adr + 4)))
            adr += 4
        else:
            hinge_body.append(g.body)
            hinge_qpos.append(adr)
            adr += 1
    return np.array(ball_body), np.array(ball_qpos), np.array(hinge_body), np.array(hinge_qpos), adr


BALL_BODIES, BALL_QPOS, HINGE_BODIES, HINGE_QPOS, QPOS_SIZE = _layout()
for _a in (BALL_BODIES, BALL_QPOS, HINGE_BODIES, HINGE_QPOS):
    _a.setflags(write=False)


def qpos_from_pose(local_rot, root_pos) -> np.ndarray:
    """Local rotations (..., 15, 4) wxyz and root positions (..., 3) -> qpos (..., 43)."""
    local_rot = np.asarray(local_rot, np.float64)
    root_pos = np.asarray(root_pos, np.float64)
    q = local_rot / np.linalg.norm(local_rot, axis=-1, keepdims=True)
    qpos = np.zeros(root_pos.shape[:-1] + (QPOS_SIZE,))
    qpos[..., 0:3] = root_pos
    qpos[..., 3:7] = q[..., 0, :]
    qpos[..., BALL_QPOS] = q[..., BALL_BODIES, :]
    h = q[..., HINGE_BODIES, :]
    # twist about y: the signed angle of the rotation's y part, in (-pi, pi]
    qpos[..., HINGE_QPOS] = 2.0 * np.arctan2(h[..., 2], h[..., 0])
    qpos[..., HINGE_QPOS] = np.mod(qpos[..., HINGE_QPOS] + np.pi, 2 * np.pi) - np.pi
    return qpos


def pose_from_qpos(qpos) -> tuple[np.ndarray, np.ndarray]:
    """qpos (..., 43) -> local rotations (..., 15, 4) wxyz and root positions (..., 3)."""
    qpos = np.asarray(qpos, np.float64)
    if qpos.shape[-1] != QPOS_SIZE:
        raise ValueError(f"qpos must have {QPOS_SIZE} numbers per frame, got shape {qpos.shape}")
    lead = qpos.shape[:-1]
    local = np.zeros(lead + (humanoid.NUM_BODIES, 4))
    local[..., 0] = 1.0  # hands stay identity
    local[..., 0, :] = qpos[..., 3:7]
    local[..., BALL_BODIES, :] = qpos[..., BALL_QPOS]
    half = 0.5 * qpos[..., HINGE_QPOS]
    local[..., HINGE_BODIES, 0] = np.cos(half)
    local[..., HINGE_BODIES, 1] = 0.0
    local[..., HINGE_BODIES, 2] = np.sin(half)
    local[..., HINGE_BODIES, 3] = 0.0
    local /= np.linalg.norm(local, axis=-1, keepdims=True)
    return local, qpos[..., 0:3].copy()


def qpos_from_motion(motion: SkeletonMotion) -> np.ndarray:
    """(T, 43) qpos of a clip of the AMP humanoid."""
    if not motion.skeleton.same_as(Skeleton.amp_humanoid()):
        raise fail(motion.source, f"not a clip of the AMP humanoid (joints {motion.skeleton.names[:4]}...)")
    return qpos_from_pose(motion.local_rot, motion.root_pos)


def motion_from_qpos(qpos, fps: float, source: str = "") -> SkeletonMotion:
    """A SkeletonMotion of the AMP humanoid from (T, 43) qpos; velocities are left to the recipe."""
    local, root = pose_from_qpos(np.asarray(qpos).reshape(-1, QPOS_SIZE))
    return SkeletonMotion(Skeleton.amp_humanoid(), local, root, fps, source=source)
