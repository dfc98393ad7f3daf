"""The humanoid through the CLI's functions on CPU at smoke sizes: energy model, NEAR, AMP, play.

The clip is a synthetic walk-like poselib file written here. The same code runs on the GPU with
the full configs (HumanoidNEARPPO / HumanoidAMPPPO).
"""

import json
import os

import numpy as np
import pytest

pytest.importorskip("mujoco")

from test_humanoid_env import walk_like_clip

from near.commands.play import play
from near.commands.train import train_policy
from near.commands.train_energy import train_energy
from near.config import ConfigError, compose_config
from near.motion.poselib import save_poselib


@pytest.fixture(autouse=True)
def _no_opengl(monkeypatch):
    """Videos drawn as on CI (no OpenGL there: matplotlib), not with MuJoCo's software OpenGL where
    OSMesa is installed (three times slower: ~25 s of these tests). Both renderers have their own
    tests (test_humanoid_video.py); these check the pipeline writes the files."""
    monkeypatch.setenv("MUJOCO_GL", "disable")


@pytest.fixture(scope="module")
def motion(tmp_path_factory):
    folder = tmp_path_factory.mktemp("motion")
    save_poselib(folder / "clip a.npy", walk_like_clip(seed=0))
    save_poselib(folder / "clip_b.npy", walk_like_clip(seed=3))
    (folder / "amp_humanoid_walk.yaml").write_text(
        "motions:\n  - file: clip a.npy\n    weight: 1.0\n  - file: clip_b.npy\n    weight: 2.0\n")
    return str(folder / "amp_humanoid_walk.yaml")


def _cfg(task, motion, out, *extra):
    # 2 evaluation episodes like eval and play below: one compiled evaluation program serves them all
    return compose_config([f"task={task}", f"motion={motion}", "smoke=True", "progress=False", f"out={out}",
                           "train.eval_episodes=2", *extra])


def keep_plotted(monkeypatch) -> dict:
    """What the humanoid reward views hand their plot (the curves), kept for the test to check."""
    from near.viz import humanoid_energy

    seen, plot = {}, humanoid_energy.plot_scores_along_episodes

    def keep(clips, policy, rows, *args, **kwargs):
        seen.update(clips=clips, policy=policy, rows=rows)
        return plot(clips, policy, rows, *args, **kwargs)

    monkeypatch.setattr(humanoid_energy, "plot_scores_along_episodes", keep)
    return seen


