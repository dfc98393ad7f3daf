"""Read and write poselib ``SkeletonMotion`` / ``SkeletonState`` ``.npy`` files (spec §6.3) safely.

A poselib file is ``np.save`` of a Python ``OrderedDict``: a ``.npy`` header for a 0-d object array,
followed by a pickle (protocol 3) of that array. Unpickling runs whatever callables the pickle names,
so these files are never opened with ``np.load(allow_pickle=True)`` or plain ``pickle``: the header is
parsed with ``numpy.lib.format`` and the payload goes through :class:`RestrictedUnpickler`, which
resolves only the four globals the real files use (``collections.OrderedDict``, ``numpy.dtype``,
``numpy.ndarray``, ``numpy.core.multiarray._reconstruct`` -- ``numpy._core.multiarray._reconstruct``
under NumPy 2) and refuses every other one before anything is called.

On disk quaternions are xyzw (poselib's order); in memory they are wxyz (the project's). Every array
is wrapped as ``{"arr": ndarray, "context": {"dtype": str}}``. Any problem is one
:class:`~near.motion.skeleton.MotionDataError` naming the file and the fault.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from near.motion.skeleton import (
    MotionDataError,
    Skeleton,
    SkeletonMotion,
    SkeletonState,
    fail,
    short,
    velocities,
)
from near.utils import rotations as rot

__all__ = ["MotionDataError", "RestrictedUnpickler", "load_poselib", "read_poselib_dict", "save_poselib"]

_reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]  # the installed numpy's array reconstructor
_OLD_RECONSTRUCT = b"cnumpy.core.multiarray\n_reconstruct\n"  # GLOBAL opcode as NumPy 1.x writes it
_DTYPE_KINDS = "biufcOUS"  # what poselib arrays (and the object array around the dict) are made of


class _Named:
    """numpy.ndarray as a pickle may name it: only as _reconstruct's first argument. Called, or used
    as a class (NEWOBJ), it would allocate whatever size the file declares."""

    def __call__(self, *args, **kwargs):
        raise pickle.UnpicklingError("numpy.ndarray may only be named, not called")


_NDARRAY = _Named()


def _safe_reconstruct(subtype, shape, dtype):
    """numpy pickles every array as ``_reconstruct(ndarray, (0,), b'b')`` and then sets its data with
    ``__setstate__`` (which checks the data's length); any other size is refused before allocating."""
    if subtype is not _NDARRAY or tuple(shape) != (0,) or dtype not in (b"b", "b"):
        raise pickle.UnpicklingError(f"unexpected array reconstruction ({short(shape)}, {short(dtype)})")
    return _reconstruct(np.ndarray, (0,), b"b")


def _safe_dtype(spec, align=False, copy=True):
    """numpy pickles a dtype as ``dtype('f4', False, True)``: a short type string only."""
    if not isinstance(spec, str) or len(spec) > 8:
        raise pickle.UnpicklingError(f"unexpected dtype specification {short(spec)}")
    dt = np.dtype(spec)
    if dt.kind not in _DTYPE_KINDS or dt.itemsize > 64:
        raise pickle.UnpicklingError(f"dtype {dt} is not one a poselib file uses")
    return dt


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy", "dtype"): _safe_dtype,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
}


def _prescan(payload: bytes, source: str) -> None:
    """Walk the pickle's opcodes without running them: refuses truncated streams and length fields
    larger than the file (the C unpickler allocates a BINBYTES8's declared size before reading it)."""
    import pickletools

    try:
        for op, arg, _ in pickletools.genops(payload):
            if op.name in ("GLOBAL", "INST") and tuple(str(arg).split(" ", 1)) not in _ALLOWED:
                module, _, name = str(arg).partition(" ")
                raise fail(source, f"refused to unpickle the global '{module}.{name}': poselib files may only "
                                   "reference collections.OrderedDict, numpy.dtype, numpy.ndarray and numpy's "
                                   "_reconstruct (the file is not a poselib motion, or it is malicious)")
    except MotionDataError:
        raise
    except Exception as e:  # noqa: BLE001 - pickletools reports a malformed stream as ValueError and others
        raise fail(source, f"corrupt or truncated pickle payload ({type(e).__name__}: {short(str(e))})") from None


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals of poselib files; anything else raises before it can run."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise fail(
                self.source,
                f"refused to unpickle the global '{module}.{name}': poselib files may only reference "
                "collections.OrderedDict, numpy.dtype, numpy.ndarray and numpy's _reconstruct "
                "(the file is not a poselib motion, or it is malicious)",
            ) from None

    def persistent_load(self, pid):
        raise fail(self.source, "refused a persistent id in the pickle (not a poselib file)")


