"""Reacher data-collection policies: uniform random and a noisy PD "expert" (SPEC §4).

The paper collected Reacher data with a trained SAC agent; we use a PD controller toward joint
targets instead (the issue allows it if its data trains a good model; see docs/mujoco-envs.md).
"""

from __future__ import annotations

import numpy as np

from lewm.envs.policies import RandomPolicy
from lewm.envs.reacher import WRIST_LIMIT, ReacherEnv, wrap_angle

__all__ = ["ExpertPolicy", "RandomPolicy"]


class ExpertPolicy:
    """Noisy PD controller toward a sequence of joint targets.

    The first target is the episode's target (`target_shoulder`, `target_wrist` in the state);
    once it is reached (every joint within `reach_tol`, nearly at rest) or after a random
    timeout of `segment_steps` steps, the next target is drawn uniformly from the joint space.
    Each segment draws its own gain kp ~ U(kp_range) (kd = `damping` x kp), so the data covers
    fast and slow motions; torques get Gaussian noise N(0, noise_std²) and are clipped to [-1, 1].
    Episodes run to truncation (`ends_on_success` is False): 200 steps hold several reaches.
    """

    ends_on_success = False

    def __init__(
        self,
        rng: np.random.Generator,
        kp_range: tuple[float, float] = (2.5, 6.0),
        damping: float = 0.1,
        noise_std: float = 0.3,
        reach_tol: float = 0.05,
        segment_steps: tuple[int, int] = (30, 80),
    ) -> None:
        if not 0 < kp_range[0] <= kp_range[1] or damping < 0 or noise_std < 0:
            raise ValueError(
                f"need 0 < kp_range[0] <= kp_range[1], damping >= 0, noise_std >= 0; got "
                f"{kp_range}, {damping}, {noise_std}"
            )
        if not 1 <= segment_steps[0] <= segment_steps[1]:
            raise ValueError(f"segment_steps must be 1 <= lo <= hi, got {segment_steps}")
        self.rng = rng
        self.kp_range = (float(kp_range[0]), float(kp_range[1]))
        self.damping = float(damping)
        self.noise_std = float(noise_std)
        self.reach_tol = float(reach_tol)
        self.segment_steps = (int(segment_steps[0]), int(segment_steps[1]))
        self.reset()

    def reset(self) -> None:
        self._waypoint: np.ndarray | None = None
        self._left = 0
        self._kp = 0.0

    def _new_segment(self, waypoint: np.ndarray) -> None:
        self._waypoint = waypoint
        self._left = int(self.rng.integers(self.segment_steps[0], self.segment_steps[1] + 1))
        self._kp = float(self.rng.uniform(*self.kp_range))

    def waypoint(self, env: ReacherEnv) -> np.ndarray:
        """Joint configuration the controller currently heads for, float64 (2,)."""
        s = env.get_state().astype(np.float64)
        if self._waypoint is None:
            self._new_segment(s[4:6])
        err = np.abs(wrap_angle(self._waypoint - s[0:2]))
        reached = np.all(err <= self.reach_tol) and np.all(np.abs(s[2:4]) < 0.5)
        if reached or self._left <= 0:
            self._new_segment(
                np.array(
                    [
                        self.rng.uniform(-np.pi, np.pi),
                        self.rng.uniform(-WRIST_LIMIT, WRIST_LIMIT),
                    ]
                )
            )
        return self._waypoint.copy()

    def act(self, env: ReacherEnv) -> np.ndarray:
        target = self.waypoint(env)
        self._left -= 1
        s = env.get_state().astype(np.float64)
        err = wrap_angle(target - s[0:2])
        # The wrist cannot pass its ±160° stop: steer it the long way round (no wrap).
        err[1] = target[1] - s[1]
        torque = self._kp * err - self.damping * self._kp * s[2:4]
        torque += self.rng.normal(0.0, self.noise_std, 2)
        return np.clip(torque, -1.0, 1.0).astype(np.float32)
