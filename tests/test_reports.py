"""The benchmark reports that README tables come from, on hand-made run folders."""

import json
import os
import sys

import numpy as np
import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))
import report_pusht_scale as R


def pusht_run(folder, algo, seed, success, coverage, sparc, steps=500_000_000):
    os.makedirs(folder)
    summary = {"task": "pushT" if algo == "PPO" else f"pushT{algo}", "algo": algo, "seed": seed, "env_steps": steps,
               "success_rate": success, "final_coverage": coverage, "path_sparc": sparc, "wall_seconds": 600.0}
    with open(os.path.join(folder, "summary.json"), "w") as fh:
        json.dump(summary, fh)
    with open(os.path.join(folder, "config.yaml"), "w") as fh:
        yaml.safe_dump({"train": {"num_envs": 4096, "minibatch_size": 32768, "total_env_steps": steps},
                        "task": {"state_init": "hybrid", "success_bonus": "remaining", "max_episode_steps": 150}}, fh)
    with open(os.path.join(folder, "metrics.jsonl"), "w") as fh:
        for i in range(1, 4):
            fh.write(json.dumps({"step": i * 1000, "env_steps": i * 1000, "episode_return": 1.0}) + "\n")
            fh.write(json.dumps({"step": i * 1000, "env_steps": i * 1000, "eval/success_rate": success * i / 3,
                                 "eval/final_coverage": coverage * i / 3, "eval/path_sparc": sparc}) + "\n")
    return str(folder)


def test_pusht_scale_merges_runs_checks_the_targets_and_draws_curves(tmp_path, capsys):
    results = str(tmp_path / "pusht_scale.json")
    ppo = pusht_run(tmp_path / "ppo", "PPO", 42, 0.30, 0.90, -5.0)
    near = pusht_run(tmp_path / "near", "NEAR", 42, 0.55, 0.93, -3.5)
    R.main([f"PPO={ppo}", f"NEAR={near}", "--device", "H200", "--results", results, "--plot", str(tmp_path / "c.png")])
    out = capsys.readouterr().out
    assert "best success: NEAR 55.0 % (target 50 %): met" in out
    assert "NEAR success 55.0 % vs PPO 30.0 % (at 500.0 M steps; PPO's final evaluation at 500.0 M): met" in out and "path SPARC NEAR -3.50 vs PPO -5.00" in out
    assert os.path.getsize(tmp_path / "c.png") > 0
    stored = json.load(open(results))["methods"]
    assert [r["seed"] for r in stored["PPO"]] == [42] and len(stored["NEAR"][0]["curve"]) == 3
    assert set(R.KEYS) <= set(stored["NEAR"][0])
    # the same method, seed and device again replaces its row; another seed is added
    better = pusht_run(tmp_path / "ppo2", "PPO", 42, 0.70, 0.96, -5.0)
    other = pusht_run(tmp_path / "ppo700", "PPO", 700, 0.10, 0.80, -5.0)
    R.main([f"PPO={better}", f"PPO={other}", "--device", "H200", "--results", results])
    out = capsys.readouterr().out
    stored = json.load(open(results))["methods"]
    assert [(r["seed"], r["success_rate"]) for r in stored["PPO"]] == [(42, 0.70), (700, 0.10)]
    assert "NEAR success 55.0 % vs PPO 70.0 % (at 500.0 M steps; PPO's final evaluation at 500.0 M): missed" in out
    # a NEAR run of seed 700 is checked against PPO of seed 700, not of seed 42
    R.main([f"NEAR={pusht_run(tmp_path / 'near700', 'NEAR', 700, 0.60, 0.95, -4.0)}", "--device", "H200", "--results", results])
    out = capsys.readouterr().out
    assert "seed 700: best success: NEAR 60.0 % (target 50 %): met" in out
    assert "seed 700: NEAR success 60.0 % vs PPO 10.0 % (at 500.0 M steps; PPO's final evaluation at 500.0 M): met" in out
    assert out.index("best success: PPO 70.0 %") < out.index("seed 700:")  # seed 42 first


def test_pusht_scale_keeps_a_labelled_variant_and_compares_it_with_ppo_at_its_own_budget(tmp_path, capsys):
    results = str(tmp_path / "pusht_scale.json")
    ppo = pusht_run(tmp_path / "ppo", "PPO", 42, 0.30, 0.90, -5.0, steps=3000)  # curve: 0.1, 0.2, 0.3
    near = pusht_run(tmp_path / "near", "NEAR", 42, 0.25, 0.93, -3.5, steps=3000)
    variant = pusht_run(tmp_path / "tw07", "NEAR", 42, 0.55, 0.95, -4.0, steps=2000)
    config = yaml.safe_load(open(os.path.join(variant, "config.yaml")))
    yaml.safe_dump({**config, "reward": {"task_weight": 0.7, "style_weight": 0.3}}, open(os.path.join(variant, "config.yaml"), "w"))
    ppo_variant = pusht_run(tmp_path / "ppo_kl", "PPO", 42, 0.90, 0.97, -5.0, steps=2000)  # not the baseline
    R.main([f"PPO={ppo}", f"NEAR={near}", f"NEAR/tw07={variant}", f"PPO/kl={ppo_variant}", "--device", "H200",
            "--results", results])
    out = capsys.readouterr().out
    stored = json.load(open(results))["methods"]["NEAR"]
    assert [(r["label"], r["success_rate"]) for r in stored] == [(None, 0.25), ("tw07", 0.55)]
    assert stored[1]["settings"]["reward.task_weight"] == 0.7 and "| NEAR (tw07) | 42 |" in out
    # the variant stopped at 2,000 steps: PPO's periodic evaluation there (0.2), not its final 0.3, nor the PPO
    # variant's final 0.9 at 2,000 steps
    assert "NEAR (tw07) success 55.0 % vs PPO 20.0 %" in out and "periodic evaluation" in out and ": met" in out
    # an unlabelled NEAR run again replaces only the unlabelled row
    R.main([f"NEAR={pusht_run(tmp_path / 'near2', 'NEAR', 42, 0.10, 0.90, -3.0, steps=3000)}", "--device", "H200",
            "--results", results])
    assert [(r["label"], r["success_rate"]) for r in json.load(open(results))["methods"]["NEAR"]] == [(None, 0.10), ("tw07", 0.55)]


def test_pusht_scale_refuses_a_run_without_its_final_evaluation_or_of_another_task(tmp_path):
    os.makedirs(tmp_path / "unfinished")
    with pytest.raises(SystemExit, match="no summary.json yet"):
        R.main([f"PPO={tmp_path / 'unfinished'}", "--results", str(tmp_path / "r.json")])
    maze = pusht_run(tmp_path / "maze", "PPO", 42, 0.5, 0.5, -2.0)
    summary = json.load(open(os.path.join(maze, "summary.json")))
    json.dump(dict(summary, task="maze"), open(os.path.join(maze, "summary.json"), "w"))
    with pytest.raises(SystemExit, match="not push-T"):
        R.main([f"PPO={maze}", "--results", str(tmp_path / "r.json")])
    with pytest.raises(SystemExit, match="METHOD=RUN_DIR"):
        R.main([f"DQN={maze}", "--results", str(tmp_path / "r.json")])


def test_clip_return_tells_a_one_way_move_from_a_cycle():
    import inspect_clip_return as C
    import numpy as np

    t = np.linspace(0.0, 2 * np.pi, 61)
    bodies = np.zeros((61, 15, 3))
    cycle = bodies.copy()
    cycle[:, 8, 0] = 0.3 * np.sin(t)  # a hand swinging out and back, one whole cycle
    one_way = bodies.copy()
    one_way[:, 8, 0] = np.linspace(0.2, 0.7, 61)  # a punch: guard to full reach, never back
    assert C.return_share(one_way) == pytest.approx(1.0)
    assert C.turning_back_share(one_way) == 0.0
    assert C.return_share(cycle) < 0.05
    assert 0.3 < C.turning_back_share(cycle) < 0.7
    held = one_way.copy()
    held[30:, 8, 0] = held[30, 8, 0]  # reach the pose, then hold it: still no way back
    assert C.turning_back_share(held) == 0.0


