"""Does NEAR's push-T reward prefer the episodes NEAR fails to the path PPO takes from the same start?

Issue #19: NEAR at 500 M steps leaves the T where it is on starts with the T turned far round, where PPO
(the task reward alone) succeeds. Either NEAR's reward pays less for PPO's way of solving those starts
than for giving up (a reward at fault), or it pays more and PPO-on-NEAR's-reward has not found it
(optimisation at fault). This scores both policies' deterministic episodes from the same random starts
under NEAR's own reward, step by step:

- task: the env's reward (coverage over the curriculum threshold, the distance shaping, the success
  bonus of the run's config), recomputed from the recorded states;
- style: tanh((E(pair, level) - m) / 10) with NEAR's final noise level from its log, and the centre m
  the mean energy of NEAR's own pairs (the reward's running centre tracks NEAR's batches; an energy
  model retrained on the CPU has its own offset, so the logged centre is not used);
- the weighted sum the run trained on, discounted with its gamma.

Then the energy model on the demonstrations' own pairs (s, s') against the same states held still
(s, s), at that level: which does it rank higher? And the demonstrations' agent steps as a 2-D density
(share of steps per px^2 by step length): is standing still their mode?

    python benchmarks/inspect_pusht_reward_paths.py --near RUN --ppo RUN --energy ENERGY_RUN \
        [--data pusht_cchi_v7_replay.zarr] [--episodes 512] [--name pusht_reward_paths]

``--fit span1 span10 steps embedding`` also trains, with the NEAR run's energy config and seed, one energy
model per variant (see fit_variants; CPU: ~25 s each at 20 k iterations) and reports the same
still-against-demo ranking for each: does any of them stop the energy peaking at s' = s?

Writes benchmarks/results/<name>.json and prints a table (CPU: about a minute for 512 episodes).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result
from inspect_pusht_policy import evaluation_episodes

from near.cli import configure_jax


def task_rewards(env, observations: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(T, episodes) the env's reward of each step (near.envs.pusht.task_reward, with its curriculum
    threshold carried along), from the recorded states (T + 1, episodes, 5); zero after an episode's end."""
    import jax
    import jax.numpy as jnp

    from near.envs.pusht import task_reward

    c = env.config
    after = jnp.asarray(observations[1:], jnp.float32)  # the state each step ended in
    reward_of = jax.vmap(lambda obs, theta, t: task_reward(c, obs, obs[4], theta, t)[:2], in_axes=(0, 0, None))

    def step(theta, xs):
        obs, t = xs
        reward, theta = reward_of(obs, theta, t)
        return theta, reward

    theta = jnp.full(after.shape[1], c.theta_init, jnp.float32)
    _, rewards = jax.lax.scan(step, theta, (after, jnp.arange(1, after.shape[0] + 1)))
    steps = np.arange(after.shape[0])[:, None]
    return np.where(steps < np.asarray(lengths)[None], np.asarray(rewards, np.float64), 0.0)


def energies(model, pairs: np.ndarray, level: int) -> np.ndarray:
    """(M,) raw energy of pairs (M, D) at one noise level."""
    import jax.numpy as jnp

    return np.asarray(model.energy(jnp.asarray(pairs, jnp.float32), jnp.asarray(level, jnp.int32)))


def pair_energies(model, observations: np.ndarray, level: int) -> np.ndarray:
    """(T, episodes) raw energy of each step's (state, next state) pair at one noise level (past first)."""
    pairs = np.concatenate([observations[:-1], observations[1:]], axis=-1)
    return energies(model, pairs.reshape(-1, pairs.shape[-1]), level).reshape(pairs.shape[:2])


def agent_speed(path: dict) -> np.ndarray:
    """(T, episodes) the agent's movement per step, px (zero after an episode's end)."""
    step = np.linalg.norm(np.diff(np.asarray(path["obs"], np.float64)[..., :2], axis=0), axis=-1)
    return np.where(path["valid"], step, 0.0)


def still_against_demo(model, pairs: np.ndarray, level: int, draws: int = 4096, seed: int = 0) -> dict:
    """How the energy ranks a demonstration pair (s, s') against its first state held still, (s, s)."""
    rng = np.random.default_rng(seed)
    pairs = np.asarray(pairs, np.float32)[rng.choice(len(pairs), min(draws, len(pairs)), replace=False)]
    half = pairs.shape[-1] // 2
    still = np.concatenate([pairs[:, :half], pairs[:, :half]], -1)
    demo_e, still_e = energies(model, pairs, level), energies(model, still, level)
    return {"still_ranks_higher": float((still_e > demo_e).mean()), "demo_energy": float(demo_e.mean()),
            "still_energy": float(still_e.mean())}


