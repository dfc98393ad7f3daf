"""near train: step 2, a policy by PPO with the task's style reward (NEAR energy, AMP discriminator or
none); task.algo=CEM plans instead (near.commands.cem).

Chunks of ``train.iterations_per_log`` compiled iterations; between chunks the host logs, checks
for non-finite numbers, checkpoints (``resume=True`` continues from the last one), and on request
renders a video (``train.video_every``) and evaluates (``train.eval_every``).
"""

from __future__ import annotations

import os
import sys
import time

import jax
import numpy as np

from near.commands.run_folder import default_out, write_config
from near.config import Config, to_dict
from near.energy.reward import sign_trap_message
from near.eval.gait import imitation_flags
from near.eval.policy_eval import (
    eval_scalars,
    evaluate_policy,
    make_policy_evaluator,
    task_metrics,
)
from near.factories import make_env, make_style, training_reset
from near.restore import check_resume_optimizer, check_resume_physics, load_state, model_item, rollout_item, train_item
from near.utils.checkpoint import Checkpointer, load_meta
from near.utils.logging import (
    MetricLogger,
    NonFiniteError,
    last_record,
    prepare_run_dir,
    progress_bar,
    truncate_metrics,
    write_json,
)

CURVE_KEYS = ["success_rate", "episode_return", "episode_length", "style_reward", "sigma_level", "energy",
              "energy_reward_saturated", "energy_input_clipped", "critic_loss", "log_std", "eval/success_rate", "eval/fall_rate", "eval/pose_error",
              "eval/root_height_ratio", "eval/root_speed_ratio", "eval/window_sparc", "eval/cadence_ratio",
              "eval/stride_length_ratio", "eval/foot_slide"]


def resume_state(run_dir: str, state):
    """(state, wall seconds so far) from the run's last checkpoint. Without its ``rollout`` item (a
    run folder brought back from another machine without it) the environments start afresh and
    AMP's replay buffer refills; the weights, optimiser, reward model, RNG and counters go on."""
    state, meta, with_rollout = load_state(run_dir, state)
    if not with_rollout:
        print(f"resuming {run_dir} at iteration {int(state.iteration)} without its rollout item: the environments "
              "start afresh and the replay buffer (AMP) refills", file=sys.stderr)
    return state, float(meta.get("wall_seconds", 0.0))