def test_pose_hold_action_sets_the_pd_targets_to_the_pose():
    import jax.numpy as jnp
    import numpy as np

    pytest.importorskip("mujoco")
    import inspect_pose_hold as H

    from near.envs.humanoid import model as hm
    from near.utils import rotations as rot

    layout = hm.make_layout(hm.load_mj_model(hm.PhysicsConfig()), "none")
    lo, hi = np.asarray(layout.hinge_range[:, 0]), np.asarray(layout.hinge_range[:, 1])
    dof = np.zeros(28, np.float32)
    dof[np.asarray(layout.ball_dof)] = np.linspace(-1.0, 1.0, 24).reshape(8, 3)  # exp maps within pi
    dof[np.asarray(layout.hinge_dof)] = lo + 0.3 * (hi - lo)  # inside each hinge's range
    ball_target, hinge_target = hm.action_to_targets(layout, H.hold_action(layout, jnp.asarray(dof)))
    np.testing.assert_allclose(hinge_target, dof[np.asarray(layout.hinge_dof)], atol=1e-5)
    expected = rot.from_exp_map(jnp.asarray(dof[np.asarray(layout.ball_dof)]))
    np.testing.assert_allclose(ball_target, expected, atol=1e-5)


def test_nan_resets_sums_the_training_iterations_over_env_steps(tmp_path):
    """report_nan_resets: the per-iteration nonfinite_resets summed over the run, per million env steps;
    evaluation records (no count) are left out, and a folder without metrics says so."""
    import report_nan_resets as N

    run = tmp_path / "run"
    run.mkdir()
    with open(run / "config.yaml", "w") as fh:
        yaml.safe_dump({"seed": 7, "motion": "/x/amp_humanoid_run.yaml", "task": {"name": "HumanoidNEAR",
                                                                                 "physics": {"impl": "jax"}}}, fh)
    with open(run / "metrics.jsonl", "w") as fh:
        fh.writelines(json.dumps({"iteration": i, "env_steps": i * 1_000_000, "nonfinite_resets": resets}) + "\n" for i, resets in enumerate([0, 2, 1], start=1))
        fh.write(json.dumps({"env_steps": 3_000_000, "eval/fall_rate": 0.1}) + "\n")
    row = N.nan_resets(str(run))
    assert row["nan_resets"] == 3 and row["env_steps"] == 3_000_000 and row["iterations"] == 3
    assert row["nan_resets_per_million"] == pytest.approx(1.0)
    assert row["motion"] == "amp_humanoid_run.yaml" and row["seed"] == 7
    assert row["launch_resets"] is None  # a run from before the guard's own count
    with open(run / "metrics.jsonl", "w") as fh:  # since session 43: the launches among them, logged apart
        fh.writelines(json.dumps({"iteration": i, "env_steps": i * 1_000_000, "nonfinite_resets": 2,
                                  "launch_resets": launches}) + "\n" for i, launches in enumerate([1, 0, 2], start=1))
    assert N.nan_resets(str(run))["launch_resets"] == 3
    with pytest.raises(SystemExit, match="no metrics.jsonl"):
        N.nan_resets(str(tmp_path))


def test_sparc_axes_turns_the_root_velocity_into_its_heading():
    """inspect_sparc_axes: a root running at 3 m/s along world y while facing +y (yaw 90 degrees) moves
    forward at 3 m/s and not sideways in its heading frame; the vertical part is left as it is."""
    import inspect_sparc_axes as S

    t = np.arange(10) / 30.0
    pos = np.stack([np.zeros(10), 3.0 * t, 0.9 + 0.01 * np.sin(t)], -1)
    yaw = np.pi / 2
    rot = np.tile([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)], (10, 1))
    vel = S.heading_frame_velocity(pos, rot, 1.0 / 30.0)
    assert vel.shape == (9, 3)
    assert np.allclose(vel[:, 0], 3.0) and np.allclose(vel[:, 1], 0.0, atol=1e-9)
    assert np.allclose(vel[:, 2], np.diff(pos[:, 2]) * 30.0)


def test_sparc_axes_continues_a_stride_seamlessly_and_finds_the_step():
    """inspect_sparc_axes: a velocity whose one period is given comes back exactly for any length (its
    Fourier series, no seam), and the footstep period is read off the vertical velocity's bobbing."""
    import inspect_sparc_axes as S

    period, t = 22, np.arange(200)
    signal = np.stack([3.0 + 0.3 * np.sin(2 * np.pi * t / period), 0.2 * np.sin(2 * np.pi * t / period + 1.0),
                       0.5 * np.sin(4 * np.pi * t / period)], -1)  # sway once a stride, bob twice
    continued = S.periodic_continuation(signal[:period], 200)
    assert np.allclose(continued, signal, atol=1e-9)
    assert S.step_period(signal[:60]) == period // 2


def test_nan_resets_keep_earlier_sessions_rows():
    """report_nan_resets adds to its results file: earlier rows stay unless a new row has their label."""
    import report_nan_resets as N

    earlier = [{"label": "a", "nan_resets": 1}, {"label": "b", "nan_resets": 2}]
    merged = N.merge_rows(earlier, [{"label": "b", "nan_resets": 5}, {"label": "c", "nan_resets": 0}])
    assert [(r["label"], r["nan_resets"]) for r in merged] == [("a", 1), ("b", 5), ("c", 0)]


def test_pusht_reward_paths_recomputes_the_envs_reward_from_its_states():
    """inspect_pusht_reward_paths.task_rewards gives, from the recorded states alone, the rewards the
    env paid step by step (coverage over the curriculum threshold, shaping, success bonus), and zero
    after an episode's end; a start next to the goal makes the success bonus and the threshold count."""
    import inspect_pusht_reward_paths as P
    import jax
    import jax.numpy as jnp

    from near.envs.pusht import PushTConfig, PushTEnv

    env = PushTEnv(PushTConfig(success_bonus="remaining"))
    state, _ = env.reset_to(jnp.asarray([100.0, 100.0]), jnp.asarray([256.0, 256.0]), jnp.asarray(np.pi / 4))
    # four steps with the T on its goal (success bonus, threshold raised), then random pushes off it
    actions = jnp.concatenate([jnp.full((4, 2), -0.6),
                               jax.random.uniform(jax.random.PRNGKey(0), (8, 2), minval=-1.0, maxval=1.0)])
    observations, rewards = [np.asarray(env.observe(state))], []
    step = jax.jit(env.step)  # one compiled step: op by op, the push-T physics took ~20 s of the test's 23 s
    for action in actions:
        state, obs, reward, _, _ = step(state, action)
        observations.append(np.asarray(obs))
        rewards.append(float(reward))
    observations = np.stack(observations)[:, None]  # (T + 1, 1 episode, 5)
    recomputed = P.task_rewards(env, observations, np.asarray([12]))
    np.testing.assert_allclose(recomputed[:, 0], rewards, rtol=1e-4, atol=1e-4)
    assert max(rewards) > 100.0 and min(rewards) < 0.0  # the bonus paid, and the shaping alone
    cut = P.task_rewards(env, observations, np.asarray([5]))
    np.testing.assert_allclose(cut[:5, 0], rewards[:5], rtol=1e-4, atol=1e-4)
    assert np.all(cut[5:] == 0.0)


def test_pusht_reward_paths_counts_which_path_pays_more():
    """compare(): discounted task, style and weighted returns of two paths from the same starts, and
    how often the second path pays more where the first failed and the second succeeded;
    still_against_demo(): a model whose energy falls with the step's length ranks still pairs first."""
    import inspect_pusht_reward_paths as P

    steps = 4
    idle = {"task": np.zeros((steps, 2)), "style": np.ones((steps, 2)), "length": np.full(2, steps),
            "success": np.asarray([False, True])}
    solve = {"task": np.full((steps, 2), 3.0), "style": -np.ones((steps, 2)), "length": np.full(2, steps),
             "success": np.asarray([True, True])}
    rows = P.compare(idle, solve, (0.5, 0.5), gamma=0.5)
    discount = sum(0.5 ** t for t in range(steps))
    assert rows["near_fails_ppo_succeeds"] == 1
    assert rows["near_fails_ppo_succeeds/near_total"] == pytest.approx(0.5 * discount)
    assert rows["near_fails_ppo_succeeds/ppo_total"] == pytest.approx((1.5 - 0.5) * discount)
    assert rows["near_fails_ppo_succeeds/ppo_path_pays_more"] == 1.0
    assert rows["near_fails_ppo_succeeds/ppo_path_style_higher"] == 0.0

    class StepLength:  # energy = -|s' - s|: standing still is the most expert-like
        sign = -1.0

        def energy(self, pairs, level):
            return self.sign * np.linalg.norm(np.asarray(pairs)[:, 2:] - np.asarray(pairs)[:, :2], axis=-1)

    pairs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    assert P.still_against_demo(StepLength(), pairs, level=0)["still_ranks_higher"] == 1.0
    StepLength.sign = 1.0
    assert P.still_against_demo(StepLength(), pairs, level=0)["still_ranks_higher"] == 0.0


