"""Kinematic playback of the humanoid as video or frame strips, with or without OpenGL.

Two back ends draw the same scene (the humanoid at each frame's ``qpos``, optionally a reference
humanoid beside it or as a translucent ghost, optionally stick figures of other skeletons) from the
same tracking camera (MuJoCo's free-camera convention: look-at point, distance, azimuth, elevation):

* ``"mujoco"``: MuJoCo's OpenGL renderer on the humanoid's MJCF. Needs an OpenGL back end: EGL on
  GPU machines, OSMesa (software) on CPU ones, GLFW with a display. ``MUJOCO_GL`` picks one; unset, it
  is chosen from what the machine has (a GPU and libEGL -> egl, libOSMesa -> osmesa, ...).
* ``"matplotlib"``: no OpenGL at all. The bodies' collision capsules and spheres (from the MJCF's
  numbers; feet drawn as capsules) are placed by forward kinematics, projected with the same pinhole
  camera and drawn back to front with matplotlib's Agg rasteriser on a checkered floor.

``renderer="auto"`` tries MuJoCo and falls back to matplotlib with a one-line notice on stderr.
Videos go through near.viz.video.write_video (H.264 mp4 via imageio-ffmpeg).

One file on purpose (over the project's ~450 lines): the two back ends share the scene, the camera and
the characters, and are easiest to keep alike when read side by side.
"""

from __future__ import annotations

import ctypes.util
import dataclasses
import glob
import math
import os
import sys

import numpy as np

from near.motion import humanoid
from near.motion.qpos import QPOS_SIZE, pose_from_qpos
from near.motion.skeleton import Skeleton, forward_kinematics
from near.utils import rotations as rot
from near.viz.video import frame_strip, write_video

__all__ = [
    "Camera",
    "StickFigure",
    "render_frame_strip",
    "render_humanoid",
    "render_humanoid_frames",
]

SIDE_OFFSET = 1.5  # m along +y between the humanoid and its reference in the "side" layout
BODY_RGB = (0.85, 0.6, 0.42)  # the MJCF's body material
REFERENCE_RGB = (0.42, 0.62, 0.9)
STICK_RGB = (0.3, 0.75, 0.45)
GHOST_ALPHA = 0.35


@dataclasses.dataclass(frozen=True)
class Camera:
    """A tracking camera: looks at the mean root (x, y) of everything drawn (the policy alone when a
    policy is drawn beside its reference), at height ``height``."""

    distance: float = 4.0  # m; the side layout adds SIDE_OFFSET
    azimuth: float = 120.0  # deg, MuJoCo's convention (90: looking along +y, from the character's right)
    elevation: float = -12.0  # deg
    fovy: float = 45.0  # deg, vertical (MuJoCo's default)
    height: float = 0.8  # m, look-at height
    smooth_s: float = 0.5  # s, centred moving average of the tracked point (steadier picture)


@dataclasses.dataclass(frozen=True)
class StickFigure:
    """Another skeleton drawn as bones and joints: world positions (T, J, 3) and parent indices."""

    positions: np.ndarray
    parents: tuple[int, ...]
    rgb: tuple[float, float, float] = STICK_RGB
    radius: float = 0.02  # m, bone radius; joints are drawn 1.5x as wide


