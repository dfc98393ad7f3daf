"""Fuzzed readers (issue #17): every reader of a file or string that users share, fed valid inputs
mutated by hypothesis (bytes flipped, truncated, fields dropped, types swapped, huge or negative
sizes, NaN and inf, malicious pickles).

Each case must either load into a valid object or raise the project's own error naming the file.
Anything else is a fault: another exception, a hang past 10 s of CPU time, a memory blow-up (the
peak resident size grows by more than 1 GiB in one case, or an allocation fails under an address-space
cap 6 GiB above the process's size), a refusal that does not name the file, an invalid object
returned, or code run by a pickle (a marker file appears).

    python benchmarks/reliability_fuzz.py                     # full: 10,000 cases per reader
    python benchmarks/reliability_fuzz.py --cases 300 --readers bvh,poselib

Writes benchmarks/results/reliability_fuzz.json and prints a table. tests/test_reliability_fuzz.py
runs the same harness with a few hundred cases per reader (NEAR_FULL_RELIABILITY=1: the full counts).
"""

from __future__ import annotations

import argparse
import builtins
import collections
import contextlib
import copy
import dataclasses
import json
import math
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

FULL_CASES = 10_000
CI_CASES = 200
TIME_LIMIT_S = 10.0
MEMORY_HEADROOM = 6 << 30  # address space a case may add before an allocation fails (a declared terabyte trips it)
RSS_LIMIT = 1 << 30  # resident memory a case may add to the process's peak: more is a blow-up


class Fault(AssertionError):
    """A reader broke its contract on one input."""


class _Timeout(BaseException):  # not an Exception: reader code that catches Exception cannot swallow it
    pass


def _vm_size() -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@contextlib.contextmanager
def guarded(seconds: float = TIME_LIMIT_S, headroom: int = MEMORY_HEADROOM):
    """A hang is ``seconds`` of this thread's CPU time (a loaded machine must not fake one, nor other
    threads' work), or 6x as long on the wall clock (a wait that uses no CPU); the address space is
    capped ``headroom`` bytes above its current size."""
    start_cpu, start_wall = time.thread_time(), time.monotonic()

    def alarm(signum, frame):  # runs in the main thread: thread_time() is the reader's own CPU time
        used = time.thread_time() - start_cpu
        if used >= seconds or time.monotonic() - start_wall >= 6 * seconds:
            raise _Timeout()
        signal.setitimer(signal.ITIMER_REAL, max(0.5, seconds - used))

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    limits = resource.getrlimit(resource.RLIMIT_AS)
    size = _vm_size()
    if size is not None:
        cap = size + headroom
        if limits[1] != resource.RLIM_INFINITY:
            cap = min(cap, limits[1])
        resource.setrlimit(resource.RLIMIT_AS, (cap, limits[1]))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        resource.setrlimit(resource.RLIMIT_AS, limits)


# ----------------------------------------------------------------------------------------------
# mutations: small data descriptions that hypothesis draws and shrinks, applied to a seed input

POS = st.integers(0, 1 << 20)  # a position, taken modulo the length of what it is applied to
TOKENS = [b"nan", b"NaN", b"inf", b"-inf", b"Infinity", b"-1", b"0", b"1e309", b"-1e309", b"1e-320",
          b"99999999999999999999", b"4294967296", b"-2147483649", b"\x00", b"\xff\xfe", b"\n", b"{", b"}",
          b"[", b"]", b":", b",", b'"', b"'", b"&a", b"*a", b"!!python/object/apply:os.system ['true']"]
BYTE_OPS = st.one_of(
    st.tuples(st.just("flip"), POS, st.integers(1, 255)),
    st.tuples(st.just("truncate"), POS),
    st.tuples(st.just("insert"), POS, st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=8))),
    st.tuples(st.just("delete"), POS, st.integers(1, 64)),
    st.tuples(st.just("dup"), POS, st.integers(1, 256)),
    st.tuples(st.just("set"), POS, st.sampled_from(TOKENS)),
)


def apply_bytes(data: bytes, ops) -> bytes:
    b = bytearray(data)
    for op in ops:
        kind, pos = op[0], op[1] % (len(b) + 1)
        if kind == "flip" and b:
            b[pos % len(b)] ^= op[2]
        elif kind == "truncate":
            del b[pos:]
        elif kind == "insert":
            b[pos:pos] = op[2]
        elif kind == "delete":
            del b[pos : pos + op[2]]
        elif kind == "dup":
            b[pos:pos] = b[pos : pos + op[2]]
        elif kind == "set":
            b[pos : pos + len(op[2])] = op[2]
    return bytes(b)


def _deep(depth: int, leaf: Any = 0) -> Any:
    x = leaf
    for _ in range(depth):
        x = [x]
    return x


_DEEP = _deep(5000)  # deeper than Python's recursion limit
# values put in place of a field: other types, huge and negative sizes, NaN and inf
INTERESTING = [None, True, False, 0, -1, 1, 2, 3, 15, 2**31, 2**63, -(2**63), 10**400, -(10**30), 1e308, -1e308,
               1e-320, math.nan, math.inf, -math.inf, "", "x", "nan", "1e999", "-1", "auto", "\x00", "é" * 3,
               "a" * 100_000, [], {}, [math.nan], [[]], [0] * 1000, {"a": 1}, {1: 2}, [1, "a", None],
               _deep(60), _DEEP, list(range(44)), [math.nan] * 44, [[1.0] * 44] * 3]
VALUES = st.one_of(
    st.sampled_from(range(len(INTERESTING))).map(lambda i: ("interesting", i)),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: ("float", f)),
    st.integers(-(2**70), 2**70).map(lambda i: ("int", i)),
    st.text(max_size=12).map(lambda s: ("str", s)),
)


def make_value(spec, extra: list | None = None):
    kind, v = spec
    if kind == "interesting":
        pool = INTERESTING + (extra or [])
        return copy.copy(pool[v % len(pool)])
    return v


TREE_OPS = st.tuples(
    st.lists(st.integers(0, 1 << 16), max_size=5),  # path: a child index per level, modulo its size
    st.sampled_from(["drop", "set", "set", "set", "dup", "truncate", "extend", "wrap", "to_str", "alias"]),
    VALUES,
)