def test_demo_pairs_k_steps_apart_stay_within_episodes():
    """transition_pairs(span=K): (s_t, s_t+K) from each episode alone; an episode of K states or fewer gives none."""
    from near.data.demos import DemoSet, transition_pairs

    states = np.arange(9, dtype=np.float32)[:, None] * np.ones((1, 5), np.float32)
    demos = DemoSet(states=states, episode_ends=np.asarray([5, 7, 9]))
    pairs = transition_pairs(demos, span=2)
    assert pairs.shape == (3, 10)  # episode 0 gives 3; episodes 1 and 2 (2 states each) none
    np.testing.assert_array_equal(pairs[:, 0], [0, 1, 2])
    np.testing.assert_array_equal(pairs[:, 5], [2, 3, 4])


def test_pusht_step_features_score_raw_pairs_through_the_step():
    """StepFeatures: a model trained on (s, s' - s) is handed raw pairs (s, s') and sees the step."""
    import inspect_pusht_reward_paths as P

    class StepNorm:
        def energy(self, features, level):
            return -np.linalg.norm(np.asarray(features)[:, 2:], axis=-1)

    pairs = np.asarray([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 4.0, 5.0]], np.float32)
    np.testing.assert_allclose(P.StepFeatures(StepNorm()).energy(pairs, 0), [0.0, -5.0])


def test_pusht_step_density_is_per_unit_area():
    """step_density: steps spread evenly over a disc of radius 10 px have the same density in every ring,
    though the outer rings hold more of them; a still pair falls in the first ring."""
    import inspect_pusht_reward_paths as P

    rng = np.random.default_rng(0)
    radius, angle = 10.0 * np.sqrt(rng.uniform(size=200_000)), rng.uniform(0, 2 * np.pi, 200_000)
    steps = np.stack([radius * np.cos(angle), radius * np.sin(angle)], -1)
    pairs = np.concatenate([np.zeros((len(steps), 3)), steps, np.zeros((len(steps), 1))], -1)  # 2 x (x, y, a)
    rings = P.step_density(pairs, rings=(0.0, 2.0, 5.0, 10.0))
    assert rings[2]["share"] > 3 * rings[0]["share"]
    np.testing.assert_allclose([r["per_px2"] for r in rings], 1 / (np.pi * 100), rtol=0.05)
    still = P.step_density(np.zeros((4, 6)), rings=(0.0, 2.0, 5.0))
    assert still[0]["share"] == 1.0 and still[1]["share"] == 0.0


def test_speed_report_reads_the_train_variants_and_keeps_earlier_leases(tmp_path, monkeypatch, capsys):
    import _report
    import report_speed

    monkeypatch.setattr(_report, "result_path", lambda name: str(tmp_path / f"{name}.json"))
    bundle = tmp_path / "bundle"
    os.makedirs(bundle)

    def stage(name, rates, physics):
        rows = [{"devices": 1, "algo": "NEAR", "num_envs": n, "env_steps_per_s": r, "physics_only_steps_per_s": physics,
                 "training_over_physics": r / physics} for n, r in zip((4096, 16384), rates)]
        json.dump({"results": rows}, open(bundle / f"{name}.json", "w"))

    stage("speed_train", (146_000, 183_000), 262_000)
    stage("speed_train_warp", (290_000, 379_000), 1_096_000)
    assert report_speed.main([str(bundle), "--device", "lease A"]) == 0
    assert report_speed.main([str(bundle), "--device", "lease B"]) == 0
    out = capsys.readouterr().out
    assert "| near_env_steps_per_s_16k | 183,000.00 | misses >= 250000 |" in out
    assert "NEAR with warp: task.physics.impl=warp | 4k: 290,000, 16k: 379,000" in out
    rows = json.load(open(tmp_path / "speed_h200.json"))["results"]
    assert [r["device"] for r in rows] == ["lease A", "lease B"]  # a second lease adds a row
    warp = rows[1]["train_variants"]["warp: task.physics.impl=warp"]
    assert warp["near_env_steps_per_s_16k"] == 379_000 and abs(warp["training_over_physics_16k"] - 379 / 1096) < 1e-9
    assert "speed_train_tf32" not in str(rows) and len(rows[1]["train_variants"]) == 1


def humanoid_run(folder, seed, foot_contact=None, speed=1.0, impl=None):
    """A humanoid run folder with the final evaluation near train writes; foot_contact None: a run made
    before the key existed; impl: task.physics.impl."""
    import report_humanoid_motions as H

    os.makedirs(folder)
    summary = {"seed": seed, "env_steps": 60_000_000, "wall_seconds": 700.0, "eval_episodes": 64,
               **{k: 0.5 for k in H.KEYS}, "fall_rate": 0.0, "root_height_ratio": 1.0, "root_speed_ratio": speed,
               "sparc": -5.0}
    with open(os.path.join(folder, "summary.json"), "w") as fh:
        json.dump(summary, fh)
    physics = {} if foot_contact is None else {"foot_contact": foot_contact}
    if impl:
        physics["impl"] = impl
    with open(os.path.join(folder, "config.yaml"), "w") as fh:
        yaml.safe_dump({"task": {"name": "HumanoidNEAR", "physics": physics}}, fh)
    return str(folder)


def test_humanoid_motions_keep_a_corner_feet_run_beside_the_box_run_of_its_seed(tmp_path):
    """report_humanoid_motions: the floor a run trained on comes from its config (no key: the box), a
    corner-feet run does not replace the box run of the same seed, and the table says which is which."""
    import report_humanoid_motions as H

    results = {}
    for name, feet, speed, impl in (("old", None, 1.0, None), ("box", "box", 1.1, None), ("corners", "corners", 1.2, None),
                                    ("warp", "corners", 1.3, "warp")):
        row = H.read_run(humanoid_run(tmp_path / name, 42, feet, speed, impl))
        H.merge(results, "walk", "NEAR", row)
    runs = results["motions"]["walk"]["NEAR"]
    # a run on MuJoCo Warp keeps the MJX run of its seed and feet too
    assert [(r["physics_impl"], r["foot_contact"], r["root_speed_ratio"]) for r in runs] == [
        ("jax", "box", 1.1), ("jax", "corners", 1.2), ("warp", "corners", 1.3)]
    text = H.table(results)
    assert "| walk (corner feet) | NEAR | 42 |" in text and "| walk | NEAR | 42 |" in text
    assert "| walk (corner feet, MuJoCo Warp) | NEAR | 42 |" in text
    assert "| 0.500 | 0.500 |" in text  # an evaluation without body parts: the distance alone
    shipped = H.table(results, shipped_only=True)  # the runs on today's physics alone
    assert "| walk (corner feet, MuJoCo Warp) | NEAR | 42 |" in shipped and "| walk (corner feet) |" not in shipped
    assert shipped.count("\n| walk") == 1


def test_humanoid_motions_name_the_body_part_farthest_from_the_clips(tmp_path):
    import report_humanoid_motions as H

    folder = humanoid_run(tmp_path / "crane", 42, "corners")
    summary = json.load(open(os.path.join(folder, "summary.json")))
    summary.update(joint_angle_distance_trunk=0.1, joint_angle_distance_right_arm=0.2, joint_angle_distance_left_arm=0.2,
                   joint_angle_distance_right_leg=0.61, joint_angle_distance_left_leg=0.15)
    json.dump(summary, open(os.path.join(folder, "summary.json"), "w"))
    results = {}
    H.merge(results, "crane_pose", "NEAR", H.read_run(folder))
    assert "| 0.500 (right leg 0.610) |" in H.table(results)


