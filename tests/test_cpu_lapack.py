"""near.utils.cpu_lapack: batched Cholesky factorisations and triangular solves on the CPU neither
deadlock (jaxlib 0.10's ParallelBatchMap) nor change their results.

The deadlock needs as many concurrent batched LAPACK calls as XLA's intra-op pool has threads (one a
core), so the programs run in a subprocess (a timeout ends a hang) on at most two cores, as on the
2-core machine where `near train task=HumanoidNEAR train.num_envs=64` hung.
"""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.linalg import cho_factor, cho_solve

from near.utils import cpu_lapack

PIN_TWO_CORES = """
import os
cpus = sorted(os.sched_getaffinity(0))
if len(cpus) > 2:
    os.sched_setaffinity(0, cpus[:2])  # XLA's intra-op pool: one thread a core, read when jax starts
"""


def run_child(code: str, timeout: float) -> str:
    # compiled with jax_disable_most_optimizations (conftest's JAX_DISABLE_MOST_OPTIMIZATIONS: 9 s of CPU less
    # for the humanoid's program); the LAPACK calls and their concurrency are the same, and without the fix
    # (cpu_lapack.install skipped) the humanoid's program still hung, 2 times in 2 (2026-12-02)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    if jax.config.jax_compilation_cache_dir:  # conftest's cache: a rerun skips the humanoid's compile
        env["JAX_COMPILATION_CACHE_DIR"] = jax.config.jax_compilation_cache_dir
    try:
        done = subprocess.run([sys.executable, "-c", PIN_TWO_CORES + textwrap.dedent(code)], check=False,
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no result in {timeout} s: the batched LAPACK calls deadlocked")
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_concurrent_batched_choleskys_finish():
    # four independent factorisations of 64 34x34 matrices a step, as MJX's Newton solver under vmap
    # at 64 envs (jaxlib splits a batch of 17 or more of them); hung 4 times in 4 without the fix
    out = run_child("""
        from near.utils import cpu_lapack
        cpu_lapack.install()
        import jax, jax.numpy as jnp

        def step(x, _):  # four separate calls, which XLA may run at once
            h = [a @ jnp.swapaxes(a, -1, -2) + 34 * jnp.eye(34) for a in x]
            return jnp.stack([1e-3 * jax.scipy.linalg.cho_factor(m)[0] + a for m, a in zip(h, x)]), None

        x = jax.random.normal(jax.random.PRNGKey(0), (4, 64, 34, 34))
        print(float(jax.jit(lambda x: jax.lax.scan(step, x, None, length=200)[0])(x).sum()))
    """, timeout=30)
    assert np.isfinite(float(out.split()[-1]))


def test_humanoid_steps_at_64_envs_finish():
    # the env's physics at the size that hung `near train` (vmap(step) at 64 envs in a compiled loop)
    pytest.importorskip("mujoco")
    out = run_child("""
        import jax, numpy as np
        from near.envs.humanoid.env import HumanoidConfig, HumanoidEnv
        from near.motion.library import build_library
        from near.motion.skeleton import Skeleton, SkeletonMotion

        rot = np.zeros((31, 15, 4), np.float32)
        rot[..., 0] = 1
        root = np.zeros((31, 3), np.float32)
        root[:, 2] = 0.9
        library = build_library([SkeletonMotion(Skeleton.amp_humanoid(), rot, root, 30.0)],
                                drop_tpose_frame=False, dedupe_frames=False)
        env = HumanoidEnv(library, HumanoidConfig(reward_types=("time",)))
        n = 64
        state, _ = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), n))

        def step(s, k):
            s, _, reward, _, _ = jax.vmap(env.step)(s, 0.3 * jax.random.normal(k, (n, env.action_dim)))
            return s, reward.mean()

        run = jax.jit(lambda s, k: jax.lax.scan(step, s, jax.random.split(k, 8)))
        print(float(run(state, jax.random.PRNGKey(1))[1].mean()))
    """, timeout=150)
    assert np.isfinite(float(out.split()[-1]))


def test_chunked_lowering_gives_the_same_numbers():
    # batches above jaxlib's split size, with two batch axes; the same matrices 16 at a time (never split)
    key = jax.random.split(jax.random.PRNGKey(3), 2)
    a = jax.random.normal(key[0], (3, 64, 34, 34))
    h = a @ jnp.swapaxes(a, -1, -2) + 34 * jnp.eye(34)
    b = jax.random.normal(key[1], (3, 64, 34, 1))
    cpu_lapack.install()
    factor = jax.jit(lambda h, b: (cho_factor(h)[0], cho_solve(cho_factor(h), b)))
    lowered = factor.lower(h, b).as_text()
    if jax.default_backend() == "cpu" and jax.__version_info__ >= (0, 10):
        assert lowered.count("stablehlo.while") == 3  # potrf in chunks of 16, each trsm in chunks of 174
    chol, x = factor(h, b)
    hs, bs = h.reshape(-1, 16, 34, 34), b.reshape(-1, 16, 34, 1)
    small = [factor(hs[i], bs[i]) for i in range(len(hs))]
    np.testing.assert_array_equal(np.asarray(chol).reshape(-1, 16, 34, 34), np.stack([c for c, _ in small]))
    np.testing.assert_array_equal(np.asarray(x).reshape(-1, 16, 34, 1), np.stack([s for _, s in small]))
