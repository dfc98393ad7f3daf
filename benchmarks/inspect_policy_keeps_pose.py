"""Does a policy keep a pose it is put in? Each run's policy starts from the reference state of a clip at a
given time (as `near play ... video_clip=C video_start=T` does) and a body's height is followed against the
clip's over the clip's remaining steps: the crane pose's lifted right foot, for the tracking check (can the
body hold it?) against NEAR (does it keep it?).

    python benchmarks/inspect_policy_keeps_pose.py Track=RUN NEAR=RUN --motion .motion/amp_humanoid_crane_pose.yaml \
        --starts 0:4 1:4 2:2 2:4 [--body right_foot --above 0.25] [--name policy_keeps_pose_crane]

LABEL=RUN: the run's task is read from its config (HumanoidTrack, HumanoidNEAR, HumanoidAMP). Writes
benchmarks/results/NAME.json and prints a table: per start, the fraction of steps with the body above
--above m (clip and each run) and the first step it is below.

With ``--energy ENERGY_RUN`` (a near train-energy folder of the same motion set) each episode's pairs, and
the clip's over the same steps, are scored by that energy model too (its level-free g, mean over the steps
to the clip's end or the episode's): does NEAR's own reward prefer the pose the tracker keeps, or what NEAR's
policy does instead? A second table gives each run's g, as played and with its poses held still (every
velocity zero: what the motion costs), and, for each run against the last one named, the reward per step
its pairs would gain at level 4 (the reward tanh((E - m) / 10), paired step by step). ``--levels L ...`` adds a
table of the raw energy E at those levels and the same gains from it: the only reading of a model conditioned on
the level by an embedding (energy.conditioning=embedding), whose landscape may differ from level to level where
E = g / sigma only rescales one g.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import labelled_runs, run_task, write_result
from inspect_energy_posture import energy_env, level_free_g, reward_gap, reward_gaps


def hold_stats(height: np.ndarray, above: float) -> dict:
    """Of a body's heights (T,) over an episode: the fraction of steps above ``above`` and the first step
    at or below it (None: never)."""
    height = np.asarray(height, float)
    if height.ndim != 1 or not len(height):
        raise ValueError(f"heights must be a non-empty (T,) array, got shape {height.shape}")
    down = np.nonzero(height <= above)[0]
    return {"up_fraction": float((height > above).mean()), "first_step_down": int(down[0]) if len(down) else None}


@functools.cache
def _kinematics(env):
    """The env's kinematics over a batch of (qpos, qvel), jitted once per env (not once per call)."""
    import jax

    return jax.jit(jax.vmap(env._kinematics))


def body_heights(env, qpos, body: str) -> np.ndarray:
    """World height of ``body`` at each qpos row (T, nq), through the env's own kinematics, in one call."""
    qpos = np.asarray(qpos, np.float32)
    xpos = _kinematics(env)(qpos, np.zeros((len(qpos), env.mj_model.nv), np.float32)).xpos
    return np.asarray(xpos[:, env.mj_model.body(body).id, 2], float)


@functools.cache
def _observe(env):
    """The env's observation of a batch of (qpos, qvel), jitted once per env."""
    import jax

    return jax.jit(jax.vmap(lambda q, v: env._observe(env._kinematics(q, v))))


def episode_pairs(env, qpos, qvel) -> np.ndarray:
    """An episode's pairs [s(t + span), s(t)] as the energy's env observes them, from its qpos and qvel (T, .)."""
    from near.envs.core import make_pair

    observed = _observe(env)(np.asarray(qpos, np.float32), np.asarray(qvel, np.float32))
    span = env.config.pair_span
    return np.asarray(make_pair(env, observed[:-span], observed[span:]))


