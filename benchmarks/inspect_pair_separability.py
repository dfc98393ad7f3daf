"""Can a critic tell a humanoid policy's transitions from its clips'? (issue #16)

NEAR's energy and AMP's discriminator both score one transition [s(t), s(t - dt)]. If the policy's
short, quick steps were indistinguishable from the clips' strides one transition at a time, no
single-transition style reward could ask for the strides. This trains fresh classifiers (an MLP,
held-out accuracy) to tell the policy's deterministic pairs from the clips' pairs:

- on whole pairs, and on each feature group of the 105-number state alone (root height, rotation,
  velocities, joint angles, joint speeds, hands, feet), to see where the difference lies;
- on windows of k consecutive states (k = 2 is one pair), to see whether a longer view separates more.

With ``--energy ENERGY_RUN`` (a NEAR policy's energy model) it also says where that energy's gradient
points at the policy's pairs, per feature group: how much g = E * sigma changes when every feature of the
group moves by one clip standard deviation, and the first-order gain in g of moving the group's mean to
the clips' (a reward that leans on what the policy cannot change, such as the clips' float, would show
its weight on root height).

    PYTHONPATH=src python benchmarks/inspect_pair_separability.py --policy RUN_DIR --motion SET.yaml
        [--task HumanoidAMP] [--pairs 4096] [--windows 2,4,8] [--energy ENERGY_RUN]

Accuracy 0.5 means the critic cannot tell them apart; 1.0 that it always can.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result
from inspect_energy_posture import policy_episode_pairs

from near.config import compose_config
from near.factories import make_env
from near.motion import library as ml

# feature groups of one 105-number state (near/envs/humanoid/obs.py); key bodies: hands, then feet
GROUPS = {
    "root height": range(1), "root rotation": range(1, 7), "root velocities": range(7, 13),
    "joint angles": range(13, 65), "joint speeds": range(65, 93), "hands": range(93, 99), "feet": range(99, 105),
}
STATE = 105


def policy_states(cfg, env, run_dir: str, key, episodes: int, steps: int) -> list[np.ndarray]:
    """Each deterministic episode's states s(0..T), (T_i + 1, 105), up to its first termination."""
    return [np.concatenate([pairs[:1, STATE:], pairs[:, :STATE]])
            for pairs in policy_episode_pairs(cfg, env, run_dir, key, episodes, steps) if len(pairs) > 8]


def windows_of(episodes: list[np.ndarray], k: int, n: int, rng) -> np.ndarray:
    """n windows of k consecutive states, newest first (a pair is k = 2), (n, k * 105)."""
    starts = [(i, t) for i, e in enumerate(episodes) for t in range(len(e) - k + 1)]
    pick = rng.choice(len(starts), size=min(n, len(starts)), replace=False)
    return np.stack([episodes[starts[j][0]][starts[j][1]: starts[j][1] + k][::-1].reshape(-1) for j in pick])


def clip_windows(env, key, k: int, n: int) -> np.ndarray:
    """n windows of k consecutive clip states at the control step, newest first, (n, k * 105)."""
    lib, dt = env.library, env.control_dt
    k_clip, k_time = jax.random.split(key)
    clips = ml.sample_clips(lib, k_clip, n)
    span = (k - 1) * dt
    times = span + jax.random.uniform(k_time, (n,)) * jnp.maximum(lib.clip_length[clips] - span, 0.0)
    states = [env.reference_state(clips, times - j * dt) for j in range(k)]
    return np.asarray(jnp.concatenate(states, axis=-1))


def held_out_accuracy(x_policy: np.ndarray, x_clip: np.ndarray, seed: int = 0, steps: int = 1500) -> float:
    """Accuracy on a held-out quarter of an MLP (2 x 128) trained to tell the two sets apart."""
    n = min(len(x_policy), len(x_clip))
    x = np.concatenate([x_policy[:n], x_clip[:n]]).astype(np.float32)
    y = np.concatenate([np.zeros(n), np.ones(n)]).astype(np.float32)
    order = np.random.default_rng(seed).permutation(2 * n)
    x, y = x[order], y[order]
    split = (3 * len(x)) // 4
    mean, std = x[:split].mean(0), x[:split].std(0) + 1e-6
    x = (x - mean) / std
    sizes = [x.shape[1], 128, 128, 1]
    keys = jax.random.split(jax.random.PRNGKey(seed), len(sizes) - 1)
    params = [(jax.random.normal(k, (a, b)) / np.sqrt(a), jnp.zeros(b)) for k, a, b in zip(keys, sizes[:-1], sizes[1:])]

    def logits(p, xb):
        for w, b in p[:-1]:
            xb = jax.nn.relu(xb @ w + b)
        return (xb @ p[-1][0] + p[-1][1])[:, 0]

    def loss(p, xb, yb):
        return optax.sigmoid_binary_cross_entropy(logits(p, xb), yb).mean()

    opt = optax.adam(1e-3)
    x_train, y_train = jnp.asarray(x[:split]), jnp.asarray(y[:split])

    @jax.jit
    def train(p):
        def step(carry, k):
            p, s = carry
            idx = jax.random.choice(k, len(x_train), (512,))
            g = jax.grad(loss)(p, x_train[idx], y_train[idx])
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None
        (p, _), _ = jax.lax.scan(step, (p, opt.init(p)), jax.random.split(jax.random.PRNGKey(seed + 1), steps))
        return p

    params = train(params)
    predicted = np.asarray(logits(params, jnp.asarray(x[split:]))) > 0
    return float(np.mean(predicted == (y[split:] > 0.5)))