def read_poselib_dict(path) -> dict:
    """The raw dict stored in a poselib ``.npy`` (wrapped arrays left as they are)."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise fail(source, f"cannot read the file ({e.strerror or e})") from None
    f = io.BytesIO(raw)
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = npy_format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except Exception as e:  # noqa: BLE001 - numpy parses the header with tokenize/ast: ValueError, TokenError, ...
        raise fail(source, f"not a valid .npy file ({type(e).__name__}: {short(str(e))})") from None
    if dtype != np.dtype(object) or shape != ():
        raise fail(source, f"holds a plain {dtype} array of shape {short(shape)}, not a pickled poselib dict")
    payload = raw[f.tell():]
    _prescan(payload, source)
    try:
        obj = RestrictedUnpickler(io.BytesIO(payload), source).load()
    except MotionDataError:
        raise
    except Exception as e:  # noqa: BLE001 - a corrupt pickle raises anything from EOFError to TypeError
        raise fail(source, f"corrupt or truncated pickle payload ({type(e).__name__}: {short(str(e))})") from None
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict):
        raise fail(source, f"payload is a {type(obj).__name__}, expected a dict")
    return obj


def _unwrap(d: dict, key: str, source: str, where: str = "") -> Any:
    if key not in d:
        raise fail(source, f"missing key '{where}{key}' (has {short(sorted(map(str, d)))})")
    v = d[key]
    return v["arr"] if isinstance(v, dict) and "arr" in v else v


def _float_array(d, key, shape, source, where=""):
    v = _unwrap(d, key, source, where)
    try:
        a = np.asarray(v, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        raise fail(source, f"'{where}{key}' is not a numeric array") from None
    if a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape)):  # None: any T
        want = tuple("T" if s is None else s for s in shape)
        raise fail(source, f"'{where}{key}' has shape {a.shape}, expected {want}")
    if not np.isfinite(a).all():
        raise fail(source, f"'{where}{key}' has {int((~np.isfinite(a)).sum())} non-finite values (NaN or inf)")
    return a


def _quats(a, source) -> np.ndarray:
    """xyzw on disk -> unit wxyz; a (near) zero quaternion is an error, not something to guess at."""
    a = np.asarray(a, np.float64)  # a float32 norm of components near 1e38 overflows to inf
    norm = np.linalg.norm(a, axis=-1, keepdims=True)
    if (norm < 1e-3).any():
        raise fail(source, f"{int((norm < 1e-3).sum())} rotation(s) have zero norm")
    return np.asarray(rot.from_xyzw(a / norm), np.float32)


def _skeleton(d, source) -> Skeleton:
    tree = _unwrap(d, "skeleton_tree", source)
    if not isinstance(tree, dict):
        raise fail(source, "'skeleton_tree' is not a dict")
    names = _unwrap(tree, "node_names", source, "skeleton_tree.")
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise fail(source, "'skeleton_tree.node_names' is not a list of strings")
    j = len(names)
    try:
        parents = np.asarray(_unwrap(tree, "parent_indices", source, "skeleton_tree."))
    except (TypeError, ValueError, OverflowError):
        raise fail(source, "'skeleton_tree.parent_indices' is not an integer array") from None
    if parents.shape != (j,) or parents.dtype.kind not in "iu":
        raise fail(source, f"'skeleton_tree.parent_indices' has shape {parents.shape} dtype {parents.dtype}, expected ({j},) ints")
    offsets = _float_array(tree, "local_translation", (j, 3), source, "skeleton_tree.")
    try:
        return Skeleton(tuple(names), tuple(parents.tolist()), offsets)
    except MotionDataError as e:
        raise fail(source, str(e)) from None


def _to_local(skeleton: Skeleton, global_rot: np.ndarray) -> np.ndarray:
    """Global joint rotations -> local ones (for files with is_local False)."""
    parents = np.array(skeleton.parents[1:])
    local = np.array(global_rot)
    local[..., 1:, :] = rot.multiply(rot.conjugate(global_rot[..., parents, :]), global_rot[..., 1:, :])
    return local


def load_poselib(path) -> SkeletonMotion | SkeletonState:
    """Read a poselib ``SkeletonMotion`` or ``SkeletonState`` ``.npy`` (quaternions become wxyz)."""
    source = os.fspath(path)
    try:
        return _load_poselib(source)
    except RecursionError:  # values nested thousands deep (np.asarray and str() recurse into them)
        raise fail(source, "a value is nested too deeply to be a poselib array") from None


def _load_poselib(source: str) -> SkeletonMotion | SkeletonState:
    d = read_poselib_dict(source)
    kind = d.get("__name__", "SkeletonMotion")
    skeleton = _skeleton(d, source)
    j = skeleton.num_joints
    if kind == "SkeletonState":
        local_rot = _quats(_float_array(d, "rotation", (j, 4), source), source)
        root_pos = _float_array(d, "root_translation", (3,), source)
    elif kind == "SkeletonMotion":
        local_rot = _quats(_float_array(d, "rotation", (None, j, 4), source), source)
        t = local_rot.shape[0]
        root_pos = _float_array(d, "root_translation", (t, 3), source)
    else:
        raise fail(source, f"'__name__' is {short(kind)}, expected 'SkeletonMotion' or 'SkeletonState'")
    is_local = d.get("is_local", True)
    if not isinstance(is_local, (bool, np.bool_, int, np.integer)):
        raise fail(source, f"'is_local' is {short(is_local)}, expected true or false")
    if not is_local:
        local_rot = _to_local(skeleton, local_rot)
    if kind == "SkeletonState":
        return SkeletonState(skeleton, local_rot, root_pos, source=source)

    fps = _unwrap(d, "fps", source)
    try:
        fps = float(np.asarray(fps).reshape(()))
    except (TypeError, ValueError):
        raise fail(source, f"'fps' is {short(fps)}, expected a number") from None
    if not (np.isfinite(fps) and fps > 0):
        raise fail(source, f"'fps' is {fps}, expected a positive number")
    vel = {}
    for key in ("global_velocity", "global_angular_velocity"):
        # old poselib versions omit velocities; they are recomputed on demand then
        vel[key] = _float_array(d, key, (t, j, 3), source) if key in d else None
    return SkeletonMotion(skeleton, local_rot, root_pos, fps, source=source, **vel)


class _Py37CompatiblePickler(pickle._Pickler):
    """Writes numpy's reconstructor under its NumPy 1.x name, so files load with the original stack.

    (NumPy 2 pickles name ``numpy._core.multiarray``, a module older NumPy releases lack.) The pure
    Python pickler is used because only it lets save_global be overridden.
    """

    def save_global(self, obj, name=None):
        if obj is _reconstruct:
            self.write(_OLD_RECONSTRUCT)
            self.memoize(obj)
        else:
            super().save_global(obj, name)


def _wrap(a, dtype=np.float32) -> dict:
    a = np.ascontiguousarray(a, dtype=dtype)
    return {"arr": a, "context": {"dtype": str(a.dtype)}}


def save_poselib(path, item: SkeletonMotion | SkeletonState) -> None:
    """Write a poselib ``.npy`` the original code reads: same keys in the same order, xyzw float32,
    velocities per the §6.3 recipe when the clip has none stored."""
    sk = item.skeleton
    tree = collections.OrderedDict(
        node_names=list(sk.names),
        parent_indices=_wrap(np.array(sk.parents), np.int64),
        local_translation=_wrap(sk.offsets),
    )
    d = collections.OrderedDict()
    d["rotation"] = _wrap(rot.to_xyzw(item.local_rot))
    d["root_translation"] = _wrap(item.root_pos)
    if isinstance(item, SkeletonMotion):
        lin, ang = velocities(item)
        d["global_velocity"] = _wrap(lin)
        d["global_angular_velocity"] = _wrap(ang)
    d["skeleton_tree"] = tree
    d["is_local"] = True
    if isinstance(item, SkeletonMotion):
        d["fps"] = round(item.fps) if abs(item.fps - round(item.fps)) < 1e-6 else float(item.fps)
    d["__name__"] = type(item).__name__

    payload = np.empty((), dtype=object)
    payload[()] = d
    with open(os.fspath(path), "wb") as f:
        npy_format.write_array_header_1_0(
            f, {"descr": npy_format.dtype_to_descr(payload.dtype), "fortran_order": False, "shape": ()}
        )
        _Py37CompatiblePickler(f, protocol=3).dump(payload)
