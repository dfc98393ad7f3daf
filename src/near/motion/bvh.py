"""Biovision hierarchy (``.bvh``) motion capture files: read into a :class:`SkeletonMotion`, and write.

A BVH file is a joint tree (``ROOT`` / ``JOINT`` blocks with an ``OFFSET`` from the parent and a
``CHANNELS`` list, ``End Site`` leaves) followed by ``MOTION``: a frame count, a frame time and one
line of channel values per frame, in the order the channels were declared.

Conventions read here (those of the CMU conversions, Blender and MotionBuilder):

* rotation channels are Euler angles in degrees, composed in the order they are listed:
  ``Zrotation Xrotation Yrotation`` means R = Rz(z) Rx(x) Ry(y) (each joint may use its own order);
* position channels give the joint's translation in its parent frame and replace its OFFSET (for
  the root: the root's position in the world). Position channels on other joints are read as fixed
  bone offsets from frame 0 (a SkeletonMotion animates rotations only); a warning says so when they
  move;
* ``End Site`` blocks are dropped unless ``end_sites=True`` (then they become joints named
  ``<parent>_end``).

The result is in the project's frame: metres (``units``: ``m``, ``cm``, ``mm``, ``inch``, ``cmu`` =
0.056444 m, the CMU ASF unit, or ``auto``: the unit that makes the rest pose about 1.55 m tall) and z
up (``up="y"``, the BVH norm, turns the data by 90 deg about +x: (x, y, z) -> (x, -z, y)). Which way
the character faces is left as it is; retargeting turns it (near.motion.retarget).

Errors are :class:`~near.motion.skeleton.MotionDataError` naming the file, the line and the fault.
Reader and writer share one file (a little over the project's ~450 lines) so that the conventions above
stay one list for both.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings

import numpy as np

from near.motion.skeleton import MotionDataError, Skeleton, SkeletonMotion, fail, forward_kinematics
from near.utils import rotations as rot

__all__ = [
    "UNITS",
    "BvhFile",
    "euler_to_quat",
    "load_bvh",
    "parse_bvh",
    "quat_to_euler",
    "save_bvh",
]

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}
_AUTO_HEIGHT = 1.55  # m, joint-to-joint height of an adult's rest pose (head joint to ankles/toes)
_AXES = {"X": 0, "Y": 1, "Z": 2}
_Y_TO_Z_UP = np.array([math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0, 0.0])  # 90 deg about +x


@dataclasses.dataclass(frozen=True)
class BvhFile:
    """What a BVH file says, in its own units and axes."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray  # (J, 3)
    channels: tuple[tuple[str, ...], ...]  # per joint, e.g. ("Xposition", ..., "Zrotation")
    frames: np.ndarray  # (T, sum of channel counts)
    frame_time: float
    end_site: tuple[bool, ...]  # joint j is an End Site


# ----------------------------------------------------------------------------- Euler angles


def euler_to_quat(angles_deg, order: str) -> np.ndarray:
    """Euler angles (..., 3) in degrees, listed in ``order`` (e.g. "ZXY": z, x, y), to wxyz
    quaternions of R = R_order[0] R_order[1] R_order[2]."""
    angles = np.radians(np.asarray(angles_deg, np.float64))
    q = np.zeros(angles.shape[:-1] + (4,))
    q[..., 0] = 1.0
    for k, axis in enumerate(order.upper()):
        e = np.zeros(3)
        e[_AXES[axis]] = 1.0
        q = rot.multiply(q, rot.from_axis_angle(e, angles[..., k]))
    return q


def quat_to_euler(q, order: str) -> np.ndarray:
    """Inverse of :func:`euler_to_quat` for Tait-Bryan orders (three different axes); degrees."""
    order = order.upper()
    i, j, k = (_AXES[a] for a in order)
    if len({i, j, k}) != 3:
        raise ValueError(f"rotation order {order!r} must name three different axes")
    m = rot.to_matrix(np.asarray(q, np.float64))
    e = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0  # parity of the permutation
    b = np.arcsin(np.clip(e * m[..., i, k], -1.0, 1.0))
    a = np.arctan2(-e * m[..., j, k], m[..., k, k])
    c = np.arctan2(-e * m[..., i, j], m[..., i, i])
    # gimbal lock (|b| = 90 deg): put the whole remaining rotation into the first angle
    lock = np.abs(m[..., i, k]) > 1.0 - 1e-9
    if np.any(lock):
        a_lock = np.arctan2(e * m[..., k, j], m[..., j, j])
        a = np.where(lock, a_lock, a)
        c = np.where(lock, 0.0, c)
    return np.degrees(np.stack([a, b, c], axis=-1))


