"""Demonstration sets: read/write the zarr replay stores and build transition pairs.

Pure numpy + zarr; nothing here imports a simulator. See spec near-environments.md §1.1, §6.1, §6.2
and near-algorithm.md §1.

On-disk layout (zarr v2, as in the original maze store and Diffusion Policy's push-T replay buffer)::

    <store>/data/state          (N, d) float   per-frame state, episodes concatenated
    <store>/data/<other>        (N, ...)       optional extra per-frame arrays (push-T: action, img, ...)
    <store>/meta/episode_ends   (E,) int       cumulative exclusive end index of each episode, last == N

Both zarr 2.16+ and zarr 3.x can read and write these; stores are opened read-only.
Every problem with the input is reported as one :class:`DemoDataError` naming the store and the fault.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "DemoDataError",
    "DemoSet",
    "load_zarr_demos",
    "write_zarr_demos",
    "transition_pairs",
    "train_test_split",
]


class DemoDataError(ValueError):
    """A demonstration store or array is missing or malformed; the message names the source."""


def _fail(source: str, what: str) -> DemoDataError:
    return DemoDataError(f"demo data {source!r}: {what}")


def _validate(states: Any, episode_ends: Any, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes and contents; return (float32 states, int64 ends). Raises DemoDataError."""
    try:
        states = np.asarray(states)
        episode_ends = np.asarray(episode_ends)
    except Exception as e:  # ragged lists and the like
        raise _fail(source, f"cannot convert to arrays ({e})") from None
    if states.ndim != 2:
        raise _fail(source, f"states must have rank 2 (N, d), got shape {states.shape}")
    if states.shape[1] == 0:
        raise _fail(source, "states have zero columns")
    if states.dtype.kind not in "fiu":
        raise _fail(source, f"states must be numeric, got dtype {states.dtype}")
    if episode_ends.ndim != 1:
        raise _fail(source, f"episode_ends must have rank 1 (E,), got shape {episode_ends.shape}")
    if episode_ends.dtype.kind not in "iu":
        raise _fail(source, f"episode_ends must be integers, got dtype {episode_ends.dtype}")
    n = states.shape[0]
    if n == 0 or episode_ends.size == 0:
        raise _fail(source, f"empty data ({n} states, {episode_ends.size} episodes)")
    ends = episode_ends.astype(np.int64)
    lengths = np.diff(ends, prepend=0)
    if (lengths < 0).any():
        i = int(np.argmax(lengths < 0))
        raise _fail(
            source,
            f"episode_ends not strictly increasing (episode {i}: end {ends[i]} after "
            f"{ends[i - 1] if i else 0})",
        )
    if (lengths == 0).any():
        idx = np.flatnonzero(lengths == 0)
        raise _fail(
            source,
            f"{idx.size} zero-length episode(s), first at episode {idx[0]} "
            "(episode_ends must be strictly increasing and start > 0)",
        )
    if ends[-1] != n:
        raise _fail(source, f"last episode end is {ends[-1]} but there are {n} states")
    out = states.astype(np.float32)
    finite = np.isfinite(out)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        what = "NaN/inf" if not np.isfinite(states[bad_rows]).all() else "values overflowing float32"
        raise _fail(source, f"{what} in states: {bad_rows.size} row(s), first at row {bad_rows[0]}")
    return out, ends


@dataclasses.dataclass(frozen=True)
class DemoSet:
    """Concatenated demonstration episodes.

    states: (N, d) float32; episode_ends: (E,) int64 cumulative exclusive ends with last == N;
    source: a path or a ``"generated:..."`` tag, used in messages. Validated on construction
    (raises DemoDataError).
    """

    states: np.ndarray
    episode_ends: np.ndarray
    source: str = "<memory>"

    def __post_init__(self) -> None:
        states, ends = _validate(self.states, self.episode_ends, self.source)
        object.__setattr__(self, "states", states)
        object.__setattr__(self, "episode_ends", ends)

    def episodes(self) -> list[np.ndarray]:
        """Per-episode (T_i, d) views into ``states``."""
        return np.split(self.states, self.episode_ends[:-1])

    @property
    def num_episodes(self) -> int:
        return int(self.episode_ends.shape[0])

    @property
    def state_dim(self) -> int:
        return int(self.states.shape[1])

    @property
    def num_states(self) -> int:
        return int(self.states.shape[0])

    @property
    def episode_lengths(self) -> np.ndarray:
        return np.diff(self.episode_ends, prepend=0)


# --------------------------------------------------------------------------------------------------
# zarr I/O


_MAX_EXPANSION = 64  # declared bytes per stored byte that a demo array may have (compressed data, fill values)


def _zarr():
    try:
        import zarr
    except ImportError as e:  # pragma: no cover - zarr is a hard dependency
        raise ImportError("reading/writing demo stores needs the 'zarr' package") from e
    return zarr


