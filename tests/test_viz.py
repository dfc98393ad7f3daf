"""Fast tests of the maze pictures and video helpers (near.viz)."""

from __future__ import annotations

import os

import imageio.v3 as iio
import numpy as np
import pytest

from near.envs.maze import AGENT_RADIUS, GOAL, WALLS
from near.viz import maze_plots as mp
from near.viz import video
from near.viz.maze_frames import render_maze_frames

TARGET = np.array([300.0, 200.0], np.float32)
STEP = 8.0


def analytic_energy(calls: list):
    """energy = -|s_{t+1} - TARGET| - 5 * (|s_{t+1} - s_t| - STEP)^2, shifted by the level."""

    def fn(pairs: np.ndarray, level: int) -> np.ndarray:
        calls.append((pairs.shape, pairs.dtype, level))
        a, b = pairs[:, :2], pairs[:, 2:]
        e = -np.linalg.norm(b - TARGET, axis=-1) - 5.0 * (np.linalg.norm(b - a, axis=-1) - STEP) ** 2
        return (e + level).astype(np.float32)

    return fn


def _check_png(path: str, min_side: int = 200) -> np.ndarray:
    assert os.path.exists(path) and os.path.getsize(path) > 1000
    img = iio.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert min(img.shape[:2]) >= min_side and max(img.shape[:2]) < 6000
    assert img[..., :3].std() > 5  # not a blank canvas
    return img


@pytest.fixture(scope="module")
def landscape():
    calls: list = []
    land = mp.energy_landscape(
        analytic_energy(calls), levels=[0, 3, 7], sigmas=np.linspace(20, 0.01, 8), step=STEP,
        resolution=24, directions=16,
    )
    return land, calls


def test_energy_landscape_shapes_and_calls(landscape):
    land, calls = landscape
    r, d = 24, 16
    assert land["xs"].shape == (r,) and land["ys"].shape == (r,)
    assert land["best"].shape == (3, r, r) and land["mean"].shape == (3, r, r)
    assert land["best_dir"].shape == (3, r, r, 2)
    assert len(calls) == 3  # one batched call per level
    assert [c[2] for c in calls] == [0, 3, 7]
    assert all(c[0] == (r * r * d, 4) and c[1] == np.float32 for c in calls)
    np.testing.assert_allclose(land["sigmas"], np.linspace(20, 0.01, 8)[[0, 3, 7]])
    assert np.all(land["best"] >= land["mean"])
    np.testing.assert_allclose(np.linalg.norm(land["best_dir"], axis=-1), 1.0, atol=1e-5)
    # level shift shows up in the values
    np.testing.assert_allclose(land["best"][1] - land["best"][0], 3.0, atol=1e-3)


def test_energy_landscape_best_direction_points_to_target(landscape):
    land, _ = landscape
    gx, gy = np.meshgrid(land["xs"], land["ys"], indexing="xy")  # index [iy, ix]
    to_t = np.stack([TARGET[0] - gx, TARGET[1] - gy], axis=-1)
    dist = np.linalg.norm(to_t, axis=-1)
    far = dist > 3 * STEP
    cos = (land["best_dir"][0] * to_t).sum(-1) / np.maximum(dist, 1e-6)
    # with 16 directions the best is within 11.25 deg of the true direction
    assert np.all(cos[far] > np.cos(np.deg2rad(11.25)) - 1e-4)
    # a specific, orientation-revealing point: left of and above the target (y down) -> +x, +y
    ix = int(np.argmin(np.abs(land["xs"] - 100)))
    iy = int(np.argmin(np.abs(land["ys"] - 60)))
    u = land["best_dir"][0, iy, ix]
    assert u[0] > 0.5 and u[1] > 0.2


def test_sigmas_per_level_or_schedule():
    np.testing.assert_allclose(mp._sigmas_for_levels([0, 5], np.array([2.0, 1.0])), [2.0, 1.0])
    np.testing.assert_allclose(mp._sigmas_for_levels([0, 5], np.arange(10.0)), [0.0, 5.0])
    with pytest.raises(ValueError):
        mp._sigmas_for_levels([0, 5], np.arange(3.0))


def test_plot_energy_landscape(tmp_path, landscape):
    land, _ = landscape
    demo = np.random.default_rng(0).uniform(40, 100, size=(5000, 2))
    out = mp.plot_energy_landscape(
        land, levels=[0, 3, 7], sigmas=np.linspace(20, 0.01, 8), path=tmp_path / "sub" / "land.png",
        demo_states=demo, title="analytic",
    )
    assert out.endswith("land.png")
    img = _check_png(out, min_side=300)
    assert img.shape[1] > img.shape[0]  # three panels in a row


def test_plot_trajectories(tmp_path):
    t = np.linspace(0, 1, 50)[:, None]
    a = np.array([70.0, 70.0]) + t * (GOAL - np.array([70.0, 70.0]))
    b = np.array([70.0, 70.0]) + t * np.array([0.0, 300.0])
    out = mp.plot_trajectories([a, b], tmp_path / "traj.png", success=[True, False],
                               demo_states=np.random.default_rng(1).uniform(0, 512, (4000, 2)), title="t")
    _check_png(out)
    out2 = mp.plot_trajectories([a], tmp_path / "traj2.png")
    _check_png(out2)


