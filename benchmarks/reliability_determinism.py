"""Determinism on the CPU (issue #17): the same seed and config, run in separate processes, on 1 and
on 4 forced host devices.

* the NEAR maze trainer through `near train` twice: every checkpointed array and every metric
  record compared bit for bit;
* the sharded PPO + AMP program of tests/test_sharding.py, each in a fresh process: 1 device twice,
  4 devices twice (bit for bit), and 1 against 4 devices (the design promises equality up to the
  order of the gradient all-reduce's sums: the largest difference is reported).

    python benchmarks/reliability_determinism.py

Writes benchmarks/results/reliability_determinism.json and prints a table.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

SHARDED = textwrap.dedent(
    """
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax
    jax.config.update("jax_default_matmul_precision", "highest")
    import numpy as np
    from near.energy.reward import RewardConfig
    from near.envs.core import AutoReset
    from near.envs.maze import MazeEnv
    from near.rl.amp import AMPConfig, AMPReward
    from near.rl.ppo import PPOConfig, data_mesh, make_train

    devices = jax.devices()[: int(sys.argv[1])]
    env = AutoReset(MazeEnv())
    cfg = PPOConfig(num_envs=16, horizon=8, minibatch_size=32, update_epochs=2, actor_hidden=[32, 32],
                    critic_hidden=[32, 32])
    demo = np.random.default_rng(0).uniform(50, 450, (512, 4)).astype(np.float32)
    style = AMPReward(demo, AMPConfig(hidden=[32, 32], minibatch_size=32, replay_buffer_size=256), updates_per_iteration=4)
    init, train_chunk = make_train(cfg, env, style, RewardConfig(task_weight=0.5, style_weight=0.5), mesh=data_mesh(devices))
    state, metrics = train_chunk(init(jax.random.PRNGKey(3)), 5)
    leaves = {jax.tree_util.keystr(p): np.asarray(x) for p, x in jax.tree_util.tree_leaves_with_path(
        {"params": state.params, "opt": state.opt_state, "reward": state.reward_state, "metrics": metrics})}
    np.savez(sys.argv[2], **leaves)
    """
)


def sharded(devices: int, out: str) -> dict[str, np.ndarray]:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    subprocess.run([sys.executable, "-c", SHARDED, str(devices), out], check=True, env=env)
    with np.load(out) as f:
        return dict(f)


def compare(a: dict, b: dict) -> tuple[bool, float]:
    assert a.keys() == b.keys()
    same = all(np.array_equal(a[k], b[k]) for k in a)
    diff = max(float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)))) if a[k].size else 0.0
               for k in a if a[k].dtype.kind == "f")
    return same, diff


def main() -> int:
    sys.path.insert(0, HERE)
    import reliability_kill as K
    from _report import write_result

    rows = []
    with tempfile.TemporaryDirectory(prefix="near-det-") as work:
        runs = {}
        for n, name in ((1, "one_a"), (1, "one_b"), (4, "four_a"), (4, "four_b")):
            runs[name] = sharded(n, os.path.join(work, name + ".npz"))
        for label, x, y in (("PPO+AMP, 1 device, two processes", "one_a", "one_b"),
                            ("PPO+AMP, 4 devices, two processes", "four_a", "four_b"),
                            ("PPO+AMP, 1 device against 4 devices", "one_a", "four_a")):
            same, diff = compare(runs[x], runs[y])
            rows.append({"check": label, "bit_identical": same, "max_abs_diff": diff, "arrays": len(runs[x])})

        env = dict(os.environ, NEAR_XLA_CACHE=os.path.join(work, "xla"))
        energy = os.path.join(work, "energy")
        K.run_to_end(["train-energy", *K.ENERGY_ARGS, f"out={energy}"], env, subprocess.DEVNULL)
        again = os.path.join(work, "energy_again")
        K.run_to_end(["train-energy", *K.ENERGY_ARGS, f"out={again}"], env, subprocess.DEVNULL)
        for label, base in (("near train-energy (maze), two processes", None), ("near train (maze NEAR), two processes", energy)):
            if base is None:
                a, b = energy, again
            else:
                a, b = os.path.join(work, "near_a"), os.path.join(work, "near_b")
                for out in (a, b):
                    K.run_to_end(["train", *K.MAZE_ARGS, f"energy.checkpoint={energy}", f"out={out}"], env,
                                 subprocess.DEVNULL)
            try:
                facts = K.compare_finished(a, b)
                rows.append({"check": label, "bit_identical": True, "max_abs_diff": 0.0,
                             "arrays": facts["arrays_compared"], "metric_records": facts["metric_records_compared"]})
            except K.Violation as v:
                rows.append({"check": label, "bit_identical": False, "violation": str(v)})
    path = write_result("reliability_determinism", "reliability_determinism", rows)
    print("| check | bit-identical | max abs difference | arrays compared |\n|---|---|---:|---:|")
    for r in rows:
        diff = f"{r['max_abs_diff']:.3g}" if "max_abs_diff" in r else r.get("violation", "-")
        print(f"| {r['check']} | {'yes' if r['bit_identical'] else 'no'} | {diff} | {r.get('arrays', '-')} |")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