@pytest.mark.slow
def test_energy_then_near_then_play(motion, tmp_path, monkeypatch, capsys):
    energy = train_energy(_cfg("HumanoidNEAR", motion, tmp_path / "energy", "energy.learning_rate=1e-3",
                               "energy.iterations=600"))
    assert energy["num_pairs"] == 4096
    losses = [json.loads(line)["loss"] for line in open(tmp_path / "energy" / "metrics.jsonl") if "loss" in line]
    assert losses[-1] < losses[0]  # denoising score matching learns
    assert energy["rank_accuracy/level_25"] > 0.75  # expert pairs above random pairs (untrained: ~0.35)

    from near.config import ConfigError

    with pytest.raises(ConfigError, match="task.pair_span=1"):  # pairs of another span than the energy's
        train_policy(_cfg("HumanoidNEAR", motion, tmp_path / "span", f"energy.checkpoint={tmp_path / 'energy'}",
                          "task.pair_span=2"))
    assert not (tmp_path / "span" / "checkpoints").exists()

    cfg = _cfg("HumanoidNEAR", motion, tmp_path / "near", f"energy.checkpoint={tmp_path / 'energy'}",
               "train.video_every=4", "train.eval_every=2")
    import near.commands.train as train_module

    flagged = []  # every evaluation is checked for what the limits let pass; a flag is said once, then kept
    monkeypatch.setattr(train_module, "imitation_flags",
                        lambda metrics: flagged.append(metrics) or ["feet slide 9.00 m/s while down (9.0 x the clips')"])
    capsys.readouterr()
    near = train_policy(cfg)
    assert capsys.readouterr().err.count("unlike the clips: feet slide 9.00 m/s") == 1
    assert near["unlike_clips"].startswith("feet slide 9.00") and len(flagged) == 3  # 2 periodic, 1 final
    assert all({"foot_slide", "stride_length_ratio", "statue_pose_reach", "clips_root_speed"} <= set(m) for m in flagged)
    assert os.listdir(tmp_path / "near" / "videos") == ["iteration_000004.mp4"]  # a video during training
    assert near["env_steps"] == 512 and near["task"] == "HumanoidNEAR"
    assert all(np.isfinite(near[k]) for k in ("pose_error", "episode_length", "task_return", "style_reward_last"))
    records = [json.loads(line) for line in open(tmp_path / "near" / "metrics.jsonl")]
    train_records = [r for r in records if "style_reward" in r]
    assert {"sigma_level", "style_reward", "energy"} <= set(train_records[-1])
    evals = [r for r in records if "eval/pose_error" in r]  # the periodic evaluation (train.eval_every)
    assert [r["iteration"] for r in evals] == [2, 4] and all(np.isfinite(r["eval/fall_rate"]) for r in evals)
    assert all(0.2 < r["eval/root_height_ratio"] < 1.5 for r in evals)  # posture against the clips

    from near.commands.evaluate import evaluate

    evaluated = evaluate(_cfg("HumanoidNEAR", motion, tmp_path / "eval", f"checkpoint={tmp_path / 'near'}", "episodes=2"))
    assert os.path.exists(evaluated["files"]["eval"]) and 0.0 <= evaluated["fall_rate"] <= 1.0
    assert np.isfinite(evaluated["pose_error"]) and evaluated["episodes"] == 2
    assert evaluated["joint_angle_distance"] > 0 and np.isfinite(evaluated["root_speed_ratio"])

    from near.commands import play as play_module

    with pytest.raises(ValueError, match=r"clips are 0..1, and clip 1 lasts"):  # before any evaluation
        play(_cfg("HumanoidNEAR", motion, tmp_path / "bad", f"checkpoint={tmp_path / 'near'}", "video_clip=1",
                  "video_start=99"))
    assert not os.path.exists(tmp_path / "bad")
    starts, rollout = [], play_module.make_reference_rollout
    monkeypatch.setattr(play_module, "make_reference_rollout",
                        lambda *a, **k: starts.append((k["clip"], k["start"])) or rollout(*a, **k))
    played = play(_cfg("HumanoidNEAR", motion, tmp_path / "play", f"checkpoint={tmp_path / 'near'}",
                       "episodes=2", "gif=True", "video_clip=1", "video_start=0.5"))
    assert starts == [(1, 0.5)]  # the video's episode from the clip and time asked for
    assert os.path.getsize(played["files"]["video"]) > 1000
    import imageio.v3 as iio

    assert iio.improps(played["files"]["gif"], index=None).shape[1:3] == (240, 320)  # a small GIF beside the mp4
    assert os.path.exists(played["files"]["strip"]) and np.isfinite(played["pose_error"])

    # the energy view: the model's energy along each clip at the control rate, and along the policy's episode
    from near.commands.viz import viz_energy

    seen = keep_plotted(monkeypatch)
    png = viz_energy(compose_config([f"checkpoint={tmp_path / 'energy'}", f"policy={tmp_path / 'near'}",
                                     f"motion={motion}"]), out_path=str(tmp_path / "energy_along.png"))
    assert os.path.getsize(png) > 10_000
    assert [label.split("\n")[0] for label in seen["rows"]] == ["E, level 0", "E, level 25", "E, level 49"]
    assert [c["name"] for c in seen["clips"]] == ["clip a.npy", "clip_b.npy"]
    for curve in [*seen["clips"], seen["policy"]]:
        assert curve["score"].shape == (3, len(curve["time"])) and np.isfinite(curve["score"]).all()
    assert 1 <= len(seen["policy"]["time"]) <= 300  # the episode, up to its end
    with pytest.raises(ConfigError, match="pass motion=PATH"):  # the run's clips are not here
        viz_energy(compose_config([f"checkpoint={tmp_path / 'energy'}", f"motion={tmp_path / 'gone.yaml'}"]))


@pytest.mark.slow
def test_amp_on_the_humanoid(motion, tmp_path, monkeypatch):
    # the NEAR test's env (forward progress paid at the clips' speed, HumanoidNEAR's default): its evaluation
    # and reward-view programs (~30 s of tracing and compiling) serve this run too
    same_env = "task.dist_at_clip_speed=true"
    amp = train_policy(_cfg("HumanoidAMP", motion, tmp_path / "amp", same_env))
    assert amp["algo"] == "AMP" and amp["env_steps"] == 512
    record = [json.loads(line) for line in open(tmp_path / "amp" / "metrics.jsonl")][-1]
    assert np.isfinite(record["style_reward"]) and np.isfinite(amp["pose_error"])
    assert 0 <= record["launch_resets"] <= record["nonfinite_resets"]  # the guard's launches, a part of the resets
    # resuming on other physics (the feet shipped before, say) is refused, and the run folder stays as it was
    config = (tmp_path / "amp" / "config.yaml").read_text()
    with pytest.raises(ConfigError, match=r"pass task.physics.foot_contact=corners to resume it"):
        train_policy(_cfg("HumanoidAMP", motion, tmp_path / "amp", same_env, "resume=True",
                          "task.physics.foot_contact=box"))
    assert (tmp_path / "amp" / "config.yaml").read_text() == config

    # the discriminator's view: AMP's reward -log(1 - D) >= 0 along each clip and along the run's own episode
    from near.commands.viz import viz_disc

    seen = keep_plotted(monkeypatch)
    png = viz_disc(compose_config([f"checkpoint={tmp_path / 'amp'}"]), out_path=str(tmp_path / "disc_along.png"))
    assert os.path.getsize(png) > 10_000 and len(seen["rows"]) == 1 and len(seen["clips"]) == 2
    for curve in [*seen["clips"], seen["policy"]]:
        assert curve["score"].shape == (1, len(curve["time"])) and (curve["score"] >= 0).all()