STEP_RINGS_PX = (0.0, 0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 14.0, 20.0, 40.0)


def step_density(pairs: np.ndarray, rings=STEP_RINGS_PX) -> list[dict]:
    """The demo pairs' 2-D agent step (s'_xy - s_xy) per ring of step length: the share of steps in it,
    and that share per px^2 of the ring (the step's density as a 2-D vector, which a pair energy sees)."""
    half = pairs.shape[-1] // 2
    length = np.linalg.norm(np.asarray(pairs)[:, half:half + 2] - np.asarray(pairs)[:, :2], axis=-1)
    rows = []
    for lo, hi in itertools.pairwise(rings):
        share = float(((length >= lo) & (length < hi)).mean())
        rows.append({"from_px": lo, "to_px": hi, "share": share, "per_px2": share / (np.pi * (hi ** 2 - lo ** 2))})
    return rows


class StepFeatures:
    """An energy model trained on (s, s' - s) scored on raw pairs (s, s'): whitened, the step gets its own scale."""

    def __init__(self, model):
        self.model = model

    @staticmethod
    def features(pairs: np.ndarray) -> np.ndarray:
        half = pairs.shape[-1] // 2
        return np.concatenate([pairs[..., :half], pairs[..., half:] - pairs[..., :half]], -1)

    def energy(self, pairs, level):
        return self.model.energy(self.features(np.asarray(pairs)), level)


def fit_variants(cfg, variants: list[str], level: int, out_dir: str) -> list[dict]:
    """An energy model per variant, trained with the NEAR run's energy config and seed on the demo pairs,
    and how each ranks stillness: ``spanK`` pairs (s_t, s_t+K); ``steps`` pairs fed as (s, s' - s);
    ``embedding`` the noise level as an input (energy.conditioning=embedding) instead of E = g(x) / sigma."""
    import dataclasses

    from near.data.demos import transition_pairs
    from near.energy.train import fit, model_from_state
    from near.factories import load_demos

    demos, rows = load_demos(cfg), []
    for variant in variants:
        energy_cfg, span, steps = cfg.energy, 1, variant == "steps"
        if variant.startswith("span") and variant[4:].isdigit():
            span = int(variant[4:])
        elif variant == "embedding":
            energy_cfg = dataclasses.replace(cfg.energy, conditioning="embedding")
        elif not steps:
            raise SystemExit(f"unknown variant {variant!r}: spanK, steps or embedding")
        pairs = transition_pairs(demos, span=span)
        state, _ = fit(energy_cfg, StepFeatures.features(pairs) if steps else pairs, os.path.join(out_dir, variant),
                       seed=cfg.seed, show_progress=False)
        model = model_from_state(energy_cfg, state)
        ranking = still_against_demo(StepFeatures(model) if steps else model, pairs, level)
        rows.append({"variant": variant, "pairs": len(pairs), **ranking})
    return rows


