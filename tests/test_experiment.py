"""near experiment: planning, argument parsing, a tiny maze sweep with its report, resuming a killed
sweep without redoing finished runs, refusing mixed settings, near eval on a run, the launchers."""

import json
import os
import subprocess
import sys

import pytest

from near.cli import main
from near.commands import experiment as X
from near.commands import train as train_command


def test_plan_names_runs_and_shares_energy_models(tmp_path):
    abl = X.load_ablations()
    sweep = X.Sweep(out=str(tmp_path), tasks=["maze"], algos=["NEAR", "CEM", "PPO"], seeds=[1, 2],
                    ablations=[abl["sigma5"], abl["embedding"]], overrides=["smoke=True"],
                    task_overrides={"maze": ["task.demo_upsample=2"]})
    energy, policy = X.plan(sweep)
    assert sorted(j.name for j in energy) == ["maze/energy-embedding/seed1", "maze/energy-embedding/seed2",
                                             "maze/energy/seed1", "maze/energy/seed2"]
    names = [j.name for j in policy]
    assert len(names) == 3 * 2 + 2 + 2 and "maze/NEAR-sigma5/seed2" in names and "maze/PPO/seed1" in names
    by_name = {j.name: j for j in policy}
    sigma5, emb = by_name["maze/NEAR-sigma5/seed1"], by_name["maze/NEAR-embedding/seed1"]
    assert sigma5.label == "NEAR [sigma5]" and "reward.sigma_level=5" in sigma5.overrides
    assert sigma5.needs == os.path.join(str(tmp_path), "maze", "energy", "seed1")  # reward-only: shared energy
    assert emb.needs.endswith(os.path.join("energy-embedding", "seed1"))
    assert "task.demo_upsample=2" in by_name["maze/PPO/seed1"].overrides and not by_name["maze/PPO/seed1"].needs
    assert by_name["maze/CEM/seed2"].overrides[:2] == ("task=mazeCEM", "train=mazeCEM")
    # every job's overrides compose into a valid config, also where an ablation changes the number
    # of noise levels (no_ncsnv2: 10 levels, annealed) against the maze's fixed level 35
    from near.config import compose_config

    ablated = X.Sweep(out=str(tmp_path), tasks=["maze"], algos=["NEAR", "CEM"], seeds=[1], ablations=[abl["no_ncsnv2"]])
    for job in sum(X.plan(ablated), []):
        cfg = compose_config([o for o in job.overrides if not o.startswith("energy.checkpoint=")])
        assert (cfg.energy.num_levels == 10) == ("no_ncsnv2" in job.name), job.name
    with pytest.raises(X.SweepError, match="no 'SAC' task"):
        X.plan(X.Sweep(out="x", algos=["SAC"]))
    with pytest.raises(X.SweepError, match="none of algos"):
        X.plan(X.Sweep(out="x", algos=["PPO"], ablations=[abl["sigma5"]]))


def test_parse_args():
    sweep, opts = X.parse_args(["tasks=[maze]", "seeds=2", "ablations=[sigma5]", "ablation.wide=[train.actor_hidden=[8,8],reward.sigma_level=10]",
                                 "maze.task.data=/d.zarr", "hydra.launcher.partition=gpu",
                                "launcher=joblib", "jobs=3", "out=o", "smoke=True"])
    assert sweep.seeds == [42, 700] and sweep.out == "o" and sweep.overrides == ["smoke=True"]
    assert [a.name for a in sweep.ablations] == ["sigma5", "wide"]
    assert sweep.ablations[1].overrides == ("train.actor_hidden=[8,8]", "reward.sigma_level=10")
    assert sweep.task_overrides == {"maze": ["task.data=/d.zarr"]}
    assert opts == {"launcher": "joblib", "jobs": 3, "progress": True, "hydra": ["hydra.launcher.partition=gpu"]}
    assert X.parse_args(["seeds=[1,3]"])[0].seeds == [1, 3]
    assert X.parse_args([], default_seeds=3)[0].seeds == [42, 700, 8125]
    with pytest.raises(X.SweepError, match="unknown ablation 'nope'"):
        X.parse_args(["ablations=[nope]"])


def _json(path):
    with open(path) as fh:
        return json.load(fh)


def _mtimes(paths):
    return [os.path.getmtime(p) for p in paths]