# ----------------------------------------------------------------------------- parsing


class _Tokens:
    """Whitespace tokens of the hierarchy with their line numbers."""

    def __init__(self, lines, source):
        self.items = [(tok, n) for n, line in lines for tok in line.split()]
        self.i = 0
        self.source = source
        self.last_line = lines[-1][0] if lines else 1

    def peek(self):
        return self.items[self.i] if self.i < len(self.items) else (None, self.last_line)

    def next(self, what: str):
        tok, line = self.peek()
        if tok is None:
            raise fail(self.source, f"line {line}: file ends where {what} was expected")
        self.i += 1
        return tok, line

    def expect(self, word: str, context: str):
        tok, line = self.next(f"'{word}'")
        if tok.upper() != word.upper():
            raise fail(self.source, f"line {line}: expected '{word}' {context}, found '{tok}'")
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            v = float(tok)
        except ValueError:
            raise fail(self.source, f"line {line}: {what} must be a number, found '{tok}'") from None
        if not math.isfinite(v):
            raise fail(self.source, f"line {line}: {what} is not finite ({tok})")
        return v

    def rest_of_line(self, line: int) -> list[str]:
        out = []
        while self.i < len(self.items) and self.items[self.i][1] == line and self.items[self.i][0] != "{":
            out.append(self.items[self.i][0])
            self.i += 1
        return out


_MAX_DEPTH = 200  # joints nested deeper than this are refused (the parser recurses once per level)


def _parse_joint(tk: _Tokens, name: str, line: int, parent: int, out: dict, depth: int = 0) -> None:
    """One ROOT/JOINT block, after its name: ``{ OFFSET .. CHANNELS .. (JOINT | End Site)* }``."""
    src = tk.source
    if depth > _MAX_DEPTH:
        raise fail(src, f"line {line}: joint '{name}' is nested more than {_MAX_DEPTH} levels deep")
    if name in out["names"]:
        raise fail(src, f"line {line}: joint name '{name}' is used twice")
    tk.expect("{", f"after joint '{name}'")
    index = len(out["names"])
    out["names"].append(name)
    out["parents"].append(parent)
    out["end_site"].append(False)
    tk.expect("OFFSET", f"first in joint '{name}'")
    out["offsets"].append([tk.number(f"OFFSET of '{name}'") for _ in range(3)])
    channels: tuple[str, ...] = ()
    if (tk.peek()[0] or "").upper() == "CHANNELS":
        _, cline = tk.next("CHANNELS")
        count = tk.number(f"channel count of '{name}'")
        if count != int(count) or not 0 <= count <= 6:
            raise fail(src, f"line {cline}: joint '{name}' declares {count:g} channels, expected 0 to 6")
        names = tk.rest_of_line(cline)
        if len(names) != int(count):
            raise fail(src, f"line {cline}: CHANNELS {int(count)} of '{name}' lists {len(names)} channel names")
        for c in names:
            if len(c) != 9 or c[0].upper() not in _AXES or c[1:].lower() not in ("position", "rotation"):
                raise fail(src, f"line {cline}: unknown channel '{c}' in '{name}' (expected X/Y/Z position or rotation)")
        if len({c.lower() for c in names}) != len(names):
            raise fail(src, f"line {cline}: joint '{name}' lists a channel twice: {' '.join(names)}")
        channels = tuple(c[0].upper() + c[1:].lower() for c in names)
    out["channels"].append(channels)
    while True:
        tok, tline = tk.next(f"'}}' closing joint '{name}' (opened at line {line})")
        key = tok.upper()
        if tok == "}":
            return
        if key == "JOINT":
            child = " ".join(tk.rest_of_line(tline))
            if not child:
                raise fail(src, f"line {tline}: JOINT without a name")
            _parse_joint(tk, child, tline, index, out, depth + 1)
        elif key == "END":
            site = tk.rest_of_line(tline)
            if [s.upper() for s in site] != ["SITE"]:
                raise fail(src, f"line {tline}: expected 'End Site', found 'End {' '.join(site)}'")
            tk.expect("{", "after End Site")
            tk.expect("OFFSET", "in End Site")
            offset = [tk.number("End Site OFFSET") for _ in range(3)]
            tk.expect("}", f"closing the End Site of '{name}'")
            out["names"].append(f"{name}_end")
            out["parents"].append(index)
            out["offsets"].append(offset)
            out["channels"].append(())
            out["end_site"].append(True)
        else:
            raise fail(src, f"line {tline}: expected JOINT, End Site or '}}' in joint '{name}', found '{tok}'")