def train_policy(cfg: Config) -> dict:
    if cfg.task.algo == "CEM":
        from near.commands.cem import run_cem_task

        return run_cem_task(cfg)
    from near.envs.core import AutoReset
    from near.rl.ppo import make_train, summarize_chunk
    from near.utils.interrupt import RunInterrupted, interrupted_message, stop_on_signals

    env = make_env(cfg)
    wrapped = AutoReset(env, reset=training_reset(cfg, env))
    style, _ = make_style(cfg, env)
    run_dir = prepare_run_dir(default_out(cfg, "train"), resume=cfg.resume)
    ckpt = Checkpointer(os.path.join(run_dir, "checkpoints"))
    resuming = cfg.resume and ckpt.latest_step() is not None
    if resuming:
        check_resume_physics(cfg, run_dir)  # before config.yaml is rewritten: a refused resume leaves the folder as it was
        check_resume_optimizer(cfg, run_dir)
    write_config(run_dir, cfg)
    p = cfg.train
    init, train_chunk = make_train(p, wrapped, style, cfg.reward)
    state = init(jax.random.PRNGKey(cfg.seed))
    meta = {"kind": "policy", "task": cfg.task.name, "env": cfg.task.env, "algo": cfg.task.algo,
            "obs_dim": env.obs_dim, "action_dim": env.action_dim, "config": to_dict(cfg)}
    wall_offset = 0.0
    if resuming:
        state, wall_offset = resume_state(run_dir, state)
    if cfg.resume:  # records after the last checkpoint (or before the first) are logged again below
        truncate_metrics(run_dir, int(state.iteration) * p.batch_size)

    logger = MetricLogger(run_dir)
    logger.start -= wall_offset  # wall_seconds in metrics and summary count every invocation
    started = time.time()  # train.time_limit_s counts this invocation only, so a resumed run gets it anew
    save_video = periodic_eval = None
    if p.compiles_eval_ahead():
        periodic_eval = make_policy_evaluator(cfg, env, p.eval_episodes, train_cfg=p)
        periodic_eval.compile_ahead(state.params, state.obs_stats)
    total = p.num_iterations
    last: dict = {}
    recent: list[dict] = []  # the last logged iterations, for the annealing's sign-trap warning
    watch_sign_trap = cfg.task.algo == "NEAR" and cfg.reward.sigma_level == -1 and cfg.reward.anneal_rule == "multiplicative"
    progress, desc, _ = progress_bar(f"{cfg.task.name} PPO", total, disable=not cfg.progress)

    def save(iteration: int, to: Checkpointer = ckpt, extra: dict | None = None) -> None:
        meta["wall_seconds"] = time.time() - logger.start
        to.save(iteration, model_item(state), train_item(state), {**meta, **(extra or {})}, rollout=rollout_item(state))

    best = BestPolicy(run_dir, resuming) if p.keep_best else None
    shown_flags: tuple[str, ...] = ()  # the kinds of imitation_flags last printed

    with progress, stop_on_signals() as stop:
        bar = progress.add_task(desc, total=total, completed=int(state.iteration), info="")
        while int(state.iteration) < total:
            if stop.requested or (p.time_limit_s and time.time() - started >= p.time_limit_s):
                if ckpt.latest_step() != int(state.iteration):
                    save(int(state.iteration))
                if stop.requested:
                    logger.close()
                    ckpt.close()
                    raise RunInterrupted(interrupted_message("training", f"iteration {int(state.iteration)} of {total}",
                                                             run_dir, stop))
                break
            n = min(p.iterations_per_log, total - int(state.iteration))
            # always p.iterations_per_log compiled iterations, the first n of them run: one program
            new_state, metrics = train_chunk(state, p.iterations_per_log, np.int32(n))
            iteration = int(new_state.iteration)
            host = {k: v[:n] for k, v in jax.device_get(metrics).items()}  # per-iteration metrics, stacked by lax.scan
            check_finite(host, iteration - n, run_dir, ckpt.latest_step())
            state = new_state
            for i in range(n):
                record = summarize_chunk({k: v[i : i + 1] for k, v in host.items()})
                it = iteration - n + i + 1
                record["iteration"] = it
                last = logger.log(it * p.batch_size, {"env_steps": it * p.batch_size, **record})
                if watch_sign_trap:
                    recent = [*recent[-8:], record]
                    message = sign_trap_message(recent)
                    if message:
                        print(f"warning ({run_dir}, iteration {it}): {message}", file=sys.stderr)
                        watch_sign_trap = False  # once a run
            last = dict(last, **{k: v for k, v in summarize_chunk(host).items() if k in
                                 ("episode_return", "success_rate", "episode_length")})
            info = f"return {last['episode_return']:.1f} success {last['success_rate']:.2f}"
            if "sigma_level" in last:
                info += f" level {int(last['sigma_level'])}"
            progress.update(bar, completed=iteration, info=info)
            # video and evaluation before the checkpoint: a run killed in between does them again
            if p.video_every and (iteration % p.video_every < n or iteration == total):
                save_video = save_video or training_video(cfg, env, run_dir)
                save_video(state, iteration)
            if p.eval_every and iteration % p.eval_every < n:
                periodic_eval = periodic_eval or make_policy_evaluator(cfg, env, p.eval_episodes, train_cfg=p)
                scores = eval_scalars(cfg.task.env, periodic_eval(state.params, state.obs_stats,
                                                                 jax.random.PRNGKey(cfg.seed + 20_000 + iteration)))
                logger.log(iteration * p.batch_size, {"env_steps": iteration * p.batch_size, "iteration": iteration,
                                                      **{f"eval/{k}": v for k, v in scores.items()}})
                if best is not None:
                    best.offer(iteration, scores, save)
                # a gait unlike the clips' is chosen early (issue #16, item 80): say so when it shows or changes
                flags = imitation_flags(scores)
                kinds = tuple(f.split(" ")[0] for f in flags)
                if kinds != shown_flags:
                    shown_flags = kinds
                    if flags:
                        print(f"note ({run_dir}, evaluation at iteration {iteration}): unlike the clips: "
                              + "; ".join(flags), file=sys.stderr)
            if iteration % p.checkpoint_every < n or iteration == total:
                save(iteration)
    logger.close()
    ckpt.close()
    if not last:  # resumed after its last iteration (killed while finishing): report what was logged
        last = last_record(run_dir, "episode_return")

    evaluation = evaluate_policy(cfg, run_dir, state=state, env=env, episodes=p.eval_episodes, deterministic=True,
                                 evaluator=periodic_eval)  # training's evaluations play the mean
    summary = {
        "kind": "policy", "task": cfg.task.name, "algo": cfg.task.algo, "run_dir": run_dir, "seed": cfg.seed,
        "env_steps": int(state.iteration) * p.batch_size, "iterations": int(state.iteration),
        "wall_seconds": round(time.time() - logger.start, 2),
        "success_rate": evaluation["success_rate"], "episode_length": evaluation["mean_length"],
        "task_return": evaluation["mean_return"], "eval_episodes": p.eval_episodes,
        "train_success_rate_last": last.get("success_rate"), "train_episode_return_last": last.get("episode_return"),
        "style_reward_last": last.get("style_reward"), "sigma_level_last": last.get("sigma_level"),
        "energy_checkpoint": cfg.energy.checkpoint if cfg.task.algo == "NEAR" else None,
        **task_metrics(cfg.task.env, evaluation),
    }
    flags = imitation_flags(summary)
    if flags:  # what a look at the video would find and the numbers above pass
        summary["unlike_clips"] = "; ".join(flags)
    if best is not None and best.record:
        summary["best"] = {"checkpoint": best.dir, **best.record}
    write_json(os.path.join(run_dir, "summary.json"), summary)
    from near.utils.logging import smoothed_metrics
    from near.viz.maze_plots import plot_learning_curves

    plot_learning_curves(smoothed_metrics(run_dir), os.path.join(run_dir, "learning_curves.png"), keys=CURVE_KEYS,
                         title=f"{cfg.task.name} (seed {cfg.seed}; episode statistics: mean of the last 10 iterations)")
    return summary