# Collision geoms of amp_humanoid.xml per body (spec near-environments.md §5.1): (body, a, b, radius)
# in the body frame; a == b is a sphere. The feet's boxes are drawn as capsules of the box's height.
_L, _R = 1.0, -1.0
_GEOMS = [
    (0, (0, 0, 0.07), (0, 0, 0.07), 0.09),
    (0, (0, 0, 0.205), (0, 0, 0.205), 0.07),
    (1, (0, 0, 0.12), (0, 0, 0.12), 0.11),
    *[(1, (-0.0060125, s * 0.0457775, 0.2287955), (-0.016835, s * 0.128177, 0.2376182), 0.045) for s in (_R, _L)],
    (2, (0, 0, 0.175), (0, 0, 0.175), 0.095),
    *[(b, (0, 0, -0.05), (0, 0, -0.23), 0.045) for b in (3, 6)],
    *[(b, (0, 0, -0.0525), (0, 0, -0.1875), 0.04) for b in (4, 7)],
    *[(b, (0, 0, 0), (0, 0, 0), 0.04) for b in (5, 8)],
    *[(b, (0, 0, -0.06), (0, 0, -0.36), 0.055) for b in (9, 12)],
    *[(b, (0, 0, -0.045), (0, 0, -0.355), 0.05) for b in (10, 13)],
    *[(b, (-0.016, 0, -0.0225), (0.106, 0, -0.0225), 0.0275) for b in (11, 14)],
]
_GEOM_BODY = np.array([g[0] for g in _GEOMS])
_GEOM_A = np.array([g[1] for g in _GEOMS], np.float64)
_GEOM_B = np.array([g[2] for g in _GEOMS], np.float64)
_GEOM_R = np.array([g[3] for g in _GEOMS], np.float64)


# ----------------------------------------------------------------------------- scene description


@dataclasses.dataclass
class _Character:
    qpos: np.ndarray  # (T, 43)
    rgb: tuple[float, float, float] | None  # None: the model's own colours
    alpha: float


def _hold_last(x: np.ndarray, t: int) -> np.ndarray:
    """Pad a sequence to t frames by repeating its last frame (shorter reference clips)."""
    return x[:t] if len(x) >= t else np.concatenate([x, np.repeat(x[-1:], t - len(x), 0)])


def _scene(qpos, reference_qpos, layout, sticks):
    if layout not in ("side", "ghost"):
        raise ValueError(f"layout must be 'side' or 'ghost', got {layout!r}")
    chars = []
    for q in (qpos, reference_qpos):
        if q is not None:
            q = np.asarray(q, np.float64)
            if q.ndim != 2 or q.shape[1] != QPOS_SIZE or len(q) == 0:
                raise ValueError(f"qpos must be (T > 0, {QPOS_SIZE}), got {q.shape}")
            if not np.isfinite(q).all():
                raise ValueError("qpos has non-finite values")
    lengths = [len(q) for q in (qpos, reference_qpos) if q is not None] + [len(s.positions) for s in sticks]
    if not lengths:
        raise ValueError("nothing to draw: give qpos or stick figures")
    t = max(lengths)
    if qpos is not None:
        chars.append(_Character(_hold_last(np.asarray(qpos, np.float64), t), None, 1.0))
    if reference_qpos is not None:
        ref = _hold_last(np.asarray(reference_qpos, np.float64), t).copy()
        if layout == "side":
            ref[:, 1] += SIDE_OFFSET
            chars.append(_Character(ref, REFERENCE_RGB, 1.0))
        else:
            chars.append(_Character(ref, REFERENCE_RGB, GHOST_ALPHA))
    sticks = [dataclasses.replace(s, positions=_hold_last(np.asarray(s.positions, np.float64), t)) for s in sticks]
    return t, chars, sticks


def _track(chars, sticks, t, camera: Camera, fps: float) -> np.ndarray:
    """(T, 3) look-at points: mean root (x, y) of everything drawn, smoothed over time. A policy drawn
    beside its reference is followed alone: it keeps walking after the (shorter) clip has ended."""
    roots = [c.qpos[:, :2] for c in chars] + [s.positions[:, 0, :2] for s in sticks]
    if len(chars) == 2 and not sticks:
        roots = roots[:1]
    xy = np.mean(roots, axis=0)
    k = round(camera.smooth_s * fps / 2)
    if k > 0 and t > 1:
        padded = np.concatenate([np.repeat(xy[:1], k, 0), xy, np.repeat(xy[-1:], k, 0)])
        kernel = np.ones(2 * k + 1) / (2 * k + 1)
        xy = np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(2)], -1)
    return np.concatenate([xy, np.full((t, 1), camera.height)], -1)


