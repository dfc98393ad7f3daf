"""JAX as every `near` process runs it (the command, sweep jobs): full fp32 matmuls and the persistent
compilation cache, and a note on what the cache saved."""

from __future__ import annotations

import os


def configure_jax() -> str | None:
    """JAX as every `near` command runs it: full fp32 matmuls and the persistent compilation cache
    (``NEAR_XLA_CACHE``, default ~/.cache/near/xla; off/0/none turns it off). Returns the cache folder."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging

    logging.getLogger("absl").setLevel(logging.ERROR)  # Orbax's info chatter about read-only managers
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")  # TF32 has broken RL training on GPUs
    cache = os.environ.get("NEAR_XLA_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "near", "xla"))
    if cache.lower() in ("", "0", "off", "none"):
        return None
    # compiled programs are reused by later runs of the same shapes (minutes saved on the humanoid)
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
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
