"""JAX as every `near` process runs it (the command, sweep jobs): full fp32 matmuls and the persistent
compilation cache, and a note on what the cache saved."""

from __future__ import annotations

import os

# matrix-product precisions a network may be trained at (train.network_precision, energy.network_precision):
# "float32" (full precision, as every matmul runs by default), "tensorfloat32" (tensor cores of
# A100/H100-class GPUs) or "bfloat16" (the products' inputs rounded to bfloat16, summed in float32: on an
# H100 the tensor cores run bfloat16 at twice TF32's rate; parameters, optimiser state and the sums stay
# float32). On the CPU every one computes float32's bits.
MATMUL_PRECISION = {"float32": "float32", "tensorfloat32": "tensorfloat32", "bfloat16": "BF16_BF16_F32"}
NETWORK_PRECISIONS = tuple(MATMUL_PRECISION)


def check_network_precision(name: str, key: str) -> None:
    """One clear error naming the config ``key`` for a precision not in NETWORK_PRECISIONS."""
    if name not in MATMUL_PRECISION:
        raise ValueError(f"{key} must be one of {NETWORK_PRECISIONS}, got {name!r}")


def network_matmul_precision(name: str, key: str = "network_precision"):
    """Context in which a network's matrix products are traced at ``name`` (one of NETWORK_PRECISIONS)."""
    import jax

    check_network_precision(name, key)
    return jax.default_matmul_precision(MATMUL_PRECISION[name])


# On a GPU, XLA's default kernels for the energy model's double backprop add in a varying order: one seed
# gave 150 k-iteration spin-kick models at DSM losses 21.5 and 40.1 that annealed and trained differently.
# Deterministic ops made it bit-identical, lower in loss and quicker to compile (one H200,
# benchmarks/results/energy_repeat_spin_kick_h200.json). No effect on the CPU, which is deterministic anyway.
DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"
DETERMINISTIC_COMMANDS = {"energy": ("train-energy",), "all": None, "off": ()}


def deterministic_gpu(command: str) -> bool:
    """Whether `near COMMAND` runs with XLA's deterministic GPU ops: ``NEAR_GPU_DETERMINISTIC`` = energy
    (default: `near train-energy`), all (every command) or off."""
    choice = os.environ.get("NEAR_GPU_DETERMINISTIC", "energy").lower()
    if choice not in DETERMINISTIC_COMMANDS:
        raise ValueError(f"NEAR_GPU_DETERMINISTIC must be one of {sorted(DETERMINISTIC_COMMANDS)}, got {choice!r}")
    commands = DETERMINISTIC_COMMANDS[choice]
    return commands is None or command in commands


def cache_min_seconds() -> float:
    """``NEAR_XLA_CACHE_MIN_S``: programs that compile faster than this are not cached (default 0: all are)."""
    text = os.environ.get("NEAR_XLA_CACHE_MIN_S", "0")
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"NEAR_XLA_CACHE_MIN_S must be a number of seconds, got {text!r}") from None
    if not seconds >= 0:
        raise ValueError(f"NEAR_XLA_CACHE_MIN_S must be >= 0, got {text!r}")
    return seconds


DEFAULT_CACHE_MAX_GB = 2.0


def cache_max_bytes() -> int:
    """``NEAR_XLA_CACHE_MAX_GB``: the compilation cache's size limit; past it the least recently used programs
    are evicted (default 2 GB; -1 or none: no limit). Eviction needs the `filelock` package; without it the
    default quietly means no limit and a value set by the user is an error."""
    text = os.environ.get("NEAR_XLA_CACHE_MAX_GB")
    if text is not None and text.strip().lower() in ("-1", "none", "off"):
        return -1
    try:
        gigabytes = DEFAULT_CACHE_MAX_GB if text is None else float(text)
    except ValueError:
        raise ValueError(f"NEAR_XLA_CACHE_MAX_GB must be a number of gigabytes or -1, got {text!r}") from None
    if not gigabytes > 0:
        raise ValueError(f"NEAR_XLA_CACHE_MAX_GB must be > 0 (or -1 for no limit), got {text!r}")
    try:
        import filelock  # noqa: F401  (JAX's LRU eviction locks the cache folder with it)
    except ImportError:
        if text is None:
            return -1
        raise ValueError("NEAR_XLA_CACHE_MAX_GB needs the `filelock` package (pip install filelock)") from None
    return int(gigabytes * 1e9)