def _distance(camera: Camera, chars, sticks) -> float:
    many = len(chars) + len(sticks) > 1
    return camera.distance + (SIDE_OFFSET if many else 0.0)


# ----------------------------------------------------------------------------- matplotlib back end


def _basis(camera: Camera, lookat, distance):
    az, el = math.radians(camera.azimuth), math.radians(camera.elevation)
    f = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    right = np.cross(f, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, f)
    return lookat - distance * f, f, right, up


def _clip_polygon(poly: np.ndarray, eye, f, near: float) -> np.ndarray:
    """Sutherland-Hodgman against the plane depth = near (keeps the part in front of the camera)."""
    out = []
    depth = (poly - eye) @ f - near
    for i in range(len(poly)):
        a, b, da, db = poly[i], poly[(i + 1) % len(poly)], depth[i], depth[(i + 1) % len(poly)]
        if da >= 0:
            out.append(a)
        if (da >= 0) != (db >= 0):
            out.append(a + (b - a) * (da / (da - db)))
    return np.array(out)


class _MatplotlibDraw:
    name = "matplotlib"

    def __init__(self, h: int, w: int, camera: Camera):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.h, self.w, self.camera, self.dpi = h, w, camera, 100
        self.fig = Figure(figsize=(w / self.dpi, h / self.dpi), dpi=self.dpi, facecolor=(0.12, 0.13, 0.16))
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, w)
        self.ax.set_ylim(h, 0)
        self.ax.set_axis_off()
        self.focal = (h / 2) / math.tan(math.radians(camera.fovy) / 2)
        self.skeleton = Skeleton.amp_humanoid()

    def _project(self, p, eye, f, right, up):
        d = p - eye
        depth = d @ f
        z = np.maximum(depth, 1e-3)
        return np.stack([self.w / 2 + self.focal * (d @ right) / z, self.h / 2 - self.focal * (d @ up) / z], -1), depth

    def _floor(self, lookat, eye, f, right, up, reach: int = 10):
        cx, cy = np.floor(lookat[:2]).astype(int)
        # far field first (a large quad), then 1 m tiles near the look-at point
        far = _clip_polygon(np.array([[cx - 500, cy - 500, 0], [cx + 500, cy - 500, 0], [cx + 500, cy + 500, 0],
                                      [cx - 500, cy + 500, 0]], np.float64), eye, f, 0.05)
        polys, colors = [self._project(far, eye, f, right, up)[0]], [(0.22, 0.24, 0.28)]
        for i in range(cx - reach, cx + reach):
            for j in range(cy - reach, cy + reach):
                quad = np.array([[i, j, 0], [i + 1, j, 0], [i + 1, j + 1, 0], [i, j + 1, 0]], np.float64)
                quad = _clip_polygon(quad, eye, f, 0.05)
                if len(quad) < 3:
                    continue
                uv, _ = self._project(quad, eye, f, right, up)
                polys.append(uv)
                colors.append((0.18, 0.2, 0.24) if (i + j) % 2 else (0.26, 0.28, 0.32))
        return polys, colors

    def frame(self, f_idx: int, chars, sticks, lookat, distance) -> np.ndarray:
        from matplotlib.collections import LineCollection, PolyCollection

        eye, f, right, up = _basis(self.camera, lookat, distance)
        for artist in list(self.ax.collections):
            artist.remove()
        polys, colors = self._floor(lookat, eye, f, right, up)
        self.ax.add_collection(PolyCollection(polys, facecolors=colors, edgecolors="none", antialiased=False))

        prims = []  # (depth, (u0, v0), (u1, v1), width px, rgba)
        for c in chars:
            local, root = pose_from_qpos(c.qpos[f_idx])
            pos, grot = forward_kinematics(self.skeleton, local, root)
            pos, grot = np.asarray(pos), np.asarray(grot)
            a = pos[_GEOM_BODY] + rot.rotate(grot[_GEOM_BODY], _GEOM_A)
            b = pos[_GEOM_BODY] + rot.rotate(grot[_GEOM_BODY], _GEOM_B)
            rgb = np.array(c.rgb or BODY_RGB)
            for k in range(len(_GEOMS)):
                prims.append((a[k], b[k], _GEOM_R[k], rgb, c.alpha))
        for s in sticks:
            p = s.positions[f_idx]
            for j, parent in enumerate(s.parents):
                if parent >= 0:
                    prims.append((p[parent], p[j], s.radius, np.array(s.rgb), 1.0))
                prims.append((p[j], p[j], 1.5 * s.radius, np.array(s.rgb) * 0.8, 1.0))

        segs, widths, cols, depths = [], [], [], []
        for a, b, r, rgb, alpha in prims:
            uv, depth = self._project(np.stack([a, b]), eye, f, right, up)
            if depth.min() < 0.05:
                continue
            if np.allclose(uv[0], uv[1]):
                uv = uv + [[-0.5, 0.0], [0.5, 0.0]]  # a sphere: a 1-px stroke with round caps (Agg drops shorter ones)
            width = 2 * r * self.focal / depth.mean() * 72 / self.dpi  # points
            shade = np.clip(rgb * 0.55, 0, 1)
            # outline first, then the fill: a lit rim makes overlapping limbs readable
            depths += [depth.mean() + 1e-6, depth.mean()]
            segs += [uv, uv]
            widths += [width + 1.2, width]
            cols += [(*shade, alpha), (*np.clip(rgb, 0, 1), alpha)]
        order = np.argsort(-np.array(depths), kind="stable") if depths else []
        lc = LineCollection(
            [segs[i] for i in order], linewidths=[widths[i] for i in order], colors=[cols[i] for i in order],
            capstyle="round", joinstyle="round",
        )
        self.ax.add_collection(lc)
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

    def close(self):
        self.fig.clear()


