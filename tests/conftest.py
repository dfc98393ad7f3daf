import os
import tempfile

# XLA's CPU fusion emitters take twice the compile time of its classic emitters (a humanoid step:
# 24 s of CPU against 11 s, measured); the tests' programs are small and run briefly. Set before
# JAX starts its backend, and inherited by the tests' subprocesses.
os.environ["XLA_FLAGS"] = " ".join(f for f in (os.environ.get("XLA_FLAGS", ""), "--xla_cpu_use_fusion_emitters=false") if f)

import jax  # noqa: E402
import pytest  # noqa: E402

# Identical programs are compiled by several tests (each run builds its own jit); a persistent
# compilation cache shared by the session makes the repeats cheap on CI's two cores.
_CACHE = os.environ.get("NEAR_TEST_XLA_CACHE") or os.path.join(tempfile.gettempdir(), "near-test-xla-cache")
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_default_matmul_precision", "highest")

# pytest -q runs the files on two workers (pyproject: -n auto --dist loadfile). The slowest files go
# first (measured, README "Tests and benchmarks") and a worker takes its next file only when it is on
# its last test: xdist's own rule (3 tests left) queued a second long file behind the 2-test humanoid one.
SLOW_FIRST = ("test_humanoid_train.py", "test_pipeline.py", "test_humanoid_env.py", "test_pusht_tasks.py",
              "test_experiment.py", "test_reliability_training.py", "test_energy.py", "test_cem.py",
              "test_humanoid_tracking.py", "test_pusht_env.py", "test_sharding.py", "test_maze_env.py",
              "test_cpu_lapack.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class OneFileAhead(LoadFileScheduling):
        def _reschedule(self, node):
            if self.workqueue and not node.shutting_down and self._pending_of(self.assigned_work[node]) > 1:
                return
            super()._reschedule(node)

    return OneFileAhead(config, log)


# Files whose tiny runs mostly compile (the MuJoCo and push-T physics: 20-60 s a program on two cores):
# XLA's optimisation passes cost them more than they save (measured per file; test_pusht_tasks.py does
# the same). test_pipeline.py and test_reliability_training.py, whose maze trainings run longest, too:
# with the classic emitters above, the two files took 154 s of CPU instead of 213 (measured, 2026-12-01).
CHEAP_COMPILES = ("test_humanoid_env.py", "test_humanoid_train.py", "test_humanoid_tracking.py", "test_pusht_env.py",
                  "test_experiment.py", "test_cem.py", "test_energy.py", "test_pipeline.py", "test_reliability_training.py")


@pytest.fixture(scope="module", autouse=True)
def _cheap_compiles(request):
    if request.path.name not in CHEAP_COMPILES:
        yield
        return
    old = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", old)
