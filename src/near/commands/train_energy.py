"""near train-energy: step 1, the energy model on the task's demonstration pairs, and how well it
ranks expert pairs above random ones (summary.json)."""

from __future__ import annotations

import os
import time

import numpy as np

from near.commands.run_folder import default_out, write_config
from near.config import Config, ConfigError, to_dict
from near.factories import demo_pairs, make_env
from near.utils.logging import prepare_run_dir, write_json


def train_energy(cfg: Config) -> dict:
    from near.energy.train import fit, load_energy_model, ranking_accuracies

    env = make_env(cfg)
    pairs = demo_pairs(cfg, env)  # read the demos before touching the run folder
    min_std = std_floor(cfg, env, pairs.shape[1])
    run_dir = prepare_run_dir(default_out(cfg, "energy"), resume=cfg.resume)
    write_config(run_dir, cfg)
    start = time.time()
    meta = {"task": cfg.task.name, "env": cfg.task.env, "data": cfg.task.data or "generated", "config": to_dict(cfg)}
    _, last = fit(cfg.energy, pairs, run_dir, seed=cfg.seed, meta=meta, resume=cfg.resume, show_progress=cfg.progress,
                  min_std=min_std)
    model, _ = load_energy_model(run_dir)
    demo, random_pairs, levels = ranking_sets(cfg, pairs)
    ranked = ranking_accuracies(model, demo, random_pairs, levels)
    accuracy = {f"rank_accuracy/level_{c}": ranked[c] for c in levels}
    summary = {"kind": "energy", "task": cfg.task.name, "env": cfg.task.env, "run_dir": run_dir, "num_pairs": len(pairs),
               "wall_seconds": round(time.time() - start, 2), "final_loss": last.get("loss"),
               "test_loss": last.get("test_loss"), **accuracy}
    write_json(os.path.join(run_dir, "summary.json"), summary)
    return summary


RANKING_WARN_BELOW = 0.9  # a healthy model ranks nearly every demonstration pair above the random ones


def worst_ranking(summary: dict) -> tuple[str | None, float]:
    """The summary's lowest rank_accuracy/level_* entry as (key, accuracy); (None, nan) when it has none."""
    ranked = {k: v for k, v in summary.items() if k.startswith("rank_accuracy/")}
    key = min(ranked, key=ranked.get, default=None)
    return key, (ranked[key] if key is not None else float("nan"))


def ranking_warning(summary: dict) -> str | None:
    """A line for the user when the model ranks the demonstrations' pairs above random pairs in under 90 %
    of cases at some level (e.g. part of each clip on the network's floor with random pairs)."""
    key, worst = worst_ranking(summary)
    if key is None or worst >= RANKING_WARN_BELOW:
        return None
    line = (f"the energy model ranks the demonstrations' pairs above random pairs in only {100 * worst:.0f} % "
            f"of cases (level {key.split('_')[-1]}; a healthy model: over {100 * RANKING_WARN_BELOW:.0f} %)")
    view = {"humanoid": "its energy along the clips", "maze": "its landscape"}.get(summary.get("env"))
    return f"{line}; `near viz energy checkpoint={summary.get('run_dir')}` draws {view}" if view else line


def std_floor(cfg: Config, env, pair_dim: int) -> np.ndarray | None:
    """The std floor per feature of a pair (pair_dim,): energy.velocity_std_floor on the env's velocity
    features, energy.angle_std_floor on its joint angles; None when neither is set."""
    from near.energy.train import STD_FLOORS

    floors = {key: getattr(cfg.energy, key) for key in STD_FLOORS if getattr(cfg.energy, key) > 0}
    if not floors:
        return None
    min_std = np.zeros(pair_dim, np.float32)
    for key, value in floors.items():
        attr, what = STD_FLOORS[key]
        dims = getattr(env, attr, None)
        if dims is None:
            raise ConfigError(f"energy.{key}={value}: the {cfg.task.env} env's pairs have no {what} features")
        min_std[np.asarray(dims)] = value
    return min_std


RANKED_PAIRS = 4096  # demonstration pairs the summary's ranking scores


def ranking_sets(cfg: Config, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """What `near train-energy` ranks: the first demonstration pairs, as many random pairs (the seed's
    draw from the demos' bounding box) and the levels 0, middle and last."""
    random_pairs = _random_pairs(pairs, np.random.default_rng(cfg.seed), len(pairs))
    levels = sorted({0, cfg.energy.num_levels // 2, cfg.energy.num_levels - 1})
    return pairs[:RANKED_PAIRS], random_pairs[:RANKED_PAIRS], levels


def _random_pairs(pairs: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Pairs of uniformly random states within the demos' bounding box: the 'not expert' reference."""
    d = pairs.shape[1] // 2
    states = np.concatenate([pairs[:, :d], pairs[:, d:]])
    low, high = states.min(0), states.max(0)
    return rng.uniform(np.tile(low, 2), np.tile(high, 2), size=(n, 2 * d)).astype(np.float32)
