"""The report of a sweep (near.eval.report.aggregate) and `near compare`, the experiment's alias."""

import json

import numpy as np

from near.cli import main
from near.eval.report import aggregate, mean_std_curve


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
        fh.writelines(json.dumps({"step": i, "env_steps": 1000 * (i + 1), "wall_seconds": i + 1.0, "success_rate": v,
                                  "episode_return": 10 * v, "episode_length": 100}) + "\n" for i, v in enumerate(curve))
    summary = {"run_dir": str(run), "seed": seed, "success_rate": success, "episode_length": 100.0,
               "task_return": 5.0, "wall_seconds": 3.0, "env_steps": 3000, "path_sparc": -2.0 + success}
    return summary


def test_aggregate_writes_table_and_plot(tmp_path):
    runs = {"maze": {
        "NEAR": [_fake_run(tmp_path, "mazeNEAR", s, x, [0, x, x]) for s, x in ((42, 1.0), (700, 0.5))],
        "CEM": [{"run_dir": str(tmp_path), "seed": 42, "success_rate": 0.25, "episode_length": 300.0,
                 "task_return": 1.0, "wall_seconds": 9.0, "env_steps": 5000}]}}
    result = aggregate(str(tmp_path), runs, {"maze/AMP/seed42": "NonFiniteError: loss"})
    table = result["tasks"]["maze"]["table"]
    assert table["NEAR"]["success_rate"]["mean"] == 0.75
    assert table["NEAR"]["success_rate"]["std"] == 0.25
    assert table["CEM"]["path_sparc"]["mean"] is None  # a number a run lacks is n/a, not 0
    text = result["tasks"]["maze"]["table_markdown"]
    assert "| NEAR | 2 | 0.75 ± 0.25 | -1.25 ± 0.25 |" in text
    assert "| CEM | 1 | 0.25 ± 0.00 | n/a |" in text
    for name in ("curves_maze.png", "report.md", "report.json"):
        assert (tmp_path / name).stat().st_size > 200
    report = (tmp_path / "report.md").read_text()
    assert "maze/AMP/seed42: NonFiniteError" in report and "CPUs" in report


def _json(path):
    with open(path) as fh:
        return json.load(fh)


def test_compare_is_the_experiment_with_three_seeds_by_default(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "algos=[PPO]", "seeds=1", f"out={out}", "smoke=True", "progress=False"]) == 0
    assert (out / "maze" / "PPO" / "seed42" / "summary.json").exists()
    assert "| PPO | 1 |" in capsys.readouterr().out
    assert _json(out / "report.json")["tasks"]["maze"]["table"]["PPO"]["seeds"] == [42]
    assert main(["compare", "algos=[NEAR,SAC]", f"out={out}"]) == 1
    assert "no 'SAC' task" in capsys.readouterr().err