def test_plot_learning_curves_tolerates_missing_keys(tmp_path):
    hist = {"env_steps": [0, 100, 200, 300], "success_rate": [0.0, 0.1, 0.5, 0.9],
            "episode_return": [0, 10, 500, 900], "sigma_level": [0, 0, 1, 2]}
    out = mp.plot_learning_curves(hist, tmp_path / "lc.png",
                                  keys=["success_rate", "energy_reward", "episode_return", "sigma_level"])
    _check_png(out)
    # default keys, no x key, ragged lengths
    out2 = mp.plot_learning_curves({"a": [1, 2, 3], "b": [3.0, None, 1.0, 0.0]}, tmp_path / "lc2.png")
    _check_png(out2, min_side=100)
    # nothing to plot still writes a picture
    out3 = mp.plot_learning_curves({"env_steps": [1, 2]}, tmp_path / "lc3.png", keys=["missing"])
    assert os.path.getsize(out3) > 0 and iio.imread(out3).ndim == 3


def test_draw_maze_orientation(tmp_path):
    plt = mp._plt()
    fig, ax = plt.subplots()
    mp.draw_maze(ax)
    assert ax.get_ylim() == (512.0, 0.0) and ax.get_xlim() == (0.0, 512.0)
    plt.close(fig)


def test_render_maze_frames():
    size = 256
    s = size / 512.0
    traj = np.array([[70.0, 70.0], [200.0, 70.0], [300.0, 200.0]])
    targets = np.array([[480.0, 480.0], [480.0, 480.0], [np.nan, np.nan]])
    frames = render_maze_frames(traj, size=size, targets=targets)
    assert frames.shape == (3, size, size, 3) and frames.dtype == np.uint8
    for t, (x, y) in enumerate(traj):
        r, c = int(y * s), int(x * s)  # row = y (y down), col = x
        assert tuple(frames[t, r, c]) == mp.AGENT_INNER_RGB
        # the outer ring of the agent disc (between radii 11 and 15)
        assert tuple(frames[t, r, int((x + 13.0) * s)]) == mp.AGENT_RGB
        # well outside the agent: not agent-coloured
        assert tuple(frames[t, r, int((x + AGENT_RADIUS + 10) * s)]) not in (mp.AGENT_RGB, mp.AGENT_INNER_RGB)
    # wall A interior (x 20-40, y 140-460): fill colour; outline at its edge
    x0, x1, y0, y1 = WALLS[0]
    assert tuple(frames[0, int(300 * s), int(30 * s)]) == mp.WALL_FILL_RGB
    assert tuple(frames[0, int(300 * s), int(x0 * s)]) == mp.WALL_EDGE_RGB
    # goal disc
    assert tuple(frames[0, int(GOAL[1] * s), int(GOAL[0] * s)]) == mp.GOAL_RGB
    # background is white far from everything
    assert tuple(frames[0, int(250 * s), int(250 * s)]) == (255, 255, 255)
    # target x in frames 0 and 1 (centre pixel red), none in frame 2
    assert tuple(frames[0, int(480 * s), int(480 * s)]) == mp.TARGET_RGB
    assert tuple(frames[2, int(480 * s), int(480 * s)]) != mp.TARGET_RGB
    # the past path is drawn: midpoint of the first segment, visible in the last frame
    assert tuple(frames[2, int(70 * s), int(150 * s)]) == mp.PATH_RGB
    assert tuple(frames[0, int(70 * s), int(150 * s)]) == (255, 255, 255)


def test_render_maze_frames_other_size_no_targets():
    frames = render_maze_frames(np.array([[256.0, 256.0]]), size=100)
    assert frames.shape == (1, 100, 100, 3)
    assert tuple(frames[0, 50, 50]) == mp.AGENT_INNER_RGB


def _count_frames(path: str) -> int:
    import imageio.v2 as iio2

    with iio2.get_reader(path, format="FFMPEG") as rd:
        return sum(1 for _ in rd)


def test_write_video_mp4_and_gif(tmp_path):
    frames = render_maze_frames(np.linspace([70.0, 70.0], [435.0, 435.0], 12), size=101)  # odd size
    out = video.write_video(frames, str(tmp_path / "v" / "roll.mp4"), fps=10)
    assert out.endswith(".mp4") and os.path.getsize(out) > 0
    assert _count_frames(out) == 12
    gif = video.write_video(frames, str(tmp_path / "roll.gif"), fps=10)
    assert gif.endswith(".gif")
    g = iio.imread(gif, index=None)
    assert g.shape[0] == 12 and g.shape[1:3] == (101, 101)


def test_write_video_falls_back_to_gif(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("no ffmpeg here")

    monkeypatch.setattr(video, "_write_mp4", boom)
    frames = np.zeros((4, 16, 16, 3), np.uint8)
    for i in range(4):  # distinct frames (GIF writers merge identical consecutive ones)
        frames[i, : 4 * (i + 1)] = 255
    with pytest.warns(RuntimeWarning):
        out = video.write_video(frames, str(tmp_path / "x.mp4"), fps=5)
    assert out == str(tmp_path / "x.gif")
    assert not os.path.exists(tmp_path / "x.mp4")
    assert iio.imread(out, index=None).shape[0] == 4


def test_frame_strip():
    frames = np.stack([np.full((10, 8, 3), i, np.uint8) for i in range(20)])
    strip = video.frame_strip(frames, n=6)
    assert strip.shape == (10, 48, 3) and strip.dtype == np.uint8
    assert strip[0, 0, 0] == 0 and strip[0, -1, 0] == 19
    assert video.frame_strip(frames[:3], n=6).shape == (10, 24, 3)
    assert video.frame_strip(frames, n=3, gap=2).shape == (10, 28, 3)