def parse_bvh(text: str, source: str = "<bvh>") -> BvhFile:
    """Parse BVH text; errors name the line."""
    lines = [(n + 1, line) for n, line in enumerate(text.splitlines())]
    motion_at = next((k for k, (_, line) in enumerate(lines) if line.strip().upper() == "MOTION"), None)
    if motion_at is None:
        raise fail(source, "no MOTION section (not a BVH file, or truncated)")
    tk = _Tokens(lines[:motion_at], source)
    tok, line = tk.next("HIERARCHY")
    if tok.upper() != "HIERARCHY":
        raise fail(source, f"line {line}: a BVH file starts with HIERARCHY, found '{tok}'")
    out = {"names": [], "parents": [], "offsets": [], "channels": [], "end_site": []}
    tok, line = tk.next("ROOT")
    if tok.upper() != "ROOT":
        raise fail(source, f"line {line}: expected ROOT, found '{tok}'")
    name = " ".join(tk.rest_of_line(line))
    if not name:
        raise fail(source, f"line {line}: ROOT without a name")
    _parse_joint(tk, name, line, -1, out)
    tok, line = tk.peek()
    if tok is not None:
        what = "a second ROOT (only one skeleton per file is supported)" if tok.upper() == "ROOT" else f"'{tok}'"
        raise fail(source, f"line {line}: unexpected {what} after the joint tree")

    # MOTION: "Frames: N", "Frame Time: dt", then N lines of numbers
    body = [(n, line) for n, line in lines[motion_at + 1 :] if line.strip()]
    width = sum(len(c) for c in out["channels"])

    def header(k, label):
        if k >= len(body):
            raise fail(source, f"line {lines[-1][0]}: file ends before '{label}'")
        n, line = body[k]
        head, _, value = line.partition(":")
        if " ".join(head.split()).lower() != label.lower():
            raise fail(source, f"line {n}: expected '{label}: ...', found '{line.strip()[:40]}'")
        return n, value.strip()

    n, value = header(0, "Frames")
    try:
        count = int(value)
    except ValueError:
        raise fail(source, f"line {n}: frame count must be an integer, found '{value}'") from None
    if count < 1:
        raise fail(source, f"line {n}: frame count must be >= 1, found {count}")
    n, value = header(1, "Frame Time")
    try:
        frame_time = float(value)
    except ValueError:
        raise fail(source, f"line {n}: frame time must be a number, found '{value}'") from None
    if not (math.isfinite(frame_time) and frame_time > 0):
        raise fail(source, f"line {n}: frame time must be > 0 seconds, found {value}")
    rows = body[2:]
    if len(rows) != count:
        where = rows[-1][0] if rows else n
        raise fail(source, f"line {where}: 'Frames: {count}' but the file has {len(rows)} frame lines")
    frames = np.empty((count, width))
    for f, (n, line) in enumerate(rows):
        values = line.split()
        if len(values) != width:
            raise fail(source, f"line {n}: frame {f} has {len(values)} values, expected {width} (the CHANNELS total)")
        try:
            frames[f] = [float(v) for v in values]
        except ValueError:
            bad = next(v for v in values if not _is_float(v))
            raise fail(source, f"line {n}: frame {f}: '{bad}' is not a number") from None
        if not np.isfinite(frames[f]).all():
            raise fail(source, f"line {n}: frame {f} has non-finite values")
    return BvhFile(
        names=tuple(out["names"]),
        parents=tuple(out["parents"]),
        offsets=np.asarray(out["offsets"], np.float64),
        channels=tuple(out["channels"]),
        frames=frames,
        frame_time=frame_time,
        end_site=tuple(out["end_site"]),
    )


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