def span_pairs(windows: np.ndarray) -> np.ndarray:
    """[newest, oldest] of each window of k states: the pairs of an energy model with task.pair_span = k - 1."""
    return np.concatenate([windows[:, :STATE], windows[:, -STATE:]], axis=1)


def energy_attribution(energy_dir: str, env, episodes: list[np.ndarray], key, n: int, rng) -> list[dict]:
    """Per feature group: |dg/dx| x clip std summed over the group's features (mean over the policy's
    pairs), and dg/dx . (clip mean - policy mean) over the group's features. The pairs span the steps the
    energy model was trained on (its task.pair_span)."""
    from near.energy.train import load_energy_model, trained_pair_span

    model, meta = load_energy_model(energy_dir, expect_pair_dim=2 * env.pair_state_dim, expect_env="humanoid")
    k = trained_pair_span(meta) + 1
    pol, clip = span_pairs(windows_of(episodes, k, n, rng)), span_pairs(clip_windows(env, key, k, n))
    sigma = float(model.sigmas[0])
    grad = np.asarray(jax.vmap(jax.grad(lambda x: model.energy(x[None], 0)[0] * sigma))(jnp.asarray(pol)))
    std, shift = clip.std(0) + 1e-6, clip.mean(0) - pol.mean(0)
    rows = []
    for name, idx in GROUPS.items():
        cols = np.concatenate([np.asarray(idx), STATE + np.asarray(idx)])
        rows.append({"energy_group": name, "g_per_std": float(np.abs(grad[:, cols] * std[cols]).sum(1).mean()),
                     "g_gain_to_clip_means": float((grad[:, cols] * shift[cols]).sum(1).mean())})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="a humanoid policy's run folder (NEAR, AMP or PPO)")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--task", default="HumanoidNEAR", help="the policy's task config (HumanoidAMP for AMP)")
    parser.add_argument("--pairs", type=int, default=4096, help="samples per side")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--windows", default="2,4,8", help="window lengths k (states)")
    parser.add_argument("--energy", default="", help="the policy's energy model: where its gradient points")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="", help="results name (default pair_separability_RUN)")
    args = parser.parse_args(argv)

    cfg = compose_config([f"task={args.task}", f"motion={args.motion}"])
    env = make_env(cfg)
    rng = np.random.default_rng(args.seed)
    episodes = policy_states(cfg, env, args.policy, jax.random.PRNGKey(args.seed), args.episodes, 300)
    pol, clip = windows_of(episodes, 2, args.pairs, rng), clip_windows(env, jax.random.PRNGKey(args.seed + 1), 2, args.pairs)
    # the control: clip pairs against other clip pairs; a critic that reads more than 0.5 here overfits
    other = clip_windows(env, jax.random.PRNGKey(args.seed + 2), 2, args.pairs)
    rows = [{"features": "control: clips against clips", "k": 2, "accuracy": held_out_accuracy(other, clip, args.seed)},
            {"features": "whole pair", "k": 2, "accuracy": held_out_accuracy(pol, clip, args.seed)}]
    for name, idx in GROUPS.items():
        cols = np.concatenate([np.asarray(idx), STATE + np.asarray(idx)])
        rows.append({"features": name, "k": 2, "accuracy": held_out_accuracy(pol[:, cols], clip[:, cols], args.seed)})
    for k in (int(v) for v in args.windows.split(",")):
        if k == 2:
            continue
        pol_k = windows_of(episodes, k, args.pairs, rng)
        clip_k = clip_windows(env, jax.random.PRNGKey(args.seed + k), k, args.pairs)
        rows.append({"features": f"window of {k} states", "k": k, "accuracy": held_out_accuracy(pol_k, clip_k, args.seed)})
    if args.energy:
        rows += energy_attribution(args.energy, env, episodes, jax.random.PRNGKey(args.seed + 1), args.pairs, rng)
    name = os.path.basename(os.path.normpath(args.policy))
    print(f"policy {args.policy} ({len(episodes)} episodes), motion {os.path.basename(args.motion)}, "
          f"{len(pol)} pairs a side; held-out accuracy of a fresh MLP critic (0.5: cannot tell)")
    print("| features | accuracy |\n|---|---:|")
    for r in rows:
        if "features" in r:
            print(f"| {r['features']} | {r['accuracy']:.3f} |")
    if args.energy:
        print("\n| feature group | g per clip std of the group | g gained at the clips' means |\n|---|---:|---:|")
        for r in rows:
            if "energy_group" in r:
                print(f"| {r['energy_group']} | {r['g_per_std']:.2f} | {r['g_gain_to_clip_means']:.2f} |")
    path = write_result(args.out or f"pair_separability_{name}", "inspect_pair_separability",
                        [{"policy": args.policy, "motion": os.path.basename(args.motion), "task": args.task,
                          "episodes": len(episodes), "pairs": len(pol)}] + rows)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
