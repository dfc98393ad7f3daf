"""Which humanoid clips come back to where they started? (issue #16)

A per-step style reward (NEAR's energy, AMP's discriminator) pays for transitions like the clips'. Over
an episode longer than a clip, a policy can repeat the clip's move only if the clips also hold the way
back: a walk cycle does, a one-way segment (guard to full punch) does not. For each clip this prints
its length against the episode's, and how far its last pose is from its first, as a share of the
farthest any of its poses gets from the first (root-relative body positions, 15 x 3; 0 = the clip
ends where it began, 1 = it ends at its farthest point), and the share of its transitions that move
back toward the first pose (about half in a gait cycle, none in a one-way move).

    PYTHONPATH=src python benchmarks/inspect_clip_return.py [--data FOLDER] [--sets walk ...]

Writes benchmarks/results/clip_return.json and prints a table per set.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import add_motion_set_args, motion_set_paths, write_result

from near.envs.humanoid.env import task_settings_for
from near.motion.library import load_library

CONTROL_DT = 1.0 / 30.0


def distance_from_first(body_pos: np.ndarray) -> np.ndarray:
    """||pose(t) - pose(0)|| per frame of one clip's root-relative body positions (T, 15, 3)."""
    pose = (body_pos - body_pos[:, :1]).reshape(len(body_pos), -1)
    return np.linalg.norm(pose - pose[0], axis=1)


def return_share(body_pos: np.ndarray) -> float:
    """The last pose's distance from the first, as a share of the farthest pose's (0: back at the start)."""
    away = distance_from_first(body_pos)
    return float(away[-1] / away.max()) if away.max() > 0 else 0.0


def turning_back_share(body_pos: np.ndarray, tolerance: float = 0.01) -> float:
    """The share of the clip's transitions that bring the pose back toward the first by more than
    ``tolerance`` x the farthest distance: about half for a gait cycle, 0 for a one-way move."""
    away = distance_from_first(body_pos)
    if len(away) < 2 or away.max() == 0:
        return 0.0
    return float(np.mean(np.diff(away) < -tolerance * away.max()))


def inspect_set(path: str, episode_steps: int) -> dict:
    lib = load_library(path)
    body_pos = np.asarray(lib.body_pos)
    clips = []
    for c in range(lib.num_clips):
        start, frames = int(lib.clip_start[c]), int(lib.clip_frames[c])
        clips.append({"clip": os.path.basename(lib.clip_names[c]) if lib.clip_names else str(c), "frames": frames,
                      "seconds": float(lib.clip_length[c]), "return_share": return_share(body_pos[start:start + frames]),
                      "turning_back_share": turning_back_share(body_pos[start:start + frames])})
    shares = np.array([c["return_share"] for c in clips])
    seconds = np.array([c["seconds"] for c in clips])
    return {"clips": clips, "num_clips": len(clips), "median_seconds": float(np.median(seconds)),
            "episode_seconds": episode_steps * CONTROL_DT, "median_return_share": float(np.median(shares)),
            "min_return_share": float(shares.min()), "max_return_share": float(shares.max()),
            "turning_back_share": float(np.mean([c["turning_back_share"] for c in clips]))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_motion_set_args(parser)
    args = parser.parse_args(argv)
    rows = []
    print("| motion set | clips | clip length, median (s) | episode (s) | last pose's distance from the first, "
          "share of the farthest: median (min-max) | transitions turning back toward the first pose |\n|---|---:|---:|---:|---|---:|")
    for name, path in motion_set_paths(args, 6):
        episode_steps = task_settings_for(path).get("max_episode_steps", 300)
        row = {"set": name, **inspect_set(path, episode_steps)}
        rows.append(row)
        print(f"| {name} | {row['num_clips']} | {row['median_seconds']:.2f} | {row['episode_seconds']:.1f} | "
              f"{row['median_return_share']:.2f} ({row['min_return_share']:.2f}-{row['max_return_share']:.2f}) | {100 * row['turning_back_share']:.0f} % |")
    print(write_result("clip_return", "inspect_clip_return", rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
