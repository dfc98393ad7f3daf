"""Does it matter that our PD spring is explicit where Isaac Gym's (PhysX) is implicit? (issue #16)

Each joint axis is taken alone as a mass-spring-damper: inertia I (armature included) about the
axis at the standing pose, spring kp and damper kd of the MJCF (the original's gains). One time step
of each integration scheme is a linear map of (angle error, speed); its eigenvalues z give the
effective natural frequency and damping ratio of the discrete system (s = log(z) / dt):

* ``ours``: MuJoCo's Euler integrator as the env runs it: the spring explicit (qfrc_applied from the
  angle at the start of the substep), the joint damping implicit, 5.55 ms substeps;
* ``physx``: spring and damper both implicit (backward Euler), as PhysX's articulation drives, at the
  original's 8.33 ms substeps (1/60 s, 2 substeps);
* ``ours_implicit``: both implicit at our 5.55 ms (what switching the spring would give).

Two inertias per axis: the mass matrix's diagonal (every other joint held: the slowest case) and
1 / (M^-1)_ii (every other joint and the root free: the fastest). Writes
``benchmarks/results/pd_discretisation.json`` and prints a table.

    python benchmarks/inspect_pd_discretisation.py
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

OURS_DT = 0.00555
PHYSX_DT = 1.0 / 120.0  # sim dt 1/60 s, 2 substeps
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "pd_discretisation.json")


def step_matrix(inertia: float, kp: float, kd: float, dt: float, implicit_spring: bool) -> np.ndarray:
    """(error, speed) -> (error, speed) after one step, the target held at 0.

    Semi-implicit Euler with the damper implicit: I (v' - v) = dt (-kp e - kd v'), e' = e + dt v'.
    With the spring implicit too, the spring acts on e + dt v' instead of e."""
    spring_on_v = kp * dt if implicit_spring else 0.0
    denom = inertia + dt * kd + dt * spring_on_v
    a_ve = -dt * kp / denom  # v' = a_ve e + a_vv v
    a_vv = inertia / denom
    return np.array([[1 + dt * a_ve, dt * a_vv], [a_ve, a_vv]])


def effective(matrix: np.ndarray, dt: float) -> dict:
    """The slowest mode of the discrete system: its settling rate (1/s: the error decays as
    exp(-rate t)) and damping ratio (1 where the modes are real: no overshoot)."""
    z = np.linalg.eigvals(matrix).astype(complex)
    return _slowest(np.log(z) / dt)


def continuous(inertia: float, kp: float, kd: float) -> dict:
    """The same for the exact solution of I e'' + kd e' + kp e = 0."""
    return _slowest(np.roots([inertia, kd, kp]).astype(complex))


def _slowest(s: np.ndarray) -> dict:
    slow = s[np.argmax(s.real)]
    return {"rate": float(-slow.real), "zeta": float(-slow.real / abs(slow))}


def axis_inertias():
    """(name, kp, kd, diagonal inertia, free-body inertia) per joint axis at the standing pose."""
    import mujoco

    from near.envs.humanoid import model as hm

    model = hm.load_mj_model()
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0
    data.qpos[2] = 0.89
    mujoco.mj_forward(model, data)
    full = np.zeros((model.nv, model.nv))
    mujoco.mj_fullM(model, data, full)
    inverse = np.linalg.inv(full)
    rows = []
    for j in range(1, model.njnt):
        width = 3 if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_BALL else 1
        kp = float(model.jnt_user[j, 0])
        for a in range(width):
            d = int(model.jnt_dofadr[j]) + a
            # MuJoCo's M includes the armature; the damping is the dof's (kd of the original)
            rows.append((f"{model.joint(j).name}{'xyz'[a] if width == 3 else ''}", kp, float(model.dof_damping[d]),
                         float(full[d, d]), float(1.0 / inverse[d, d])))
    return rows


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()
    out = []
    for name, kp, kd, held, free in axis_inertias():
        for case, inertia in (("held", held), ("free", free)):
            row = {"axis": name, "case": case, "inertia": inertia, "kp": kp, "kd": kd,
                   "continuous": continuous(inertia, kp, kd),
                   "ours": effective(step_matrix(inertia, kp, kd, OURS_DT, False), OURS_DT),
                   "physx": effective(step_matrix(inertia, kp, kd, PHYSX_DT, True), PHYSX_DT),
                   "ours_implicit": effective(step_matrix(inertia, kp, kd, OURS_DT, True), OURS_DT)}
            row["omega"] = float(np.sqrt(kp / inertia))
            row["omega_dt_ours"] = row["omega"] * OURS_DT
            out.append(row)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as fh:
        json.dump({"ours_dt": OURS_DT, "physx_dt": PHYSX_DT, "axes": out}, fh, indent=1)
    schemes = ("continuous", "ours", "physx", "ours_implicit")
    print("| axis | other joints | inertia (kg m^2) | omega*dt (ours) | settling rate (1/s): exact / ours "
          "(explicit spring, 5.55 ms) / PhysX-like (implicit, 8.33 ms) / implicit at 5.55 ms "
          "| damping ratio of the slowest mode, same order |")
    print("|---|---|---:|---:|---:|---:|")
    for r in out:
        rates = " / ".join(f"{r[k]['rate']:.1f}" for k in schemes)
        zetas = " / ".join(f"{r[k]['zeta']:.2f}" for k in schemes)
        print(f"| {r['axis']} | {r['case']} | {r['inertia']:.4f} | {r['omega_dt_ours']:.2f} | {rates} | {zetas} |")
    ratio = np.array([r["physx"]["rate"] / r["ours"]["rate"] for r in out])
    print(f"PhysX-like / ours settling rate over every axis and case: {ratio.min():.3f}-{ratio.max():.3f} "
          f"(median {np.median(ratio):.3f})")
    print(RESULTS)


if __name__ == "__main__":
    main()