def _zarr_major(zarr) -> int:
    try:
        return int(str(zarr.__version__).split(".")[0])
    except ValueError:  # pragma: no cover
        return 3


def _read_array(group: Any, key: str, source: str) -> np.ndarray:
    zarr = _zarr()
    try:
        node = group[key]
    except Exception:  # KeyError, zarr's own not-found errors, bad metadata...
        node = None
    if node is None:
        raise _fail(source, f"missing array {key!r}")
    if not isinstance(node, zarr.Array):
        raise _fail(source, f"{key!r} is not an array (found {type(node).__name__})")
    _check_declared(node, source, key)
    try:
        return np.asarray(node[...])
    except Exception as e:  # corrupt chunk, unknown codec, ...
        raise _fail(source, f"cannot read array {key!r}: {type(e).__name__}: {str(e)[:300]}") from None


def _check_declared(node: Any, source: str, key: str) -> None:
    """Refuse, before reading, what the metadata declares but the files cannot back: object arrays
    (zarr 2 decodes them with pickle, which runs code), and sizes far beyond the bytes stored (missing
    chunks read as the fill value, so a 1 kB store could declare terabytes, or millions of chunks)."""
    try:
        kind, nbytes, nchunks = np.dtype(node.dtype).kind, int(node.nbytes), int(node.nchunks)
    except Exception as e:  # noqa: BLE001 - metadata zarr opened but cannot describe
        raise _fail(source, f"array {key!r} has unusable metadata ({type(e).__name__}: {str(e)[:200]})") from None
    if kind not in "biuf":
        raise _fail(source, f"array {key!r} has dtype {node.dtype}; demo arrays are numbers")
    stored_bytes = stored_chunks = 0
    for folder, _, files in os.walk(os.path.join(source, *key.split("/"))):
        for name in files:
            if not name.startswith(".") and name != "zarr.json":
                stored_chunks += 1
                stored_bytes += os.path.getsize(os.path.join(folder, name))
    if nbytes > _MAX_EXPANSION * stored_bytes + (64 << 20) or nchunks > 4 * stored_chunks + 16:
        raise _fail(source, f"array {key!r} declares shape {node.shape} in {nchunks} chunks ({nbytes:,} bytes) "
                            f"but {stored_chunks} chunk files of {stored_bytes:,} bytes are stored (truncated "
                            "or corrupt metadata)")


def load_zarr_demos(
    path: str | os.PathLike,
    state_key: str = "data/state",
    ends_key: str = "meta/episode_ends",
    columns: Sequence[int] | slice | None = None,
) -> DemoSet:
    """Read a zarr (v2 or v3) replay store into a :class:`DemoSet`.

    ``columns`` optionally selects state features after reading (e.g. ``[0, 1]`` = push-T agent
    position only). Raises :class:`DemoDataError` for any missing or malformed input.
    """
    source = os.fspath(path)
    if not os.path.exists(source):
        raise _fail(source, "path does not exist")
    if not os.path.isdir(source):
        raise _fail(source, "not a zarr group (expected a directory store; unzip .zip archives first)")
    zarr = _zarr()
    try:
        group = zarr.open_group(source, mode="r")
    except Exception as e:
        raise _fail(source, f"not a zarr group ({type(e).__name__}: {e})") from None
    states = _read_array(group, state_key, source)
    ends = _read_array(group, ends_key, source)
    if columns is not None:
        if states.ndim != 2:
            raise _fail(source, f"{state_key!r} must have rank 2 (N, d), got shape {states.shape}")
        try:
            states = states[:, columns]
        except IndexError as e:
            raise _fail(source, f"bad columns {columns!r} for state dim {states.shape[1]}: {e}") from None
        if states.ndim == 1:  # a single integer column
            states = states[:, None]
    return DemoSet(states=states, episode_ends=ends, source=source)


