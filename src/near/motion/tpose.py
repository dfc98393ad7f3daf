"""T-poses: the reference poses retargeting aligns a source skeleton with the humanoid by.

Retargeting compares each source joint's motion with its rotation in the source's T-pose and applies
the same change to the humanoid's T-pose (spec near-environments.md §7.2, §7.3), so both T-poses must
show the same posture: standing, legs straight down, arms straight out to the sides, facing the same
way (retargeting turns the source to face +x itself).

* :func:`humanoid_tpose`: the AMP humanoid at zero rotation with the upper arms turned +-90 deg about
  x (arms out), root at 0.9 m: the original's ``amp_humanoid_tpose.npy``.
* :func:`tpose_from_motion`: a source T-pose from a clip, either its rest pose (every local rotation
  identity: the T-pose of CMU BVH files) or one of its frames (the CMU FBX clips start with the
  T-pose as frame 0); the original's ``generate_tpose_from_motion.py``.
"""

from __future__ import annotations

import numpy as np

from near.motion import humanoid
from near.motion.skeleton import Skeleton, SkeletonMotion, SkeletonState, fail
from near.utils import rotations as rot

__all__ = ["humanoid_tpose", "tpose_from_motion"]

_X = np.array([1.0, 0.0, 0.0])


def humanoid_tpose(root_height: float = 0.9) -> SkeletonState:
    """The AMP humanoid's T-pose: arms horizontal (left +y, right -y), facing +x."""
    local = np.zeros((humanoid.NUM_BODIES, 4))
    local[:, 0] = 1.0
    local[humanoid.BODY_NAMES.index("left_upper_arm")] = rot.from_axis_angle(_X, np.pi / 2)
    local[humanoid.BODY_NAMES.index("right_upper_arm")] = rot.from_axis_angle(_X, -np.pi / 2)
    return SkeletonState(Skeleton.amp_humanoid(), local, np.array([0.0, 0.0, root_height]), source="amp_humanoid_tpose")


def tpose_from_motion(motion: SkeletonMotion, frame: int | None = None, rotation=None) -> SkeletonState:
    """A T-pose of the clip's skeleton: the rest pose (``frame=None``) or frame ``frame``.

    ``rotation`` (wxyz) optionally turns the pose's root (orientation and position), e.g. to make the
    skeleton face the direction its motions face.
    """
    if frame is None:
        local = np.zeros((motion.skeleton.num_joints, 4))
        local[:, 0] = 1.0
        root = motion.root_pos[0].astype(np.float64)
    else:
        if not -motion.num_frames <= frame < motion.num_frames:
            raise fail(motion.source, f"frame {frame} out of range: the clip has {motion.num_frames} frames")
        local = motion.local_rot[frame].astype(np.float64)
        root = motion.root_pos[frame].astype(np.float64)
    if rotation is not None:
        r = rot.normalize(np.asarray(rotation, np.float64))
        local = local.copy()
        local[0] = rot.multiply(r, local[0])
        root = rot.rotate(r, root)
    name = f"{motion.source} ({'rest pose' if frame is None else f'frame {frame}'})"
    return SkeletonState(motion.skeleton, local, root, source=name)