class BestPolicy:
    """train.keep_best: the policy of the best periodic evaluation so far (success rate, then mean return) in
    <run>/best, a policy checkpoint of its own. Its score rides in that checkpoint's metadata, so a resumed
    run goes on comparing with it."""

    def __init__(self, run_dir: str, resuming: bool):
        self.dir = os.path.join(run_dir, "best")
        self.ckpt = Checkpointer(os.path.join(self.dir, "checkpoints"), max_to_keep=1)
        self.record: dict = {}
        if resuming and self.ckpt.latest_step() is not None:
            self.record = load_meta(self.dir).get("best", {})

    def offer(self, iteration: int, scores: dict, save) -> None:
        score = (float(scores["success_rate"]), float(scores["episode_return"]))
        if self.record and score <= (self.record["success_rate"], self.record["episode_return"]):
            return
        record = {"iteration": iteration, "success_rate": score[0], "episode_return": score[1]}
        save(iteration, self.ckpt, {"best": record})
        self.record = record


# where a NaN starts, in the order it spreads: the reward models' outputs, then the rewards, the losses
ORIGINS = ("energy", "disc_logit_rollout", "disc_reward", "disc_loss", "disc_", "style_reward", "task_reward",
           "combined_reward", "critic_loss", "actor_loss", "")


def check_finite(metrics: dict, start: int, run_dir: str, last_checkpoint: int | None = None) -> None:
    """Stop on the first iteration of a chunk whose metrics hold NaN/inf, naming the iteration and the
    quantity where it most likely started (``metrics``: per-iteration values stacked by the chunk,
    whose first iteration is ``start + 1``)."""
    per_iteration = {k: np.asarray(v).reshape(len(np.asarray(v)), -1) for k, v in metrics.items()
                     if not k.startswith("episode") and k not in ("success_sum", "success_rate", "episodes")}
    rows = [i for i in range(min(len(v) for v in per_iteration.values()))
            if any(not np.all(np.isfinite(v[i])) for v in per_iteration.values())]
    if not rows:
        return
    bad = sorted(k for k, v in per_iteration.items() if not np.all(np.isfinite(v[rows[0]])))
    first = next(k for prefix in ORIGINS for k in bad if k.startswith(prefix))
    kept = f"the last good checkpoint (iteration {last_checkpoint}) is kept" if last_checkpoint is not None else \
        "no checkpoint was written yet"
    raise NonFiniteError(f"policy training produced a non-finite {first} at iteration {start + rows[0] + 1} "
                         f"(also non-finite: {', '.join(k for k in bad if k != first) or 'nothing else'}; run {run_dir}); "
                         f"{kept}. A lower train.learning_rate, or checking the reward model, usually helps.")


def training_video(cfg: Config, env, run_dir: str):
    """``save(state, iteration) -> path``: a short video of the current policy (``train.video_every``)."""
    from near.viz.video import write_video

    folder = os.path.join(run_dir, "videos")
    if cfg.task.env == "humanoid":
        from near.eval.policy_eval import make_reference_rollout
        from near.viz.humanoid_video import render_humanoid

        rollout = make_reference_rollout(cfg, env, cfg, episodes=cfg.train.eval_episodes,
                                         deterministic=True)  # evaluation's program

        def save(state, iteration: int) -> str:
            qpos, reference, length = rollout(state.params, state.obs_stats)
            n = min(len(qpos), length + 15)  # the episode and half a second after it ends
            return render_humanoid(os.path.join(folder, f"iteration_{iteration:06d}.mp4"), qpos[:n],
                                   1.0 / env.control_dt, reference_qpos=reference[:n], size=(240, 320))
        return save

    from near.rl.evaluate import split_episodes
    from near.viz.episodes import render_episode, video_fps

    def save(state, iteration: int) -> str:
        result = evaluate_policy(cfg, run_dir, state=state, env=env, episodes=1, deterministic=True)
        frames = render_episode(cfg, split_episodes(result)[0], size=192)
        return write_video(frames, os.path.join(folder, f"iteration_{iteration:06d}.mp4"), fps=video_fps(cfg))
    return save