def test_sweep_report_resume_and_eval(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sw"
    args = ["experiment", "algos=[NEAR,PPO]", "seeds=2", f"out={out}", "smoke=True", "progress=False"]
    real_train = train_command.train_policy
    calls = []

    def killed_on_third(cfg):  # the third policy run is killed right after its first checkpoint
        calls.append(cfg.out)
        if len(calls) < 3:
            return real_train(cfg)
        from near.utils.checkpoint import Checkpointer

        save = Checkpointer.save

        def save_then_die(self, *a, **k):
            save(self, *a, **k)
            raise KeyboardInterrupt

        with monkeypatch.context() as m:
            m.setattr(Checkpointer, "save", save_then_die)
            return real_train(cfg)

    monkeypatch.setattr(train_command, "train_policy", killed_on_third)
    with pytest.raises(KeyboardInterrupt):
        main(args)
    run = lambda algo, seed: out / "maze" / algo / f"seed{seed}"
    finished = [out / "maze" / "energy" / "seed42" / "summary.json", out / "maze" / "energy" / "seed700" / "summary.json",
                run("NEAR", 42) / "summary.json", run("PPO", 42) / "summary.json"]
    assert all(p.exists() for p in finished) and not (run("NEAR", 700) / "summary.json").exists()
    stamps = _mtimes(finished)

    resumed = []
    monkeypatch.setattr(train_command, "train_policy", lambda cfg: resumed.append((cfg.out, cfg.resume)) or real_train(cfg))
    assert main(args) == 0
    assert resumed == [(str(run("NEAR", 700)), True), (str(run("PPO", 700)), False)]  # killed run continues
    assert _mtimes(finished) == stamps  # finished runs are not redone
    assert _json(run("NEAR", 700) / "summary.json")["iterations"] == 4
    report = _json(out / "report.json")
    assert report["tasks"]["maze"]["table"]["NEAR"]["seeds"] == [42, 700]
    for name in ("report.md", "report.json", "curves_maze.png"):
        assert (out / name).stat().st_size > 200
    text = capsys.readouterr().out
    assert "| NEAR | 2 |" in text and "path SPARC" in text

    # a deleted completion marker: only that run is done again (from its last checkpoint)
    os.remove(run("PPO", 42) / "summary.json")
    resumed.clear()
    assert main(args) == 0
    assert resumed == [(str(run("PPO", 42)), True)] and _mtimes(finished[:3]) == stamps[:3]

    # other settings on the same folder: refused before anything runs
    assert main(args + ["train.total_env_steps=1024"]) == 1
    assert "train.total_env_steps" in capsys.readouterr().err

    # near eval on a run of the sweep: table + eval.json with the maze's metrics
    assert main(["eval", "task=mazeNEAR", f"checkpoint={run('NEAR', 42)}", "episodes=3"]) == 0
    assert "path SPARC" in capsys.readouterr().out
    ev = _json(run("NEAR", 42) / "eval" / "eval.json")
    assert ev["episodes"] == 3 and {"success_rate", "task_return_std", "episode_length", "path_sparc"} <= set(ev)


def _hydra_job(*args, env=None):
    return subprocess.run([sys.executable, "-m", "near.commands.sweep_job", *args], check=False, capture_output=True,
                          text=True, timeout=120, env=env)


def test_shipped_slurm_launcher_config_composes():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    res = _hydra_job("--cfg", "hydra", "hydra/launcher=slurm", "jobs_file=x", "index=0",
                     "hydra.launcher.partition=gpu")
    assert res.returncode == 0, res.stderr
    assert "SlurmLauncher" in res.stdout and "partition: gpu" in res.stdout and "timeout_min: 240" in res.stdout


def test_joblib_launcher_runs_the_jobs(tmp_path, monkeypatch):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    from conftest import _CACHE

    monkeypatch.setenv("NEAR_XLA_CACHE", _CACHE)  # the job processes reuse the tests' compiled programs,
    monkeypatch.setenv("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")  # compiled as this file's (conftest)
    out = tmp_path / "jl"
    result = X.main(["algos=[PPO]", "seeds=[42,700]", f"out={out}", "smoke=True", "launcher=joblib", "jobs=2"])
    assert result["failures"] == {}
    assert result["tasks"]["maze"]["table"]["PPO"]["seeds"] == [42, 700]
    assert len(os.listdir(out / ".sweep")) == 1  # one multirun (no energy phase for PPO)


def test_humanoid_sweep_needs_a_motion_and_reports_the_expert_values(tmp_path):
    with pytest.raises(X.SweepError, match="humanoid.motion=PATH"):
        X.plan(X.Sweep(out="x", tasks=["humanoid"], algos=["NEAR", "AMP"]))
    sweep, _ = X.parse_args(["tasks=[humanoid]", "algos=[NEAR,AMP]", "seeds=2", "humanoid.motion=/m/amp_humanoid_walk.yaml",
                             f"out={tmp_path}"])
    energy, policy = X.plan(sweep)
    assert [j.name for j in energy] == ["humanoid/energy/seed42", "humanoid/energy/seed700"]
    near = next(j for j in policy if j.name == "humanoid/NEAR/seed42")
    assert near.overrides[:2] == ("task=HumanoidNEAR", "motion=/m/amp_humanoid_walk.yaml")

    # the report of finished humanoid runs: the metric columns and the expert row of the walk
    runs = {}
    for algo, values in (("NEAR", (0.40, 0.45)), ("AMP", (0.50, 0.52))):
        for seed, pose in zip((42, 700), values):
            run_dir = tmp_path / algo / str(seed)
            run_dir.mkdir(parents=True)
            (run_dir / "config.yaml").write_text("motion: /m/amp_humanoid_walk.yaml\n")
            (run_dir / "metrics.jsonl").write_text("".join(
                json.dumps({"step": s, "env_steps": s, "wall_seconds": s / 100, "episode_length": 20 + s / 10}) + "\n"
                for s in (100, 200, 300)))
            runs.setdefault(algo, []).append({"run_dir": str(run_dir), "seed": seed, "pose_error": pose, "sparc": -8.0,
                                              "root_velocity": 1.2, "root_acceleration": 5.0, "root_jerk": 190.0,
                                              "fall_rate": 0.1, "episode_length": 280.0, "env_steps": 300})
    result = X.aggregate(str(tmp_path), {"humanoid": runs})
    text = result["tasks"]["humanoid"]["table_markdown"]
    assert "| NEAR | 2 |" in text and "0.425 ± 0.025" in text and "root jerk" in text
    assert text.strip().splitlines()[-1].startswith("| expert (walk) |") and "-5.40" in text and "130" in text
    assert result["tasks"]["humanoid"]["expert"]["motion"] == "walk"
    assert X.aggregate(str(tmp_path), {"maze": runs})["tasks"]["maze"]["expert"] is None
    from near.eval.metrics import expert_values_for

    assert expert_values_for("amp_humanoid_turning_walk.yaml") is None  # not the walk's values
    assert expert_values_for("clips/amp_humanoid_mummy_walk.npy")[0] == "mummy_walk"
