"""The feet's floor contact against MuJoCo's C collision (issue #20: MJX's plane-box keeps only the corners
within 1 mm of the deepest one, so a tilted foot stood on one corner where MuJoCo put two)."""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import near.envs.humanoid.model as hm


def tilted_stance(model) -> np.ndarray:
    """qpos with the character rolled 3 degrees and lowered until its deepest foot corner is 6 mm in the floor:
    the feet's corners reach into it at depths several mm apart."""
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0
    half = np.deg2rad(3.0) / 2
    data.qpos[3:7] = [np.cos(half), np.sin(half), 0.0, 0.0]
    mujoco.mj_kinematics(model, data)
    feet = [model.geom(name).id for name in hm.CONTACT_BODIES]
    corners = [data.geom_xpos[g] + data.geom_xmat[g].reshape(3, 3) @ (model.geom_size[g] * s)
               for g in feet for s in np.array(np.meshgrid(*[[-1, 1]] * 3)).T.reshape(-1, 3)]
    data.qpos[2] -= min(c[2] for c in corners) + 0.006
    return data.qpos.copy()


def penetrating_c(model, qpos) -> int:
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    mujoco.mj_forward(model, data)
    return int(np.sum(data.contact.dist[: data.ncon] < 0))


def penetrating_mjx(model, qpos) -> int:
    mjx = hm.import_mjx()
    mjx_model, data = mjx.put_model(model), mjx.make_data(model).replace(qpos=jnp.asarray(qpos))
    # contacts only: no solve needed; one compiled program (op by op, MJX ran ~4x slower on CPU)
    data = jax.jit(lambda m, d: mjx.collision(m, mjx.kinematics(m, d)))(mjx_model, data)
    return int(jnp.sum(data._impl.contact.dist < 0))


def test_corner_contacts_find_every_foot_corner_in_the_floor_as_mujoco_does():
    box = hm.load_mj_model(hm.PhysicsConfig(floor_contacts="feet", foot_contact="box"))
    corners = hm.load_mj_model(hm.PhysicsConfig(floor_contacts="feet", foot_contact="corners"))
    qpos = tilted_stance(box)
    reference = penetrating_c(box, qpos)  # MuJoCo's C collision of the boxes
    assert reference >= 3
    assert penetrating_mjx(corners, qpos) == reference
    assert penetrating_mjx(box, qpos) < reference  # why "corners" exists: MJX's plane-box drops some


def test_corner_contacts_leave_the_body_as_it_is():
    box = hm.load_mj_model(hm.PhysicsConfig(floor_contacts="feet", foot_contact="box"))
    corners = hm.load_mj_model(hm.PhysicsConfig(floor_contacts="feet", foot_contact="corners"))
    assert corners.nq == box.nq and corners.nv == box.nv
    np.testing.assert_allclose(corners.body_mass, box.body_mass)
    np.testing.assert_allclose(corners.body_inertia, box.body_inertia)
    colliding = [g for g in range(1, corners.ngeom) if corners.geom_contype[g] or corners.geom_conaffinity[g]]
    assert len(colliding) == 8 * len(hm.CONTACT_BODIES)
    assert all(corners.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE for g in colliding)
    with pytest.raises(ValueError, match="foot_contact"):
        hm.load_mj_model(hm.PhysicsConfig(foot_contact="spheres"))


def test_foot_contact_is_a_config_key():
    import dataclasses

    from near.config import ConfigError, compose_config

    physics = compose_config(["task=HumanoidNEAR", "task.physics.foot_contact=corners"]).task.physics
    assert hm.load_mj_model(hm.PhysicsConfig(**dataclasses.asdict(physics))).ngeom == 19 + 16
    assert compose_config(["task=HumanoidNEAR"]).task.physics.foot_contact == "corners"  # shipped since 2026-12-04
    with pytest.raises(ConfigError, match="foot_contact"):
        compose_config(["task=HumanoidNEAR", "task.physics.foot_contact=balls"])


def test_evaluating_a_policy_under_other_physics_than_it_trained_with_warns():
    from near.config import compose_config
    from near.eval.policy_eval import warn_other_physics

    here = compose_config(["task=HumanoidNEAR"])
    trained = compose_config(["task=HumanoidNEAR", "task.physics.foot_contact=box", "task.physics.warp_envs=64"])
    with pytest.warns(UserWarning, match=r"pass task.physics.foot_contact=box \(or no task.physics key\)") as record:
        warn_other_physics(here, trained, "runs/x")
    assert "warp_envs" not in str(record[0].message)  # a buffer size, not physics
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_other_physics(here, compose_config(["task=HumanoidNEAR", "task.physics.warp_envs=64"]), "runs/x")
        warn_other_physics(compose_config(["task=mazeNEAR"]), compose_config(["task=mazeNEAR"]), "runs/x")


