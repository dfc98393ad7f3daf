"""near compare: aggregation across seeds, the report files, and resuming a finished sweep."""

import json
import os

import numpy as np

from near.cli import main
from near.eval.compare import aggregate, mean_std_curve


def test_mean_std_curve_interpolates_on_the_common_range():
    a = (np.array([0.0, 10.0, 20.0]), np.array([0.0, 1.0, 2.0]))
    b = (np.array([5.0, 15.0, 30.0]), np.array([1.0, 1.0, 1.0]))
    grid, mean, std = mean_std_curve([a, b], points=4)
    np.testing.assert_allclose(grid, [5.0, 10.0, 15.0, 20.0])
    np.testing.assert_allclose(mean, [(0.5 + 1) / 2, 1.0, (1.5 + 1) / 2, 1.5])
    np.testing.assert_allclose(std, [0.25, 0.0, 0.25, 0.5])


def _fake_run(tmp_path, name, seed, success, curve):
    run = tmp_path / name / f"seed{seed}"
    run.mkdir(parents=True)
    with open(run / "metrics.jsonl", "w") as fh:
        for i, v in enumerate(curve):
            fh.write(json.dumps({"step": i, "env_steps": 1000 * (i + 1), "wall_seconds": i + 1.0,
                                 "success_rate": v, "episode_return": 10 * v, "episode_length": 100}) + "\n")
    summary = {"run_dir": str(run), "seed": seed, "success_rate": success, "episode_length": 100.0,
               "task_return": 5.0, "wall_seconds": 3.0, "env_steps": 3000}
    return summary


def test_aggregate_writes_table_and_plot(tmp_path):
    runs = {"NEAR": [_fake_run(tmp_path, "mazeNEAR", s, x, [0, x, x]) for s, x in ((42, 1.0), (700, 0.5))],
            "CEM": [{"run_dir": str(tmp_path), "seed": 42, "success_rate": 0.25, "episode_length": 300.0,
                     "task_return": 1.0, "wall_seconds": 9.0, "env_steps": 5000}]}
    result = aggregate(str(tmp_path), "maze", runs)
    assert result["table"]["NEAR"]["success_rate"]["mean"] == 0.75
    assert result["table"]["NEAR"]["success_rate"]["std"] == 0.25
    assert "| NEAR | 2 | 0.75 ± 0.25 |" in result["table_markdown"]
    for name in ("comparison.png", "comparison.md", "comparison.json"):
        assert (tmp_path / name).stat().st_size > 200


def test_compare_smoke_runs_and_resumes_without_redoing(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "algos=[NEAR,PPO]", "seeds=1", f"out={out}", "smoke=True", "progress=False"]
    assert main(args) == 0
    summaries = [out / "energy" / "seed42" / "summary.json", out / "mazeNEAR" / "seed42" / "summary.json",
                 out / "maze" / "seed42" / "summary.json"]
    stamps = [os.path.getmtime(p) for p in summaries]
    assert "| NEAR | 1 |" in capsys.readouterr().out
    # an interrupted run (no summary.json) is redone, finished ones are kept
    os.remove(out / "maze" / "seed42" / "summary.json")
    assert main(args) == 0
    assert [os.path.getmtime(p) for p in summaries[:2]] == stamps[:2]
    assert (out / "maze" / "seed42" / "summary.json").exists()
    assert json.load(open(out / "comparison.json"))["table"]["PPO"]["seeds"] == [42]
    assert main(["compare", "algos=[NEAR,SAC]", f"out={out}"]) == 1
    assert "no 'SAC' task" in capsys.readouterr().err