def apply_tree(root: Any, ops, extra_values: list | None = None) -> Any:
    """Mutate a parsed document (dicts, lists, arrays) in place and return it."""
    root = copy.deepcopy(root)
    for path, action, value in ops:
        parent, key, node = None, None, root
        for sel in path:
            if isinstance(node, dict) and node:
                k = list(node)[sel % len(node)]
                parent, key, node = node, k, node[k]
            elif isinstance(node, list) and node:
                k = sel % len(node)
                parent, key, node = node, k, node[k]
            else:
                break
        if parent is None:  # the root itself: wrap it or swap it
            if action == "set":
                root = make_value(value, extra_values)
            elif action == "wrap":
                root = [root]
            continue
        if action == "drop":
            del parent[key]
        elif action == "set":
            parent[key] = make_value(value, extra_values)
        elif action == "dup" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(node))
        elif action == "truncate" and isinstance(node, list):
            del node[len(node) // 2 :]
        elif action == "extend" and isinstance(node, list):
            node.extend(copy.deepcopy(node))
        elif action == "wrap":
            parent[key] = [node]
        elif action == "to_str":
            parent[key] = str(node)[:200]
        elif action == "alias":  # the same object twice (yaml anchors, pickle memo)
            parent[key] = root if not isinstance(root, np.ndarray) else node
    return root


# ----------------------------------------------------------------------------------------------
# malicious pickles: each would leave a marker file if anything ran


class Reduce:
    """Pickles as ``func(*args)``: the shape of every pickle exploit."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def evil_payloads(marker_dir: str) -> list:
    import subprocess as sp

    from near.motion.poselib import _reconstruct

    touch = lambda name: f"touch {os.path.join(marker_dir, name)}"
    code = lambda name: f"open({os.path.join(marker_dir, name)!r}, 'w').close()"
    getattr_chain = Reduce(builtins.getattr, Reduce(builtins.getattr, Reduce(builtins.__import__, "os"), "path"),
                           "exists")
    return [
        Reduce(os.system, touch("os_system")),
        Reduce(builtins.eval, code("eval")),
        Reduce(builtins.exec, code("exec")),
        Reduce(sp.Popen, ["sh", "-c", touch("popen")]),
        Reduce(sp.check_call, ["sh", "-c", touch("check_call")]),
        Reduce(builtins.getattr, Reduce(builtins.__import__, "os"), "system"),  # getattr chain to os.system
        getattr_chain,
        Reduce(collections.OrderedDict, [("a", Reduce(os.system, touch("nested")))]),  # nested __reduce__
        Reduce(np.ndarray, (1 << 40,), "u1"),  # allowed globals, misused: a terabyte
        Reduce(_reconstruct, np.ndarray, (1 << 40,), b"b"),
        Reduce(np.dtype, "V1099511627776"),
        Reduce(np.dtype, Reduce(os.system, touch("dtype"))),
        Reduce(collections.OrderedDict, Reduce(builtins.eval, code("ordered"))),
        Reduce(np.load, os.path.join(marker_dir, "x.npy")),
        Reduce(shutil.rmtree, os.path.join(marker_dir, "precious")),
    ]


# ----------------------------------------------------------------------------------------------
# readers


@dataclasses.dataclass
class Reader:
    name: str
    errors: tuple  # the project's own error classes this reader may raise
    strategy: Callable[[], st.SearchStrategy]
    prepare: Callable[[str], Any]  # build the seed inputs once (returns a context)
    materialise: Callable[[Any, Any, str], str]  # (context, case, fresh folder) -> the input to load
    load: Callable[[Any, str], Any]
    invalid: Callable[[Any], str | None]  # why a loaded object is not valid, or None
    names_file: bool = True  # refusals must name the input
    where: Callable[[str], bool] | None = None  # a refusal names the line or field


def _finite(*arrays) -> bool:
    return all(np.isfinite(np.asarray(a, np.float64)).all() for a in arrays if a is not None)


def motion_invalid(m) -> str | None:
    from near.motion.skeleton import SkeletonMotion, SkeletonState

    if not isinstance(m, (SkeletonMotion, SkeletonState)):
        return f"a {type(m).__name__}"
    j = m.skeleton.num_joints
    if m.local_rot.shape[-2:] != (j, 4) or m.root_pos.shape[-1] != 3:
        return f"shapes {m.local_rot.shape} {m.root_pos.shape} for {j} joints"
    if not _finite(m.local_rot, m.root_pos, m.skeleton.offsets):
        return "non-finite arrays"
    if not np.allclose(np.linalg.norm(m.local_rot, axis=-1), 1.0, atol=1e-3):
        return "rotations that are not unit quaternions"
    if isinstance(m, SkeletonMotion):
        if m.local_rot.shape[0] < 1 or m.root_pos.shape[0] != m.local_rot.shape[0]:
            return f"{m.local_rot.shape[0]} rotation frames, {m.root_pos.shape[0]} root frames"
        if not (math.isfinite(m.fps) and m.fps > 0):
            return f"fps {m.fps}"
        if not _finite(m.global_velocity, m.global_angular_velocity):
            return "non-finite velocities"
    return None


# --- poselib .npy (through the restricted unpickler)


def _poselib_prepare(root: str):
    from near.motion import humanoid as H
    from near.motion.skeleton import Skeleton, SkeletonMotion, compute_velocities
    from near.utils import rotations as rot

    sk = Skeleton.amp_humanoid()
    rng = np.random.default_rng(0)
    dof = 0.3 * rng.standard_normal((4, 28)).astype(np.float32)
    local = H.local_rot_from_dof(dof)
    pos = np.array([[0.0, 0.0, 0.9]] * 4, np.float32) + np.arange(4)[:, None] * 0.01
    clip = SkeletonMotion(sk, local, pos, 30.0)
    lin, ang = compute_velocities(sk, clip.local_rot, clip.root_pos, clip.fps)
    wrap = lambda a, dt=np.float32: {"arr": np.asarray(a, dt), "context": {"dtype": str(np.dtype(dt))}}
    tree = collections.OrderedDict(node_names=list(sk.names), parent_indices=wrap(sk.parents, np.int64),
                                   local_translation=wrap(sk.offsets))
    motion = collections.OrderedDict(rotation=wrap(rot.to_xyzw(local)), root_translation=wrap(pos),
                                     global_velocity=wrap(lin), global_angular_velocity=wrap(ang),
                                     skeleton_tree=tree, is_local=True, fps=30, __name__="SkeletonMotion")
    state = collections.OrderedDict(rotation=wrap(rot.to_xyzw(local[0])), root_translation=wrap(pos[0]),
                                    skeleton_tree=copy.deepcopy(tree), is_local=False, __name__="SkeletonState")
    markers = os.path.join(root, "markers")
    os.makedirs(os.path.join(markers, "precious"))
    arrays = [np.zeros((0,), np.float32), np.full((4, 15, 4), np.nan, np.float32), np.ones((3, 3), np.int8),
              np.ones((4, 15, 4), np.complex64), np.array(["a", "b"]), np.array([None, 1], dtype=object),
              np.ones((4, 15, 4), bool), np.float64(np.inf), np.ones((1, 1, 1, 1, 1)), np.zeros((4, 15, 4)),
              np.array([[-1, 0, 1]] * 5)]
    return {"seeds": [motion, state], "markers": markers, "extra": arrays + evil_payloads(markers)}


def _poselib_strategy():
    return st.tuples(st.integers(0, 1), st.lists(TREE_OPS, max_size=3), st.sampled_from([2, 3, 4, 5]),
                     st.lists(BYTE_OPS, max_size=2), st.sampled_from(["", "", "", "shape", "descr", "version"]))


def _poselib_materialise(ctx, case, folder: str) -> str:
    import pickle

    from numpy.lib import format as npy_format

    which, tree_ops, protocol, byte_ops, header = case
    doc = apply_tree(ctx["seeds"][which], tree_ops, ctx["extra"])
    payload = np.empty((), dtype=object)
    payload[()] = doc
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # values nested 5,000 deep are among the inputs
    try:
        body = pickle.dumps(payload, protocol=protocol)
    except (RecursionError, TypeError, ValueError, pickle.PicklingError):
        body = pickle.dumps(np.array({}, dtype=object), protocol=protocol)
    finally:
        sys.setrecursionlimit(limit)
    meta = {"descr": "|O", "fortran_order": False, "shape": ()}
    if header == "shape":
        meta["shape"] = (1 << 40,)
    elif header == "descr":
        meta["descr"] = "<f8"
    out = __import__("io").BytesIO()
    (npy_format.write_array_header_2_0 if header == "version" else npy_format.write_array_header_1_0)(out, meta)
    path = os.path.join(folder, "clip.npy")
    with open(path, "wb") as fh:
        fh.write(apply_bytes(out.getvalue() + body, byte_ops))
    return path


def _markers_clean(ctx) -> str | None:
    left = sorted(set(os.listdir(ctx["markers"])) - {"precious"})
    if left or not os.path.isdir(os.path.join(ctx["markers"], "precious")):
        return f"a pickle ran code: markers {left}, precious folder kept: {os.path.isdir(os.path.join(ctx['markers'], 'precious'))}"
    return None


def _poselib_load(ctx, path):
    from near.motion.poselib import load_poselib

    try:
        return load_poselib(path)
    finally:
        problem = _markers_clean(ctx)
        if problem:
            raise Fault(problem)


# --- DeepMimic .txt


def _frame(dt=1 / 30):
    ident = [1.0, 0.0, 0.0, 0.0]
    f = [dt, 0.0, 0.85, 0.0] + ident * 3 + ident + [0.3] + ident * 2 + [0.2] + ident + [0.1] + ident * 2 + [0.4]
    assert len(f) == 44
    return f


def _deepmimic_prepare(root):
    mixed = [_frame(1 / 30), _frame(1 / 60), _frame(1 / 30), _frame(1 / 30)]
    return {"seeds": [{"Loop": "wrap", "Frames": [_frame() for _ in range(4)]}, {"Loop": "none", "Frames": mixed}]}


def _text_case():
    return st.one_of(st.just(("none",)), st.just(("none",)),
                     st.tuples(st.just("nest"), st.integers(1, 200_000)),
                     st.tuples(st.just("number"), st.sampled_from(["1" + "0" * 400, "-" + "9" * 5000, "1e-400", "NaN",
                                                                   "Infinity", "0" * 100_000])))


def _deepmimic_strategy():
    return st.tuples(st.integers(0, 1), st.lists(TREE_OPS, max_size=3), st.lists(BYTE_OPS, max_size=2), _text_case())


def _json_text(doc, special) -> str:
    text = json.dumps(doc)
    if special[0] == "nest":  # deep nesting where a frame should be
        text = text.replace("[[", "[" * special[1] + "[" + "]" * 0, 1)
    elif special[0] == "number":
        text = re.sub(r"-?\d+\.\d+", special[1], text, count=3)
    return text


def _deepmimic_materialise(ctx, case, folder):
    which, tree_ops, byte_ops, special = case
    doc = apply_tree(ctx["seeds"][which], tree_ops)
    try:
        text = _json_text(doc, special)
    except (RecursionError, ValueError, TypeError):
        text = json.dumps(ctx["seeds"][which])
    path = os.path.join(folder, "clip.txt")
    with open(path, "wb") as fh:
        fh.write(apply_bytes(text.encode("utf-8", "surrogatepass"), byte_ops))
    return path


def _deepmimic_load(ctx, path):
    from near.motion.deepmimic import load_deepmimic

    return load_deepmimic(path)


# --- BVH


SMALL_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0.0 0.0 0.0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0.0 10.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0.0 5.0 0.0
    }
  }
  JOINT LeftLeg
  {
    OFFSET 10.0 0.0 0.0
    CHANNELS 3 Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 0.0 -40.0 0.0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.0333333
0 90 0  0 0 0   0 0 0   0 0 0
5 90 0  0 0 90  90 0 0  0 0 0
0 90 0  0 0 0   0 0 0   90 90 0
"""
BVH_TOKENS = ["nan", "inf", "-inf", "1e309", "-1", "0", "7", "99999999999", "-99999999999", "1e-320", "{", "}",
              "JOINT", "End", "Site", "ROOT", "CHANNELS", "OFFSET", "MOTION", "Frames:", "Frame", "Time:",
              "Xposition", "Qrotation", "x" * 300, "HIERARCHY", "\t", "é", "1e300", "-1e300", "0x10"]


def _bvh_prepare(root):
    from near.motion.bvh import save_bvh
    from near.motion.skeleton import Skeleton, SkeletonMotion

    sk = Skeleton.amp_humanoid()
    rng = np.random.default_rng(1)
    q = rng.standard_normal((3, 15, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    path = os.path.join(root, "humanoid.bvh")
    save_bvh(path, SkeletonMotion(sk, q, np.array([[0, 0, 0.9]] * 3), 30.0), units="cm")
    with open(path) as fh:
        return {"seeds": [SMALL_BVH, fh.read()]}


def _bvh_strategy():
    token_op = st.one_of(
        st.tuples(st.just("token"), POS, st.sampled_from(BVH_TOKENS)),
        st.tuples(st.just("deltoken"), POS),
        st.tuples(st.just("dupline"), POS),
        st.tuples(st.just("delline"), POS),
        st.tuples(st.just("swaplines"), POS, POS),
        st.tuples(st.just("nest"), POS, st.integers(1, 1500)),  # past _MAX_DEPTH and Python's recursion limit
        st.tuples(st.just("frames"), st.sampled_from(["Frames: 0", "Frames: -3", "Frames: 99999999999999999999",
                                                        "Frame Time: 0", "Frame Time: 1e-320", "Frame Time: -1",
                                                        "Frame Time: 1e308", "Frames: 1e3"])),
    )
    return st.tuples(st.integers(0, 1), st.lists(token_op, max_size=4), st.lists(BYTE_OPS, max_size=2),
                     st.sampled_from(["auto", "auto", "cm", "m"]))


def _bvh_text(text: str, ops) -> str:
    lines = text.split("\n")
    for op in ops:
        kind = op[0]
        if kind in ("token", "deltoken"):
            spans = [(i, m) for i, line in enumerate(lines) for m in re.finditer(r"\S+", line)]
            if not spans:
                continue
            i, m = spans[op[1] % len(spans)]
            new = op[2] if kind == "token" else ""
            lines[i] = lines[i][: m.start()] + new + lines[i][m.end() :]
        elif kind == "dupline" and lines:
            i = op[1] % len(lines)
            lines.insert(i, lines[i])
        elif kind == "delline" and lines:
            del lines[op[1] % len(lines)]
        elif kind == "swaplines" and lines:
            i, j = op[1] % len(lines), op[2] % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "nest" and lines:  # a chain of joints deeper than Python's recursion limit
            i = op[1] % len(lines)
            block = "".join(f"JOINT j{k}\n{{\nOFFSET 0 1 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n" for k in range(op[2]))
            lines.insert(i, block + "}\n" * op[2])
        elif kind == "frames":
            label = op[1].split(":")[0]
            for i, line in enumerate(lines):
                if line.startswith(label + ":"):
                    lines[i] = op[1]
    return "\n".join(lines)


def _bvh_materialise(ctx, case, folder):
    which, ops, byte_ops, _ = case
    path = os.path.join(folder, "clip.bvh")
    with open(path, "wb") as fh:
        fh.write(apply_bytes(_bvh_text(ctx["seeds"][which], ops).encode("utf-8"), byte_ops))
    return path


def _bvh_where(message: str) -> bool:
    return bool(re.search(r"line \d+", message)) or any(
        s in message for s in ("no MOTION section", "not a text BVH file", "cannot read", "skeleton", "units",
                               "non-finite", "offsets", "rotation", "fps"))


# --- yaml documents: motion sets and retarget mappings


def _yaml_case():
    return st.one_of(st.just(("none",)), st.just(("none",)), st.just(("none",)),
                     st.tuples(st.just("laughs"), st.integers(1, 30)),
                     st.tuples(st.just("nest"), st.integers(1, 5_000)),  # past Python's recursion limit
                     st.sampled_from([("tag", "!!python/object/apply:os.system ['touch {m}/yaml']"),
                                      ("tag", "!!python/name:os.system"), ("tag", "!!binary AAAA"),
                                      ("tag", "!!set {a, b}"), ("tag", "!!timestamp 2001-12-14"),
                                      ("tag", "? [a, b]\n: c"), ("tag", "*undefined")]))


def _yaml_text(doc, special, marker_dir: str) -> str:
    import yaml

    try:
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    except (RecursionError, yaml.YAMLError, ValueError, TypeError):
        text = "motions: []\n"
    if special[0] == "laughs":  # the billion laughs: aliases of aliases
        lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        lines += [f"a{k}: &a{k} [*a{k - 1}, *a{k - 1}, *a{k - 1}, *a{k - 1}, *a{k - 1}, *a{k - 1}, *a{k - 1}, *a{k - 1}, *a{k - 1}]"
                  for k in range(1, special[1])]
        text = "laughs:\n" + "\n".join("  " + line for line in lines) + "\n" + re.sub(
            r"(file|source): [^\n]*", lambda m: f"{m.group(1)}: *a{special[1] - 1}", text, count=1)
    elif special[0] == "nest":
        text = text.replace("\n", "\n" + "[" * special[1] + "]" * special[1] + "\n", 1)
    elif special[0] == "tag":
        tag = special[1].replace("{m}", marker_dir)
        text = re.sub(r"(weight|position|scale): [^\n]*", lambda m: f"{m.group(1)}: {tag}", text, count=1) if "?" not in tag else tag + "\n" + text
    return text


def _motion_set_prepare(root):
    from near.motion.poselib import load_poselib, save_poselib

    ctx = _poselib_prepare(root)
    seed = os.path.join(root, "seed")
    os.makedirs(seed)
    _poselib_materialise(ctx, (0, [], 3, [], ""), root)
    save_poselib(os.path.join(seed, "walk clip.npy"), load_poselib(os.path.join(root, "clip.npy")))
    with open(os.path.join(seed, "dm.txt"), "w") as fh:
        json.dump({"Loop": "wrap", "Frames": [_frame() for _ in range(3)]}, fh)
    markers = os.path.join(root, "markers")
    doc = {"motions": [{"file": "walk clip.npy", "weight": 1.0}, {"file": "dm.txt", "weight": 0.5}]}
    extra = ["walk clip.npy", "dm.txt", "../seed/dm.txt", "/etc/passwd", "missing.npy", ".", "set.yaml",
             "walk clip.NPY", "dm.txt\x00.npy", "/dev/null.npy", os.path.join(seed, "dm.txt")]
    return {"seed_dir": seed, "doc": doc, "markers": markers, "extra": extra}


def _yaml_strategy():
    return st.tuples(st.lists(TREE_OPS, max_size=3), st.lists(BYTE_OPS, max_size=2), _yaml_case())


def _motion_set_materialise(ctx, case, folder):
    tree_ops, byte_ops, special = case
    for name in os.listdir(ctx["seed_dir"]):
        os.link(os.path.join(ctx["seed_dir"], name), os.path.join(folder, name))
    text = _yaml_text(apply_tree(ctx["doc"], tree_ops, ctx["extra"]), special, ctx["markers"])
    path = os.path.join(folder, "set.yaml")
    with open(path, "wb") as fh:
        fh.write(apply_bytes(text.encode("utf-8", "surrogatepass"), byte_ops))
    return path


def _motion_set_load(ctx, path):
    from near.motion.motion_set import load_motions

    try:
        return load_motions(path)
    finally:
        if os.path.exists(os.path.join(ctx["markers"], "yaml")):
            raise Fault("a yaml tag ran code")


def _motion_set_invalid(result) -> str | None:
    clips, weights = result
    for c in clips:
        problem = motion_invalid(c)
        if problem:
            return problem
    w = np.asarray(weights)
    if len(clips) != len(w) or not len(w) or not _finite(w) or (w < 0).any() or abs(w.sum() - 1) > 1e-6:
        return f"weights {w} for {len(clips)} clips"
    return None


def _mapping_prepare(root):
    import yaml

    from near.motion.retarget import builtin_mapping, mapping_to_yaml

    os.makedirs(os.path.join(root, "markers"))
    return {"doc": yaml.safe_load(mapping_to_yaml(builtin_mapping("cmu"))), "markers": os.path.join(root, "markers"),
            "extra": ["pelvis", "left_foot", "Hips", [0.7, 0.0, 0.0, 0.7], [0, 0, 0, 0], "target", "source"]}


def _mapping_materialise(ctx, case, folder):
    tree_ops, byte_ops, special = case
    text = _yaml_text(apply_tree(ctx["doc"], tree_ops, ctx["extra"]), special, ctx["markers"])
    path = os.path.join(folder, "mapping.yaml")
    with open(path, "wb") as fh:
        fh.write(apply_bytes(text.encode("utf-8", "surrogatepass"), byte_ops))
    return path


def _mapping_load(ctx, path):
    from near.motion.retarget import load_mapping

    return load_mapping(path)


def _mapping_invalid(m) -> str | None:
    from near.motion.retarget import BODIES, Mapping

    if not isinstance(m, Mapping) or not m.joints:
        return f"a {type(m).__name__} without joints"
    numbers = [m.root_height_offset] + [w for j in m.joints for w in (j.position, j.orientation)]
    if m.scale is not None:
        numbers.append(m.scale)
    if not _finite(numbers) or any(w < 0 for j in m.joints for w in (j.position, j.orientation)):
        return f"numbers {numbers}"
    if m.scale is not None and m.scale <= 0:
        return f"scale {m.scale}"
    if m.rotation is not None and (not _finite(m.rotation) or abs(np.linalg.norm(m.rotation) - 1) > 1e-6):
        return f"rotation {m.rotation}"
    if any(j.body not in BODIES or not j.source or not all(isinstance(s, str) for s in j.source) for j in m.joints):
        return "a joint with an unknown body or no source names"
    if m.proportions not in ("target", "source") or not isinstance(m.name, str):
        return f"proportions {m.proportions!r}"
    return None


# --- zarr demo stores (maze and push-T)


ZARR_KEYS = ["shape", "chunks", "dtype", "compressor", "fill_value", "order", "filters", "zarr_format",
             "dimension_separator"]
ZARR_VALUES = [[1 << 40, 2], [-1, 2], [0, 2], [12, 2, 3], [12], [], [0], [-4], [1 << 40], [1, 1], "<f8", "|O",
               "<U4", "|b1", "<c8", ">f4", "<M8[ns]", "|V8", "junk", "<i8", "<u2", None, {"id": "zlib", "level": 1},
               {"id": "nope"}, {"id": "blosc", "cname": "xx", "clevel": 5, "shuffle": 1}, "NaN", "Infinity",
               1e308, "F", "X", [{"id": "pickle"}], [{"id": "delta", "dtype": "<f4"}], 3, 1, "2", "/", "x",
               {"id": "blosc", "cname": "lz4", "clevel": 99, "shuffle": 7}]


def _zarr_prepare(kind: str):
    def prepare(root):
        from near.data.demos import write_zarr_demos

        rng = np.random.default_rng(2)
        store = os.path.join(root, "seed.zarr")
        if kind == "maze":
            write_zarr_demos(store, rng.uniform(0, 500, (12, 2)).astype(np.float32), np.array([5, 12]))
        else:
            states = rng.uniform(0, 500, (12, 5)).astype(np.float32)
            write_zarr_demos(store, states, np.array([4, 9, 12]),
                             extra={"action": rng.uniform(0, 500, (12, 2)).astype(np.float32)})
        files = sorted(os.path.relpath(os.path.join(r, f), store) for r, _, fs in os.walk(store) for f in fs)
        return {"store": store, "files": files}

    return prepare


def _zarr_strategy():
    op = st.one_of(
        st.tuples(st.just("meta"), POS, st.sampled_from(ZARR_KEYS), st.one_of(
            st.sampled_from(range(len(ZARR_VALUES))).map(lambda i: ("zarr", i)), VALUES)),
        st.tuples(st.just("dropkey"), POS, st.sampled_from(ZARR_KEYS)),
        st.tuples(st.just("bytes"), POS, st.lists(BYTE_OPS, min_size=1, max_size=3)),
        st.tuples(st.just("delete"), POS),
        st.tuples(st.just("dir"), POS),  # a folder where a file should be
        st.tuples(st.just("ends"), st.sampled_from(["reverse", "zero", "negative", "big", "float", "dup"])),
    )
    return st.lists(op, min_size=1, max_size=3)


def _zarr_materialise(ctx, case, folder):
    store = os.path.join(folder, "demo.zarr")
    shutil.copytree(ctx["store"], store)
    files = ctx["files"]
    metas = [f for f in files if os.path.basename(f) in (".zarray", "zarr.json")]
    for op in case:
        kind = op[0]
        if kind in ("meta", "dropkey"):
            path = os.path.join(store, metas[op[1] % len(metas)])
            if not os.path.isfile(path):
                continue
            try:
                with open(path) as fh:
                    meta = json.load(fh)
            except (ValueError, UnicodeDecodeError):
                continue
            if not isinstance(meta, dict):
                continue
            if kind == "dropkey":
                meta.pop(op[2], None)
            else:
                spec = op[3]
                meta[op[2]] = copy.deepcopy(ZARR_VALUES[spec[1] % len(ZARR_VALUES)]) if spec[0] == "zarr" else make_value(spec)
            try:
                text = json.dumps(meta)
            except (ValueError, RecursionError):
                continue
            with open(path, "w") as fh:
                fh.write(text)
        elif kind in ("bytes", "delete", "dir"):
            path = os.path.join(store, files[op[1] % len(files)])
            if not os.path.isfile(path):
                continue
            if kind == "bytes":
                with open(path, "rb") as fh:
                    data = fh.read()
                with open(path, "wb") as fh:
                    fh.write(apply_bytes(data, op[2]))
            elif kind == "delete":
                os.remove(path)
            else:
                os.remove(path)
                os.makedirs(path)
        elif kind == "ends":  # valid zarr, wrong episode bounds
            from near.data.demos import load_zarr_demos

            try:
                d = load_zarr_demos(store)
            except Exception:  # noqa: BLE001 - an earlier op broke it already
                continue
            ends = {"reverse": d.episode_ends[::-1], "zero": np.r_[0, d.episode_ends],
                    "negative": -d.episode_ends, "big": d.episode_ends * 1000,
                    "float": d.episode_ends.astype(np.float32) + 0.5, "dup": np.r_[d.episode_ends[:1], d.episode_ends]}[op[1]]
            import zarr

            folder_ends = os.path.join(store, "meta", "episode_ends")
            shutil.rmtree(folder_ends)
            z = zarr.open_array(folder_ends, mode="w", zarr_format=2, shape=ends.shape, dtype=ends.dtype)
            z[...] = ends
    return store


def _zarr_load(ctx, path):
    from near.data.demos import load_zarr_demos

    return load_zarr_demos(path)


def _demos_invalid(d) -> str | None:
    from near.data.demos import DemoSet

    if not isinstance(d, DemoSet):
        return f"a {type(d).__name__}"
    if d.states.ndim != 2 or not _finite(d.states) or d.episode_ends[-1] != len(d.states):
        return f"states {d.states.shape}, ends {d.episode_ends}"
    if (np.diff(d.episode_ends, prepend=0) <= 0).any():
        return f"episode ends {d.episode_ends}"
    return None


# --- run folders given as checkpoint=


RUN_OVERRIDES = ["smoke=True", "progress=False", "seed=0", "train.num_envs=2", "train.horizon=4",
                 "train.minibatch_size=8", "train.total_env_steps=24", "train.iterations_per_log=1", "train.checkpoint_every=1", "train.actor_hidden=[4]",
                 "train.critic_hidden=[4]", "train.eval_episodes=1", "task.max_episode_steps=5",
                 "energy.iterations=2", "energy.log_every=1", "energy.checkpoint_every=1", "energy.batch_size=8",
                 "energy.encoder_hidden=[4]", "energy.latent_dim=4", "energy.decoder_hidden=[4]",
                 "energy.num_levels=50", "task.num_demo_episodes=4"]


def commands():
    """(train_energy, train_policy, load_policy) of `near train-energy`, `near train` and `near eval`."""
    try:
        from near.commands.train import train_policy
        from near.commands.train_energy import train_energy
        from near.restore import load_policy
    except ImportError:  # before near.pipeline was split into near.commands
        from near.pipeline import load_policy, train_energy, train_policy
    return train_energy, train_policy, load_policy


def make_seed_runs(root: str) -> dict:
    """A tiny energy run and a tiny NEAR policy run on the maze, made by the real commands."""
    from near.config import compose_config

    train_energy, train_policy, _ = commands()
    energy = os.path.join(root, "energy")
    policy = os.path.join(root, "policy")
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        train_energy(compose_config(RUN_OVERRIDES + [f"out={energy}"]))
        train_policy(compose_config(RUN_OVERRIDES + [f"out={policy}", f"energy.checkpoint={energy}"]))
    return {"energy": energy, "policy": policy}


META_VALUES = ["energy", "policy", "humanoid", "pusht", 10**12, -3, 0, 2, 4, math.nan, None, "", [], {}]


def _run_prepare(root):
    return _run_context(make_seed_runs(root))


def _run_context(runs: dict) -> dict:
    files = {k: sorted(os.path.relpath(os.path.join(r, f), v) for r, _, fs in os.walk(v) for f in fs)
             for k, v in runs.items()}
    return {"runs": runs, "files": files}


def _run_strategy():
    op = st.one_of(
        st.tuples(st.just("delete"), POS),
        st.tuples(st.just("truncate"), POS, POS),
        st.tuples(st.just("bytes"), POS, st.lists(BYTE_OPS, min_size=1, max_size=2)),
        st.tuples(st.just("meta"), st.lists(st.integers(0, 1 << 16), min_size=1, max_size=4),
                  st.one_of(st.sampled_from(range(len(META_VALUES))).map(lambda i: ("meta", i)), VALUES)),
        st.tuples(st.just("rmdir"), POS),
    )
    target = st.sampled_from(["run", "run", "run", "checkpoints", "step", "file", "empty", "missing"])
    return st.tuples(st.sampled_from(["policy", "energy"]), st.sampled_from(["policy", "energy"]), target,
                     st.lists(op, max_size=3))


def _run_materialise(ctx, case, folder):
    stored, _, target, ops = case
    run = os.path.join(folder, "run")
    shutil.copytree(ctx["runs"][stored], run)
    files = ctx["files"][stored]
    for op in ops:
        path = os.path.join(run, files[op[1] % len(files)]) if op[0] not in ("meta", "rmdir") else None
        if op[0] == "delete" and os.path.isfile(path):
            os.remove(path)
        elif op[0] == "truncate" and os.path.isfile(path):
            size = os.path.getsize(path)
            os.truncate(path, op[2] % (size + 1))
        elif op[0] == "bytes" and os.path.isfile(path):
            with open(path, "rb") as fh:
                data = fh.read()
            with open(path, "wb") as fh:
                fh.write(apply_bytes(data, op[2]))
        elif op[0] == "rmdir":
            dirs = sorted({os.path.dirname(f) for f in files if os.path.dirname(f)})
            shutil.rmtree(os.path.join(run, dirs[op[1] % len(dirs)]), ignore_errors=True)
        elif op[0] == "meta":  # the checkpoint's metadata record, edited as a document
            metas = [f for f in files if f.endswith(os.path.join("meta", "metadata"))]
            for m in metas:
                p = os.path.join(run, m)
                try:
                    with open(p) as fh:
                        doc = json.load(fh)
                except (OSError, ValueError):
                    continue
                spec = op[2]
                value = ("interesting", len(INTERESTING) + spec[1]) if spec[0] == "meta" else spec
                doc = apply_tree(doc, [(op[1], "set", value)], META_VALUES)
                try:
                    text = json.dumps(doc)
                except (ValueError, RecursionError, TypeError):
                    continue
                with open(p, "w") as fh:
                    fh.write(text)
    if target == "checkpoints":
        return os.path.join(run, "checkpoints")
    if target == "step":
        steps = sorted(os.listdir(os.path.join(run, "checkpoints"))) if os.path.isdir(os.path.join(run, "checkpoints")) else []
        return os.path.join(run, "checkpoints", steps[-1]) if steps else run
    if target == "file":
        return os.path.join(run, "config.yaml")
    if target == "empty":
        os.makedirs(os.path.join(folder, "empty"))
        return os.path.join(folder, "empty")
    if target == "missing":
        return os.path.join(folder, "no such run")
    return run


_RUN_CFG: dict = {}


def _run_load(ctx, path):
    """What `near eval/play checkpoint=` and `energy.checkpoint=` do with the folder."""
    from near.config import compose_config
    from near.energy.train import load_energy_model

    case_kind = ctx.get("_expect", "policy")
    if "cfg" not in _RUN_CFG:
        _RUN_CFG["cfg"] = compose_config(RUN_OVERRIDES)
    if case_kind == "policy":
        return commands()[2](_RUN_CFG["cfg"], path)
    return load_energy_model(path, expect_pair_dim=4, expect_env="maze")


def _run_invalid(result) -> str | None:
    import jax

    leaves = jax.tree.leaves(result[1] if len(result) == 4 else result[0].params)
    if not leaves or not all(np.isfinite(np.asarray(x)).all() for x in leaves):
        return "non-finite or no parameters"
    return None


# --- key=value overrides


def _config_keys() -> list[str]:
    from near.config import Config

    keys = []

    def walk(cls, prefix):
        for f in dataclasses.fields(cls):
            t = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if dataclasses.is_dataclass(t):
                walk(type(t), prefix + f.name + ".")
            else:
                keys.append(prefix + f.name)

    walk(Config, "")
    return keys


OVERRIDE_VALUES = ["nan", "inf", "-inf", "1e309", "-1", "0", "1", "8", "99999999999999999999", "-99999999999",
                   "1e-320", "True", "null", "", "[]", "[0]", "[-1,4]", "[8,8]", "{a:1}", "???", "${oc.env:HOME}",
                   "${train.horizon}", "${undefined}", "'quoted'", '"x', "a,b", "=", "\\", "[[[[", "é", "x" * 500,
                   "${oc.env:NEAR_NOPE,3}", "${now:%H}", "0x10", "1_000", "NaN", "+inf", "mazeNEAR", "maze",
                   "Humanoid", "/nonexistent.zarr", "/etc/passwd", "geometric", "whiten", "multiplicative"]


def _overrides_prepare(root):
    return {"keys": _config_keys()}


def _overrides_strategy():
    item = st.one_of(
        st.tuples(st.just("kv"), POS, st.sampled_from(OVERRIDE_VALUES), st.sampled_from(["", "", "+", "~", "++"])),
        st.tuples(st.just("kv"), POS, st.text(max_size=10), st.just("")),
        st.tuples(st.just("raw"), st.text(max_size=20)),
        st.tuples(st.just("bogus"), st.sampled_from(["nope", "train.nope", "task..name", "hydra.run.dir", "task",
                                                     "train", "_target_", "a" * 300, "defaults", "energy.checkpoint.x"]),
                  st.sampled_from(OVERRIDE_VALUES)),
    )
    return st.lists(item, max_size=5)


def _overrides_materialise(ctx, case, folder):
    out = []
    for item in case:
        if item[0] == "kv":
            out.append(f"{item[3]}{ctx['keys'][item[1] % len(ctx['keys'])]}={item[2]}")
        elif item[0] == "raw":
            out.append(item[1])
        else:
            out.append(f"{item[1]}={item[2]}")
    return out + [f"out={folder}/run"]


def _overrides_load(ctx, overrides):
    from near.config import compose_config

    return compose_config(overrides)


# bounds a usable config keeps (ints: the least value; "pos": > 0 floats)
INT_MIN = {"seed": 0, "episodes": 1, "task.num_demo_episodes": 0, "task.demo_upsample": 1, "task.max_episode_steps": 1,
           "task.num_demo_pairs": 2, "task.physics.substeps": 1, "task.physics.iterations": 1,
           "task.physics.ls_iterations": 0, "train.num_envs": 1, "train.horizon": 1, "train.minibatch_size": 1,
           "train.update_epochs": 1, "train.total_env_steps": 1, "train.iterations_per_log": 1,
           "train.checkpoint_every": 1, "train.eval_episodes": 1, "train.video_every": 0, "train.eval_every": 0,
           "energy.latent_dim": 1, "energy.num_levels": 1, "energy.batch_size": 1, "energy.iterations": 1,
           "energy.log_every": 1, "energy.checkpoint_every": 1, "amp.minibatch_size": 1, "amp.replay_buffer_size": 1,
           "cem.episodes": 1, "cem.num_envs": 1, "cem.max_steps": 0}


def _config_invalid(cfg) -> str | None:
    from near.config import Config

    if not isinstance(cfg, Config):
        return f"a {type(cfg).__name__}"

    def walk(obj, prefix):
        for f in dataclasses.fields(obj):
            v, key = getattr(obj, f.name), prefix + f.name
            if dataclasses.is_dataclass(v):
                problem = walk(v, key + ".")
                if problem:
                    return problem
            elif isinstance(v, float) and not math.isfinite(v):
                return f"{key} = {v}"
            elif isinstance(v, int) and not isinstance(v, bool):
                if key in INT_MIN and v < INT_MIN[key]:
                    return f"{key} = {v} (least usable: {INT_MIN[key]})"
                if key == "seed" and v >= 2**32:
                    return f"seed = {v}"
            elif isinstance(v, list) and key.endswith("hidden") and any((not isinstance(w, int)) or w < 1 for w in v):
                return f"{key} = {v}"
        return None

    return walk(cfg, "")


# ----------------------------------------------------------------------------------------------


def _readers() -> dict[str, Reader]:
    from near.config import ConfigError
    from near.data.demos import DemoDataError
    from near.motion.skeleton import MotionDataError
    from near.utils.checkpoint import CheckpointError

    return {r.name: r for r in [
        Reader("poselib", (MotionDataError,), _poselib_strategy, _poselib_prepare, _poselib_materialise, _poselib_load,
               motion_invalid),
        Reader("deepmimic", (MotionDataError,), _deepmimic_strategy, _deepmimic_prepare, _deepmimic_materialise,
               _deepmimic_load, motion_invalid),
        Reader("bvh", (MotionDataError,), _bvh_strategy, _bvh_prepare, _bvh_materialise,
               lambda ctx, p: __import__("near.motion.bvh", fromlist=["load_bvh"]).load_bvh(p), motion_invalid,
               where=_bvh_where),
        Reader("motion_set", (MotionDataError,), _yaml_strategy, _motion_set_prepare, _motion_set_materialise,
               _motion_set_load, _motion_set_invalid),
        Reader("mapping", (MotionDataError,), _yaml_strategy, _mapping_prepare, _mapping_materialise, _mapping_load,
               _mapping_invalid),
        Reader("zarr_maze", (DemoDataError,), _zarr_strategy, _zarr_prepare("maze"), _zarr_materialise, _zarr_load,
               _demos_invalid),
        Reader("zarr_pusht", (DemoDataError,), _zarr_strategy, _zarr_prepare("pusht"), _zarr_materialise, _zarr_load,
               _demos_invalid),
        Reader("run_folder", (CheckpointError,), _run_strategy, _run_prepare, _run_materialise, _run_load,
               _run_invalid),
        Reader("overrides", (ConfigError,), _overrides_strategy, _overrides_prepare, _overrides_materialise,
               _overrides_load, _config_invalid, names_file=False),
    ]}


READERS = ["poselib", "deepmimic", "bvh", "motion_set", "mapping", "zarr_maze", "zarr_pusht", "run_folder", "overrides"]


def run_case(reader: Reader, ctx, target) -> str:
    """'loaded' or 'refused'; raises Fault on anything else."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        with guarded():
            obj = reader.load(ctx, target)
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak
            if grown > RSS_LIMIT:
                raise Fault(f"memory blow-up: the peak resident size grew by {grown / 2**30:.1f} GiB")
    except _Timeout:
        raise Fault(f"hang: no answer within {TIME_LIMIT_S:.0f} s of CPU time") from None
    except MemoryError as e:
        raise Fault(f"memory blow-up: {e}") from None
    except Fault:
        raise
    except reader.errors as e:
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak
        if grown > RSS_LIMIT:
            raise Fault(f"memory blow-up before refusing: the peak resident size grew by {grown / 2**30:.1f} GiB") from None
        message = str(e)
        if reader.names_file and str(target) not in message and os.path.basename(str(target)) not in message:
            raise Fault(f"{type(e).__name__} does not name the input {target}: {message[:300]}") from None
        if reader.where is not None and not reader.where(message):
            raise Fault(f"{type(e).__name__} names neither line nor field: {message[:300]}") from None
        if len(message) > 20_000:
            raise Fault(f"a {len(message)}-character error message") from None
        return "refused"
    except BaseException as e:  # noqa: BLE001 - anything else breaks the contract
        if isinstance(e, KeyboardInterrupt):
            raise
        raise Fault(f"{type(e).__name__}: {str(e)[:500]}") from None
    problem = reader.invalid(obj)
    if problem:
        raise Fault(f"loaded an invalid object: {problem}")
    return "loaded"


def fuzz(name: str, cases: int, workdir: str, hypothesis_seed: int = 0, runs: dict | None = None) -> dict:
    """Run one reader's fuzzing; returns counts, the time taken and the first fault (None when clean).
    ``runs``: the run folders the run-folder reader mutates (default: made by make_seed_runs)."""
    import logging
    import warnings

    for noisy in ("absl", "asyncio"):  # orbax and zarr log every corrupt file they meet
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    reader = _readers()[name]
    root = os.path.join(workdir, name)
    os.makedirs(root, exist_ok=True)
    start = time.time()
    ctx = _run_context(runs) if runs is not None and name == "run_folder" else reader.prepare(root)
    prepare_s = time.time() - start
    counts = collections.Counter()
    cases_dir = os.path.join(root, "cases")

    @seed(hypothesis_seed)
    @settings(max_examples=cases, deadline=None, database=None, derandomize=False, print_blob=False,
              suppress_health_check=list(HealthCheck), phases=(Phase.generate, Phase.shrink), report_multiple_bugs=False)
    @given(case=reader.strategy())
    def one(case):
        shutil.rmtree(cases_dir, ignore_errors=True)
        os.makedirs(cases_dir)
        if name == "run_folder":
            ctx["_expect"] = case[1]
        target = reader.materialise(ctx, case, cases_dir)
        try:
            counts[run_case(reader, ctx, target)] += 1
        except Fault as f:
            counts["fault"] += 1
            raise Fault(f"{f} [case {str(case)[:400]!r}]") from None

    fault = None
    try:
        one()
    except Exception as f:  # noqa: BLE001 - a Fault, or hypothesis's report that one did not replay (flaky)
        fault = f"{type(f).__name__}: {f}"[:2000]
    shutil.rmtree(cases_dir, ignore_errors=True)
    return {"reader": name, "cases": sum(counts.values()), "loaded": counts["loaded"], "refused": counts["refused"],
            "fault": fault, "seconds": round(time.time() - start, 1), "prepare_seconds": round(prepare_s, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


# What the fuzzing found (each fixed where named; tests/test_reliability_fuzz.py keeps one input of each).
FAULTS_FIXED = [
    "poselib: a BINBYTES8 length field of 2^40 made the C unpickler allocate a terabyte (MemoryError); the pickle's "
    "opcodes are now walked first (pickletools) and truncated or oversized lengths refused",
    "poselib: the allowed globals numpy.ndarray and _reconstruct could be called with any shape (ndarray((2^40,)) "
    "allocates); ndarray is now only a name, _reconstruct takes only numpy's (0,) form, dtype only short type strings",
    "poselib: a malformed .npy header raised tokenize.TokenError; poselib: 'is_local' as an array raised ValueError; "
    "a huge int in an array raised OverflowError; values nested 5,000 deep raised RecursionError",
    "poselib: quaternion components near 1e38 overflowed the float32 norm and loaded as zero rotations",
    "DeepMimic: a 400-digit number raised OverflowError, 100,000 nested brackets RecursionError, a frame duration "
    "of 1e-9 s asked the resampler for billions of frames (memory), 1e-320 s raised OverflowError in round()",
    "BVH: 3,000 nested JOINT blocks raised RecursionError; a rest pose of height ~1e-320 raised ValueError in "
    "log(); offsets overflowing once scaled gave a MotionDataError without the file name",
    "motion-set and mapping yaml: non-UTF-8 bytes raised UnicodeDecodeError, deep nesting RecursionError, tagged "
    "scalars ValueError; a 400-digit weight OverflowError; weights of 1e308 summed to inf (NaN probabilities); "
    "mixed-type keys TypeError in sorted(); a billion-laughs alias expanded in repr() of the error message; "
    "NaN rotations and list-valued bodies passed; 2,000 nested brackets took PyYAML seconds (over 10 s on a "
    "loaded machine) before failing: nesting beyond 64 is now refused before parsing; '!!timestamp' on a "
    "non-date raised AttributeError inside PyYAML",
    "zarr stores: metadata declaring 2^40 rows (fill values) or 15,000 chunks behind one stored chunk allocated "
    "memory or ran past 10 s; object dtypes (pickle codec under zarr 2) are refused before reading",
    "run folders: edited metadata (obs_dim, action_dim, latent_dim, num_levels) sized allocations of gigabytes "
    "before any check (RESOURCE_EXHAUSTED, MemoryError) or raised TypeError; a metadata record that is not a dict "
    "raised TypeError; orbax errors quoted whole tensorstore specs",
    "overrides: a 300-character key raised OSError (file name too long) inside Hydra; checkpoint_every=0, "
    "inf/NaN floats, negative seeds, zero-width layers and 10^9 noise levels were accepted and failed later",
    "yaml readers: libyaml's CSafeLoader (tried for speed) crashed the process (segfault) on deep nesting: not used",
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=FULL_CASES, help="generated cases per reader")
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--out", default="reliability_fuzz", help="result name under benchmarks/results/")
    parser.add_argument("--merge", action="store_true", help="keep the other readers' rows of an earlier result")
    args = parser.parse_args(argv)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    rows = []
    with tempfile.TemporaryDirectory(prefix="near-fuzz-") as work:
        for k, name in enumerate(args.readers.split(",")):
            row = fuzz(name, args.cases, work, args.seed + k)
            rows.append(row)
            print(f"{name:12s} {row['cases']:7d} cases  {row['loaded']:6d} loaded  {row['refused']:6d} refused  "
                  f"{row['seconds']:7.1f} s  {'FAULT: ' + row['fault'] if row['fault'] else 'no fault'}", flush=True)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _report import write_result

    earlier = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"{args.out}.json")
    if args.merge and os.path.exists(earlier):  # e.g. one reader run again after a fix
        with open(earlier) as fh:
            old = [r for r in json.load(fh)["results"] if "reader" in r]
        done = {r["reader"] for r in rows}
        rows = [r for r in old if r["reader"] not in done] + rows
        rows.sort(key=lambda r: READERS.index(r["reader"]) if r["reader"] in READERS else len(READERS))
    path = write_result(args.out, "reliability_fuzz", rows + [{"faults_fixed": FAULTS_FIXED, "seed": args.seed,
                                                                "cases_per_reader": args.cases}])
    print("\n| reader | cases | loaded | refused (project error) | faults | seconds |\n|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['reader']} | {r['cases']:,} | {r['loaded']:,} | {r['refused']:,} | {1 if r['fault'] else 0} | {r['seconds']} |")
    print(f"\n{path}")
    return 1 if any(r["fault"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