# ----------------------------------------------------------------------------- to a SkeletonMotion


def _units_scale(units, offsets, parents, up_axis: int, source: str) -> tuple[float, str]:
    if isinstance(units, (int, float)) and not isinstance(units, bool):
        return float(units), f"{units:g} m per unit"
    key = str(units).lower()
    if key in UNITS:
        return UNITS[key], key
    if key != "auto":
        raise fail(source, f"unknown units {units!r}: expected one of {sorted(UNITS)}, auto, or metres per unit")
    pos = np.zeros_like(offsets)
    for j in range(1, len(offsets)):
        pos[j] = pos[parents[j]] + offsets[j]
    height = float(np.ptp(pos[:, up_axis]))
    if not (math.isfinite(height) and height * UNITS["mm"] > 0):  # log() below needs a height > 0 in every unit
        return 1.0, "m (auto: flat rest pose, assumed metres)"
    # the unit whose rest pose height is closest to an adult's, on a log scale
    best = min(UNITS, key=lambda u: abs(math.log(height * UNITS[u] / _AUTO_HEIGHT)))
    return UNITS[best], f"{best} (auto: rest pose {height:.4g} units tall)"


def _snap_fps(frame_time: float) -> float:
    fps = 1.0 / frame_time
    if not math.isfinite(fps):
        return fps
    return float(round(fps)) if abs(fps - round(fps)) < 1e-3 * fps else fps


def bvh_to_motion(
    bvh: BvhFile, *, units="auto", up: str = "y", end_sites: bool = False, source: str = "<bvh>"
) -> tuple[SkeletonMotion, str]:
    """The SkeletonMotion of a parsed file (metres, z up) and a note on the units used."""
    up = up.lower()
    if up not in ("y", "z"):
        raise fail(source, f"up must be 'y' or 'z', got {up!r}")
    keep = [j for j in range(len(bvh.names)) if end_sites or not bvh.end_site[j]]
    remap = {j: k for k, j in enumerate(keep)}
    scale, note = _units_scale(units, bvh.offsets, bvh.parents, 1 if up == "y" else 2, source)

    t = len(bvh.frames)
    offsets = bvh.offsets.copy()
    local = np.zeros((t, len(bvh.names), 4))
    local[..., 0] = 1.0
    root_pos = np.repeat(offsets[:1], t, axis=0)
    col = 0
    for j, chans in enumerate(bvh.channels):
        values = bvh.frames[:, col : col + len(chans)]
        col += len(chans)
        pos_idx = [k for k, c in enumerate(chans) if c.endswith("position")]
        rot_idx = [k for k, c in enumerate(chans) if c.endswith("rotation")]
        if pos_idx:
            trans = np.repeat(offsets[j][None], t, axis=0)
            for k in pos_idx:
                trans[:, _AXES[chans[k][0]]] = values[:, k]
            if j == 0:
                root_pos = trans
            else:
                offsets[j] = trans[0]  # a SkeletonMotion has fixed bones: frame 0's translation
                moved = float(np.abs(trans - trans[0]).max()) * scale
                if moved > 1e-3:
                    warnings.warn(
                        f"{source}: joint '{bvh.names[j]}' translates by up to {moved:.3f} m; "
                        "only its frame-0 offset is kept (clips animate rotations)",
                        RuntimeWarning,
                        stacklevel=3,
                    )
        if rot_idx:
            order = "".join(chans[k][0] for k in rot_idx)
            local[:, j] = euler_to_quat(values[:, rot_idx], order)

    # drop End Sites (no rotation of their own) and re-index parents
    names = tuple(bvh.names[j] for j in keep)
    parents = tuple(-1 if bvh.parents[j] < 0 else remap[bvh.parents[j]] for j in keep)
    offsets, local = offsets[keep] * scale, local[:, keep]
    root_pos = root_pos * scale
    if up == "y":  # change of basis: positions C p, rotations C q C^-1
        c = _Y_TO_Z_UP
        offsets = rot.rotate(c, offsets)
        root_pos = rot.rotate(c, root_pos)
        local = rot.multiply(rot.multiply(c, local), rot.conjugate(c))
    try:
        skeleton = Skeleton(names, parents, offsets)
    except MotionDataError as e:  # e.g. offsets that overflow once scaled
        raise fail(source, f"skeleton: {e}") from None
    motion = SkeletonMotion(skeleton, local, root_pos, _snap_fps(bvh.frame_time), source=source)
    return motion, note


