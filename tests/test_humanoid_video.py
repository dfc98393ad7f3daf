"""Humanoid playback (near.viz.humanoid_video) and `near motion view|list|yaml`. The matplotlib back end
is tested everywhere; MuJoCo's renderer only where an OpenGL back end works (checked in a child
process, so this process's OpenGL platform stays unset), else skipped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import imageio.v3 as iio
import numpy as np
import pytest

from near import cli
from near.motion import humanoid as H
from near.motion.poselib import save_poselib
from near.motion.qpos import qpos_from_motion
from near.motion.skeleton import Skeleton, SkeletonMotion
from near.utils import rotations as rot
from near.viz import humanoid_video as hv

SIZE = (96, 128)
BODY = np.array(hv.BODY_RGB) * 255
BLUE = np.array(hv.REFERENCE_RGB) * 255


def clip(n=6, fps=30.0) -> SkeletonMotion:
    t = np.arange(n) / fps
    dof = 0.5 * (H.DOF_LOWER + H.DOF_UPPER) + 0.1 * np.sin(2 * np.pi * t[:, None] + np.arange(28))
    local = H.local_rot_from_dof(dof)
    local[:, 0] = rot.from_axis_angle(np.array([0.0, 0.0, 1.0]), 0.2 * t)
    root = np.stack([0.8 * t, 0 * t, np.full(n, 0.95)], -1)
    return SkeletonMotion(Skeleton.amp_humanoid(), local, root, fps, source="test")


def colour_mask(img, rgb, tol=40):
    """Pixels within ``tol`` of a colour (lit or in shade: the flat fill is drawn at full colour)."""
    return np.abs(img.astype(float) - rgb).max(-1) < tol


def test_matplotlib_frames_show_the_humanoid_and_reference():
    q = qpos_from_motion(clip())
    frames, name = hv.render_humanoid_frames(q, size=SIZE, renderer="matplotlib")
    assert name == "matplotlib" and frames.shape == (6, *SIZE, 3) and frames.dtype == np.uint8
    body = colour_mask(frames[0], BODY)
    assert 30 < body.sum() < 0.3 * body.size  # a person-sized blob, not the whole picture
    rows = np.flatnonzero(body.any(1))
    assert rows.max() - rows.min() > 0.4 * SIZE[0]  # standing: tall in the picture
    side, _ = hv.render_humanoid_frames(q, reference_qpos=q, layout="side", size=SIZE, renderer="matplotlib", frames=[0])
    assert colour_mask(side[0], BODY).sum() > 20 and colour_mask(side[0], BLUE).sum() > 20
    # the reference stands at +y: from this camera (azimuth 120) it appears to the right
    cols = [np.flatnonzero(colour_mask(side[0], c).any(0)).mean() for c in (BODY, BLUE)]
    assert cols[1] > cols[0]
    ghost, _ = hv.render_humanoid_frames(q, reference_qpos=q, layout="ghost", size=SIZE, renderer="matplotlib",
                                         frames=[0])
    assert not np.array_equal(ghost[0], frames[0])  # the translucent ghost tints the body
    with pytest.raises(ValueError, match="layout"):
        hv.render_humanoid_frames(q, reference_qpos=q, layout="overlay", renderer="matplotlib")
    with pytest.raises(ValueError, match=r"qpos must be \(T > 0, 43\)"):
        hv.render_humanoid_frames(q[:, :40], renderer="matplotlib")


def test_stick_figures_alone_and_beside():
    pos = np.zeros((3, 3, 3))
    pos[:, 1, 2], pos[:, 2, 2] = 0.5, 1.0  # a vertical 1 m pole standing at the origin
    stick = hv.StickFigure(pos, (-1, 0, 1))
    frames, _ = hv.render_humanoid_frames(None, sticks=[stick], size=SIZE, renderer="matplotlib")
    assert frames.shape == (3, *SIZE, 3)
    assert colour_mask(frames[0], np.array(hv.STICK_RGB) * 255).sum() > 10
    with pytest.raises(ValueError, match="nothing to draw"):
        hv.render_humanoid_frames(None, renderer="matplotlib")


def test_mp4_and_frame_strip(tmp_path):
    q = qpos_from_motion(clip(n=5))
    path = hv.render_humanoid(tmp_path / "clip.mp4", q, 30, size=SIZE, renderer="matplotlib")
    assert path.endswith(".mp4") and os.path.getsize(path) > 0
    import imageio_ffmpeg

    assert imageio_ffmpeg.count_frames_and_secs(path)[0] == 5
    strip = hv.render_frame_strip(tmp_path / "strip.png", q, n=3, size=SIZE, renderer="matplotlib", gap=2)
    img = iio.imread(strip)
    assert img.shape[:2] == (SIZE[0], 3 * SIZE[1] + 2 * 2)


def test_auto_falls_back_with_a_notice(monkeypatch, capsys):
    monkeypatch.setenv("MUJOCO_GL", "disable")
    frames, name = hv.render_humanoid_frames(qpos_from_motion(clip(n=2)), size=SIZE, renderer="auto")
    assert name == "matplotlib" and frames.shape[0] == 2
    err = capsys.readouterr().err
    assert "MuJoCo rendering unavailable" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(RuntimeError, match="MuJoCo rendering unavailable"):
        hv.render_humanoid_frames(qpos_from_motion(clip(n=2)), size=SIZE, renderer="mujoco")
    # a machine without any OpenGL library (CI): MUJOCO_GL unset, no display, no libEGL / libOSMesa
    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr(hv.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(RuntimeError, match="no OpenGL library found"):
        hv._gl_context_class()
    _, name = hv.render_humanoid_frames(qpos_from_motion(clip(n=1)), size=SIZE)
    assert name == "matplotlib" and "no OpenGL library found" in capsys.readouterr().err


_CHILD = textwrap.dedent(
    """
    import sys, numpy as np
    from near.motion.tpose import humanoid_tpose
    from near.motion.qpos import qpos_from_pose
    from near.viz.humanoid_video import StickFigure, render_humanoid_frames
    t = humanoid_tpose()
    q = qpos_from_pose(t.local_rot, t.root_pos)[None]
    frames, name = render_humanoid_frames(q, size=(96, 128), renderer="mujoco")
    pole = np.zeros((1, 2, 3)); pole[0, 1, 2] = 1.0
    sticks, _ = render_humanoid_frames(None, sticks=[StickFigure(pole, (-1, 0))], size=(96, 128), renderer="mujoco")
    np.save(sys.argv[1], np.stack([frames[0], sticks[0]]))
    print(name)
    """
)


def _mujoco_frame(tmp_path):
    """A MuJoCo-rendered T-pose frame from a child process with a working GL back end, or skip."""
    pytest.importorskip("mujoco")
    out = tmp_path / "frame.npy"
    for gl in ("egl", "osmesa"):
        env = dict(os.environ, MUJOCO_GL=gl)
        env.pop("PYOPENGL_PLATFORM", None)
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(out)], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        if proc.returncode == 0:
            frame, sticks = np.load(out)
            return frame, sticks, proc.stdout.strip()
    pytest.skip(f"no working OpenGL back end for MuJoCo here (egl, osmesa): {proc.stderr.strip()[-200:]}")


def test_mujoco_renderer_matches_the_fallback_camera(tmp_path):
    frame, sticks, name = _mujoco_frame(tmp_path)
    assert sticks[SIZE[0] // 2 :].mean() > 30  # the floor is drawn with stick figures alone
    assert colour_mask(sticks, np.array(hv.STICK_RGB) * 255, tol=90).sum() > 5
    assert name.startswith("mujoco") and frame.shape == (*SIZE, 3)
    from near.motion.qpos import qpos_from_pose
    from near.motion.tpose import humanoid_tpose

    t = humanoid_tpose()
    ref, _ = hv.render_humanoid_frames(qpos_from_pose(t.local_rot, t.root_pos)[None], size=SIZE,
                                       renderer="matplotlib")
    # the same body in the same place: compare the centroid and height of the body-coloured pixels
    masks = [colour_mask(frame, BODY, tol=90), colour_mask(ref[0], BODY)]
    assert all(m.sum() > 30 for m in masks)
    centres = [np.argwhere(m).mean(0) for m in masks]
    assert np.abs(centres[0] - centres[1]).max() < 0.08 * SIZE[1]
    heights = [np.ptp(np.argwhere(m)[:, 0]) for m in masks]
    assert abs(heights[0] - heights[1]) < 0.15 * heights[1]


# --------------------------------------------------------------------------- near motion view|list|yaml


@pytest.fixture()
def clip_folder(tmp_path):
    folder = tmp_path / "walk"
    (folder / "sub").mkdir(parents=True)
    save_poselib(folder / "a.npy", clip(n=6))
    save_poselib(folder / "sub" / "b c.npy", clip(n=11, fps=60.0))  # a name with a space
    (folder / "notes.txt").write_text("not a clip")
    return folder


def test_cli_yaml_list_and_view(clip_folder, tmp_path, capsys):
    assert cli.main(["motion", "yaml", str(clip_folder)]) == 0
    captured = capsys.readouterr()
    assert "motions.yaml: 2 clips" in captured.out and "notes.txt" in captured.err  # skipped, said why
    yaml_path = clip_folder / "motions.yaml"
    text = yaml_path.read_text()
    assert '"a.npy"' in text and '"sub/b c.npy"' in text and text.count("weight: 1.0") == 2

    assert cli.main(["motion", "list", str(yaml_path)]) == 0
    out = capsys.readouterr().out
    for cell in ("a.npy", "b c.npy", "0.17", "60", "0.500", "total"):
        assert cell in out, cell

    video = tmp_path / "b.mp4"
    args = ["motion", "view", str(yaml_path), "clip=b c", f"out={video}", "renderer=matplotlib", "size=96x128",
            "frames=3"]
    assert cli.main(args) == 0
    assert "3 frames at 60 fps" in capsys.readouterr().out and video.stat().st_size > 0
    assert cli.main(["motion", "view", str(yaml_path), "clip=7", "renderer=matplotlib"]) == 2
    assert "the set has 2 clips" in capsys.readouterr().err
    assert cli.main(["motion", "yaml", str(tmp_path / "missing")]) == 2
    assert cli.main(["motion", "bogus"]) == 2
    assert cli.main(["motion", "help"]) == 0 and "near motion COMMAND" in capsys.readouterr().out
