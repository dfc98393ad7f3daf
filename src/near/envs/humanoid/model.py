"""The AMP humanoid's MuJoCo model, its joint layout and its PD controller.

The MJCF (``assets/amp_humanoid.xml``) is written from the spec's numbers; its header comment says
why three-axis joints are ball joints and why only floor contacts exist. This module reads the
model once (host side), derives every index the environment needs, and provides the pure functions
that map between MuJoCo's ``qpos``/``qvel`` and the original's 28-number DOF vector:

* DOF positions (28): for each ball joint the exp map (axis * angle) of its local rotation, for the
  elbows and knees the hinge angle -- the original's Isaac Gym convention.
* DOF velocities (28): ball joints' child-frame angular velocity, hinge rates. This is MuJoCo's
  ``qvel[6:]`` as it is, and what the motion data store.

Physics settings (timestep, substeps per action, solver) are options of :class:`PhysicsConfig`;
benchmarks/bench_humanoid_physics.py measures their speed and stability.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np

from near.utils import rotations as rot

ASSET = os.path.join(os.path.dirname(__file__), "assets", "amp_humanoid.xml")
NUM_DOF = 28
NUM_BODIES = 15  # MuJoCo body ids 1..15; motion-data body index = MuJoCo id - 1
KEY_BODIES = ("right_hand", "left_hand", "right_foot", "left_foot")
CONTACT_BODIES = ("right_foot", "left_foot")


@dataclasses.dataclass(frozen=True)
class PhysicsConfig:
    """How one 30 Hz control step is simulated."""

    timestep: float = 0.00555  # s; 6 substeps = 0.0333 s per action, the original's control period
    substeps: int = 6
    solver: str = "Newton"  # Newton | CG
    iterations: int = 3
    ls_iterations: int = 6
    # "all": every body collides with the floor. "feet": only the feet do: 1.55x faster at 16k envs
    # on an H100 (benchmarks/results/humanoid_physics_gpu_feet.json) and equivalent while early
    # termination ends an episode as soon as another body reaches the floor (the fall test is
    # geometric, see bodies_touching_floor); without it a fallen body would sink through the floor.
    # "auto": feet with early termination, all without (the environment decides).
    floor_contacts: str = "auto"
    # "none": the PD law is not clipped, as Isaac Gym's position drives (no effort limit is set by the
    # original). "gear": the spring part is clipped at the MJCF motor gears (20-125 N m), our earlier
    # default. With the damping unclipped, "gear" caps each joint's speed at gear / kd (knees 3.3 rad/s,
    # ankles 2.5) and makes most frames of the clips unreachable: benchmarks/inspect_torques.py.
    torque_limit: str = "none"
    # MuJoCo's soft friction lets a loaded foot creep; under the policies' fast PD loading their feet
    # slide at a median 0.3 m/s while touching the floor (docs/humanoid_moving_like_the_clips.md, item 11). impratio > 1 makes
    # friction stiffer than the normal contact; MuJoCo's documentation advises it with elliptic cones and
    # not with pyramidal ones. Defaults: MuJoCo's.
    cone: str = "pyramidal"
    impratio: float = 1.0
    # "jax": MJX's XLA implementation, CPU and GPU (the default here). "warp": MuJoCo Warp through MJX
    # (`pip install warp-lang`): a converged contact solve, 2.6x MJX's training rate on a GPU (issue #20);
    # on a CPU it runs, slowly. "auto": warp on a GPU where warp-lang is installed, else jax (resolve_impl).
    impl: str = "jax"
    # impl="warp": MuJoCo Warp keeps one contact buffer for all the envs a program steps, sized when the
    # env is built (JAX's vmap does not tell it the batch). Too small, and contacts are dropped: feet
    # sink through the floor (2026-12-04, one H200: 48 slots for 16,384 envs raised the fall rate by 40 %,
    # and the 4x speed it showed was not comparable). The env allocates this many envs' worth: at least
    # the largest vmapped batch.
    warp_envs: int = 4096
    # How a foot box meets the floor. "box": the box itself; MJX's plane-box collision keeps only the corners
    # within 1 mm of the deepest one, so a tilted foot stands on one corner where MuJoCo's C collision (and
    # MuJoCo Warp) put a contact at every corner in the floor (benchmarks/inspect_contact_solve.py: 30 % fewer
    # contacts). "corners" (shipped since 2026-12-04; every run before trained on "box"): zero-mass spheres
    # of FOOT_CORNER_RADIUS at the box's 8 corners meet the floor instead of the box; MJX's sphere-plane
    # collision is exact, so every corner in the floor touches it, as in MuJoCo C.
    foot_contact: str = "corners"

    @property
    def control_dt(self) -> float:
        return self.timestep * self.substeps


def import_mjx():
    """mujoco.mjx, imported without the line it prints on stdout when the optional `warp` back end
    is missing (we use MJX's JAX back end). Also works around a jaxlib 0.10 deadlock of batched
    Cholesky factorisations on CPUs (MJX's Newton solver; near.utils.cpu_lapack)."""
    import contextlib
    import io

    from near.utils import cpu_lapack

    cpu_lapack.install()
    with contextlib.redirect_stdout(io.StringIO()):
        from mujoco import mjx
    return mjx


TORQUE_LIMITS = ("none", "gear")
PHYSICS_CHOICES = {"solver": ("Newton", "CG"), "cone": ("pyramidal", "elliptic"), "impl": ("jax", "warp", "auto"),
                   "foot_contact": ("box", "corners"),
                   "floor_contacts": ("all", "feet", "auto"), "torque_limit": TORQUE_LIMITS}


def check_physics(physics) -> None:
    """ValueError naming the first unusable setting of a PhysicsConfig (or the CLI's PhysicsOptions)."""
    for name, allowed in PHYSICS_CHOICES.items():
        if getattr(physics, name) not in allowed:
            raise ValueError(f"physics.{name} must be one of {allowed}, got {getattr(physics, name)!r}")
    if physics.warp_envs < 0:
        raise ValueError(f"physics.warp_envs must be >= 0, got {physics.warp_envs!r}")
    if not physics.impratio >= 1.0:
        raise ValueError(f"physics.impratio must be >= 1, got {physics.impratio!r}")
    if physics.impl == "warp":
        import importlib.util

        if importlib.util.find_spec("warp") is None:
            raise ValueError("physics.impl=warp needs MuJoCo Warp's runtime: pip install warp-lang")


def resolve_impl(impl: str) -> str:
    """The physics implementation "auto" stands for: MuJoCo Warp on a GPU where warp-lang is installed (its
    converged contact solve lets the walks step at the clips' cadence, where MJX's 3 Newton iterations make
    them step twice as fast; docs/humanoid_moving_like_the_clips.md items 72-73), else MJX's JAX back end
    (the CPU's: Warp runs there, but slowly)."""
    if impl != "auto":
        return impl
    import importlib.util

    import jax

    return "warp" if jax.default_backend() == "gpu" and importlib.util.find_spec("warp") is not None else "jax"


def quiet_warp() -> None:
    """Warp logs its banner and a line per kernel module it loads or compiles (37 for the humanoid) at level INFO;
    keep warnings only, unless NEAR_WARP_LOG=info asks for them (benchmarks/warp_kernel_cache.py --compare reads
    the module lines of a device log). An older warp-lang without log levels has config.quiet instead."""
    import os

    import warp

    if os.environ.get("NEAR_WARP_LOG", "").lower() == "info":
        return
    if hasattr(warp, "LOG_WARNING"):
        warp.config.log_level = max(warp.config.log_level, warp.LOG_WARNING)
    else:
        warp.config.quiet = True


def warp_contact_slots(mj_model, num_envs: int) -> int:
    """MuJoCo Warp's contact buffer for `num_envs` envs stepped by one program (it is shared by all of
    them): as many contacts per env as MJX's JAX implementation allocates for the model (16 with
    feet-only floor contacts, 42 with every body; with foot_contact=box 8 and 34). MJX's own default, 48 in all, drops contacts beyond
    the first few envs."""
    per_env = import_mjx().make_data(mj_model, impl="jax")._impl.contact.dist.shape[0]
    return max(1, per_env) * max(1, num_envs)


FOOT_CORNER_RADIUS = 0.001  # m; the corner spheres sit inside the box, touching its faces


def _with_foot_corners():
    """The model with each foot box's floor contact made by 8 zero-mass spheres at its corners."""
    import itertools

    import mujoco

    spec = mujoco.MjSpec.from_file(ASSET)
    r = FOOT_CORNER_RADIUS
    for name in CONTACT_BODIES:
        box = spec.geom(name)
        for signs in itertools.product((-1.0, 1.0), repeat=3):
            corner = np.asarray(box.pos) + (np.asarray(box.size) - r) * np.asarray(signs)
            spec.body(name).add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[r, 0, 0], pos=corner, density=0.0,
                                     contype=box.contype, conaffinity=box.conaffinity, condim=box.condim,
                                     friction=box.friction, solref=box.solref, solimp=box.solimp,
                                     group=3, rgba=[0, 0, 0, 0])
        box.contype, box.conaffinity = 0, 0  # the corners touch the floor instead
    return spec.compile()


def load_mj_model(physics: PhysicsConfig = PhysicsConfig()):
    """The CPU MuJoCo model with the physics settings applied."""
    import mujoco

    check_physics(physics)
    if physics.foot_contact == "corners":
        model = _with_foot_corners()
    else:
        model = mujoco.MjModel.from_xml_path(ASSET)
    model.opt.timestep = physics.timestep
    model.opt.solver = {"Newton": mujoco.mjtSolver.mjSOL_NEWTON, "CG": mujoco.mjtSolver.mjSOL_CG}[physics.solver]
    model.opt.iterations = physics.iterations
    model.opt.ls_iterations = physics.ls_iterations
    model.opt.cone = {"pyramidal": mujoco.mjtCone.mjCONE_PYRAMIDAL, "elliptic": mujoco.mjtCone.mjCONE_ELLIPTIC}[physics.cone]
    model.opt.impratio = physics.impratio
    if physics.floor_contacts == "feet":
        feet = {model.body(name).id for name in CONTACT_BODIES}
        for g in range(1, model.ngeom):
            if model.geom_bodyid[g] not in feet:
                model.geom_contype[g] = 0  # MJX drops these geom pairs from collision detection at trace time
    return model


@dataclasses.dataclass(frozen=True)
class Layout:
    """Index maps of the model (NumPy, static under jit)."""

    ball_body: np.ndarray  # (8,) motion body index of each ball joint's child body
    ball_qpos: np.ndarray  # (8, 4) qpos indices of each ball joint's quaternion
    ball_dof: np.ndarray  # (8, 3) positions in the 28-DOF vector
    hinge_body: np.ndarray  # (4,)
    hinge_qpos: np.ndarray  # (4,)
    hinge_dof: np.ndarray  # (4,)
    hinge_range: np.ndarray  # (4, 2) rad
    kp: np.ndarray  # (28,)
    torque_limit: np.ndarray  # (28,)
    key_bodies: np.ndarray  # (4,) MuJoCo body ids
    fall_bodies: np.ndarray  # (13,) MuJoCo body ids that must not touch the floor
    geom_body: np.ndarray  # (ngeom - 1,) MuJoCo body id of each non-floor geom
    geom_type: np.ndarray  # (ngeom - 1,) mjtGeom
    geom_size: np.ndarray  # (ngeom - 1, 3)


def make_layout(model, torque_limit: str = "gear") -> Layout:
    """Index maps of the model; ``torque_limit="none"`` makes the PD torque unclipped (see PhysicsConfig)."""
    import mujoco

    if torque_limit not in TORQUE_LIMITS:
        raise ValueError(f"physics.torque_limit must be one of {TORQUE_LIMITS}, got {torque_limit!r}")
    ball_body, ball_qpos, ball_dof, hinge_body, hinge_qpos, hinge_dof, hinge_range = ([] for _ in range(7))
    kp = np.zeros(NUM_DOF)
    limit = np.zeros(NUM_DOF)
    for j in range(1, model.njnt):  # joint 0 is the root's free joint
        qadr, dadr = int(model.jnt_qposadr[j]), int(model.jnt_dofadr[j]) - 6
        body = int(model.jnt_bodyid[j]) - 1
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_BALL:
            ball_body.append(body)
            ball_qpos.append(range(qadr, qadr + 4))
            ball_dof.append(range(dadr, dadr + 3))
            width = 3
        elif model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE:
            hinge_body.append(body)
            hinge_qpos.append(qadr)
            hinge_dof.append(dadr)
            hinge_range.append(model.jnt_range[j])
            width = 1
        else:
            raise ValueError(f"{ASSET}: unexpected joint type for joint {model.joint(j).name!r}")
        kp[dadr : dadr + width] = model.jnt_user[j, 0]
        limit[dadr : dadr + width] = model.jnt_user[j, 1]
    body_id = {model.body(i).name: i for i in range(model.nbody)}
    feet = [body_id[n] for n in CONTACT_BODIES]
    geoms = np.arange(1, model.ngeom)  # geom 0 is the floor
    return Layout(
        ball_body=np.array(ball_body),
        ball_qpos=np.array([list(r) for r in ball_qpos]),
        ball_dof=np.array([list(r) for r in ball_dof]),
        hinge_body=np.array(hinge_body),
        hinge_qpos=np.array(hinge_qpos),
        hinge_dof=np.array(hinge_dof),
        hinge_range=np.array(hinge_range),
        kp=kp.astype(np.float32),
        torque_limit=(limit if torque_limit == "gear" else np.full(NUM_DOF, np.inf)).astype(np.float32),
        key_bodies=np.array([body_id[n] for n in KEY_BODIES]),
        fall_bodies=np.array([b for b in range(1, model.nbody) if b not in feet]),
        geom_body=model.geom_bodyid[geoms].astype(np.int32),
        geom_type=model.geom_type[geoms].astype(np.int32),
        geom_size=model.geom_size[geoms].astype(np.float32),
    )


# ----------------------------------------------------------------------------- DOF conversions


def dof_pos_from_qpos(layout: Layout, qpos: jax.Array) -> jax.Array:
    """The 28 DOF positions (exp maps of ball joints, hinge angles) of a qpos."""
    dof = jnp.zeros(qpos.shape[:-1] + (NUM_DOF,), qpos.dtype)
    dof = dof.at[..., layout.ball_dof].set(rot.to_exp_map(qpos[..., layout.ball_qpos]))
    return dof.at[..., layout.hinge_dof].set(qpos[..., layout.hinge_qpos])


def qpos_from_pose(layout: Layout, root_pos, root_rot, dof_pos) -> jax.Array:
    """qpos of a pose given as root position, root quaternion (wxyz) and 28 DOF positions."""
    lead = root_pos.shape[:-1]
    qpos = jnp.zeros(lead + (7 + 4 * len(layout.ball_body) + len(layout.hinge_body),), root_pos.dtype)
    qpos = qpos.at[..., 0:3].set(root_pos).at[..., 3:7].set(rot.normalize(root_rot))
    qpos = qpos.at[..., layout.ball_qpos].set(rot.from_exp_map(dof_pos[..., layout.ball_dof]))
    return qpos.at[..., layout.hinge_qpos].set(dof_pos[..., layout.hinge_dof])


def qvel_from_velocities(root_rot, root_vel, root_ang_vel_world, dof_vel) -> jax.Array:
    """qvel from world-frame root velocities and the 28 DOF velocities.

    MuJoCo's free joint takes the linear velocity of the body origin in the world frame and the
    angular velocity in the body frame.
    """
    ang_local = rot.rotate_inverse(root_rot, root_ang_vel_world)
    return jnp.concatenate([root_vel, ang_local, dof_vel], axis=-1)


# ----------------------------------------------------------------------------- control


def action_to_targets(layout: Layout, action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """PD targets of an action in [-1, 1]^28 (spec §5.4).

    Ball joints: the target rotation is the exp map pi * a (components in [-pi, pi]).
    Hinges: centre of the range plus 0.7 * range * a, i.e. up to 20 % beyond each limit.
    """
    action = jnp.clip(action, -1.0, 1.0)
    ball_target = rot.from_exp_map(jnp.pi * action[..., layout.ball_dof])
    lo, hi = layout.hinge_range[:, 0], layout.hinge_range[:, 1]
    hinge_target = 0.5 * (lo + hi) + 0.7 * (hi - lo) * action[..., layout.hinge_dof]
    return ball_target, hinge_target


def pd_torque(layout: Layout, qpos: jax.Array, ball_target: jax.Array, hinge_target: jax.Array) -> jax.Array:
    """Spring part of the PD law for the 28 DOFs; the damping -kd * qdot is the joints' (implicit).

    Ball joints: kp * log(q^-1 q*), the rotation from the current to the target local rotation in
    the child frame (the frame of the ball joint's qvel and qfrc). Isaac Gym applied kp per exp-map
    component instead; both agree to first order near the target.
    """
    q = qpos[..., layout.ball_qpos]
    error_ball = rot.to_exp_map(rot.multiply(rot.conjugate(q), ball_target))
    error = jnp.zeros(qpos.shape[:-1] + (NUM_DOF,), qpos.dtype)
    error = error.at[..., layout.ball_dof].set(error_ball)
    error = error.at[..., layout.hinge_dof].set(hinge_target - qpos[..., layout.hinge_qpos])
    return jnp.clip(layout.kp * error, -layout.torque_limit, layout.torque_limit)


# ----------------------------------------------------------------------------- contacts


def geom_bottom(layout: Layout, geom_xpos: jax.Array, geom_xmat: jax.Array) -> jax.Array:
    """Height of the lowest point of every non-floor geom (sphere, capsule, box)."""
    pos, mat = geom_xpos[..., 1:, :], geom_xmat[..., 1:, :, :]
    size = layout.geom_size
    z_row = jnp.abs(mat[..., 2, :])  # |R[2, i]|: vertical extent per unit of local axis i
    sphere = pos[..., 2] - size[:, 0]
    capsule = pos[..., 2] - size[:, 0] - z_row[..., 2] * size[:, 1]
    box = pos[..., 2] - jnp.sum(z_row * size, axis=-1)
    return jnp.where(layout.geom_type == 2, sphere, jnp.where(layout.geom_type == 3, capsule, box))


def bodies_touching_floor(layout: Layout, geom_xpos, geom_xmat, tolerance: float = 0.005) -> jax.Array:
    """(nbody,) bool: a geom of the body reaches within `tolerance` of the floor (z = 0)."""
    touching = (geom_bottom(layout, geom_xpos, geom_xmat) < tolerance).astype(jnp.int32)
    nbody = NUM_BODIES + 1
    per_body = jnp.zeros(geom_xpos.shape[:-2] + (nbody,), jnp.int32).at[..., layout.geom_body].max(touching)
    return per_body > 0
