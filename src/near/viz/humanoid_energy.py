"""The humanoid's reward views: a NEAR energy model's energy (``near viz energy checkpoint=ENERGY_RUN
[policy=POLICY_RUN]``) or an AMP run's discriminator reward (``near viz disc checkpoint=AMP_RUN``) along the
motion clips, step by step, beside a policy's episode.

The maze's view draws the energy over the plane; the humanoid's pairs have 210 numbers, so this one
draws the energy over time instead: the pairs [s(t), s(t - span)] of each clip at the control rate,
and of a policy's first deterministic episode, at a few noise levels, with the spread of each beside. Where the policy's curve sits below the clips', the reward pays it less than the clips
would be paid; where it dips, a moment of its gait the model finds unlike the clips.

Both take ``score(pairs, level) -> (n,)``: the energy model's ``energy``, or AMP's reward (one "level").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

MAX_CLIPS = 6  # lines drawn; a 26-clip set would be unreadable


def clip_scores(env, score: Callable, levels: Sequence[int], max_clips: int = MAX_CLIPS) -> list[dict]:
    """Each of the first ``max_clips`` clips as ``{name, time (T,), score (levels, T)}``: the scores of its
    expert pairs at the control rate from one pair span on (env.reference_pair, the pairs the model learnt).
    The clips' pairs are scored together, one call per level (one compiled shape, not one per clip)."""
    lib, span = env.library, env.config.pair_span * env.control_dt
    clips = [c for c in range(min(max_clips, len(lib.clip_frames))) if float(lib.clip_length[c]) > span]  # a pair fits
    times = [np.arange(span, float(lib.clip_length[c]) + 1e-9, env.control_dt, dtype=np.float32) for c in clips]
    if not clips:
        return []
    ids = np.concatenate([np.full(len(t), c, np.int32) for c, t in zip(clips, times)])
    pairs = env.reference_pair(jnp.asarray(ids), jnp.asarray(np.concatenate(times)))
    scored = np.stack([np.asarray(score(pairs, level)) for level in levels])  # (levels, all steps)
    ends = np.cumsum([len(t) for t in times])[:-1]
    names = [os.path.basename(str(lib.clip_names[c])) if c < len(lib.clip_names) else f"clip {c}" for c in clips]
    return [{"name": name, "time": t, "score": part}
            for name, t, part in zip(names, times, np.split(scored, ends, axis=1))]


def policy_scores(env, score: Callable, params, obs_stats, train_cfg, levels: Sequence[int], steps: int,
                  seed: int = 0) -> dict:
    """A policy's first deterministic episode (at most ``steps`` steps, up to its end) as ``{name, time,
    score (levels, T)}``: the scores of the pairs its own steps make, as its reward sees them."""
    from near.envs.core import AutoReset
    from near.eval.policy_eval import env_key, on_one_device, policy_key, shared_program
    from near.rl.evaluate import make_episode_runner
    from near.rl.ppo import act

    policy = lambda args, obs, _key: act(args[0], train_cfg, args[1], obs, env.action_dim)
    # AutoReset's step info carries the pair the reward scores; one program per process serves the energy's
    # view and the discriminator's of runs with the same env and networks
    key = ("scores", env_key(env), policy_key(train_cfg, env.action_dim), steps)
    runner = shared_program(key, lambda: make_episode_runner(AutoReset(env), policy, 1, steps, record=("pair",)))
    out = runner(on_one_device((params, obs_stats)), jax.random.PRNGKey(seed))
    length = max(int(out["episode_length"][0]), 1)
    pairs = jnp.asarray(out["pair"][:length, 0])
    return {"name": "policy", "time": env.control_dt * np.arange(1, length + 1, dtype=np.float32),
            "score": np.stack([np.asarray(score(pairs, level)) for level in levels])}


def plot_scores_along_episodes(clips: list[dict], policy: dict | None, row_labels: Sequence[str], path: str,
                               title: str = "") -> str:
    """One row per score (a noise level's energy, or AMP's reward; ``row_labels`` name them): the score over
    time for each clip (thin) and the policy (thick black), and beside it the spread of every step's, clips
    against policy."""
    from near.viz.maze_plots import _plt, _save

    plt = _plt()
    fig, axes = plt.subplots(len(row_labels), 2, figsize=(11, 2.6 * max(len(row_labels), 1.5)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1]})
    for row, label in enumerate(row_labels):
        curve, spread = axes[row]
        for clip in clips:
            curve.plot(clip["time"], clip["score"][row], lw=1.0, alpha=0.8, label=clip["name"])
        if policy is not None:
            curve.plot(policy["time"], policy["score"][row], lw=2.2, color="black", label=policy["name"])
        curve.set_ylabel(label)
        curve.grid(alpha=0.3)
        clip_values = np.concatenate([c["score"][row] for c in clips]) if clips else np.zeros(0)
        groups = [("clips", clip_values, "tab:blue")] + ([("policy", policy["score"][row], "black")] if policy else [])
        values = np.concatenate([v for _, v, _ in groups])
        bins = np.linspace(values.min(), values.max() + 1e-6, 30) if values.size else 10
        for name, v, color in groups:
            spread.hist(v, bins=bins, orientation="horizontal", alpha=0.55, color=color, label=name, density=True)
        spread.set_ylim(curve.get_ylim())
        spread.set_xticks([])
    axes[-1][0].set_xlabel("time in the clip or episode (s)")
    axes[0][0].legend(fontsize=7, loc="best", ncol=2)
    axes[0][1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
