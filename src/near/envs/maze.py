"""The 2-D maze of NEAR (spec near-environments.md §2), as a functional JAX environment.

Coordinates are the original's pixels: a 512 x 512 world, y pointing down (screen convention).
"""

from __future__ import annotations

import numpy as np

WORLD_SIZE = 512.0
AGENT_RADIUS = 15.0
GOAL = np.array([0.85 * 512.0, 0.85 * 512.0], np.float32)  # (435.2, 435.2), drawn only, no collider
GOAL_RADIUS_FRACTION = 0.05  # success when |p - g| / |g| < 0.05  (~30.8 px)
# Maze walls as axis-aligned boxes (x_min, x_max, y_min, y_max): an L-shaped corridor.
WALLS = np.array(
    [
        [20.0, 40.0, 140.0, 460.0],  # A
        [100.0, 120.0, 140.0, 380.0],  # B
        [20.0, 350.0, 460.0, 480.0],  # C
        [100.0, 350.0, 380.0, 400.0],  # D
    ],
    np.float32,
)
# Boundary: four static segments ((x0, y0), (x1, y1)) of radius 2.
BOUNDARY = np.array(
    [
        [5.0, 5.0, 5.0, 506.0],
        [506.0, 5.0, 506.0, 506.0],
        [5.0, 5.0, 506.0, 5.0],
        [5.0, 506.0, 506.0, 506.0],
    ],
    np.float32,
)
BOUNDARY_RADIUS = 2.0
