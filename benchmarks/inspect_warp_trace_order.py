"""Does a humanoid program's text under MuJoCo Warp depend on what was traced before it in the process?

Issue #20: a warm GPU start-up of AMP missed the compilation cache for exactly its two programs that step the
physics at different batch sizes (training and the evaluation compiled ahead, 17 s of compiling). Warp names each
FFI target it registers with a per-process counter, so the order of traces is part of each program's text, and a
trace on a background thread racing the training program's gives other text, and a cache miss, at random.

Each order of ``--batches`` is traced in a fresh process (the counters are per process): reset and one step of
the humanoid, vmapped over the batch, under ``task.physics.impl=warp`` on this machine. A batch whose program
hash differs between the orders is one the cache can miss when the order changes.

    python benchmarks/inspect_warp_trace_order.py [--batches 4 8] [--motion .motion_light/amp_humanoid_run.yaml]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys

from _report import write_result

CHILD = """
import hashlib, json, os, sys
os.environ["NEAR_XLA_CACHE"] = "off"
from near.utils.jax_setup import configure_jax
configure_jax()
import jax, jax.numpy as jnp
from near.config import compose_config
from near.factories import make_env
env = make_env(compose_config(["task=HumanoidAMP", f"motion={sys.argv[1]}", "task.physics.impl=warp"]))
def text(n):
    def program(key):
        state, _ = jax.vmap(env.reset)(jax.random.split(key, n))
        return jax.vmap(env.step)(state, jnp.zeros((n, env.action_dim)))[1]
    return jax.jit(program).lower(jax.random.PRNGKey(0)).as_text()
print(json.dumps({n: hashlib.sha256(text(int(n)).encode()).hexdigest()[:16] for n in sys.argv[2:]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--motion", default=".motion_light/amp_humanoid_run.yaml")
    parser.add_argument("--name", default="warp_trace_order_cpu")
    args = parser.parse_args()
    if not os.path.exists(args.motion):
        raise SystemExit(f"{args.motion}: no such motion file")
    rows = []
    for order in [*itertools.permutations(args.batches), tuple(args.batches)]:  # the first order again: deterministic?
        run = subprocess.run([sys.executable, "-c", CHILD, args.motion, *map(str, order)], capture_output=True,
                             text=True, timeout=900)
        if run.returncode != 0:
            raise SystemExit(f"tracing in the order {order} failed:\n{run.stderr[-2000:]}")
        hashes = json.loads(run.stdout.strip().splitlines()[-1])
        rows.append({"order": list(order), "hashes": hashes})
    print(f"{'trace order':<16}" + "".join(f"{'batch ' + str(n):>20}" for n in args.batches))
    for row in rows:
        print(f"{' then '.join(map(str, row['order'])):<16}" + "".join(f"{row['hashes'][str(n)]:>20}" for n in args.batches))
    changed = [n for n in args.batches if len({row["hashes"][str(n)] for row in rows}) > 1]
    print(f"programs whose text depends on the trace order: {changed or 'none'}")
    summary = {"batches": args.batches, "order_dependent": changed}
    print(write_result(args.name, "inspect_warp_trace_order", [*rows, summary]))


if __name__ == "__main__":
    main()
