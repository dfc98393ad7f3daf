"""The humanoid's energy view: a NEAR energy model's energy along its motion clips, step by step, beside a
policy's episode (``near viz energy checkpoint=ENERGY_RUN [policy=POLICY_RUN]``).

The maze's view draws the energy over the plane; the humanoid's pairs have 210 numbers, so this one
draws the energy over time instead: the pairs [s(t), s(t - span)] of each clip at the control rate,
and of a policy's first deterministic episode, at a few noise levels, with the spread of each at the
finest level. Where the policy's curve sits below the clips', the reward pays it less than the clips
would be paid; where it dips, a moment of its gait the model finds unlike the clips.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

MAX_CLIPS = 6  # lines drawn; a 26-clip set would be unreadable


def clip_energies(env, model, levels: Sequence[int], max_clips: int = MAX_CLIPS) -> list[dict]:
    """Each of the first ``max_clips`` clips as ``{name, time (T,), energy (levels, T)}``: its expert
    pairs at the control rate from one pair span on (env.reference_pair, the pairs the model learnt)."""
    lib, span = env.library, env.config.pair_span * env.control_dt
    energy = jax.jit(model.energy)
    out = []
    for clip in range(min(max_clips, len(lib.clip_frames))):
        length = float(lib.clip_length[clip])
        if length <= span:
            continue  # a clip shorter than one pair has no pair
        times = np.arange(span, length + 1e-9, env.control_dt, dtype=np.float32)
        pairs = env.reference_pair(jnp.full(times.shape, clip, jnp.int32), jnp.asarray(times))
        name = lib.clip_names[clip] if clip < len(lib.clip_names) else f"clip {clip}"
        out.append({"name": os.path.basename(str(name)), "time": times,
                    "energy": np.stack([np.asarray(energy(pairs, level)) for level in levels])})
    return out


def policy_energies(env, model, params, obs_stats, train_cfg, levels: Sequence[int], steps: int,
                    seed: int = 0) -> dict:
    """A policy's first deterministic episode (at most ``steps`` steps, up to its end) as ``{name, time,
    energy (levels, T)}``: the pairs its own steps make, as NEAR's reward scores them."""
    from near.envs.core import AutoReset
    from near.rl.evaluate import make_episode_runner
    from near.rl.ppo import act

    policy = lambda args, obs, _key: act(args[0], train_cfg, args[1], obs, env.action_dim)  # noqa: E731
    # AutoReset's step info carries the pair the reward scores
    runner = make_episode_runner(AutoReset(env), policy, 1, steps, record=("pair",))
    out = runner((params, obs_stats), jax.random.PRNGKey(seed))
    length = max(int(out["episode_length"][0]), 1)
    pairs = jnp.asarray(out["pair"][:length, 0])
    energy = jax.jit(model.energy)
    return {"name": "policy", "time": env.control_dt * np.arange(1, length + 1, dtype=np.float32),
            "energy": np.stack([np.asarray(energy(pairs, level)) for level in levels])}


def plot_energy_along_episodes(clips: list[dict], policy: dict | None, levels: Sequence[int], sigmas,
                               path: str, title: str = "") -> str:
    """One row per noise level: energy over time for each clip (thin) and the policy (thick black), and
    beside it the spread of every step's energy, clips against policy."""
    from near.viz.maze_plots import _plt, _save

    plt = _plt()
    fig, axes = plt.subplots(len(levels), 2, figsize=(11, 2.6 * len(levels)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1]})
    for row, level in enumerate(levels):
        curve, spread = axes[row]
        for clip in clips:
            curve.plot(clip["time"], clip["energy"][row], lw=1.0, alpha=0.8, label=clip["name"])
        if policy is not None:
            curve.plot(policy["time"], policy["energy"][row], lw=2.2, color="black", label=policy["name"])
        curve.set_ylabel(f"E, level {level}\n(sigma {float(sigmas[level]):.3g})")
        curve.grid(alpha=0.3)
        clip_values = np.concatenate([c["energy"][row] for c in clips]) if clips else np.zeros(0)
        groups = [("clips", clip_values, "tab:blue")] + ([("policy", policy["energy"][row], "black")] if policy else [])
        values = np.concatenate([v for _, v, _ in groups])
        bins = np.linspace(values.min(), values.max() + 1e-6, 30) if values.size else 10
        for label, v, color in groups:
            spread.hist(v, bins=bins, orientation="horizontal", alpha=0.55, color=color, label=label, density=True)
        spread.set_ylim(curve.get_ylim())
        spread.set_xticks([])
    axes[-1][0].set_xlabel("time in the clip or episode (s)")
    axes[0][0].legend(fontsize=7, loc="lower left", ncol=2)
    axes[0][1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