def test_energy_gait_replays_the_clip_at_a_stride_and_cadence(humanoid_walk):
    import inspect_energy_gait as G
    import jax
    import jax.numpy as jnp

    from near.envs.core import make_pair
    from near.motion import library as ml

    env = humanoid_walk[0]  # HumanoidNEAR on one synthetic walk-like clip
    lib, dt = env.library, env.control_dt
    clips, fractions = jnp.zeros(4, jnp.int32), jnp.array([0.0, 0.3, 0.6, 1.0])
    pairs = G.gait_pairs(env, clips, fractions, [(1.0, 1.0), (0.5, 2.0)])

    # stride 1 at cadence 1 is the clip itself, as the env observes it
    tau = dt + fractions * (lib.clip_length[0] - dt)
    observe = jax.jit(jax.vmap(lambda t: env.state_from_motion(jax.tree.map(lambda x: x[0], ml.motion_state(lib, clips[:1], t[None]))).obs))
    before, now = jnp.split(observe(jnp.concatenate([tau - dt, tau])), 2)  # one compiled call, not op by op
    np.testing.assert_allclose(pairs[(1.0, 1.0)], make_pair(env, before, now), atol=1e-4)
    assert np.abs(np.asarray(pairs[(0.5, 2.0)] - pairs[(1.0, 1.0)])).max() > 0.1

    # half the swing about the clip's mean pose at twice the rate: the clip's speed, the same joint velocities
    mean_dof, mean_height = G.clip_means(lib)
    m = jax.tree.map(lambda x: x[0], ml.motion_state(lib, clips[:1], tau[1:2]))
    root, _, dof, root_vel, root_ang_vel, dof_vel = G.gait_pose(m, mean_dof[0], mean_height[0], 0.5, 2.0)
    np.testing.assert_allclose(dof - mean_dof[0], 0.5 * (m.dof_pos - mean_dof[0]), atol=1e-6)
    np.testing.assert_allclose(root_vel, m.root_vel, atol=1e-6)
    np.testing.assert_allclose(dof_vel, m.dof_vel, atol=1e-6)
    np.testing.assert_allclose(root_ang_vel, 2.0 * m.root_ang_vel, atol=1e-6)
    assert abs(float(root[2] - mean_height[0])) == pytest.approx(0.5 * abs(float(m.root_pos[2] - mean_height[0])), abs=1e-6)
    still = G.gait_pose(m, mean_dof[0], mean_height[0], 0.0, 1.0)  # stride 0: the mean pose, standing still
    np.testing.assert_allclose(still[2], mean_dof[0], atol=1e-6)
    assert not np.any(np.asarray(still[3])) and not np.any(np.asarray(still[5]))

    # the table: the clip against itself costs nothing; a gait the energy scores lower costs reward
    sigmas = np.array([20.0, 15.0, 12.0, 11.0, 10.75] + [4.0] * 20)
    rows = G.gait_rows({(1.0, 1.0): np.array([10.0, 12.0]), (0.4, 2.2): np.array([5.0, 13.0])}, sigmas)
    assert rows[0]["clip_ranks_higher"] == 0.0 and rows[0]["reward_gap_level_0"] == 0.0
    assert rows[1]["clip_ranks_higher"] == 0.5 and rows[1]["speed"] == pytest.approx(0.88)
    assert rows[1]["reward_gap_level_4"] > rows[1]["reward_gap_level_0"] > 0
    with pytest.raises(Exception, match="STRIDExCADENCE"):
        G.parse_gait("fast")



@pytest.fixture(scope="module")
def humanoid_walk(tmp_path_factory):
    """A humanoid env on a synthetic clip and an "episode" of 8 states under a small constant action:
    (env, {"qpos", "qvel"}, observations (8, 105)). Built once for the module's humanoid tests, which only
    read it: each build traced the env's step anew (seconds of CPU) and reset it op by op."""
    pytest.importorskip("mujoco")
    import jax
    import jax.numpy as jnp
    from test_humanoid_env import walk_like_clip

    from near.config import compose_config
    from near.factories import make_env
    from near.motion.poselib import save_poselib

    folder = tmp_path_factory.mktemp("walk")
    save_poselib(folder / "a.npy", walk_like_clip(seed=0))
    (folder / "set.yaml").write_text("motions:\n  - file: a.npy\n    weight: 1.0\n")
    env = make_env(compose_config(["task=HumanoidNEAR", f"motion={folder / 'set.yaml'}", "smoke=True"]))
    state, _ = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    qpos, qvel, obs = [state.qpos], [state.qvel], [state.obs]
    for _ in range(8 - 1):
        state = step(state, jnp.full((env.action_dim,), 0.1))[0]
        qpos.append(state.qpos), qvel.append(state.qvel), obs.append(state.obs)
    return env, {"qpos": np.asarray(jnp.stack(qpos)), "qvel": np.asarray(jnp.stack(qvel))}, jnp.stack(obs)


def test_energy_input_clip_sets_the_root_speed_and_counts_clipped_inputs(humanoid_walk):
    import dataclasses

    import inspect_energy_input_clip as I
    import jax.numpy as jnp

    from near.envs.humanoid.obs import FEATURE_GROUPS, OBS_DIM
    from near.utils.running_stats import RunningStats

    env, episode, obs = humanoid_walk
    root_vel = np.asarray(FEATURE_GROUPS["root velocity"])
    episode = dict(episode, qvel=episode["qvel"].copy())
    episode["qvel"][:, :2] = [0.3, 0.4]  # a root gliding at 0.5 m/s
    own, swept = I.root_speed_pairs(env, [episode], [0.0, 1.0])
    assert own == pytest.approx(0.5, rel=1e-5)
    np.testing.assert_allclose(np.linalg.norm(swept.pop("own")[:, root_vel[:2]], axis=-1), 0.5, atol=1e-4)
    for speed, pairs in swept.items():  # the rescaled speed is what the pairs observe, in both halves
        assert pairs.shape == (len(obs) - 1, 2 * OBS_DIM)
        for half in (0, OBS_DIM):
            np.testing.assert_allclose(np.linalg.norm(pairs[:, half + root_vel[:2]], axis=-1), speed, atol=1e-4)

    from near.energy.train import EnergyModel

    # the fields clipped_share reads: inputs normalised by a std of 0.01 about 0, clipped at 5 stds
    model = EnergyModel(None, None, RunningStats(jnp.zeros(2 * OBS_DIM), jnp.full(2 * OBS_DIM, 1e-4), jnp.ones(())),
                        jnp.ones(1))
    assert I.clipped_share(model, swept[1.0])["root velocity"] >= 2 / 3  # 1 m/s is 100 stds: x and y at the clip
    assert I.clipped_share(model, swept[0.0])["root velocity"] < I.clipped_share(model, swept[1.0])["root velocity"]
    assert I.clipped_share(dataclasses.replace(model, input_clip=0.0), swept[1.0])["root velocity"] == 0.0  # no clip


def test_energy_input_clip_plots_each_sweep_and_refuses_an_unlabelled_result(tmp_path):
    import json

    import inspect_energy_input_clip as I

    result = tmp_path / "sweep.json"
    result.write_text(json.dumps({"results": [{"own_root_speed": 0.8, "level": 4},
                                              {"root_speed": 0.0, "reward_gain_per_step": 0.04},
                                              {"root_speed": 0.9, "reward_gain_per_step": 0.0}]}))
    png = tmp_path / "sweeps.png"
    assert I.main(["--plot", str(png), f"glide={result}"]) == 0
    assert png.stat().st_size > 1000
    with pytest.raises(SystemExit, match="LABEL=RESULT.json"):
        I.main(["--plot", str(png), str(result)])


def test_energy_gait_replays_a_policys_own_episode_at_a_stride_and_cadence(humanoid_walk):
    import inspect_energy_gait as G

    from near.envs.core import make_pair

    env, episode, obs = humanoid_walk
    pairs = G.policy_gait_pairs(env, [episode], [(1.0, 1.0), (1.0, 0.5), (2.0, 1.0)])
    n = len(pairs[(1.0, 1.0)])
    assert n == 8 - 1 - 1  # pairs whose states lie inside the episode at the largest cadence
    # stride 1 at cadence 1 is the episode's own pairs, as the env observed them
    np.testing.assert_allclose(pairs[(1.0, 1.0)], make_pair(env, obs[:n], obs[1:n + 1]), atol=2e-4)
    # at half the cadence the second state lies halfway to the next step: the root height (feature 0) in between
    half = pairs[(1.0, 0.5)]
    later = half[:, :105] if env.pair_order == "current_first" else half[:, 105:]
    np.testing.assert_allclose(later[:, 0], 0.5 * (obs[:n, 0] + obs[1:n + 1, 0]), atol=2e-4)
    assert np.abs(np.asarray(pairs[(2.0, 1.0)] - pairs[(1.0, 1.0)])).max() > 0.05  # a longer stride changes them



