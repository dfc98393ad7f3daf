"""near play: roll a trained policy (or a CEM run, planned again) out: trajectories PNG or the
humanoid's metrics, a video of the first episode with a frame strip (``gif=True``: also a GIF), and eval.json."""

from __future__ import annotations

import os

from near.commands.run_folder import beside_checkpoint
from near.config import Config, ConfigError
from near.eval.policy_eval import (
    evaluate_policy,
    make_reference_rollout,
    rollout_checkpoint,
    task_metrics,
)
from near.factories import load_demos, make_env
from near.restore import load_policy
from near.rl.evaluate import split_episodes
from near.utils.logging import write_json
from near.viz.episodes import plot_episodes, render_episode, video_fps


def play(cfg: Config) -> dict:
    """Roll a trained policy out: trajectories PNG, video, eval.json."""
    from near.viz.video import frame_strip, write_video

    if not cfg.checkpoint:
        raise ConfigError("play needs checkpoint=RUN_DIR (a run folder made by `near train`)")
    if cfg.task.env == "humanoid":
        return play_humanoid(cfg)
    result = rollout_checkpoint(cfg)
    out = beside_checkpoint(cfg, "play")
    trajectories = split_episodes(result)
    demos = None
    if cfg.task.env == "maze":
        try:
            demos = load_demos(cfg).states
        except Exception:  # noqa: BLE001, S110 - the overlay is optional
            pass
    files = {"trajectories": plot_episodes(cfg, result, os.path.join(out, "trajectories.png"), demo_states=demos,
                                           title=f"{cfg.task.name}: success {result['success_rate']:.0%}")}
    if cfg.video:
        frames = render_episode(cfg, trajectories[0], size=256)
        files["video"] = write_video(frames, os.path.join(out, "episode0.mp4"), fps=video_fps(cfg))
        import imageio.v3 as iio

        files["strip"] = os.path.join(out, "episode0_strip.png")
        iio.imwrite(files["strip"], frame_strip(frames, 6))
        if cfg.gif:
            files["gif"] = write_video(frames, os.path.join(out, "episode0.gif"), fps=video_fps(cfg))
    return _write_summary(cfg, result, files, out)


def check_video_start(cfg: Config, library) -> None:
    """A clear error where ``video_clip`` / ``video_start`` lie outside the motion set."""
    clips = int(library.clip_frames.shape[0])
    clip = min(max(cfg.video_clip, 0), clips - 1)
    seconds = float(library.clip_frames[clip] / library.clip_fps[clip])
    if not 0 <= cfg.video_clip < clips or not 0.0 <= cfg.video_start < seconds:
        raise ValueError(f"play: video_clip={cfg.video_clip} video_start={cfg.video_start} lies outside the motion set "
                         f"{cfg.motion or '(default)'}: its clips are 0..{clips - 1}, and clip {clip} lasts {seconds:.2f} s")


def play_humanoid(cfg: Config) -> dict:
    """The humanoid's play: evaluation metrics over cfg.episodes episodes, and a video of the policy
    beside the reference clip (both from the frame of clip ``video_clip`` at ``video_start`` s, by default the
    first clip's first), rendered with MuJoCo where OpenGL
    works and matplotlib otherwise (near.viz.humanoid_video)."""
    from near.viz.humanoid_video import render_frame_strip, render_humanoid

    env = make_env(cfg)
    if cfg.video:
        check_video_start(cfg, env.library)  # before the evaluation's minutes
    run_cfg, params, obs_stats, _ = load_policy(cfg, cfg.checkpoint)
    result = evaluate_policy(cfg, cfg.checkpoint, env=env, episodes=cfg.episodes)
    out = beside_checkpoint(cfg, "play")
    files = {}
    if cfg.video:
        qpos, reference, length = make_reference_rollout(cfg, env, run_cfg, episodes=cfg.episodes, clip=cfg.video_clip,
                                                         start=cfg.video_start)(params, obs_stats)
        fps = 1.0 / env.control_dt
        files["video"] = render_humanoid(os.path.join(out, "episode0.mp4"), qpos, fps, reference_qpos=reference)
        files["strip"] = render_frame_strip(os.path.join(out, "episode0_strip.png"), qpos[: max(length, 2)], n=6,
                                            reference_qpos=reference[: max(length, 2)], fps=fps)
        if cfg.gif:  # the episode at half the frame rate and size: a few MB for 10 s
            files["gif"] = gif_of_episode(os.path.join(out, "episode0.gif"), qpos[: max(length, 2)],
                                          reference[: max(length, 2)], fps)
    return _write_summary(cfg, result, files, out)


def gif_of_episode(path: str, qpos, reference, fps: float, stride: int = 2, size: tuple[int, int] = (240, 320)) -> str:
    """An animated GIF of a humanoid episode beside its reference clip, every ``stride``-th frame."""
    from near.viz.humanoid_video import render_humanoid_frames
    from near.viz.video import write_video

    frames, _ = render_humanoid_frames(qpos[::stride], reference_qpos=reference[::stride], size=size, fps=fps / stride)
    return write_video(frames, path, fps=fps / stride)


def _write_summary(cfg: Config, result: dict, files: dict, out: str) -> dict:
    summary = {"checkpoint": cfg.checkpoint, "episodes": cfg.episodes, "deterministic": not cfg.sample_actions,
               "success_rate": result["success_rate"],
               "episode_length": result["mean_length"], "task_return": result["mean_return"],
               **task_metrics(cfg.task.env, result), "files": files}
    write_json(os.path.join(out, "eval.json"), summary)
    return summary
