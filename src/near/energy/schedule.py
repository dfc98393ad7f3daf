"""Noise schedules. Level index 0 is the LARGEST sigma; annealing moves to larger indices."""

from __future__ import annotations

import numpy as np

SCHEDULES = ("geometric", "linear")


def noise_levels(sigma_begin: float, sigma_end: float, num_levels: int, schedule: str = "geometric") -> np.ndarray:
    """Computed in float64 and cast to float32, like the original."""
    if num_levels < 1:
        raise ValueError(f"num_levels must be >= 1, got {num_levels}")
    if not (sigma_begin > 0 and sigma_end > 0):
        raise ValueError(f"sigmas must be positive, got sigma_begin={sigma_begin}, sigma_end={sigma_end}")
    if schedule == "geometric":
        sigmas = np.exp(np.linspace(np.log(sigma_begin), np.log(sigma_end), num_levels))
    elif schedule == "linear":
        sigmas = np.linspace(sigma_begin, sigma_end, num_levels)
    else:
        raise ValueError(f"unknown noise schedule {schedule!r}; choose one of {SCHEDULES}")
    return sigmas.astype(np.float32)