def test_pose_swap_sets_a_body_parts_joints_to_the_clips_and_holds_them(humanoid_walk):
    import inspect_energy_pose_swap as S

    from near.envs.core import make_pair
    from near.envs.humanoid import model as hm

    env, episode, obs = humanoid_walk
    n = len(obs) - 1
    own = np.asarray(hm.dof_pos_from_qpos(env.layout, episode["qpos"][:-1]))
    swap = S.pose_swapper(env, [episode])
    # nothing swapped: the episode's pairs as the env observed them
    np.testing.assert_allclose(swap(own, [], hold=False), make_pair(env, obs[:n], obs[1:]), atol=2e-4)
    # the right leg set to other angles changes the pairs; the same angles, held still, change only velocities
    leg = S.group_dofs("right leg")
    assert [i for i in leg] == list(range(14, 21)) and S.group_dofs("right leg+arms") == sorted(S.PARTS["arms"] + leg)
    other = own.copy()
    other[:, 17] += 0.8  # the right knee bent further
    assert np.abs(swap(other, leg) - swap(own, leg)).max() > 0.05
    held = swap(own, S.group_dofs("all joints"))
    first = held[:, :105] if env.pair_order == "past_first" else held[:, 105:]
    np.testing.assert_allclose(first[:, 0], obs[:n, 0], atol=2e-4)  # root height unchanged by holding the joints
    with pytest.raises(SystemExit, match="unknown body part"):
        S.group_dofs("tail")