# ----------------------------------------------------------------------------- MuJoCo back end


def _gl_context_class():
    """The OpenGL context class for offscreen rendering; raises RuntimeError when there is none."""
    choice = os.environ.get("MUJOCO_GL", "").strip().lower()
    if choice in ("disable", "disabled", "off", "false", "0"):
        raise RuntimeError(f"MUJOCO_GL={choice} disables rendering")
    if not choice:
        gpu = os.path.exists("/dev/nvidia0") or glob.glob("/dev/dri/renderD*")
        egl, osmesa = ctypes.util.find_library("EGL"), ctypes.util.find_library("OSMesa")
        if os.environ.get("DISPLAY"):
            choice = "glfw"
        elif gpu and egl:
            choice = "egl"
        elif osmesa:
            choice = "osmesa"
        elif egl:
            choice = "egl"
        else:
            raise RuntimeError("no OpenGL library found (EGL or OSMesa; set MUJOCO_GL)")
    try:
        if choice == "egl":
            from mujoco.egl import GLContext
        elif choice == "osmesa":
            from mujoco.osmesa import GLContext
        else:
            from mujoco.glfw import GLContext
    except Exception as e:  # noqa: BLE001 - missing library, PyOpenGL platform already fixed, ...
        raise RuntimeError(f"MUJOCO_GL={choice}: {type(e).__name__}: {e}") from None
    return GLContext, choice


