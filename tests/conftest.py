import gc
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
# The tests that call near.cli.main in-process (configure_jax) and the `near` subprocesses use the same
# cache, not the user's ~/.cache/near/xla: otherwise a worker switched to the home cache at its first
# main() call, so a run's time depended on what earlier runs had left there (test_pusht_tasks.py alone:
# 95 s of CPU with an empty home cache, 59 s with a warm one, measured) and the two caches shared nothing.
os.environ["NEAR_XLA_CACHE"] = _CACHE

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


# XLA's LLVM optimisation passes (jax_disable_most_optimizations: backend optimisation level 0; the
# HLO passes are the same) cost the tests' tiny runs more than they save: the MuJoCo and push-T physics
# compile for 20-60 s a program on two cores, and the maze files too (measured per file, cold cache, CPU
# seconds with / without: test_cpu_lapack.py 26 / 40, test_amp.py 12 / 16, test_maze_env.py 13 / 17,
# test_motion_library.py 9 / 12, test_metrics.py 7 / 8, the 13 small files together 33 / 34). Every file
# compiles so, and the tests' subprocesses too (the environment variable).
os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"
jax.config.update("jax_disable_most_optimizations", True)

# Python's cyclic GC with its default thresholds (700, 10, 10) rescans a worker's whole heap (every
# traced jaxpr and cached program of the session) ever more often: 8.9 s of 163 s for the two humanoid
# files in one process, 2.3 s of 144 s with these (measured). Only the test processes; garbage is
# still collected, later.
gc.set_threshold(50_000, 20, 20)


# Every in-process training run ends by drawing learning_curves.png (near.commands.train): 1-2 s of
# matplotlib on CI's two cores, some sixty runs. Only the tests that name the file draw it; in the
# others plot_learning_curves returns its path without drawing (the file is absent). The plot keeps its
# tests: test_viz.py's, the maze NEAR policy run's and the quickstart's (test_pipeline.py).
import near.viz.maze_plots as _maze_plots

_plot_learning_curves = _maze_plots.plot_learning_curves
_draw_curves = {"on": True}


def _learning_curves_where_checked(history, path, *args, **kwargs):
    if _draw_curves["on"]:
        return _plot_learning_curves(history, path, *args, **kwargs)
    return os.fspath(path)


_maze_plots.plot_learning_curves = _learning_curves_where_checked


def pytest_runtest_setup(item):
    import inspect

    function = getattr(item, "function", None)
    try:
        _draw_curves["on"] = function is None or "learning_curves" in inspect.getsource(function)
    except (OSError, TypeError):
        _draw_curves["on"] = True


@pytest.fixture
def interrupt_when():
    """``interrupt_when(ready)``: from a helper thread, SIGINT this process (as Ctrl-C would) once
    ``ready()`` holds, or after 120 s; returns the thread."""
    import signal
    import threading
    import time

    def start(ready, timeout=120.0):
        def watch():
            deadline = time.time() + timeout
            while time.time() < deadline and not ready():
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        return thread

    return start