def stamp_unstamped_entries(cache: str) -> int:
    """Gives every program of the cache folder without a last-use stamp one (its file's time). JAX's eviction
    reads a ``KEY-atime`` file beside each ``KEY-cache``; entries written while no limit was set (a cache of an
    earlier version, NEAR_XLA_CACHE_MAX_GB=-1, a machine without filelock) have none, and then every later write
    to the cache fails with a warning. Returns how many were stamped."""
    try:
        names = set(os.listdir(cache))
    except OSError:  # no folder yet: JAX makes it
        return 0
    stamped = 0
    for name in names:
        key = name[: -len("-cache")]
        if not name.endswith("-cache") or f"{key}-atime" in names:
            continue
        try:
            seconds = os.stat(os.path.join(cache, name)).st_mtime
            with open(os.path.join(cache, f"{key}-atime"), "wb") as fh:
                fh.write(int(seconds * 1e9).to_bytes(8, "little"))  # JAX's format: ns, little-endian
            stamped += 1
        except OSError:  # removed meanwhile by another process's eviction, or a read-only cache
            continue
    return stamped


def configure_jax(command: str = "") -> str | None:
    """JAX as every `near` command runs it: full fp32 matmuls, deterministic GPU ops where
    `deterministic_gpu(command)` says so (set here, before JAX starts its backend), and the persistent
    compilation cache (``NEAR_XLA_CACHE``, default ~/.cache/near/xla; off/0/none turns it off), evicting the
    least recently used programs past ``NEAR_XLA_CACHE_MAX_GB``.
    Returns the cache folder."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    flags = os.environ.get("XLA_FLAGS", "")
    if deterministic_gpu(command) and "xla_gpu_deterministic_ops" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_FLAG}".strip()
    import logging

    logging.getLogger("absl").setLevel(logging.ERROR)  # Orbax's info chatter about read-only managers
    import jax

    # full float32 everywhere, the physics included; train.network_precision can put the networks on TF32
    jax.config.update("jax_default_matmul_precision", "highest")
    cache = os.environ.get("NEAR_XLA_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "near", "xla"))
    if cache.lower() in ("", "0", "off", "none"):
        return None
    min_seconds = cache_min_seconds()  # bad values fail before anything is set
    max_bytes = cache_max_bytes()
    # compiled programs are reused by later runs of the same shapes (minutes saved on the humanoid)
    jax.config.update("jax_compilation_cache_dir", cache)
    # every program, however quick to compile (JAX's default keeps only those over 1 s): a start-up compiles
    # ~130, most of them small (eager ops of the initial state, the evaluation's), and on the GPU each costs
    # a compilation again at every launch otherwise
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_seconds)
    # bounded: a retired program (an old shape, an old version of a run's code) would otherwise stay forever
    jax.config.update("jax_compilation_cache_max_size", max_bytes)
    if max_bytes > 0:
        stamp_unstamped_entries(cache)
    _CACHE_USE["dir"] = cache
    from jax import monitoring

    def count(event: str, **_) -> None:
        if event.endswith("/cache_hits"):
            _CACHE_USE["hits"] += 1
        elif event.endswith("/cache_misses"):
            _CACHE_USE["misses"] += 1

    monitoring.register_event_listener(count)
    return cache


_CACHE_USE = {"dir": None, "hits": 0, "misses": 0}


def cache_note() -> str:
    """One line on the compilation cache when this process reused programs from it ('' otherwise)."""
    if not _CACHE_USE["hits"]:
        return ""
    return (f"compilation cache {_CACHE_USE['dir']}: reused {_CACHE_USE['hits']} compiled programs, compiled "
            f"{_CACHE_USE['misses']} (NEAR_XLA_CACHE=off turns it off)")