class _MujocoDraw:
    def __init__(self, h: int, w: int, camera: Camera):
        import mujoco

        from near.motion.retarget import humanoid_model_path

        context_class, choice = _gl_context_class()
        self.name = f"mujoco ({choice})"
        self.mj, self.camera = mujoco, camera
        self.model = mujoco.MjModel.from_xml_path(humanoid_model_path())
        self.model.vis.global_.offwidth = max(w, self.model.vis.global_.offwidth)
        self.model.vis.global_.offheight = max(h, self.model.vis.global_.offheight)
        self.model.vis.global_.fovy = camera.fovy
        try:
            self.ctx = context_class(w, h)
            self.ctx.make_current()
            self.con = mujoco.MjrContext(self.model, mujoco.mjtFontScale.mjFONTSCALE_100)
        except Exception as e:  # noqa: BLE001 - no device, no display, bad driver ...
            raise RuntimeError(f"{self.name}: {type(e).__name__}: {e}") from None
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self.con)
        self.scn = mujoco.MjvScene(self.model, maxgeom=4000)
        self.opt, self.pert, self.cam = mujoco.MjvOption(), mujoco.MjvPerturb(), mujoco.MjvCamera()
        self.data = [mujoco.MjData(self.model) for _ in range(2)]
        self.rect = mujoco.MjrRect(0, 0, w, h)
        self.rgb = np.zeros((h, w, 3), np.uint8)

    def _pose(self, data, qpos):
        data.qpos[:] = qpos
        self.mj.mj_kinematics(self.model, data)
        self.mj.mj_camlight(self.model, data)

    def _capsule(self, a, b, radius, rgba):
        mj, scn = self.mj, self.scn
        if scn.ngeom >= scn.maxgeom:
            return
        g = scn.geoms[scn.ngeom]
        kind = mj.mjtGeom.mjGEOM_SPHERE if np.allclose(a, b) else mj.mjtGeom.mjGEOM_CAPSULE
        mj.mjv_initGeom(g, kind, np.array([radius, radius, radius]), a, np.eye(3).ravel(), np.asarray(rgba, np.float32))
        if kind == mj.mjtGeom.mjGEOM_CAPSULE:
            mj.mjv_connector(g, kind, radius, a, b)
        scn.ngeom += 1

    def frame(self, f_idx: int, chars, sticks, lookat, distance) -> np.ndarray:
        mj = self.mj
        self.cam.type = mj.mjtCamera.mjCAMERA_FREE
        self.cam.lookat[:] = lookat
        self.cam.distance, self.cam.azimuth, self.cam.elevation = distance, self.camera.azimuth, self.camera.elevation
        # the model's own kinematics place the floor and lights even when only stick figures are drawn
        self._pose(self.data[0], chars[0].qpos[f_idx] if chars else self.model.qpos0)
        # only stick figures: the static part of the model (the floor), not its bodies
        cats = mj.mjtCatBit.mjCAT_ALL if chars else mj.mjtCatBit.mjCAT_STATIC
        mj.mjv_updateScene(self.model, self.data[0], self.opt, self.pert, self.cam, cats, self.scn)
        for c in chars[1:]:
            self._pose(self.data[1], c.qpos[f_idx])
            n0 = self.scn.ngeom
            mj.mjv_addGeoms(self.model, self.data[1], self.opt, self.pert, mj.mjtCatBit.mjCAT_DYNAMIC, self.scn)
            for g in self.scn.geoms[n0 : self.scn.ngeom]:
                g.rgba[:] = (*(c.rgb or BODY_RGB), c.alpha)
        for s in sticks:
            p = s.positions[f_idx]
            for j, parent in enumerate(s.parents):
                if parent >= 0:
                    self._capsule(p[parent], p[j], s.radius, (*s.rgb, 1.0))
                self._capsule(p[j], p[j], 1.5 * s.radius, (*(np.array(s.rgb) * 0.8), 1.0))
        mj.mjr_render(self.rect, self.scn, self.con)
        mj.mjr_readPixels(self.rgb, None, self.rect, self.con)
        return np.flipud(self.rgb).copy()

    def close(self):
        self.con.free()
        self.ctx.free()


def _open_renderer(renderer: str, h: int, w: int, camera: Camera):
    if renderer not in ("auto", "mujoco", "matplotlib"):
        raise ValueError(f"renderer must be auto, mujoco or matplotlib, got {renderer!r}")
    if renderer == "matplotlib":
        return _MatplotlibDraw(h, w, camera)
    try:
        return _MujocoDraw(h, w, camera)
    except Exception as e:  # noqa: BLE001 - any failure to get an OpenGL context
        if renderer == "mujoco":
            raise RuntimeError(f"MuJoCo rendering unavailable: {e}") from None
        print(f"near: MuJoCo rendering unavailable ({e}); drawing with matplotlib instead", file=sys.stderr)
        return _MatplotlibDraw(h, w, camera)