def test_a_run_saved_before_foot_contact_existed_keeps_the_box_it_trained_on():
    from near.config import compose_config, from_dict, to_dict

    saved = to_dict(compose_config(["task=HumanoidNEAR", "task.physics.foot_contact=box"]))
    assert from_dict(saved).task.physics.foot_contact == "box"
    del saved["task"]["physics"]["foot_contact"]  # as every run before 2026-12-04 recorded it
    assert from_dict(saved).task.physics.foot_contact == "box"
    assert "foot_contact" not in saved["task"]["physics"]  # the caller's record is not changed
    saved["task"]["physics"]["foot_contact"] = "corners"
    assert from_dict(saved).task.physics.foot_contact == "corners"


def _fake_policy_run(path, cfg, saved=None):
    """A run folder whose checkpoint holds only what with_run_physics reads: the metadata (its config
    record ``saved``, by default ``cfg``'s)."""
    import numpy as np

    from near.config import to_dict
    from near.utils.checkpoint import Checkpointer

    meta = {"kind": "policy", "env": cfg.task.env, "task": cfg.task.name, "obs_dim": 4, "action_dim": 2,
            "config": saved or to_dict(cfg)}
    Checkpointer(str(path / "checkpoints")).save(1, {"w": np.zeros(2)}, {"w": np.zeros(2)}, meta)
    return str(path)


def test_play_and_eval_use_the_physics_the_run_trained_with_unless_told(tmp_path):
    from near.config import compose_config
    from near.eval.policy_eval import with_run_physics

    trained = compose_config(["task=HumanoidNEAR", "task.physics.foot_contact=box", "task.physics.iterations=5"])
    run = _fake_policy_run(tmp_path, trained)
    args = ["task=HumanoidNEAR", f"checkpoint={run}", "task.physics.warp_envs=64"]
    physics = with_run_physics(compose_config(args), args).task.physics
    assert (physics.foot_contact, physics.iterations, physics.warp_envs) == ("box", 5, 64)  # warp_envs: the caller's
    told = [*args[:2], "task.physics.foot_contact=corners"]
    physics = with_run_physics(compose_config(told), told).task.physics
    assert (physics.foot_contact, physics.iterations) == ("corners", 3)  # named on the command line: as asked


def test_a_run_resumes_only_on_the_physics_it_trained_with(tmp_path):
    from near.config import ConfigError, compose_config, to_dict
    from near.restore import check_resume_physics

    trained = compose_config(["task=HumanoidNEAR", "task.physics.foot_contact=box"])
    saved = to_dict(trained)
    del saved["task"]["physics"]["foot_contact"]  # a run from before the key: it trained on the box
    run = _fake_policy_run(tmp_path, trained, saved)
    args = ["task=HumanoidNEAR", "resume=True", f"out={run}"]
    with pytest.raises(ConfigError, match=r"pass task.physics.foot_contact=box to resume it"):
        check_resume_physics(compose_config(args), run)  # today's default, the corners
    check_resume_physics(compose_config([*args, "task.physics.foot_contact=box", "task.physics.warp_envs=8"]), run)


def test_a_run_resumes_only_on_the_task_reward_it_trained_with(tmp_path):
    """HumanoidNEAR pays forward progress at the clips' speed since 2026-12-06: a run saved before the key (the
    original's 15 m/s scale) does not resume under today's default, and the error names what it trained with."""
    from near.config import ConfigError, compose_config, to_dict
    from near.restore import check_resume_physics

    trained = compose_config(["task=HumanoidNEAR", "task.dist_at_clip_speed=false"])
    saved = to_dict(trained)
    del saved["task"]["dist_at_clip_speed"]  # a run from before the key
    run = _fake_policy_run(tmp_path, trained, saved)
    args = ["task=HumanoidNEAR", "resume=True", f"out={run}"]
    with pytest.raises(ConfigError, match=r"pass task.dist_at_clip_speed=False to resume it"):
        check_resume_physics(compose_config(args), run)
    with pytest.raises(ConfigError, match=r"task.dist_full_speed=0.0"):
        check_resume_physics(compose_config([*args, "task.dist_at_clip_speed=false", "task.dist_full_speed=1.3"]), run)
    check_resume_physics(compose_config([*args, "task.dist_at_clip_speed=false"]), run)
