"""Pictures of evaluation episodes on the 2-D tasks: the trajectories PNG and the frames of one episode."""

from __future__ import annotations

import numpy as np

from near.config import Config
from near.rl.evaluate import split_episodes


def plot_episodes(cfg: Config, result: dict, path: str, title: str, demo_states=None) -> str:
    """The trajectories PNG of an evaluation: the maze plane, or a grid of push-T episodes."""
    episodes = split_episodes(result)
    if cfg.task.env == "pusht":
        from near.viz.pusht_plots import plot_pusht_episodes

        return plot_pusht_episodes(episodes, path, success=list(result["success"]), title=title)
    from near.viz.maze_plots import plot_trajectories

    return plot_trajectories(episodes, path, demo_states=demo_states, success=list(result["success"]), title=title)


def render_episode(cfg: Config, states: np.ndarray, size: int = 256) -> np.ndarray:
    """Frames (T, size, size, 3) of one episode's states."""
    if cfg.task.env == "pusht":
        from near.viz.pusht_plots import render_pusht_frames, states_coverage

        return render_pusht_frames(states, states_coverage(states), size=size)
    from near.viz.maze_frames import render_maze_frames

    return render_maze_frames(states, size=size)


def video_fps(cfg: Config) -> int:
    return 30 if cfg.task.env == "maze" else 10