def load_bvh(path, *, units="auto", up: str = "y", end_sites: bool = False, return_note: bool = False):
    """Read a ``.bvh`` file as a SkeletonMotion in metres, z up (see the module docstring).

    ``return_note=True`` also returns a one-line note on the units chosen (useful with ``auto``).
    """
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8", errors="strict") as f:
            text = f.read()
    except OSError as e:
        raise fail(source, f"cannot read the file ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise fail(source, f"not a text BVH file ({e})") from None
    motion, note = bvh_to_motion(parse_bvh(text, source), units=units, up=up, end_sites=end_sites, source=source)
    return (motion, note) if return_note else motion


# ----------------------------------------------------------------------------- writing


def save_bvh(path, motion: SkeletonMotion, *, order: str = "ZXY", up: str = "y", units="m") -> None:
    """Write a clip as BVH: the root with 6 channels (position, then rotation in ``order``), every
    other joint with 3 rotation channels; leaves get a short End Site along their offset. ``up="y"``
    turns z-up data back to y up; ``units`` as for reading (the file's length unit)."""
    scale = 1.0 / (UNITS[units] if isinstance(units, str) else float(units))
    sk = motion.skeleton
    local, root_pos, offsets = motion.local_rot.astype(np.float64), motion.root_pos.astype(np.float64), sk.offsets
    if up == "y":
        c = rot.conjugate(_Y_TO_Z_UP)
        offsets = rot.rotate(c, offsets.astype(np.float64))
        root_pos = rot.rotate(c, root_pos)
        local = rot.multiply(rot.multiply(c, local), rot.conjugate(c))
    children = {j: [k for k, p in enumerate(sk.parents) if p == j] for j in range(sk.num_joints)}
    rot_channels = " ".join(f"{a}rotation" for a in order.upper())
    out = ["HIERARCHY"]

    def emit(j, depth):
        pad = "  " * depth
        kind = "ROOT" if j == 0 else "JOINT"
        out.append(f"{pad}{kind} {sk.names[j]}")
        out.append(f"{pad}{{")
        o = (root_pos[0] * 0.0 if j == 0 else offsets[j]) * scale
        out.append(f"{pad}  OFFSET {o[0]:.6f} {o[1]:.6f} {o[2]:.6f}")
        if j == 0:
            out.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {rot_channels}")
        else:
            out.append(f"{pad}  CHANNELS 3 {rot_channels}")
        for k in children[j]:
            emit(k, depth + 1)
        if not children[j]:
            tip = offsets[j] * scale * 0.25 if j else np.array([0.0, 0.1 * scale, 0.0])
            out.append(f"{pad}  End Site\n{pad}  {{\n{pad}    OFFSET {tip[0]:.6f} {tip[1]:.6f} {tip[2]:.6f}\n{pad}  }}")
        out.append(f"{pad}}}")

    order_in_file = []

    def walk(j):
        order_in_file.append(j)
        for k in children[j]:
            walk(k)

    emit(0, 0)
    walk(0)
    euler = quat_to_euler(local, order)  # (T, J, 3) degrees
    out += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    for f in range(motion.num_frames):
        vals = list(root_pos[f] * scale)
        for j in order_in_file:
            vals += list(euler[f, j])
        out.append(" ".join(f"{v:.6f}" for v in vals))
    with open(os.fspath(path), "w", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n")


def rest_positions(motion: SkeletonMotion) -> np.ndarray:
    """Joint positions (J, 3) of the rest pose (identity rotations) with the root at frame 0's place."""
    ident = np.zeros((motion.skeleton.num_joints, 4))
    ident[:, 0] = 1.0
    pos, _ = forward_kinematics(motion.skeleton, ident, motion.root_pos[0])
    return np.asarray(pos)
