"""Fidelity of the JAX push-T env against the recorded demos and against a pymunk oracle.

Replays the recorded actions of every episode of the Diffusion Policy push-T replay store
(spec §6.2; 206 episodes) from the episode's recorded first state (``reset_to`` with
``state[0]`` and agent velocity 0, no extra physics step) in

  (a) our JAX env (``physics_step``, float32, all episodes vmapped and scanned), and
  (b) a pymunk oracle of the original world (float64; below),

and compares the block trajectories with the recorded ones.

Alignment: ``data/state[t]`` is the observation *before* ``data/action[t]`` is applied, and
``state[t + 1]`` the observation after it (the recorder stores the info of the previous env step
together with the action it is about to send). So state[t], action[t] -> state[t + 1]; an episode
of length L gives L - 1 predicted steps. (The oracle reproduces the recorded states to float32
round-off with this alignment; shifting by one step does not.)

Errors per predicted step: block position error |xy - xy_rec| (px, block body origin) and block
angle error |wrap(angle - angle_rec)| (rad); mean, 95th percentile and max over all steps of all
episodes, for ours vs recorded, pymunk vs recorded and ours vs pymunk. Also the agent position
error and per-episode maxima. Writes benchmarks/results/pusht_fidelity.json and prints a table.

    PYTHONPATH=src python benchmarks/bench_pusht_fidelity.py [--store PATH] [--episodes N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import numpy as np

STORE = "/work/shared/data/pusht/pusht_cchi_v7_replay.zarr"
OUT = Path(__file__).resolve().parent / "results" / "pusht_fidelity.json"

from _pusht_replay import replay_program  # noqa: E402

from near.envs.pusht_oracle import PymunkPushT  # noqa: E402  (the pymunk reference world)


def wrap(d):
    return (d + np.pi) % (2.0 * np.pi) - np.pi


def stats(x: np.ndarray) -> dict:
    return {"mean": float(np.mean(x)), "p95": float(np.percentile(x, 95)), "max": float(np.max(x))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=STORE)
    ap.add_argument("--episodes", type=int, default=0, help="first N episodes only (0 = all)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()

    import jax
    import pymunk
    import zarr

    g = zarr.open_group(args.store, mode="r")
    states = np.asarray(g["data/state"], np.float64)
    actions = np.asarray(g["data/action"], np.float64)
    ends = np.asarray(g["meta/episode_ends"], np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    if args.episodes:
        starts, ends = starts[: args.episodes], ends[: args.episodes]
    n_ep = len(ends)
    lengths = ends - starts

    # (a) ours: all episodes at once; actions padded with the last one (padded steps are masked).
    rollout, s0, acts = replay_program(states, actions, starts, lengths - 1)

    t0 = time.perf_counter()
    compiled = rollout.lower(s0, acts).compile()
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = np.asarray(jax.block_until_ready(compiled(s0, acts)))  # (T, E, 5)
    t_ours = time.perf_counter() - t0
    ours = np.swapaxes(ours, 0, 1).astype(np.float64)

    # (b) pymunk oracle.
    t0 = time.perf_counter()
    pm = []
    for lo, hi in zip(starts, ends):
        sim = PymunkPushT(states[lo, :2], states[lo, 2:4], states[lo, 4])
        pm.append(np.array([sim.step(a) for a in actions[lo : hi - 1]]))
    t_pm = time.perf_counter() - t0

    rows = {"ours_vs_recorded": [], "pymunk_vs_recorded": [], "ours_vs_pymunk": []}
    per_episode = []
    for e, (lo, hi) in enumerate(zip(starts, ends)):
        rec = states[lo + 1 : hi]
        o = ours[e, : len(rec)]
        p = pm[e]
        pairs = {"ours_vs_recorded": (o, rec), "pymunk_vs_recorded": (p, rec), "ours_vs_pymunk": (o, p)}
        ep = {"episode": e, "steps": len(rec)}
        for name, (x, y) in pairs.items():
            pos = np.linalg.norm(x[:, 2:4] - y[:, 2:4], axis=1)
            ang = np.abs(wrap(x[:, 4] - y[:, 4]))
            agent = np.linalg.norm(x[:, :2] - y[:, :2], axis=1)
            rows[name].append((pos, ang, agent))
            ep[name] = {"pos_max": float(pos.max()), "angle_max": float(ang.max())}
        per_episode.append(ep)

    summary = {}
    for name, parts in rows.items():
        pos = np.concatenate([p[0] for p in parts])
        ang = np.concatenate([p[1] for p in parts])
        agent = np.concatenate([p[2] for p in parts])
        summary[name] = {"block_pos_px": stats(pos), "block_angle_rad": stats(ang), "agent_pos_px": stats(agent)}
        summary[name]["episodes_pos_max_over_1px"] = int(sum(ep[name]["pos_max"] > 1.0 for ep in per_episode))
    worst = sorted(per_episode, key=lambda ep: -ep["ours_vs_pymunk"]["pos_max"])[:10]

    result = {
        "benchmark": "pusht_fidelity",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "store": args.store,
        "episodes": n_ep,
        "steps_compared": int(sum(lengths - 1)),
        "alignment": "state[t], action[t] -> state[t+1]; start = reset_to(state[0]) with agent velocity 0",
        "jax": jax.__version__,
        "pymunk": pymunk.version,
        "platform": platform.platform(),
        "device": str(jax.devices()[0]),
        "time_s": {"ours_compile": t_compile, "ours_rollout_all": t_ours, "pymunk_all": t_pm},
        "summary": summary,
        "worst_episodes_ours_vs_pymunk": worst,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"{n_ep} episodes, {result['steps_compared']} steps (state[t], action[t] -> state[t+1])")
    print(f"{'comparison':<20} {'pos mean':>10} {'pos p95':>10} {'pos max':>10} {'ang mean':>10} {'ang p95':>10} {'ang max':>10} {'eps>1px':>8}")
    for name, s in summary.items():
        p, a = s["block_pos_px"], s["block_angle_rad"]
        print(
            f"{name:<20} {p['mean']:10.2e} {p['p95']:10.2e} {p['max']:10.2e} "
            f"{a['mean']:10.2e} {a['p95']:10.2e} {a['max']:10.2e} {s['episodes_pos_max_over_1px']:8d}"
        )
    print(f"time: ours compile {t_compile:.1f} s, rollout {t_ours:.2f} s; pymunk {t_pm:.1f} s -> {out}")


if __name__ == "__main__":
    main()