def discounted(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """(episodes,) sum over t of gamma^t r_t."""
    return (rewards * gamma ** np.arange(rewards.shape[0])[:, None]).sum(0)


def compare(near: dict, ppo: dict, weights: tuple[float, float], gamma: float) -> dict:
    """Per-episode returns of both paths under NEAR's reward, and the counts the question needs."""
    w_task, w_style = weights
    out = {}
    for name, path in (("near", near), ("ppo", ppo)):
        total = w_task * path["task"] + w_style * path["style"]
        out[name] = {"task": discounted(path["task"], gamma), "style": discounted(path["style"], gamma),
                     "total": discounted(total, gamma),
                     "style_per_step": path["style"].sum(0) / np.maximum(path["length"], 1)}
    lost = ~near["success"] & ppo["success"]
    rows = {"episodes": len(lost), "near_success": float(near["success"].mean()),
            "ppo_success": float(ppo["success"].mean()), "near_fails_ppo_succeeds": int(lost.sum())}
    for subset, mask in (("all", np.ones_like(lost)), ("near_fails_ppo_succeeds", lost)):
        if not mask.any():
            continue
        for name in ("near", "ppo"):
            for key, values in out[name].items():
                rows[f"{subset}/{name}_{key}"] = float(values[mask].mean())
        rows[f"{subset}/ppo_path_pays_more"] = float((out["ppo"]["total"][mask] > out["near"]["total"][mask]).mean())
        rows[f"{subset}/ppo_path_style_higher"] = float((out["ppo"]["style"][mask] > out["near"]["style"][mask]).mean())
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--near", required=True, help="NEAR's push-T run folder")
    parser.add_argument("--ppo", required=True, help="PPO's push-T run folder (the same starts are replayed)")
    parser.add_argument("--energy", required=True, help="the energy model NEAR trained with (or one of the same seed)")
    parser.add_argument("--data", default="", help="the demonstrations (default: the NEAR run's task.data)")
    parser.add_argument("--episodes", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--level", type=int, default=-1, help="noise level (default: NEAR's last logged one)")
    parser.add_argument("--fit", nargs="*", default=[], help="also fit energy models: spanK, steps, embedding")
    parser.add_argument("--fit-out", default="runs/pusht_energy_variants", help="where --fit puts its models")
    parser.add_argument("--name", default="pusht_reward_paths")
    args = parser.parse_args(argv)
    configure_jax()
    from near.energy.train import load_energy_model
    from near.factories import demo_pairs, make_env
    from near.restore import run_config
    from near.utils.checkpoint import load_meta
    from near.utils.logging import read_metrics

    near_cfg = run_config(args.near, load_meta(args.near))
    if args.data:
        near_cfg.task.data = args.data
    level = args.level
    if level < 0:
        logged = np.asarray(read_metrics(args.near).get("sigma_level", []), np.float64)
        logged = logged[np.isfinite(logged)]
        if not len(logged):
            raise SystemExit(f"{args.near}: no sigma_level in its metrics.jsonl; pass --level")
        level = int(logged[-1])
    model, _ = load_energy_model(args.energy, expect_pair_dim=10, expect_env="pusht")
    reward_env = make_env(near_cfg)  # the reward NEAR trained on (its success bonus), not the evaluation's
    paths = {}
    for name, run, task in (("near", args.near, "pushTNEAR"), ("ppo", args.ppo, "pushT")):
        _, out = evaluation_episodes(task, run, args.episodes, args.seed)
        obs, length = out["observations"], np.asarray(out["episode_length"])
        valid = np.arange(obs.shape[0] - 1)[:, None] < length[None]
        paths[name] = {"obs": obs, "length": length, "success": np.asarray(out["success"], bool),
                       "task": task_rewards(reward_env, obs, length), "energy": pair_energies(model, obs, level),
                       "valid": valid}
    if not np.allclose(paths["near"]["obs"][0], paths["ppo"]["obs"][0]):
        raise SystemExit("the two evaluations did not start from the same states (different env settings?)")
    near = paths["near"]
    centre = float(near["energy"][near["valid"]].mean())
    for path in paths.values():
        path["style"] = np.where(path["valid"], np.tanh((path["energy"] - centre) / near_cfg.reward.tanh_scale), 0.0)
    weights = (near_cfg.reward.task_weight * near_cfg.reward.task_reward_scale, near_cfg.reward.style_weight)
    row = {"near": args.near, "ppo": args.ppo, "energy": args.energy, "level": level, "centre": centre,
           "weights": list(weights), "gamma": near_cfg.train.gamma,
           **compare(paths["near"], paths["ppo"], weights, near_cfg.train.gamma)}
    lost = ~paths["near"]["success"] & paths["ppo"]["success"]
    for name, path in paths.items():
        speed = agent_speed(path)
        for subset, mask in (("all", np.ones_like(lost)), ("near_fails_ppo_succeeds", lost)):
            moved = speed[:, mask][path["valid"][:, mask]]
            row[f"{subset}/{name}_agent_px_per_step"] = float(moved.mean()) if moved.size else float("nan")
            row[f"{subset}/{name}_agent_still_fraction"] = float((moved < 0.5).mean()) if moved.size else float("nan")
    demo = demo_pairs(near_cfg)
    row.update({f"demo/{k}": v for k, v in still_against_demo(model, demo, level).items()})
    row["demo_step_density"] = step_density(demo)
    if args.fit:
        row["variants"] = fit_variants(near_cfg, args.fit, level, args.fit_out)
    path = write_result(args.name, "push-T: NEAR's and PPO's episodes from the same starts under NEAR's reward", [row])
    print("| figure | value |\n|---|---:|")
    for key, value in row.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            print(f"| {key} | {value:.3f} |" if isinstance(value, float) else f"| {key} | {value} |")
    print("\n| demo agent step, px | share of steps | per px^2 |\n|---|---:|---:|")
    for ring in row["demo_step_density"]:
        print(f"| {ring['from_px']:g}-{ring['to_px']:g} | {ring['share']:.4f} | {ring['per_px2']:.5f} |")
    if row.get("variants"):
        print("\n| energy model | pairs | still (s, s) ranks above the demo pair |\n|---|---:|---:|")
        for variant in row["variants"]:
            print(f"| {variant['variant']} | {variant['pairs']} | {variant['still_ranks_higher']:.3f} |")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
