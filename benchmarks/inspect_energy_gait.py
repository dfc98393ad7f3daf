"""Does a humanoid energy model ask for the clips' stride, or would short quick steps do? (issue #16)

NEAR's run policies stride 0.38-0.49 x the clips' at 1.8-2.2 x their cadence, about the clips' speed;
AMP's, on the same body, 0.64-0.78 x at 1.4 x. Scoring those policies' own pairs mixes the gait with
everything else they do differently (posture, arms). Here the clips themselves are changed, nothing
else: each clip replayed as a gait of ``stride`` x its amplitude at ``cadence`` x its rate. At clip time
tau (the clip played ``cadence`` x as fast) every joint angle swings ``stride`` x as far about the clip's
mean pose, the root height likewise about its mean, and the velocities follow (joint and root linear
velocities x stride * cadence, so the root's speed is stride * cadence x the clip's; the root's rotation
is the clip's, its angular velocity x cadence). stride = cadence = 1 is the clip itself. Each state goes
through the simulator's kinematics (key bodies by forward kinematics), so its observation is one the
policy could produce, and pairs are [s(tau - cadence * dt), s(tau)], dt being the pair span the model
learnt.

E = g / sigma, so the level only scales g: the clip's pairs outrank a gait's in the same share of
pairings at every level; what a level changes is what that costs in NEAR's reward tanh((E - m) / 10).
The table gives, per gait, g, how often the clip's pair outranks the gait's, and the reward gap at a few
levels (benchmarks/inspect_energy_posture.py's measure); ``--grid`` draws the reward gap at one level
over strides x cadences as a heat map.

With ``--policy RUN_DIR`` a NEAR policy's own deterministic episodes (16, up to 256 steps each) are
replayed instead of the clips, about each episode's own mean pose, stride and cadence relative to the
policy's (1 x 1 is the policy's pairs as the env observed them): where does the energy's slope point from
where the policy is, rather than from the clips' bodies?

    PYTHONPATH=src python benchmarks/inspect_energy_gait.py --energy RUN_DIR --motion SET.yaml [--pairs 4096]
        [--gaits 0.38x2.2 0.78x1.36 ...] [--grid PNG [--level 4]] [--policy RUN_DIR]
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result
from inspect_energy_posture import LEVELS, energy_env, level_free_g, reward_gaps

from near.envs.core import make_pair
from near.envs.humanoid import model as hm
from near.motion import library as ml

# the clip; NEAR's run (seed 42, corner feet: strides 0.38 x, cadence 2.2 x); AMP's run (seed 42: 0.78 x, 1.36 x);
# half the stride at the clip's cadence; the clip at twice its rate
GAITS = ((1.0, 1.0), (0.38, 2.2), (0.78, 1.36), (0.5, 1.0), (1.0, 2.0))
GRID_STRIDES = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2)
GRID_CADENCES = (0.6, 0.8, 1.0, 1.4, 1.8, 2.2)
# about a policy's own gait (x its own): NEAR's run would reach the clips' at about 2.6 x its stride and 0.45 x its cadence
POLICY_GRID_STRIDES = (0.6, 0.8, 1.0, 1.5, 2.0, 2.6)
POLICY_GRID_CADENCES = (0.45, 0.6, 0.8, 1.0, 1.2, 1.4)


def clip_means(lib, samples: int = 64) -> tuple[jax.Array, jax.Array]:
    """Each clip's mean joint angles (num_clips, 28) and mean root height (num_clips,), over ``samples``
    evenly spaced times (exp maps of the ball joints averaged as vectors: a centre for small swings)."""
    clips = jnp.arange(lib.clip_length.shape[0])
    times = lib.clip_length[:, None] * jnp.linspace(0.0, 1.0, samples)[None, :]
    m = ml.motion_state(lib, jnp.broadcast_to(clips[:, None], times.shape), times)
    return m.dof_pos.mean(axis=1), m.root_pos[..., 2].mean(axis=1)


def gait_pose(m, mean_dof, mean_height, stride, cadence):
    """The clip's motion ``m`` at clip time tau as the gait's state there: (root_pos, root_rot, dof_pos,
    root_vel, root_ang_vel, dof_vel), the arguments of ``HumanoidEnv.state_from_pose``."""
    dof = mean_dof + stride * (m.dof_pos - mean_dof)
    root = m.root_pos.at[..., 2].set(mean_height + stride * (m.root_pos[..., 2] - mean_height))
    return (root, m.root_rot, dof, stride * cadence * m.root_vel, cadence * m.root_ang_vel,
            stride * cadence * m.dof_vel)


def gait_pairs(env, clips: jax.Array, fractions: jax.Array, gaits) -> dict[tuple[float, float], jax.Array]:
    """The pairs of each gait (stride, cadence), (n, pair_dim) each, from the same clips and phases: pair i
    of every gait plays clip ``clips[i]`` from the fraction ``fractions[i]`` of the times its gait can end a
    pair at, tau in [cadence * dt, clip length]."""
    lib, dt = env.library, env.control_dt * env.config.pair_span
    mean_dof, mean_height = clip_means(lib)

    def obs(m, clip, stride, cadence):
        return env.state_from_pose(*gait_pose(m, mean_dof[clip], mean_height[clip], stride, cadence)).obs

    def one(clip, fraction, stride, cadence):
        span = cadence * dt  # the clip time between the pair's two states
        tau = span + fraction * (lib.clip_length[clip] - span)
        before, now = (obs(ml.motion_state(lib, clip, t), clip, stride, cadence) for t in (tau - span, tau))
        return make_pair(env, before, now)

    pairs = jax.jit(jax.vmap(one, in_axes=(0, 0, None, None)))
    return {(s, c): pairs(clips, fractions, jnp.float32(s), jnp.float32(c)) for s, c in gaits}


def policy_gait_pairs(env, episodes: list[dict], gaits) -> dict[tuple[float, float], jax.Array]:
    """A policy's own episodes (each ``qpos`` (T, nq), ``qvel`` (T, nv)) replayed as gaits, as the clips are
    in :func:`gait_pairs`: at episode time tau (played ``cadence`` x as fast, states between two steps
    interpolated) every joint angle and the root height swing ``stride`` x as far about the episode's mean,
    the joint and root linear velocities x stride * cadence, the root's angular velocity x cadence. Pair i
    of every gait starts at the same step, so (1, 1) is the episode's own pairs as the env observed them."""
    span = env.config.pair_span
    reach = max(c for _, c in gaits) * span  # the furthest a gait's second state lies beyond its first
    start, means, heights = [], [], []
    offset = 0
    for e in episodes:
        n = len(e["qpos"]) - int(np.ceil(reach)) - 1  # pairs whose states all lie inside the episode
        if n <= 0:
            offset += len(e["qpos"])
            continue
        dof = np.asarray(hm.dof_pos_from_qpos(env.layout, jnp.asarray(e["qpos"])))
        start.append(offset + np.arange(n))
        means.append(np.repeat(dof.mean(0)[None], n, axis=0))
        heights.append(np.full(n, e["qpos"][:, 2].mean(), np.float32))
        offset += len(e["qpos"])
    if not start:
        raise SystemExit(f"no episode is longer than {int(np.ceil(reach)) + 1} steps: nothing to replay")
    qpos = jnp.asarray(np.concatenate([e["qpos"] for e in episodes]))
    qvel = jnp.asarray(np.concatenate([e["qvel"] for e in episodes]))
    start, means, heights = jnp.asarray(np.concatenate(start)), jnp.asarray(np.concatenate(means)), jnp.asarray(np.concatenate(heights))

    def state(tau, mean_dof, mean_z, stride, cadence):
        i = jnp.floor(tau).astype(jnp.int32)
        f = tau - i
        q0, q1, v0, v1 = qpos[i], qpos[i + 1], qvel[i], qvel[i + 1]
        quat = q0[3:7] * (1 - f) + jnp.sign(jnp.dot(q0[3:7], q1[3:7])) * q1[3:7] * f
        dof = (1 - f) * hm.dof_pos_from_qpos(env.layout, q0) + f * hm.dof_pos_from_qpos(env.layout, q1)
        root = (1 - f) * q0[:3] + f * q1[:3]
        root = root.at[2].set(mean_z + stride * (root[2] - mean_z))
        q = hm.qpos_from_pose(env.layout, root, quat, mean_dof + stride * (dof - mean_dof))
        v = (1 - f) * v0 + f * v1
        v = jnp.concatenate([stride * cadence * v[:3], cadence * v[3:6], stride * cadence * v[6:]])
        return env._observe(env._kinematics(q, v))

    def one(first, mean_dof, mean_z, stride, cadence):
        tau = first.astype(jnp.float32)
        return make_pair(env, state(tau, mean_dof, mean_z, stride, cadence),
                         state(tau + cadence * span, mean_dof, mean_z, stride, cadence))

    pairs = jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None, None)))
    return {(s, c): pairs(start, means, heights, jnp.float32(s), jnp.float32(c)) for s, c in gaits}


