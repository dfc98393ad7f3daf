"""A pymunk model of the original push-T world: the reference our JAX push-T is checked against.

Needs pymunk (the `test` / `dev` extras); imported lazily so the library does not depend on it.
Used by tests/test_pusht_env.py and benchmarks/bench_pusht_fidelity.py.
"""

from __future__ import annotations

import numpy as np

BOUNDARY = [((5.0, 5.0), (5.0, 506.0)), ((506.0, 5.0), (506.0, 506.0)), ((5.0, 5.0), (506.0, 5.0)), ((5.0, 506.0), (506.0, 506.0))]
BAR = [(-60.0, 30.0), (60.0, 30.0), (60.0, 0.0), (-60.0, 0.0)]
STEM = [(-15.0, 30.0), (-15.0, 120.0), (15.0, 120.0), (15.0, 30.0)]


class PymunkPushT:
    """Space with gravity 0, damping 0 and default solver settings; shapes added as boundary
    segments (radius 2), the kinematic agent disc (radius 15), then the T block (mass 1, two Poly
    shapes, moment 2 x moment_for_poly(1, bar), centre of gravity = mean of the two shape
    centroids; angle set before position). Friction and elasticity stay at pymunk's default 0."""

    def __init__(self, agent_xy, block_xy, angle, agent_vel=(0.0, 0.0)):
        import pymunk

        self.space = space = pymunk.Space()
        space.gravity = (0.0, 0.0)
        space.damping = 0.0
        for a, b in BOUNDARY:
            space.add(pymunk.Segment(space.static_body, a, b, 2.0))
        self.agent = pymunk.Body(body_type=pymunk.Body.KINEMATIC)
        self.agent.position = (float(agent_xy[0]), float(agent_xy[1]))
        self.agent.velocity = (float(agent_vel[0]), float(agent_vel[1]))
        space.add(self.agent, pymunk.Circle(self.agent, 15.0))
        body = pymunk.Body(1.0, 2.0 * pymunk.moment_for_poly(1.0, BAR))
        bar, stem = pymunk.Poly(body, BAR), pymunk.Poly(body, STEM)
        cog = (np.asarray(bar.center_of_gravity) + np.asarray(stem.center_of_gravity)) / 2.0
        body.center_of_gravity = (float(cog[0]), float(cog[1]))
        body.angle = float(angle)
        body.position = (float(block_xy[0]), float(block_xy[1]))
        space.add(body, bar, stem)
        self.block = body

    def step(self, target, substeps=10, dt=0.01):
        target = np.asarray(target, float)
        for _ in range(substeps):
            p, v = np.asarray(self.agent.position), np.asarray(self.agent.velocity)
            v = v + (100.0 * (target - p) - 20.0 * v) * dt
            self.agent.velocity = (float(v[0]), float(v[1]))
            self.space.step(dt)
        return self.obs()

    def obs(self):
        b = self.block
        return np.array([*self.agent.position, *b.position, b.angle % (2.0 * np.pi)])
