"""One job of a `near experiment` sweep, as a Hydra app, so that Hydra's launchers can run the sweep.

`near experiment launcher=joblib` (parallel processes) or `launcher=slurm` (Submitit) calls
``python -m near.commands.sweep_job --multirun hydra/launcher=... jobs_file=... index=0,1,...``; each job
runs one entry of the job list with :func:`near.commands.experiment.run_job` (skip / resume / start).
"""

from __future__ import annotations

import json
import logging

import hydra

from near.utils.jax_setup import configure_jax


@hydra.main(version_base="1.3", config_path="pkg://near.conf", config_name="sweep_job")
def main(cfg) -> str:
    with open(cfg.jobs_file) as fh:
        spec = json.load(fh)["jobs"][int(cfg.index)]
    # the same settings as the `near` command that the job stands for (before JAX starts its backend)
    configure_jax("train-energy" if spec["kind"] == "energy" else "train")
    from hydra.core.global_hydra import GlobalHydra

    from near.commands.experiment import Job, run_job

    GlobalHydra.instance().clear()  # the run composes its own config (near.config.compose_config)
    logging.getLogger("absl").setLevel(logging.ERROR)  # Hydra's job logging would show Orbax's info chatter

    job = Job(**{**spec, "overrides": tuple(spec["overrides"])})
    run_job(job, progress=bool(cfg.progress))
    return job.run_dir


if __name__ == "__main__":
    main()
