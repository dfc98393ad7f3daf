"""A deadlock in jaxlib's CPU LAPACK kernels, worked around: batched Cholesky and triangular solves run
in chunks small enough for jaxlib to do them on the calling thread.

jaxlib 0.10 splits a batched LAPACK call (``lapack_?potrf_ffi``, ``lapack_?trsm_ffi``, ...) across
XLA's intra-op thread pool (``jax::ParallelBatchMap``) and blocks its pool thread until the pieces
are done. When as many such calls run at once as the pool has threads (XLA runs independent
operations concurrently; the pool has one thread per core), every thread waits for work that no
thread is left to run, and the program hangs at 0 % CPU. MJX's Newton solver factorises one 34x34
matrix per env with ``cho_factor``: ``vmap(HumanoidEnv.step)`` at 64 envs hangs on a 2-core machine
(``near train task=HumanoidNEAR train.num_envs=64``). jax's main branch no longer parallelises these
kernels in open-source builds (commit 859992407d, not yet released).

jaxlib runs a call on the calling thread when ``batch * cost_per_matrix < 200,000`` or when its
minimum chunk, ``ceil(200,000 / cost_per_matrix)``, covers the batch. :func:`install` replaces the CPU
lowerings of ``cholesky_p`` and ``triangular_solve_p`` so that larger batches are ``lax.map``-ped in
chunks of at most that size, each a call of jaxlib's own LAPACK lowering: every matrix is factorised by
the same LAPACK routine as before (bitwise the same results). Other platforms' lowerings are untouched.
"""

from __future__ import annotations

import math
from functools import partial

_MIN_WORK_PER_TASK = 200_000  # jaxlib/cpu/lapack_kernels.cc: GetLapackBatchChunkSize's kMinWorkPerTask
_installed = False


def _cholesky_cost(a, **_) -> int:
    n = a.shape[-1]
    return n * n * n // 3


def _triangular_solve_cost(a, b, *, left_side, **_) -> int:
    rows, cols = b.shape[-2:]
    return rows * cols * (rows if left_side else cols)


def _chunked_lowering(prim, original, cost):
    """``original`` where jaxlib does not split the batch, else ``lax.map`` over chunks that it does not split."""
    import jax
    import numpy as np
    from jax.interpreters import mlir

    def chunked(*args, chunk, **params):
        batch = args[0].shape[:-2]
        flat = [a.reshape((-1, *a.shape[-2:])) for a in args]
        out = jax.lax.map(lambda xs: prim.bind(*xs, **params), flat, batch_size=chunk)
        return out.reshape((*batch, *out.shape[-2:]))

    def rule(ctx, *args, **params):
        avals = ctx.avals_in
        per_matrix = max(1, cost(*avals, **params) * (3 if np.issubdtype(avals[0].dtype, np.complexfloating) else 1))
        chunk = math.ceil(_MIN_WORK_PER_TASK / per_matrix)  # the smallest piece jaxlib hands to another thread
        if math.prod(avals[0].shape[:-2]) <= chunk:
            return original(ctx, *args, **params)  # jaxlib runs it on the calling thread
        return mlir.lower_fun(partial(chunked, chunk=chunk), multiple_results=False)(ctx, *args, **params)

    return rule


def install() -> None:
    """Registers the chunked CPU lowerings (idempotent). Affects only programs lowered for the CPU."""
    global _installed
    if _installed:
        return
    _installed = True
    import jaxlib.version

    if tuple(int(v) for v in jaxlib.version.__version__.split(".")[:2]) < (0, 10):
        return  # ParallelBatchMap came with jaxlib 0.10.0
    from jax.interpreters import mlir
    from jax.lax import linalg

    cpu = mlir._platform_specific_lowerings["cpu"]
    for prim, cost in ((linalg.cholesky_p, _cholesky_cost), (linalg.triangular_solve_p, _triangular_solve_cost)):
        entry = cpu.get(prim)
        if entry is None:
            continue
        original = getattr(entry, "rule", entry)
        mlir.register_lowering(prim, _chunked_lowering(prim, original, cost), platform="cpu")
