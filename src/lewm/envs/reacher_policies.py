"""Reacher data-collection policies: uniform random, a noisy PD "expert" and a mixed
explorer (SPEC §4).

The paper collected Reacher data with a trained SAC agent (broad coverage of joint
configurations and velocities); we have no trained agent, so we script policies instead:
`ExpertPolicy` (PD toward joint targets; mostly saturated torques) and `MixedPolicy` (segments
of held random torques, unsaturated PD reaches and braking, for coverage of the torus, of
velocities and of torques that the state does not determine). Coverage of each:
benchmarks/reacher_coverage.py; results in docs/mujoco-envs.md.
"""

from __future__ import annotations

import numpy as np

from lewm.envs.policies import RandomPolicy
from lewm.envs.reacher import WRIST_LIMIT, ReacherEnv, wrap_angle

__all__ = ["ExpertPolicy", "MixedPolicy", "RandomPolicy"]


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


def _random_joint_target(rng: np.random.Generator) -> np.ndarray:
    """Uniform joint configuration (shoulder in [-π, π), wrist within its limits), float64 (2,)."""
    return np.array([rng.uniform(-np.pi, np.pi), rng.uniform(-WRIST_LIMIT, WRIST_LIMIT)])


class MixedPolicy:
    """Segments of three behaviours, for coverage of angles, velocities and torques (issue 17).

    Each segment lasts L ~ U{segment_steps} steps and draws one mode with probabilities `mix`
    (torque, reach, brake):
    - torque: a uniform random torque, scaled by s ~ U(0.2, 1), re-drawn every
      k ~ U{1..max_repeat} steps — torques independent of the state, so the data shows what an
      action does from anywhere (the PD expert's torques are mostly saturated and follow the
      state);
    - reach: PD toward a uniformly random joint configuration with kp ~ U(kp_range) and
      kd = d x kp, d ~ U(damping_range) — mostly unsaturated, often arriving at rest;
    - brake: PD toward the current configuration (the arm slows down and holds), so the data
      also holds slow and resting arms, like the goals of a reaching task.
    Reach and brake torques get Gaussian noise N(0, noise_std²). Whenever a joint spins faster
    than `max_speed` rad/s, a brake segment starts (the arm is nearly frictionless: joint
    damping 0.01, so held torques would otherwise spin it up without bound). Torques are
    clipped to [-1, 1]. Episodes run to truncation (`ends_on_success` is False).
    """

    ends_on_success = False
    modes = ("torque", "reach", "brake")

    def __init__(
        self,
        rng: np.random.Generator,
        mix: tuple[float, float, float] = (0.5, 0.4, 0.1),
        segment_steps: tuple[int, int] = (10, 60),
        max_repeat: int = 20,
        kp_range: tuple[float, float] = (2.0, 6.0),
        damping_range: tuple[float, float] = (0.05, 0.3),
        noise_std: float = 0.2,
        max_speed: float = 8.0,
    ) -> None:
        mix_a = np.asarray(mix, dtype=np.float64)
        if mix_a.shape != (3,) or np.any(mix_a < 0) or mix_a.sum() <= 0:
            raise ValueError(
                f"mix must be 3 non-negative weights (torque, reach, brake), got {mix}"
            )
        if not 1 <= segment_steps[0] <= segment_steps[1] or max_repeat < 1:
            raise ValueError(
                f"need 1 <= segment_steps[0] <= segment_steps[1] and max_repeat >= 1, got "
                f"{segment_steps}, {max_repeat}"
            )
        if not 0 < kp_range[0] <= kp_range[1] or not 0 <= damping_range[0] <= damping_range[1]:
            raise ValueError(
                f"need 0 < kp_range[0] <= kp_range[1] and 0 <= damping_range[0] <= "
                f"damping_range[1], got {kp_range}, {damping_range}"
            )
        if noise_std < 0 or max_speed <= 0:
            raise ValueError(f"need noise_std >= 0 and max_speed > 0, got {noise_std}, {max_speed}")
        self.rng = rng
        self.mix = mix_a / mix_a.sum()
        self.segment_steps = (int(segment_steps[0]), int(segment_steps[1]))
        self.max_repeat = int(max_repeat)
        self.kp_range = (float(kp_range[0]), float(kp_range[1]))
        self.damping_range = (float(damping_range[0]), float(damping_range[1]))
        self.noise_std = float(noise_std)
        self.max_speed = float(max_speed)
        self.reset()

    def reset(self) -> None:
        self.mode = ""
        self._left = 0
        self._torque = np.zeros(2)
        self._hold = 0
        self._target = np.zeros(2)
        self._kp = self._kd = 0.0

    def _new_segment(self, s: np.ndarray, mode: str) -> None:
        rng = self.rng
        self.mode = mode
        self._left = int(rng.integers(self.segment_steps[0], self.segment_steps[1] + 1))
        self._hold = 0
        self._kp = float(rng.uniform(*self.kp_range))
        self._kd = float(rng.uniform(*self.damping_range)) * self._kp
        self._target = _random_joint_target(rng) if mode == "reach" else s[0:2].copy()
        if mode == "brake":
            self._kd = max(self._kd, 1.0)  # brake: enough damping to stop a fast arm

    def act(self, env: ReacherEnv) -> np.ndarray:
        s = env.get_state().astype(np.float64)
        too_fast = np.any(np.abs(s[2:4]) > self.max_speed)
        if too_fast and self.mode != "brake":
            self._new_segment(s, "brake")
        elif self._left <= 0:
            self._new_segment(s, self.modes[int(self.rng.choice(3, p=self.mix))])
        self._left -= 1
        if self.mode == "torque":
            if self._hold <= 0:
                scale = self.rng.uniform(0.2, 1.0)
                self._torque = scale * self.rng.uniform(-1.0, 1.0, 2)
                self._hold = int(self.rng.integers(1, self.max_repeat + 1))
            self._hold -= 1
            return np.clip(self._torque, -1.0, 1.0).astype(np.float32)
        err = wrap_angle(self._target - s[0:2])
        err[1] = self._target[1] - s[1]  # the wrist cannot wrap past its stop (as ExpertPolicy)
        torque = self._kp * err - self._kd * s[2:4] + self.rng.normal(0.0, self.noise_std, 2)
        return np.clip(torque, -1.0, 1.0).astype(np.float32)