def write_zarr_demos(
    path: str | os.PathLike,
    states: np.ndarray,
    episode_ends: np.ndarray,
    extra: dict[str, np.ndarray] | None = None,
) -> None:
    """Write a zarr v2 directory store laid out like the original (overwrites ``path``).

    ``data/state`` keeps the float dtype given (float32 or float64), ``meta/episode_ends`` is int64,
    ``extra`` arrays (first axis N) go under ``data/<name>``. Blosc lz4 compression as in the maze
    store. Example: ``write_zarr_demos(p, demos.states, demos.episode_ends)``.
    """
    source = os.fspath(path)
    st, ends = _validate(states, episode_ends, source)
    st = np.asarray(states)
    if st.dtype.kind != "f":
        st = st.astype(np.float32)
    extra = dict(extra or {})
    for name, arr in extra.items():
        if not name or "/" in name or name.startswith(".") or name == "state":
            raise _fail(source, f"bad extra array name {name!r}")
        arr = np.asarray(arr)
        if arr.ndim == 0 or arr.shape[0] != st.shape[0]:
            raise _fail(source, f"extra array {name!r} has shape {arr.shape}, first axis must be {st.shape[0]}")
        extra[name] = arr

    zarr = _zarr()
    from numcodecs import Blosc

    compressor = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)
    def chunks(arr: np.ndarray) -> tuple[int, ...]:
        # whole rows, at most ~16 MiB per chunk (blosc cannot compress buffers over 2 GiB)
        row_bytes = max(1, arr[:1].nbytes)
        rows = int(min(arr.shape[0], max(1, (16 << 20) // row_bytes)))
        return (rows,) + arr.shape[1:]

    if _zarr_major(zarr) >= 3:
        root = zarr.open_group(source, mode="w", zarr_format=2)

        def put(group, name, arr):
            z = group.create_array(
                name, shape=arr.shape, dtype=arr.dtype, chunks=chunks(arr), compressors=compressor
            )
            z[...] = arr
    else:
        root = zarr.open_group(source, mode="w")

        def put(group, name, arr):
            group.create_dataset(name, data=arr, chunks=chunks(arr), compressor=compressor)

    data = root.require_group("data")
    meta = root.require_group("meta")
    put(data, "state", st)
    for name, arr in extra.items():
        put(data, name, arr)
    put(meta, "episode_ends", ends)


# --------------------------------------------------------------------------------------------------
# pairs


def transition_pairs(demos: DemoSet, order: str = "past_first", span: int = 1) -> np.ndarray:
    """All within-episode transition pairs, (N - E * span, 2d) float32 (episodes of ``span`` states or fewer give none).

    ``"past_first"``: [s_t, s_{t+span}] (maze / push-T convention); ``"current_first"``: [s_{t+span}, s_t]
    (humanoid convention). Unlike the original (spec near-environments.md §1.1 quirk) no pair crosses
    an episode boundary and the first pair of each episode is kept.
    """
    if order not in ("past_first", "current_first"):
        raise ValueError(f"order must be 'past_first' or 'current_first', got {order!r}")
    if span < 1:
        raise ValueError(f"span must be >= 1, got {span}")
    s = demos.states
    episode = np.searchsorted(demos.episode_ends, np.arange(s.shape[0]), side="right")  # episode of each state
    keep = episode[:-span] == episode[span:]
    past, cur = s[:-span][keep], s[span:][keep]
    first, second = (past, cur) if order == "past_first" else (cur, past)
    return np.concatenate([first, second], axis=1).astype(np.float32, copy=False)


def train_test_split(
    pairs: np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle the pairs with ``seed`` and split off ``round(test_fraction * M)`` as a test set.

    The original splits the *unshuffled* pair list 80/20, so its test set is the last ~20 % of the
    episodes in file order (for the maze: mostly one participant's demos), which measures transfer to
    another demonstrator rather than fit to the training distribution. We shuffle first so the test
    loss (used only for logging/early diagnostics) estimates the same distribution the model trains
    on. Caveat: neighbouring pairs of one episode are strongly correlated, so this test loss is
    optimistic; split by episode yourself if you need a true held-out estimate.
    """
    pairs = np.asarray(pairs)
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    m = pairs.shape[0]
    n_test = int(round(test_fraction * m))
    perm = np.random.default_rng(seed).permutation(m)
    return pairs[perm[n_test:]], pairs[perm[:n_test]]


def resample_demos(demos: DemoSet, *, drop_repeated: bool = False, upsample: int = 1) -> DemoSet:
    """Adapt recorded demos to the learner's control rate, within each episode.

    ``drop_repeated`` removes frames identical to the previous one (recording idles: 38 % of the
    human maze pairs are 'standing still', mostly at episode starts). ``upsample=k`` inserts k-1
    linearly interpolated states between consecutive frames, for demos recorded at a lower rate
    than the environment steps (the human maze frames are ~9 px apart; a policy moves <= ~4 px
    per step).
    """
    if upsample < 1:
        raise ValueError(f"upsample must be >= 1, got {upsample}")
    episodes = []
    for ep in demos.episodes():
        if drop_repeated and len(ep) > 1:
            keep = np.r_[True, np.any(np.diff(ep, axis=0) != 0, axis=1)]
            ep = ep[keep]
        if upsample > 1 and len(ep) > 1:
            frac = np.arange(upsample, dtype=np.float32)[None, :, None] / upsample
            inner = ep[:-1, None, :] + frac * (ep[1:, None, :] - ep[:-1, None, :])
            ep = np.concatenate([inner.reshape(-1, ep.shape[1]), ep[-1:]])
        episodes.append(ep.astype(np.float32))
    ends = np.cumsum([len(e) for e in episodes])
    return DemoSet(np.concatenate(episodes), ends, demos.source + f" (resampled: drop_repeated={drop_repeated}, upsample={upsample})")
