"""How far the human push-T demonstrations get the T onto its goal (issue #19).

Success on push-T is a goal coverage above 0.95 (spec §3.2). This replays every episode of the Diffusion
Policy replay store in our JAX env from its recorded first state with its recorded actions, the last
one included (``data/state[t]`` is the state before ``data/action[t]``, so the store's last state is
one step short of where the demonstrator stopped), and reports per episode the coverage of the last
recorded state, the coverage after the last action and the best coverage along the way; also how many
of the recorded states already count as success (those are left out of ``task.state_init=demo``).

    python benchmarks/inspect_pusht_demos.py [--store PATH]

Writes benchmarks/results/pusht_demo_coverage.json and prints a table.
"""

from __future__ import annotations

import argparse

import numpy as np
from _pusht_replay import replay_program
from _report import write_result

STORE = "/work/shared/data/pusht/pusht_cchi_v7_replay.zarr"
SUCCESS = 0.95


def replayed_coverage(states: np.ndarray, actions: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(episodes, max length) coverage after each recorded action, all episodes in one scan (read only
    the first ``length`` entries of each row)."""
    import jax

    from near.envs.pusht import coverage

    rollout, state0, targets = replay_program(states, actions, starts, lengths)
    obs = rollout(state0, targets)  # (T, E, 5)
    return np.asarray(jax.vmap(jax.vmap(coverage))(obs[..., 2:4], obs[..., 4])).T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default=STORE)
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp

    from near.data.demos import load_zarr_demos
    from near.envs.pusht import coverage

    demos = load_zarr_demos(args.store)
    import zarr

    actions = np.asarray(zarr.open_group(args.store, mode="r")["data/action"], np.float32)
    states = np.asarray(demos.states, np.float32)
    ends = np.asarray(demos.episode_ends)
    starts = np.concatenate([[0], ends[:-1]])
    lengths = ends - starts
    recorded = np.asarray(jax.vmap(coverage)(jnp.asarray(states[:, 2:4]), jnp.asarray(states[:, 4])))
    replayed = replayed_coverage(states, actions, starts, lengths)
    after_last = replayed[np.arange(len(ends)), lengths - 1]
    best = np.array([row[:n].max() for row, n in zip(replayed, lengths)])
    last_recorded = recorded[ends - 1]

    def summary(x: np.ndarray) -> dict:
        return {"min": float(x.min()), "median": float(np.median(x)), "max": float(x.max()),
                f"above_{SUCCESS}": float((x > SUCCESS).mean())}

    rows = [
        {"what": "coverage of the last recorded state", **summary(last_recorded)},
        {"what": "coverage after the last recorded action (replayed)", **summary(after_last)},
        {"what": "best coverage along the episode (replayed)", **summary(best)},
        {"what": "recorded states (all)", **summary(recorded)},
    ]
    path = write_result("pusht_demo_coverage", f"push-T demonstrations, {len(ends)} episodes, {len(states)} states", rows)
    print(f"| what | min | median | max | share > {SUCCESS} |\n|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['what']} | {r['min']:.3f} | {r['median']:.3f} | {r['max']:.3f} | {r[f'above_{SUCCESS}']:.3f} |")
    print(path)


if __name__ == "__main__":
    main()