def gait_rows(g: dict, sigmas: np.ndarray) -> list[dict]:
    """Per gait: g, how often the clip's pair outranks the gait's (pair by pair) and the reward gap."""
    clip = g[(1.0, 1.0)]
    rows = []
    for (stride, cadence), values in g.items():
        gap = clip - values
        rows.append({"stride": stride, "cadence": cadence, "speed": stride * cadence, "g_mean": float(values.mean()),
                     "g_std": float(values.std()), "clip_ranks_higher": float(np.mean(gap > 0)),
                     **{f"reward_gap_{k}": v for k, v in reward_gaps(gap, sigmas).items()}})
    return rows


def draw_grid(path: str, rows: list[dict], level: int, sigma: float, title: str, source: str = "clip",
              strides=GRID_STRIDES, cadences=GRID_CADENCES) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_gait = {(r["stride"], r["cadence"]): r[f"reward_gap_level_{level}"] for r in rows}
    gap = np.array([[by_gait[(s, c)] for c in cadences] for s in strides])
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    image = ax.imshow(gap, origin="lower", cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cadences)), [f"{c:g}" for c in cadences])
    ax.set_yticks(range(len(strides)), [f"{s:g}" for s in strides])
    for i, s in enumerate(strides):
        for j, c in enumerate(cadences):
            ax.text(j, i, f"{gap[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if gap[i, j] < gap.mean() else "black")
    ax.set_xlabel(f"cadence (x the {source}'s)")
    ax.set_ylabel(f"stride (x the {source}'s amplitude)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label=f"reward gap to the {source}'s gait, level {level} (sigma {sigma:.2f})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_gait(text: str) -> tuple[float, float]:
    try:
        stride, cadence = (float(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a gait is STRIDExCADENCE, e.g. 0.38x2.2; got {text!r}") from None
    if stride < 0 or cadence <= 0:
        raise argparse.ArgumentTypeError(f"stride must be >= 0 and cadence > 0; got {text!r}")
    return stride, cadence


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--energy", required=True, help="run folder of near train-energy (humanoid)")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--pairs", type=int, default=4096)
    parser.add_argument("--gaits", nargs="*", type=parse_gait, default=list(GAITS), help="STRIDExCADENCE ...")
    parser.add_argument("--grid", default="", help="draw the reward gap over strides x cadences into this PNG")
    parser.add_argument("--level", type=int, default=4, help="the noise level of --grid's reward gap (the run's annealing sat at 4)")
    parser.add_argument("--policy", default="", help="a NEAR policy's run folder: replay its own episodes (16 of up to 256 steps) instead of the clips")
    parser.add_argument("--input-clip", type=float, default=None,
                        help="score with this clip of the normalised input instead of the model's (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="energy_gait")
    args = parser.parse_args(argv)
    if args.level not in LEVELS:
        parser.error(f"--level must be one of {LEVELS}")

    model, _, base_cfg, env = energy_env(args.energy, args.motion, input_clip=args.input_clip)
    gaits = list(dict.fromkeys([(1.0, 1.0), *args.gaits]))  # the clip first, each gait once
    grid = (POLICY_GRID_STRIDES, POLICY_GRID_CADENCES) if args.policy else (GRID_STRIDES, GRID_CADENCES)
    if args.grid:
        gaits += [(s, c) for s in grid[0] for c in grid[1] if (s, c) not in gaits]
    k_clip, k_time = jax.random.split(jax.random.PRNGKey(args.seed))
    if args.policy:  # the policy's own gait, about its own mean pose, on the physics it trained with
        from inspect_energy_posture import policy_env, policy_episodes

        episodes = policy_episodes(base_cfg, policy_env(base_cfg, env, args.policy), args.policy,
                                   jax.random.PRNGKey(args.seed + 1), 16, 256, ("qpos", "qvel"))
        pairs = policy_gait_pairs(env, episodes, gaits)
    else:
        pairs = gait_pairs(env, ml.sample_clips(env.library, k_clip, args.pairs), jax.random.uniform(k_time, (args.pairs,)), gaits)
    sigmas = np.asarray(model.sigmas)
    g = {gait: level_free_g(model, p) for gait, p in pairs.items()}
    rows = gait_rows(g, sigmas)
    shown = [r for r in rows if (r["stride"], r["cadence"]) in {(1.0, 1.0), *args.gaits}]
    source = f"the policy {args.policy}'s own episodes" if args.policy else "the clips"
    n_pairs = len(next(iter(pairs.values())))
    print(f"energy model {args.energy}, motion {os.path.basename(args.motion)}: {source} replayed, {n_pairs} pairs per gait")
    print(f"| stride | cadence | speed | g mean (std) | {'as played' if args.policy else 'clip'} ranks higher | "
          + " | ".join(f"reward gap, level {lv} (sigma {sigmas[lv]:.2f})" for lv in LEVELS) + " |")
    print("|" + "---:|" * (5 + len(LEVELS)))
    for r in shown:
        print(f"| {r['stride']:g} | {r['cadence']:g} | {r['speed']:.2f} | {r['g_mean']:.1f} ({r['g_std']:.1f}) | "
              f"{r['clip_ranks_higher']:.3f} | " + " | ".join(f"{r[f'reward_gap_level_{lv}']:.3f}" for lv in LEVELS) + " |")
    if args.grid:
        draw_grid(args.grid, rows, args.level, float(sigmas[args.level]),
                  f"{os.path.basename(args.motion)}: {'the policy' if args.policy else 'the clips'} replayed at other strides and cadences",
                  "policy" if args.policy else "clip", *grid)
        print(args.grid)
    path = write_result(args.out, "inspect_energy_gait",
                        [{"energy": args.energy, "motion": os.path.basename(args.motion), "pairs": n_pairs, "policy": args.policy,
                          "levels": {str(lv): float(sigmas[lv]) for lv in LEVELS}}] + rows)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
