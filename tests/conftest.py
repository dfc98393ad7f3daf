import os
import tempfile

import jax

# Identical programs are compiled by several tests (each run builds its own jit); a persistent
# compilation cache shared by the session makes the repeats cheap on CI's two cores.
_CACHE = os.environ.get("NEAR_TEST_XLA_CACHE") or os.path.join(tempfile.gettempdir(), "near-test-xla-cache")
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_default_matmul_precision", "highest")
