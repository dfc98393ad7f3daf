"""Does a policy keep a pose it is put in? Each run's policy starts from the reference state of a clip at a
given time (as `near play ... video_clip=C video_start=T` does) and a body's height is followed against the
clip's over the clip's remaining steps: the crane pose's lifted right foot, for the tracking check (can the
body hold it?) against NEAR (does it keep it?).

    python benchmarks/inspect_policy_keeps_pose.py Track=RUN NEAR=RUN --motion .motion/amp_humanoid_crane_pose.yaml \
        --starts 0:4 1:4 2:2 2:4 [--body right_foot --above 0.25] [--name policy_keeps_pose_crane]

LABEL=RUN: the run's task is read from its config (HumanoidTrack, HumanoidNEAR, HumanoidAMP). Writes
benchmarks/results/NAME.json and prints a table: per start, the fraction of steps with the body above
--above m (clip and each run) and the first step it is below.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result


def hold_stats(height: np.ndarray, above: float) -> dict:
    """Of a body's heights (T,) over an episode: the fraction of steps above ``above`` and the first step
    at or below it (None: never)."""
    height = np.asarray(height, float)
    if height.ndim != 1 or not len(height):
        raise ValueError(f"heights must be a non-empty (T,) array, got shape {height.shape}")
    down = np.nonzero(height <= above)[0]
    return {"up_fraction": float((height > above).mean()), "first_step_down": int(down[0]) if len(down) else None}


def body_heights(env, qpos, body: str) -> np.ndarray:
    """World height of ``body`` at each qpos row (T, nq), through the env's own kinematics, in one call."""
    import jax
    import jax.numpy as jnp

    index = env.mj_model.body(body).id
    qpos = jnp.asarray(qpos)
    xpos = jax.jit(jax.vmap(lambda q: env._kinematics(q, jnp.zeros(env.mj_model.nv)).xpos[index]))(qpos)
    return np.asarray(xpos[:, 2], float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--starts", nargs="+", required=True, help="CLIP:SECONDS, e.g. 2:4")
    parser.add_argument("--body", default="right_foot")
    parser.add_argument("--above", type=float, default=0.25, help="height (m) that counts as held up")
    parser.add_argument("--name", default="policy_keeps_pose")
    args = parser.parse_args()

    import yaml

    from near.config import compose_config
    from near.eval.policy_eval import make_reference_rollout
    from near.factories import make_env
    from near.restore import load_policy

    starts = [(int(c), float(t)) for c, t in (s.split(":") for s in args.starts)]
    rows: dict[str, dict] = {}
    for spec in args.runs:
        label, run = spec.split("=", 1)
        with open(os.path.join(run, "config.yaml")) as fh:
            task = yaml.safe_load(fh)["task"]["name"]
        cfg = compose_config([f"task={task}", f"motion={args.motion}", f"checkpoint={run}", "episodes=2"])
        env = make_env(cfg)
        run_cfg, params, obs_stats, _ = load_policy(cfg, run)
        frames, fps = np.asarray(env.library.clip_frames), np.asarray(env.library.clip_fps)
        for clip, start in starts:
            qpos, reference, length = make_reference_rollout(cfg, env, run_cfg, episodes=2, clip=clip,
                                                             start=start)(params, obs_stats)
            left = int(round((frames[clip] / fps[clip] - start) / env.control_dt))  # steps to the clip's end
            steps = max(1, min(int(length), left))
            key = f"clip {clip} from {start:g} s"
            if key not in rows:  # the clip's side is the same for every run
                rows[key] = {"clip_steps_left": left,
                             "clip": hold_stats(body_heights(env, reference[:left], args.body), args.above)}
            rows[key][label] = dict(hold_stats(body_heights(env, qpos[:steps], args.body), args.above),
                                    episode_steps=int(length))
    labels = [s.split("=", 1)[0] for s in args.runs]
    print(f"| start | steps to the clip's end | {args.body} above {args.above} m: clip | "
          + " | ".join(f"{lb} (first step down)" for lb in labels) + " |")
    print("|---|---:|---:|" + "---:|" * len(labels))
    for key, row in rows.items():
        cells = [f"{row[lb]['up_fraction']:.2f} ({row[lb]['first_step_down']})" for lb in labels]
        print(f"| {key} | {row['clip_steps_left']} | {row['clip']['up_fraction']:.2f} | " + " | ".join(cells) + " |")
    path = write_result(args.name, f"does a policy keep a pose it is put in: {args.body} above {args.above} m, "
                        f"{args.motion}, runs {dict(s.split('=', 1) for s in args.runs)}",
                        [{"start": key, **row} for key, row in rows.items()])
    print(path)


if __name__ == "__main__":
    main()