def test_way_to_the_clip_finds_a_valley_between_the_policys_pose_and_the_clips():
    import inspect_energy_pose_swap as S

    class Model:  # g of a pose: pair 0 dips on the way (200 a^2 - 150 a), pair 1 rises all the way (50 a)
        sigmas = np.linspace(20.0, 0.01, 50)

        def energy(self, pairs, level):
            a, valley = pairs[:, 0], pairs[:, 1]
            return (valley * (200 * a**2 - 150 * a) + (1 - valley) * 50 * a) / self.sigmas[0]

    own, frames = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 0.0]])

    def swap(dof, dofs):  # the "pairs" are the blended poses themselves
        return dof

    alphas, pairs = S.way_poses(swap, own, frames, [0], 4)
    way = S.way_to_the_clip(Model(), alphas, pairs, np.zeros(2), Model.sigmas, [0])
    assert [r["alpha"] for r in way["steps"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert way["end_pays"] == 1.0 and way["valley"] == 0.5  # both ends pay 50; one pair of the two dips on the way
    assert way["valley_depth"] > 0.01 and way["steps"][-1]["gain_over_start_level_4"] > 0
    assert way["steps"][0]["gain_over_start_level_4"] == 0.0


def test_run_evals_average_the_training_scalars_between_evaluations(tmp_path):
    import report_run_evals as E

    run = tmp_path / "run"
    run.mkdir()
    records = []
    for i, (energy, sigma) in enumerate([(10.0, 2.0), (12.0, 2.0), (30.0, 1.0), (32.0, 1.0)]):  # a level switch at i = 2
        records.append({"env_steps": (i + 1) * 100, "energy": energy, "sigma": sigma, "style_reward": float(i)})
        if i % 2:  # an evaluation after every second iteration
            records.append({"env_steps": (i + 1) * 100, "eval/stride_length_ratio": 0.5 - 0.1 * i})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    evals = E.evaluations(str(run), training=("energy", "style_reward"))
    assert [e["env_steps"] for e in evals] == [200, 400]
    assert evals[0]["train/g"] == pytest.approx(22.0) and evals[1]["train/g"] == pytest.approx(31.0)  # E * sigma
    assert evals[0]["train/energy"] == pytest.approx(11.0) and evals[1]["train/style_reward"] == pytest.approx(2.5)
    assert evals[1]["stride_length_ratio"] == pytest.approx(0.2)
    assert [e["env_steps"] for e in E.evaluations(str(run), after=200, training=("energy",))] == [400]
    with pytest.raises(SystemExit, match="no training scalar"):
        E.evaluations(str(run), training=("gone",))


def test_report_humanoid_motions_keeps_the_final_evaluation_over_a_quick_look(tmp_path, capsys):
    """A near eval of 16 episodes, or of sampled actions, in eval/eval.json does not replace the final evaluation of
    64 that near train wrote; one of 64 deterministic episodes does."""
    import report_humanoid_motions as H

    run = humanoid_run(tmp_path / "crane", 42)
    os.makedirs(os.path.join(run, "eval"))
    quick = {**{k: 0.9 for k in H.KEYS}, "episodes": 16, "deterministic": True}
    for look in (quick, {**quick, "episodes": 64, "deterministic": False}):
        with open(os.path.join(run, "eval", "eval.json"), "w") as fh:
            json.dump(look, fh)
        row = H.read_run(run)
        assert row["source"] == "final evaluation of near train" and row["fall_rate"] == 0.0 and row["episodes"] == 64
    assert "left out" in capsys.readouterr().out
    with open(os.path.join(run, "eval", "eval.json"), "w") as fh:
        json.dump({**quick, "episodes": 64}, fh)
    assert H.read_run(run)["source"] == "near eval" and H.read_run(run)["fall_rate"] == 0.9


def test_policy_keeps_pose_counts_the_steps_a_body_stays_up():
    import inspect_policy_keeps_pose as K

    assert K.hold_stats(np.array([0.5, 0.5, 0.4, 0.5]), 0.25) == {"up_fraction": 1.0, "first_step_down": None}
    assert K.hold_stats(np.array([0.5, 0.5, 0.1, 0.5]), 0.25) == {"up_fraction": 0.75, "first_step_down": 2}
    with pytest.raises(ValueError, match="non-empty"):
        K.hold_stats(np.zeros(0), 0.25)


def test_policy_keeps_pose_energy_table_pays_the_higher_scoring_run(capsys):
    import inspect_policy_keeps_pose as K

    sigma = np.full(50, 10.0)
    rows = {"clip 0 from 4 s": {"clip": {"g": [660.0, 670.0], "g_still": [672.0, 672.0]},
                                "Track": {"g": [450.0, 450.0, 450.0], "g_still": [580.0] * 3},
                                "NEAR": {"g": [410.0, 430.0], "g_still": [500.0] * 2}}}
    K.print_energy_table(rows, ["Track", "NEAR"], sigma)
    gain = rows["clip 0 from 4 s"]["Track"]["reward_over_NEAR_level_4"]
    # steps paired over the common two: gains 40 and 20, each worth 2 tanh(gain / (2 * 10 * sigma))
    assert gain == pytest.approx(np.mean([2 * np.tanh(40 / 200), 2 * np.tanh(20 / 200)]))
    out = capsys.readouterr().out
    assert "665.0 (672.0)" in out and "450.0 (580.0)" in out and "(100%)" in out
    written = K.summarise_energy(rows)["clip 0 from 4 s"]  # means, not the per-step lists
    assert written["NEAR"]["g_mean"] == 420.0 and written["NEAR"]["steps_scored"] == 2 and "g" not in written["NEAR"]
    assert written["Track"]["reward_over_NEAR_level_4"] == gain and written["clip"]["g_still_mean"] == 672.0


def test_policy_keeps_pose_level_table_pays_the_higher_energy_at_each_level(capsys):
    """--levels: raw energies at given levels (any conditioning); the gain is 2 tanh((E_a - E_b) / 20) a step."""
    import inspect_policy_keeps_pose as K

    rows = {"clip 2 from 4 s": {"clip": {"E": {4: [30.0, 30.0], 20: [90.0, 90.0]}},
                                "AMP": {"E": {4: [12.0, 14.0, 99.0], 20: [40.0, 40.0, 0.0]}},
                                "NEAR": {"E": {4: [10.0, 10.0], 20: [50.0, 60.0]}}}}
    K.level_gains(rows, ["AMP", "NEAR"], (4, 20))
    amp = rows["clip 2 from 4 s"]["AMP"]
    assert amp["reward_over_NEAR_at_level_4"] == pytest.approx(np.mean([2 * np.tanh(2 / 20), 2 * np.tanh(4 / 20)]))
    assert amp["reward_over_NEAR_at_level_20"] < 0  # below NEAR's at the fine level: the sign is kept
    assert "(0%)" in capsys.readouterr().out
    written = K.summarise_energy(rows)["clip 2 from 4 s"]
    assert written["NEAR"]["E_mean_level_20"] == 55.0 and written["NEAR"]["steps_scored"] == 2
    assert "E" not in written["NEAR"] and "g_mean" not in written["NEAR"]


def test_pair_features_sum_each_groups_squares_over_both_states():
    import inspect_pair_features as F

    z = np.zeros((2, 210))
    z[:, 7] = 5.0  # root velocity, first state: at the clip
    z[:, 105 + 65] = 2.0  # a joint velocity, second state
    groups = F.group_z2(z)
    assert groups["root velocity"] == {"z2": 25.0, "clipped": pytest.approx(1 / 6)}
    assert groups["joint velocities"]["z2"] == 4.0 and groups["joint velocities"]["clipped"] == 0.0
    assert groups["joint angles"]["z2"] == 0.0 and groups["all"]["z2"] == 29.0


def test_a_result_named_with_its_json_suffix_gets_one_suffix():
    import _report

    assert _report.result_path("x.json") == _report.result_path("x")
    assert _report.result_path("x.json").endswith(os.sep + "x.json")


def test_training_rate_leaves_the_evaluations_out(tmp_path):
    """report_training_rate: env steps/s over each stretch of training records between evaluations, so an
    evaluation's wall time (here 100 s) never counts, nor a stretch inside one chunk; LABEL=RUN_DIR arguments are checked."""
    import report_training_rate as T

    run = tmp_path / "run"
    run.mkdir()
    records, wall = [], 0.0
    for stretch in range(2):
        for i in range(4):  # 1,000 env steps per second while training
            wall += 1.0
            records.append({"env_steps": (stretch * 4 + i + 1) * 1000, "wall_seconds": wall})
        wall += 100.0  # an evaluation
        records.append({"env_steps": (stretch + 1) * 4000, "wall_seconds": wall, "eval/fall_rate": 0.0})
    # a call cut at its deadline: one chunk's records, logged together within milliseconds, give no rate
    records += [{"env_steps": 8000 + 1000 * i, "wall_seconds": wall + 0.001 * i} for i in range(1, 4)]
    with open(run / "metrics.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    assert T.training_windows(str(run)) == pytest.approx([1000.0, 1000.0])
    assert T.labelled_runs([f"walk={run}"]) == [("walk", str(run))]
    with pytest.raises(SystemExit, match="expected LABEL=RUN_DIR"):
        T.labelled_runs([str(run)])
    with pytest.raises(SystemExit, match="no metrics.jsonl"):
        T.labelled_runs([f"x={tmp_path}"])


def test_energy_floor_reads_the_scalar_before_the_final_elu(tmp_path):
    """inspect_energy_floor.pre_activation: the same weights without the final ELU, so ELU(pre) is the
    model's own g (level-free)."""
    import jax.numpy as jnp
    from inspect_energy_floor import pre_activation

    from near.energy.train import EnergyConfig, fit, load_energy_model

    rng = np.random.default_rng(0)
    pairs = rng.normal(0.0, 1.0, (300, 4)).astype(np.float32)
    fit(EnergyConfig(iterations=20, log_every=10, checkpoint_every=20), pairs, str(tmp_path), seed=0, show_progress=False)
    model, _ = load_energy_model(str(tmp_path))
    probe = np.concatenate([pairs[:8], rng.normal(0.0, 40.0, (8, 4)).astype(np.float32)])
    pre = pre_activation(model, probe, 3)
    g = np.asarray(model.energy(jnp.asarray(probe), 3)) * float(model.sigmas[3])
    elu = np.where(pre > 0, pre, np.expm1(np.minimum(pre, 0)))
    np.testing.assert_allclose(elu, g, rtol=1e-4, atol=1e-5)
    assert model.net.output_activation == "elu"


def test_energy_floor_reads_the_loss_curve_and_draws_it(tmp_path):
    from inspect_energy_floor import loss_curve, plot_curves

    from near.energy.train import EnergyConfig, fit

    pairs = np.random.default_rng(1).normal(0.0, 1.0, (300, 4)).astype(np.float32)
    fit(EnergyConfig(iterations=30, log_every=10, checkpoint_every=30), pairs, str(tmp_path), seed=0, show_progress=False)
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 30, "loss": NaN}\n{"step": 4')  # a NaN record and a line cut by a kill
    curve = loss_curve(str(tmp_path))
    assert curve["steps"] == [10, 20, 30] and all(np.isfinite(curve["losses"]))
    rows = [{"energy": str(tmp_path), "seed": s, "output_activation": "elu", "rank_accuracy": {"0": r},
             "demo_share_below": 1 - r, **curve} for s, r in ((1, 1.0), (2, 0.72))]
    plot_curves(rows, str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").stat().st_size > 5000


def test_reward_saturation_grows_with_the_level_and_the_clips_pay_nothing_extra_once_saturated():
    import itertools

    import inspect_reward_saturation as S

    rng = np.random.default_rng(0)
    g_policy = 1500.0 + 17.0 * rng.standard_normal(4000)  # the crane policy's spread (item 59)
    g_clips = 1800.0 + 30.0 * rng.standard_normal(1000)
    sigmas = 20.0 * 0.8563 ** np.arange(50)
    rows = S.saturation_by_level(g_policy, g_clips, sigmas)
    saturated = [r["policy_saturated"] for r in rows]
    assert saturated[0] == 0.0 and saturated[-1] > 0.95 and all(b >= a - 1e-9 for a, b in itertools.pairwise(saturated))
    assert 15 < S.half_saturated_level(rows) < 30
    # at the broad levels a clip's pair earns far more than the policy's best tenth; at the last ones nothing
    assert rows[5]["clips_over_policy_top_decile"] > 0.5 and rows[-1]["clips_over_policy_top_decile"] < 1e-3
    # the narrower the policy's own spread of g, the later its reward saturates (the gain is 1 / (10 sigma))
    narrow = S.saturation_by_level(1500.0 + 2.0 * rng.standard_normal(4000), g_clips, sigmas)
    wide = S.saturation_by_level(1500.0 + 300.0 * rng.standard_normal(4000), g_clips, sigmas)
    assert S.half_saturated_level(wide) < S.half_saturated_level(rows) < S.half_saturated_level(narrow)
    assert S.half_saturated_level(S.saturation_by_level(np.full(10, 5.0), g_clips, sigmas)) is None  # no spread


def test_anneal_levels_of_a_short_run_and_of_negative_energies(tmp_path):
    import report_anneal_levels as A

    run = tmp_path / "run"
    run.mkdir()
    with open(run / "metrics.jsonl", "w") as fh:  # a no-ELU run: energies below zero, rising towards zero
        for i, (level, energy) in enumerate([(0, -100.0), (1, -98.0), (1, -90.0)]):
            fh.write(json.dumps({"step": i, "env_steps": (i + 1) * 1000, "sigma_level": level, "sigma": 20.0 * 0.8563 ** level,
                                 "energy": energy}) + "\n")
    history = A.level_history(str(run))
    assert history["final_level"] == 1 and history["level_at_10m"] is None  # 3,000 steps: no level at 10 M
    assert history["energy_rise_at_last_level"] == pytest.approx(8.0 / 98.0)  # a rise, though the ratio is below 1


def test_action_noise_override_sets_the_std_the_policy_draws_with_and_keeps_its_mean():
    import jax
    import jax.numpy as jnp
    from near.rl.ppo import PPOConfig, act, make_networks, with_log_std
    from near.utils.running_stats import RunningStats

    cfg = PPOConfig(actor_hidden=(8,), critic_hidden=(8,), log_std_init=-2.9)
    actor, critic = make_networks(cfg, 3)
    obs = jnp.ones((4000, 5))
    params = {"actor": actor.init(jax.random.PRNGKey(0), obs[:1]), "critic": critic.init(jax.random.PRNGKey(1), obs[:1])}
    stats = RunningStats.create(5)
    wider = with_log_std(params, -2.0)
    assert jnp.all(params["actor"]["params"]["log_std"] == -2.9)  # the trained parameters are left as they were
    mean = act(params, cfg, stats, obs, 3)
    assert jnp.allclose(act(wider, cfg, stats, obs, 3), mean)  # the same mean
    drawn = act(wider, cfg, stats, obs, 3, jax.random.PRNGKey(2)) - mean
    assert float(jnp.std(drawn)) == pytest.approx(float(np.exp(-2.0)), rel=0.05)  # drawn at the new std
    assert float(jnp.std(act(params, cfg, stats, obs, 3, jax.random.PRNGKey(2)) - mean)) == pytest.approx(float(np.exp(-2.9)), rel=0.05)


def test_action_noise_physics_takes_only_task_physics_overrides():
    from inspect_action_noise import noise_rows

    # checked before any run is read: a typo must not silently play the policy under its own physics
    with pytest.raises(SystemExit, match="task.physics.KEY=VALUE"):
        noise_rows("walk", "runs/none", "walk.yaml", [], 1, 0, physics=("physics.impl=jax",))
    with pytest.raises(SystemExit, match="task.physics.KEY=VALUE"):
        noise_rows("walk", "runs/none", "walk.yaml", [], 1, 0, physics=("task.physics.iterations",))


def test_warp_kernel_cache_matches_a_device_logs_modules_hash_for_hash(tmp_path):
    """warp_kernel_cache.py's check: the modules a device log shows Warp loading on a GPU, against the module
    folders (wp_NAME_HASH7 with a GPU binary) of a cache; a folder of another hash, or without a binary, is a miss."""
    import warp_kernel_cache as W

    log = tmp_path / "device.log"
    log.write_text("Module _solve_done__locals__kernel_b7bb501d b7bb501 load on device 'cuda:0' took 1.0 ms  (compiled)\n"
                   "Module mujoco.mjx.third_party.mujoco_warp._src.smooth 1490cf8 load on device 'cuda:0' took 10789.00 ms  (compiled)\n"
                   "Module _solve_done__locals__kernel_b7bb501d aed951e load on device 'cpu' took 143.24 ms  (compiled)\n"
                   "Module _tile__locals__kernel_4c9eb201 670718e load on device 'cuda:0' took 8022.30 ms  (compiled)\n")
    want = W.device_modules(str(log))
    assert want == {"_solve_done__locals__kernel_b7bb501d": "b7bb501", "mujoco.mjx.third_party.mujoco_warp._src.smooth": "1490cf8",
                    "_tile__locals__kernel_4c9eb201": "670718e"}
    root = tmp_path / "cache" / "1.19.0"
    for folder, binary in [("wp__solve_done__locals__kernel_b7bb501d_b7bb501", True),
                           ("wp_mujoco.mjx.third_party.mujoco_warp._src.smooth_1490cf8", True),
                           ("wp__tile__locals__kernel_4c9eb201_4c9eb20", True),  # its default block_dim, not the log's
                           ("wp__tile__locals__kernel_4c9eb201_670718e", False)]:  # only a .meta: not compiled
        (root / folder).mkdir(parents=True)
        (root / folder / f"{folder}.meta").write_text("{}")
        if binary:
            (root / folder / f"{folder}.sm90.cubin").write_bytes(b"\0")
    # --loads: only the GPU's loads count (the CPU line is not a device module), split by how Warp got them
    log.write_text(log.read_text() + "Module _nxn_broadphase bc37f1f load on device 'cuda:0' took 1.50 ms  (cached)\n")
    assert W.module_loads(str(log)) == {"log": "device.log", "modules_cached": 1, "seconds_cached": 0.0,
                                        "modules_compiled": 3, "seconds_compiled": 18.81}
    have = W.cached_modules(str(tmp_path / "cache"))
    assert have["_tile__locals__kernel_4c9eb201"] == {"4c9eb20"}
    assert sorted(name for name, digest in want.items() if digest not in have.get(name, ())) == ["_tile__locals__kernel_4c9eb201"]


def test_pose_reach_report_puts_a_statue_in_the_clips_mean_pose_and_tabulates_each_part():
    """report_pose_reach: the statue (one pose, the clips' mean) reaches a still clip exactly and a moving
    limb only as far as its swing; the table shows each part beside the statue's."""
    import report_pose_reach as P

    from near.eval import gait as G

    parts = {"trunk": [0], "right_arm": [1], "left_arm": [2], "right_leg": [3], "left_leg": [4]}
    still = np.zeros((20, 5))
    moving = still.copy()
    moving[:, 2] = np.where(np.arange(20) < 10, -0.5, 0.5)  # the left arm swings between -0.5 and 0.5
    statue = G.statue_pose_reach([still, moving], parts)
    assert statue["pose_reach_trunk"] == pytest.approx(0.0, abs=1e-6)
    assert statue["pose_reach_left_arm"] == pytest.approx(0.5 * 20 / 40, abs=1e-6)  # half of the frames 0.5 away
    row = {"label": "punch", "episodes": 8, "fall_rate": 0.0, "joint_angle_distance": 0.2, "pose_reach": 0.3,
           **{f"pose_reach_{p}": 0.1 for p in parts}, **{f"statue_{k}": v for k, v in statue.items()}}
    line = P.table([row]).splitlines()[-1]
    assert line.startswith("| punch | 8 | 0.00 | 0.300 (") and "| 0.100 (0.250) |" in line


def test_humanoid_motions_show_pose_reach_beside_the_statue_from_the_row_or_the_cpu_measure(tmp_path, monkeypatch):
    """report_humanoid_motions: a row evaluated with pose_reach shows its own; an older row takes
    report_pose_reach.py's measure of the same motion, method, seed and physics (marked *); no measure: '-'."""
    import report_humanoid_motions as H

    measured = {"results": [{"motion": "amp_humanoid_crane_pose.yaml", "method": "NEAR", "seed": 42, "physics": "warp",
                             "pose_reach": 0.32, "pose_reach_right_leg": 0.43, "pose_reach_left_leg": 0.07,
                             "statue_pose_reach": 0.27}]}
    path = tmp_path / "pose_reach_humanoid.json"
    path.write_text(json.dumps(measured))
    monkeypatch.setattr(H, "POSE_REACH", str(path))
    H.measured_pose_reach.cache_clear()
    try:
        old = {"seed": 42, "physics_impl": "warp", "foot_contact": "corners"}
        assert H.pose_reach_cell("crane_pose", "NEAR", old) == "0.320* (right leg 0.430); statue 0.270"
        own = dict(old, pose_reach=0.2, pose_reach_left_arm=0.3)
        assert H.pose_reach_cell("crane_pose", "NEAR", own) == "0.200 (left arm 0.300); statue 0.270"
        assert H.pose_reach_cell("crane_pose", "AMP", old) == "-"  # no measure of AMP's
        assert H.pose_reach_cell("crane_pose", "NEAR", dict(old, physics_impl="jax")) == "-"  # nor of an MJX run
    finally:
        H.measured_pose_reach.cache_clear()


def test_profile_startup_times_an_energy_model_start_up(tmp_path):
    """benchmarks/profile_startup.py --energy-only runs `near train-energy` with its phases timed (its wrapper of
    the energy trainer once fell behind the trainer's keywords, and the device's start-up stage with it)."""
    import subprocess

    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "profile_startup.py")
    out = tmp_path / "profile"
    done = subprocess.run([sys.executable, script, "--task", "mazeNEAR", "--energy-only", "--energy-iterations", "200",
                           "--energy-chunk", "100", "--name", str(out)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NEAR_XLA_CACHE": "off"})
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.load(open(f"{out}.json"))["results"][0]
    assert row["startup_seconds_energy"] > 0 and row["programs_compiled"] > 0


def test_humanoid_motions_flag_what_the_limits_let_pass(tmp_path, monkeypatch):
    """report_humanoid_motions: a run that slides its feet, patters in short strides or never comes nearer the
    clips' poses than a statue is flagged though it passes every limit (NEAR's run of seed 8125 shuffled so);
    a run that moves like its clips is not."""
    import report_humanoid_motions as H

    path = tmp_path / "pose_reach_humanoid.json"
    path.write_text(json.dumps({"results": [{"motion": "amp_humanoid_run.yaml", "statue_pose_reach": 0.2}]}))
    monkeypatch.setattr(H, "POSE_REACH", str(path))
    H.measured_pose_reach.cache_clear()
    try:
        runner = {"seed": 42, "physics_impl": "warp", "foot_contact": "corners", "fall_rate": 0.0,
                  "root_height_ratio": 0.97, "root_speed_ratio": 1.0, "sparc": -4.0, "foot_slide": 0.4,
                  "foot_slide_clips": 0.37, "stride_length_ratio": 0.9, "pose_reach": 0.1, "env_steps": 60_000_000,
                  "joint_angle_distance": 0.05, "pose_error": 0.5}
        assert H.limits_missed("run", runner) == [] and H.unseen_by_limits("run", "NEAR", runner) == []
        shuffle = dict(runner, foot_slide=1.8, stride_length_ratio=0.34, pose_reach=0.199)
        assert H.limits_missed("run", shuffle) == []  # every limit passes ...
        flags = H.unseen_by_limits("run", "NEAR", shuffle)  # ... and each of the three shows
        assert [f.split(" ")[0] for f in flags] == ["feet", "strides", "poses"] and "4.9 x the clips'" in flags[0]
        # strides are a gait's measure: not flagged on a motion that stays put
        assert H.unseen_by_limits("crane_pose", "NEAR", dict(runner, stride_length_ratio=0.1)) == []
        # feet that barely move while down are not a glide, even at twice the clips' near-zero speed
        assert H.unseen_by_limits("run", "NEAR", dict(runner, foot_slide=0.05, foot_slide_clips=0.02)) == []
        # an evaluation made before the measures existed: nothing to flag
        old = {k: v for k, v in runner.items() if k not in ("foot_slide", "stride_length_ratio", "pose_reach")}
        assert H.unseen_by_limits("run", "NEAR", old) == []
        results = {}
        H.merge(results, "run", "NEAR", shuffle)
        assert H.table(results).splitlines()[2].endswith(
            "| none | feet slide 1.80 m/s while down (4.9 x the clips'); strides 0.34 x the clips'; "
            "poses no nearer the clips' than a statue's (0.199 vs 0.200) |")
    finally:
        H.measured_pose_reach.cache_clear()


def test_gait_over_training_finds_when_a_run_stands_and_ends_on_its_final_evaluation(tmp_path):
    """report_gait_over_training: the periodic evaluations' gait in order, the final evaluation of summary.json
    last, the first evaluation with falls <= 0.10 as the standing point, a stride the evaluation could not
    measure (NaN) as None, and one clear error for a run without evaluations."""
    import report_gait_over_training as G

    run = tmp_path / "run"
    run.mkdir()
    with open(run / "config.yaml", "w") as fh:
        yaml.safe_dump({"seed": 8125, "motion": "/x/amp_humanoid_run.yaml", "train": {"explore_env_steps": 0},
                        "task": {"name": "HumanoidNEAR", "physics": {"impl": "warp"}}}, fh)
    evals = [(4e6, 1.0, 0.3), (8e6, 0.25, 0.4), (12e6, 0.05, 0.45), (16e6, 0.0, 0.5)]
    with open(run / "metrics.jsonl", "w") as fh:
        for steps, falls, strides in evals:
            fh.write(json.dumps({"iteration": 1, "env_steps": steps, "nonfinite_resets": 0}) + "\n")
            fh.write(json.dumps({"env_steps": steps, "eval/fall_rate": falls, "eval/stride_length_ratio": strides,
                                 "eval/foot_slide": 2 * strides, "eval/root_speed_ratio": 1.0,
                                 "eval/landing_rate": 5.0, "eval/landing_rate_clips": 2.5}) + "\n")
    with open(run / "summary.json", "w") as fh:
        fh.write('{"env_steps": 20000000, "fall_rate": 0.0, "stride_length_ratio": NaN, "foot_slide": 1.5, '
                 '"landing_rate": 3.0, "landing_rate_clips": 0.0}')
    row = G.gait_row(str(run))
    assert row["series"]["env_steps"] == [4e6, 8e6, 12e6, 16e6, 2e7]
    assert row["stands_from_env_steps"] == 12e6 and row["at_standing"]["stride_length_ratio"] == 0.45
    assert row["final"]["stride_length_ratio"] is None and row["final"]["foot_slide"] == 1.5
    assert row["series"]["cadence_ratio"] == [None] * 5  # not logged by this run
    assert row["series"]["landing_ratio"] == [2.0] * 4 + [None]  # the feet's cadence; none without the clips' rate
    assert row["seed"] == 8125 and row["physics"] == "warp"
    assert G.gait_row(str(run), stand=0.0)["stands_from_env_steps"] == 16e6
    assert G.gait_row(str(run), stand=-1.0)["at_standing"] is None
    assert "never stands" in G.gait_cell(None) and G.gait_cell(row["final"]).startswith("- / - / - (-) / 1.50")
    path = G.plot([{"label": "a", **row}], str(tmp_path / "gait.png"))
    assert os.path.getsize(path) > 1000
    (tmp_path / "bare").mkdir()
    with open(tmp_path / "bare" / "metrics.jsonl", "w") as fh:
        fh.write(json.dumps({"iteration": 1, "env_steps": 1}) + "\n")
    with pytest.raises(SystemExit, match="no periodic evaluation"):
        G.gait_series(str(tmp_path / "bare"))


def test_policy_init_reports_the_initial_mean_actions_pose_and_its_shrinking(tmp_path):
    """inspect_policy_init.py builds `near train`'s first actor for a seed: its mean action has a bias common to
    the reset states (a pose: the knees' PD targets move), which train.actor_output_scale=0.01 shrinks 100-fold."""
    pytest.importorskip("mujoco")
    import inspect_policy_init as P
    from test_humanoid_env import walk_like_clip

    from near.motion.poselib import save_poselib

    save_poselib(tmp_path / "a.npy", walk_like_clip(seed=0))
    (tmp_path / "set.yaml").write_text("motions:\n  - file: a.npy\n    weight: 1.0\n")
    rows = [P.init_row("HumanoidNEAR", str(tmp_path / "set.yaml"), 8125, 4, ["smoke=True", *extra], play)
            for extra, play in (([], 3), (["train.actor_output_scale=0.01"], 0))]
    default, small = (r["first_rollout"] for r in rows)
    assert default["bias_rms"] > 0.01 and default["bias_over_std"] > 0
    assert small["bias_rms"] < 0.02 * default["bias_rms"]
    assert {"right_knee", "left_knee", "right_elbow", "left_elbow"} == set(default["hinge_target_shift_rad"])
    knee = default["hinge_target_shift_rad"]["left_knee"]
    assert abs(small["hinge_target_shift_rad"]["left_knee"]) < 0.02 * abs(knee) + 1e-6
    assert "| 8125 |" in P.table(rows) and "after first update" in P.table(rows)
    played = rows[0]["played"]  # the mean action played from the reset states, here too briefly to fall
    assert played["steps"] == 3 and 0 < played["steps_to_fall"] <= 3 and 0.3 < played["root_height"] < 2
    assert 0 <= played["knee_angle"] <= 2.8 and "played" not in rows[1] and "steps to its fall" in P.table(rows)


def test_policy_init_rebuilds_the_actor_near_train_starts_from():
    """inspect_policy_init.initial_actor gives the weights `near train`'s first state has (make_train's keys)."""
    import jax
    import inspect_policy_init as P

    from near.config import compose_config
    from near.envs.core import AutoReset
    from near.factories import make_env, make_style, training_reset
    from near.rl.ppo import make_train

    cfg = compose_config(["task=mazeAMP", "smoke=True", "seed=8125"])
    env = make_env(cfg)
    init, _ = make_train(cfg.train, AutoReset(env, reset=training_reset(cfg, env)), make_style(cfg, env)[0], cfg.reward)
    trained_from = init(jax.random.PRNGKey(cfg.seed)).params["actor"]
    rebuilt = P.initial_actor(cfg, env.obs_dim, env.action_dim)[1]
    for a, b in zip(jax.tree.leaves(trained_from), jax.tree.leaves(rebuilt)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
