"""A checkpoint written on another machine's devices (a GPU run's energy model, brought to a laptop)
restores here: orbax would otherwise reuse the stored device layout and refuse ("topology mismatch")."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

from near.utils.checkpoint import load

SAVE_ON_TWO_DEVICES = """
import sys, jax, jax.numpy as jnp
from near.utils.checkpoint import Checkpointer
mesh = jax.sharding.Mesh(jax.devices(), ("x",))
tree = {"w": jax.device_put(jnp.arange(8.0), jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x"))),
        "b": jax.device_put(jnp.ones(3), jax.devices()[1])}
saver = Checkpointer(sys.argv[1]); saver.save(1, tree, {"n": jnp.zeros(())}, {"kind": "test"}); saver.close()
"""


def test_checkpoint_saved_on_other_devices_restores_with_an_abstract_target(tmp_path):
    env = {**os.environ, "XLA_FLAGS": os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"}
    subprocess.run([sys.executable, "-c", SAVE_ON_TWO_DEVICES, str(tmp_path / "ck")], check=True, env=env, timeout=300)
    target = {"w": jax.ShapeDtypeStruct((8,), jnp.float32), "b": jax.ShapeDtypeStruct((3,), jnp.float32)}
    model = load(str(tmp_path / "ck"), model_target=target, items=("model",))["model"]
    np.testing.assert_array_equal(np.asarray(model["w"]), np.arange(8.0))
    np.testing.assert_array_equal(np.asarray(model["b"]), np.ones(3))