# ----------------------------------------------------------------------------- public API


def render_humanoid_frames(
    qpos,
    *,
    reference_qpos=None,
    layout: str = "side",
    sticks: tuple[StickFigure, ...] | list[StickFigure] = (),
    size: tuple[int, int] = (480, 640),
    renderer: str = "auto",
    camera: Camera = Camera(),
    fps: float = 30.0,
    frames=None,
) -> tuple[np.ndarray, str]:
    """RGB frames (N, H, W, 3) uint8 of the humanoid at each ``qpos`` (T, 43) (None: only ``sticks``),
    and the name of the back end used.

    ``reference_qpos``: a second humanoid, ``layout="side"`` (1.5 m to its left, +y, blue) or
    ``"ghost"`` (in place, translucent). ``sticks``: other skeletons as stick figures (their world
    positions). ``size``: (height, width). ``frames``: indices to draw (default all).
    """
    t, chars, sticks = _scene(qpos, reference_qpos, layout, list(sticks))
    h, w = (int(v) for v in size)
    lookat = _track(chars, sticks, t, camera, fps)
    distance = _distance(camera, chars, sticks)
    idx = range(t) if frames is None else [int(i) for i in frames]
    draw = _open_renderer(renderer, h, w, camera)
    try:
        out = np.stack([draw.frame(i, chars, sticks, lookat[i], distance) for i in idx])
    finally:
        draw.close()
    return out, draw.name


def render_humanoid(
    path,
    qpos,
    fps: float,
    *,
    reference_qpos=None,
    layout: str = "side",
    sticks=(),
    size: tuple[int, int] = (480, 640),
    renderer: str = "auto",
    camera: Camera = Camera(),
) -> str:
    """Render a clip (kinematic playback) to an mp4 at ``fps``; returns the path written (a GIF next to
    it if ffmpeg fails, see near.viz.video.write_video)."""
    frames, _ = render_humanoid_frames(
        qpos, reference_qpos=reference_qpos, layout=layout, sticks=sticks, size=size, renderer=renderer,
        camera=camera, fps=fps,
    )
    return write_video(frames, path, fps=fps)


def render_frame_strip(
    path,
    qpos,
    n: int = 6,
    *,
    reference_qpos=None,
    layout: str = "side",
    sticks=(),
    size: tuple[int, int] = (360, 270),
    renderer: str = "auto",
    camera: Camera = Camera(),
    fps: float = 30.0,
    gap: int = 4,
) -> str:
    """A PNG of ``n`` evenly spaced frames side by side (for READMEs); only those frames are drawn."""
    import imageio.v3 as iio

    lengths = [len(q) for q in (qpos, reference_qpos) if q is not None] + [len(s.positions) for s in sticks]
    t = max(lengths) if lengths else 0
    idx = np.unique(np.round(np.linspace(0, max(t - 1, 0), max(1, min(n, t)))).astype(int))
    frames, _ = render_humanoid_frames(
        qpos, reference_qpos=reference_qpos, layout=layout, sticks=sticks, size=size, renderer=renderer,
        camera=camera, fps=fps, frames=idx,
    )
    path = os.fspath(path)
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    iio.imwrite(path, frame_strip(frames, n=len(frames), gap=gap))
    return path


def stick_figure(positions, parents, **kw) -> StickFigure:
    """Convenience: a StickFigure from (T, J, 3) positions and a parents sequence."""
    return StickFigure(np.asarray(positions, np.float64), tuple(int(p) for p in parents), **kw)


assert set(_GEOM_BODY.tolist()) == set(range(humanoid.NUM_BODIES))
