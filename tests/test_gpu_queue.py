"""benchmarks/gpu_queue.sh in its dry run (DRY_RUN=1: prints what a device call would run): the items of
the queue, in order on one GPU, and dealt out to one lane per GPU on a machine with several."""

import os
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
QUEUE = REPO / "benchmarks" / "gpu_queue.sh"
pytestmark = pytest.mark.skipif(not QUEUE.exists() or shutil.which("bash") is None, reason="needs the source tree and bash")


def dry_run(tmp_path, gpus: int, *items: str, env_extra=None, deadline: int = 585) -> str:
    outer = {k: v for k, v in os.environ.items() if k not in ("NEED_S", "ENERGY_BESIDE")}  # a user's own would change them
    env = {**outer, "DRY_RUN": "1", "GPUS": str(gpus), "R": str(tmp_path / "runs"), "OUT": str(tmp_path / "out"),
           **(env_extra or {})}
    done = subprocess.run(["bash", str(QUEUE), str(deadline), *items], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout + "".join(p.read_text() for p in sorted((tmp_path / "out").glob("*.log")))


def test_one_gpu_trains_the_items_one_after_another(tmp_path):
    out = dry_run(tmp_path, 1, "punch:NEAR", "run:AMP:700")
    assert "lane" not in out
    first, second = out.index("amp_humanoid_single_left_punch.yaml"), out.index("task=HumanoidAMP")
    assert first < second and "seed=700" in out[second:]


def test_a_call_s_last_minutes_start_a_training_only_when_need_s_allows(tmp_path):
    """A training needs 300 s of the call by default; NEED_S=200 starts one in a call's last 250 s (a Warp run
    takes ~200 s), cut at the call's end and resumed by the next."""
    assert "run_AMP_42: left for the next call" in dry_run(tmp_path / "a", 1, "run:AMP", deadline=250)
    out = dry_run(tmp_path / "b", 1, "run:AMP", deadline=250, env_extra={"NEED_S": "200"})
    assert "left for the next call" not in out and "task=HumanoidAMP" in out


def test_energy_beside_trains_an_energy_model_in_the_background_for_a_later_near_item(tmp_path):
    """On one GPU an ENERGY item starts its energy model in the background and the queue goes on to the next
    training; the NEAR item that needs the model waits for it and does not train it again."""
    out = dry_run(tmp_path, 1, "run:ENERGY:700", "crane_pose:AMP", "run:NEAR:700")
    assert "energy_run_700: training beside the queue's next items" in out
    assert out.count("near.cli train-energy") == 1
    near = next(line for line in out.splitlines() if "task=HumanoidNEAR" in line and " train " in line)
    assert "energy.checkpoint=" + str(tmp_path / "runs" / "energy_run_700") in near
    # ENERGY_BESIDE=0 trains it in the foreground, as before
    assert "training beside" not in dry_run(tmp_path / "plain", 1, "run:ENERGY:700", "crane_pose:AMP",
                                            env_extra={"ENERGY_BESIDE": "0"})


def test_motion_dir_reads_the_sets_from_another_folder(tmp_path):
    out = dry_run(tmp_path, 1, "punch:NEAR", env_extra={"MOTION_DIR": ".motion_light"})
    assert "motion=" + str(REPO / ".motion_light" / "amp_humanoid_single_left_punch.yaml") in out


def test_two_gpus_deal_the_items_to_two_lanes_and_share_an_energy_model(tmp_path):
    out = dry_run(tmp_path, 2, "punch:NEAR", "spin_kick:NEAR", "punch:NEAR/punch_std20", "run:AMP",
                  env_extra={"OVERRIDES_punch_std20": "train.log_std_init=-2.0"})
    assert "lane 0 (GPU 0): punch:NEAR punch:NEAR/punch_std20" in out
    assert "lane 1 (GPU 1): spin_kick:NEAR run:AMP" in out
    lane0 = out[out.index("--- lane 0"):out.index("--- lane 1")]
    assert "out=" + str(tmp_path / "runs" / "punch_std20") in lane0 and "train.log_std_init=-2.0" in lane0
    assert "spin_kick" not in lane0
    # both punch items use the one energy model; the bundle names every folder once
    bundle = next(line for line in out.splitlines() if line.startswith("bundle "))
    assert bundle.split()[2:] == sorted(set(bundle.split()[2:]))
    assert {"energy_single_left_punch_42", "energy_spin_kick_42", "punch_std20", "run_AMP_42"} <= set(bundle.split())


def test_more_gpus_than_items_use_one_lane_per_item(tmp_path):
    out = dry_run(tmp_path, 8, "punch:NEAR", "run:AMP")
    assert "lane 1 (GPU 1): run:AMP" in out and "lane 2" not in out


def test_min_rank_skips_a_policy_on_an_energy_model_that_lost_the_clips(tmp_path):
    energy = tmp_path / "runs" / "energy_crane_pose_42"
    energy.mkdir(parents=True)
    (energy / "summary.json").write_text('{"rank_accuracy/level_0": 0.77, "rank_accuracy/level_49": 0.95}')
    out = dry_run(tmp_path, 1, "crane_pose:NEAR", "run:AMP", env_extra={"MIN_RANK": "0.9"})
    assert "crane_pose_NEAR_42: skipped" in out and "0.77" in out
    assert "task=HumanoidNEAR" not in out and "task=HumanoidAMP" in out  # the queue goes on
    kept = dry_run(tmp_path, 1, "crane_pose:NEAR", env_extra={"MIN_RANK": "0.7"})
    assert "skipped" not in kept and "task=HumanoidNEAR" in kept


def test_a_near_item_without_the_final_elu_under_the_multiplicative_rule_is_refused_before_its_energy_model(tmp_path):
    items = ("crane_pose:NEAR/crane_trap", "crane_pose:NEAR/crane_additive", "run:AMP")
    out = dry_run(tmp_path, 1, *items, env_extra={
        "OVERRIDES_crane_trap": "energy.output_activation=none",
        "OVERRIDES_crane_additive": "energy.output_activation=none reward.anneal_rule=additive"})
    assert "crane_trap: skipped" in out and "reward.anneal_rule=additive" in out
    assert "out=" + str(tmp_path / "runs" / "crane_trap") not in out  # neither its policy ...
    assert "out=" + str(tmp_path / "runs" / "crane_additive") in out and "task=HumanoidAMP" in out  # ... the rest go on
    assert out.count("train-energy") == 1  # ... nor an energy model of its own before the additive item's


def test_inspections_wait_until_no_training_can_use_the_call(tmp_path):
    out = dry_run(tmp_path, 1, "mummy_walk:NEAR", "spin_kick:NEAR")
    logs = {p.name: p.read_text() for p in (tmp_path / "out").glob("*.log")}
    assert "inspect_energy_posture.py" in logs["inspect_mummy_walk_NEAR_42.log"]
    assert "inspect_energy_gait.py" in logs["gait_mummy_walk_NEAR_42.log"]
    assert "gait_spin_kick_NEAR_42.log" not in logs  # the gait's inspection is for walks only
    # both trainings first, then the inspections
    assert out.index("spin_kick_NEAR_42: training ended") < out.index("mummy_walk_NEAR_42: inspecting")
    assert not list((tmp_path / "runs").glob(".inspections_pending*"))  # all done: nothing left over
    assert "task=HumanoidNEAR" in out


def test_inspections_without_the_time_are_left_to_the_next_call(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    energy, policy = runs / "energy_run_42", runs / "run_NEAR_42"
    pending = runs / ".inspections_pending.0"
    pending.write_text(f"run_NEAR_42\t{energy}\t/x/amp_humanoid_run.yaml\t{policy}\trun\n")
    env = {**os.environ, "DRY_RUN": "1", "GPUS": "1", "R": str(runs), "OUT": str(tmp_path / "out")}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    short = subprocess.run(["bash", str(QUEUE), "120"], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert short.returncode == 0, short.stderr
    assert "inspections left for the next call: 1" in short.stdout and pending.exists()
    long = subprocess.run(["bash", str(QUEUE), "585"], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert long.returncode == 0, long.stderr
    assert not pending.exists()
    assert str(policy) in (tmp_path / "out" / "inspect_run_NEAR_42.log").read_text()


def test_a_humanoid_item_waits_for_warp_lang_unless_mjx_is_asked_for(tmp_path):
    """The shipped GPU physics is MuJoCo Warp (task.physics.impl=auto): on a machine without warp-lang's parts a
    humanoid training would quietly run on MJX, so the queue says so (and, outside the dry run, stops there);
    task.physics.impl=jax or ALLOW_MJX=1 lets it go on; push-T needs no physics."""
    missing = {"WARP_SITE": str(tmp_path / "no_warp_site")}
    out = dry_run(tmp_path, 1, "run:AMP", "pusht:PPO", env_extra=missing)
    assert "run_AMP_42: not started, no warp-lang on this machine" in out and "pusht_PPO_42: not started" not in out
    out = dry_run(tmp_path, 1, "run:AMP/run_mjx", env_extra={**missing, "OVERRIDES_run_mjx": "task.physics.impl=jax"})
    assert "not started" not in out and "task.physics.impl=jax" in out
    assert "not started" not in dry_run(tmp_path, 1, "run:AMP", env_extra={**missing, "ALLOW_MJX": "1"})
    (tmp_path / "warp_site").mkdir()
    assert "not started" not in dry_run(tmp_path, 1, "run:AMP", env_extra={"WARP_SITE": str(tmp_path / "warp_site")})


def test_warp_parts_collect_keeps_a_carried_kernel_pack_for_the_lease(tmp_path):
    """The lease recipe carries .warp_kernels beside a warp-lang part: `collect` unpacks it into runs/device/warp_kernels
    (which _device_setup.sh names as WARP_CACHE_PATH in later calls), and keeps the part, waiting for the others."""
    import tarfile

    script = REPO / "benchmarks" / "gpu_warp_parts.sh"
    (tmp_path / ".warp").mkdir()
    (tmp_path / ".warp" / "part00").write_bytes(b"first part")
    (tmp_path / ".warp" / "COUNT").write_text("2")
    kernel = tmp_path / "wp_smooth_1490cf8.sm90.cubin"
    kernel.write_bytes(b"\0cubin")
    (tmp_path / ".warp_kernels").mkdir()
    with tarfile.open(tmp_path / ".warp_kernels" / "kernels.tar.xz", "w:xz") as tar:
        tar.add(kernel, arcname="1.19.0/wp_smooth_1490cf8/wp_smooth_1490cf8.sm90.cubin")
    out = subprocess.run(["bash", script, "collect"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "warp-lang parts on this machine: 1 of 2" in out.stdout
    unpacked = tmp_path / "runs/device/warp_kernels/1.19.0/wp_smooth_1490cf8/wp_smooth_1490cf8.sm90.cubin"
    assert unpacked.read_bytes() == b"\0cubin"
    assert (tmp_path / "runs/device/warp/part00").read_bytes() == b"first part"
    assert not (tmp_path / "runs/device/warp_site").exists()  # not every part is here yet


def test_energy_checkpoint_crosses_a_policy_s_seed_with_another_seed_s_energy_model(tmp_path):
    """OVERRIDES_NAME="energy.checkpoint=energy_run_42" trains seed 8125's policy on the model that the queue's
    run:ENERGY:42 item trains; no model of seed 8125 is trained for it, and the name is not passed on twice."""
    out = dry_run(tmp_path, 1, "run:ENERGY:42", "run:NEAR:8125/cross",
                  env_extra={"OVERRIDES_cross": "energy.checkpoint=energy_run_42 train.log_std_init=-2.9"})
    assert out.count("near.cli train-energy") == 1 and "seed=42" in out.split("train-energy")[1].splitlines()[0]
    near = next(line for line in out.splitlines() if "task=HumanoidNEAR" in line and " train " in line)
    assert "seed=8125" in near and "train.log_std_init=-2.9" in near
    assert near.count("energy.checkpoint=") == 1 and "energy.checkpoint=" + str(tmp_path / "runs" / "energy_run_42") in near
    # a named model that is neither trained nor queued before skips the item, not a model with the policy's seed
    alone = dry_run(tmp_path / "alone", 1, "run:NEAR:8125/cross", "run:AMP", env_extra={"OVERRIDES_cross": "energy.checkpoint=energy_run_42"})
    assert "cross: skipped, its energy model energy_run_42 is not trained" in alone
    assert "train-energy" not in alone and "task=HumanoidAMP" in alone


BUNDLE = REPO / "benchmarks" / "_bundle.sh"


def _bundle(tmp_path, script: str, reply_bytes: int, **env) -> str:
    """Runs `script` with benchmarks/_bundle.sh sourced, R and OUT in tmp_path, a reply capped at reply_bytes."""
    env = {**os.environ, "R": str(tmp_path / "runs"), "OUT": str(tmp_path / "out"), "REPLY_BYTES": str(reply_bytes), **env}
    (tmp_path / "out").mkdir(exist_ok=True)
    done = subprocess.run(["bash", "-c", f'set -u; . "{BUNDLE}"; {script}'], check=False, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_energy_weights_without_room_in_a_reply_come_back_with_a_later_call_s(tmp_path):
    """BUNDLE_ENERGY=1 with a reply too small for the weights: the run folders come back without them and the
    model waits in .weights_pending; a later call with room brings its last checkpoint's weights alone."""
    runs, out = tmp_path / "runs", tmp_path / "out"
    for step in ("100", "200"):
        for item in ("model", "train"):
            (runs / "energy_run_42" / "checkpoints" / step / item).mkdir(parents=True)
            (runs / "energy_run_42" / "checkpoints" / step / item / "data").write_bytes(os.urandom(300_000))
    (runs / "energy_run_42" / "summary.json").write_text("{}")
    (runs / "run_NEAR_42").mkdir()
    (runs / "run_NEAR_42" / "summary.json").write_text("{}")

    def listing(archive: str) -> str:
        return subprocess.run(["bash", "-c", f"cat {out}/{archive}.tgz.part* | tar tz"], capture_output=True, text=True).stdout

    said = _bundle(tmp_path, "bundle queue energy_run_42 run_NEAR_42", 200_000, BUNDLE_ENERGY="1")
    assert "without the energy models' weights" in said
    names = listing("queue")
    assert "run_NEAR_42/summary.json" in names and "energy_run_42/summary.json" in names and "checkpoints" not in names
    assert (runs / ".weights_pending").read_text().split() == ["energy_run_42"]
    # a later call whose reply is too small keeps them waiting; one with room brings the last step's model alone
    shutil.rmtree(out)
    assert "wait for a later call" in _bundle(tmp_path, "bundle_pending_weights", 200_000)
    assert not list(out.iterdir())
    said = _bundle(tmp_path, "bundle_pending_weights", 10_000_000)
    assert "energy_run_42: its weights in weights_energy_run_42.tgz" in said
    names = listing("weights_energy_run_42")
    assert "energy_run_42/checkpoints/200/model/data" in names
    assert "checkpoints/100" not in names and "/train" not in names
    assert not (runs / ".weights_pending").exists()