class EnergyScorer:
    """A humanoid energy model and the env it learnt its pairs in (its own pair span): the pairs of a clip from a
    time on and of an episode from its qpos and qvel, scored as level-free g (a model with E = g / sigma) and as
    the raw energy E at each of ``levels`` (any conditioning)."""

    def __init__(self, energy_dir: str, motion: str, levels=()):
        self.model, _, _, self.env = energy_env(energy_dir, motion)
        self.sigma = np.asarray(self.model.sigmas)
        self.level_free = self.model.net.conditioning == "sigma"  # else g is not one function of the pair
        self.levels = tuple(int(lv) for lv in levels)
        if not self.level_free and not self.levels:
            raise ValueError(f"{energy_dir}: its energy is conditioned on the level by an embedding, so it has no "
                             "level-free g; give --levels to score it at given levels")
        bad = [lv for lv in self.levels if not 0 <= lv < len(self.sigma)]
        if bad:
            raise ValueError(f"--levels {bad}: the model {energy_dir} has levels 0-{len(self.sigma) - 1}")

    def score(self, pairs) -> dict:
        import jax.numpy as jnp

        out = {"E": {lv: np.asarray(self.model.energy(jnp.asarray(pairs), lv)).tolist() for lv in self.levels}}
        if self.level_free:
            out["g"] = level_free_g(self.model, pairs).tolist()
        return out

    def clip(self, clip: int, start: float, steps: int) -> dict:
        import jax.numpy as jnp

        span = self.env.config.pair_span
        times = start + (span + jnp.arange(max(steps - span + 1, 1))) * self.env.control_dt
        return self.score(self.env.reference_pair(jnp.full(times.shape, clip, jnp.int32), times))

    def episode(self, qpos, qvel) -> dict:
        return self.score(episode_pairs(self.env, qpos, qvel))


def level_gains(rows: dict, labels: list[str], levels: tuple[int, ...]) -> None:
    """Per start and level: the clip's and each run's mean E, and what each run's pairs gain over the last run's
    in NEAR's reward tanh((E - m) / 10) per step at a centre m halfway between the two, paired step by step:
    2 tanh((E_a - E_b) / 20). Stored in each run's row as reward_over_LAST_at_level_L."""
    last, others = labels[-1], labels[:-1]
    print("\n| start | level | E: clip | " + " | ".join(f"E: {lb}" for lb in labels) + " | "
          + " | ".join(f"{lb} over {last}: reward / step (ranks above)" for lb in others) + " |")
    print("|---|---:|---:|" + "---:|" * (len(labels) + len(others)))
    for key, row in rows.items():
        for lv in levels:
            cells = [f"{np.mean(row[lb]['E'][lv]):.1f}" for lb in labels]
            for lb in others:
                n = min(len(row[lb]["E"][lv]), len(row[last]["E"][lv]))
                gain = np.asarray(row[lb]["E"][lv][:n]) - np.asarray(row[last]["E"][lv][:n])
                reward = float(np.mean(reward_gap(gain, 1.0)))  # E already carries the level's 1 / sigma
                row[lb][f"reward_over_{last}_at_level_{lv}"] = reward
                cells.append(f"{reward:+.3f} ({np.mean(gain > 0):.0%})")
            print(f"| {key} | {lv} | {np.mean(row['clip']['E'][lv]):.1f} | " + " | ".join(cells) + " |")


def print_energy_table(rows: dict, labels: list[str], sigma: np.ndarray, level: int = 4) -> None:
    """Each start's mean g (clip and runs) and what each run's pairs gain over the last run's in NEAR's reward
    tanh((E - m) / 10) per step at ``level``, paired step by step over their common steps."""
    last = labels[-1]
    others = labels[:-1]
    print("\n| start | g: clip (held still) | " + " | ".join(f"g: {lb} (held still)" for lb in labels) + " | "
          + " | ".join(f"{lb} over {last}: reward / step at level {level} (ranks above)" for lb in others) + " |")
    print("|---|---:|" + "---:|" * (len(labels) + len(others)))
    both = lambda r: f"{np.mean(r['g']):.1f} ({np.mean(r['g_still']):.1f})"  # noqa: E731
    for key, row in rows.items():
        cells = [both(row[lb]) for lb in labels]
        for lb in others:
            n = min(len(row[lb]["g"]), len(row[last]["g"]))
            gain = np.asarray(row[lb]["g"][:n]) - np.asarray(row[last]["g"][:n])
            reward = reward_gaps(gain, sigma)[f"level_{level}"]  # at a centre halfway between the two
            row[lb][f"reward_over_{last}_level_{level}"] = reward
            cells.append(f"{reward:+.3f} ({np.mean(gain > 0):.0%})")
        print(f"| {key} | {both(row['clip'])} | " + " | ".join(cells) + " |")


def summarise_energy(rows: dict) -> dict:
    """The rows as written: each side's per-step g and E (and held still) replaced by their means and step count."""
    out = {}
    for key, row in rows.items():
        out[key] = {}
        for side, value in row.items():
            if isinstance(value, dict) and ("g" in value or "E" in value):
                per_step = ("g", "g_still", "E", "E_still")
                summary = {k: v for k, v in value.items() if k not in per_step}
                for name in ("g", "g_still"):
                    if name in value:
                        summary[f"{name}_mean"] = float(np.mean(value[name]))
                for name in ("E", "E_still"):
                    for lv, energies in value.get(name, {}).items():
                        summary[f"{name}_mean_level_{lv}"] = float(np.mean(energies))
                summary["steps_scored"] = len(value["g"] if "g" in value else next(iter(value["E"].values())))
                value = summary
            out[key][side] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--starts", nargs="+", required=True, help="CLIP:SECONDS, e.g. 2:4")
    parser.add_argument("--body", default="right_foot")
    parser.add_argument("--above", type=float, default=0.25, help="height (m) that counts as held up")
    parser.add_argument("--name", default="policy_keeps_pose")
    parser.add_argument("--energy", default="", help="a near train-energy run folder: score the episodes' pairs")
    parser.add_argument("--levels", nargs="*", type=int, default=[],
                        help="score the raw energy at these noise levels too (needed for an energy conditioned "
                             "on the level by an embedding, which has no level-free g)")
    args = parser.parse_args()

    from near.config import compose_config
    from near.eval.policy_eval import make_reference_rollout
    from near.factories import make_env
    from near.restore import load_policy

    starts = [(int(c), float(t)) for c, t in (s.split(":") for s in args.starts)]
    rows: dict[str, dict] = {}
    if args.levels and not args.energy:
        parser.error("--levels scores with an energy model: give --energy too")
    scorer = EnergyScorer(args.energy, args.motion, args.levels) if args.energy else None
    for label, run in labelled_runs(args.runs):
        cfg = compose_config([f"task={run_task(run)}", f"motion={args.motion}", f"checkpoint={run}", "episodes=2"])
        env = make_env(cfg)
        run_cfg, params, obs_stats, _ = load_policy(cfg, run)
        frames, fps = np.asarray(env.library.clip_frames), np.asarray(env.library.clip_fps)
        for clip, start in starts:
            qpos, reference, length, qvel = make_reference_rollout(cfg, env, run_cfg, episodes=2, clip=clip, start=start,
                                                                   velocities=True)(params, obs_stats)
            left = round(float(frames[clip] / fps[clip] - start) / env.control_dt)  # steps to the clip's end
            steps = max(1, min(int(length), left))
            key = f"clip {clip} from {start:g} s"
            if key not in rows:  # the clip's side is the same for every run
                rows[key] = {"clip_steps_left": left,
                             "clip": hold_stats(body_heights(env, reference[:left], args.body), args.above)}
                if scorer:  # as played, and the poses held still (every velocity zero): what the motion costs
                    rows[key]["clip"].update(scorer.clip(clip, start, left))
                    poses = reference[:left + 1]  # the clip's own qpos from the start
                    still = scorer.episode(poses, np.zeros((len(poses), env.mj_model.nv)))
                    rows[key]["clip"].update({k + "_still": v for k, v in still.items()})
            rows[key][label] = dict(hold_stats(body_heights(env, qpos[:steps], args.body), args.above),
                                    episode_steps=int(length))
            if scorer:
                rows[key][label].update(scorer.episode(qpos[:steps + 1], qvel[:steps + 1]))
                still = scorer.episode(qpos[:steps + 1], np.zeros_like(qvel[:steps + 1]))
                rows[key][label].update({k + "_still": v for k, v in still.items()})
    labels = [s.split("=", 1)[0] for s in args.runs]
    print(f"| start | steps to the clip's end | {args.body} above {args.above} m: clip | "
          + " | ".join(f"{lb} (first step down)" for lb in labels) + " |")
    print("|---|---:|---:|" + "---:|" * len(labels))
    for key, row in rows.items():
        cells = [f"{row[lb]['up_fraction']:.2f} ({row[lb]['first_step_down']})" for lb in labels]
        print(f"| {key} | {row['clip_steps_left']} | {row['clip']['up_fraction']:.2f} | " + " | ".join(cells) + " |")
    if scorer:
        if scorer.level_free:
            print_energy_table(rows, labels, scorer.sigma)
        if scorer.levels:
            level_gains(rows, labels, scorer.levels)
        rows = summarise_energy(rows)
    path = write_result(args.name, f"does a policy keep a pose it is put in: {args.body} above {args.above} m, "
                        f"{args.motion}, runs {dict(s.split('=', 1) for s in args.runs)}",
                        [{"start": key, **row} for key, row in rows.items()])
    print(path)


if __name__ == "__main__":
    main()
