"""Cube data-collection policies: uniform random and a noisy scripted pick-and-place (SPEC §4).

The expert plays the role of OGBench's scripted data collector: it reads the privileged cube
and effector state, picks the cube up, carries it to the episode's target, puts it down, and
then keeps going with new random targets until the episode ends, with action noise throughout.
"""

from __future__ import annotations

import numpy as np

from lewm.envs.cube import CUBE_HALF, CUBE_XY_BOUNDS, CubeEnv
from lewm.envs.policies import RandomPolicy

__all__ = ["ExpertPolicy", "RandomPolicy"]

CARRY_Z = 0.14  # m: effector height when moving above the table
HOVER = 0.08  # m: approach height above the cube before descending


def _nearest_grasp_yaw(eff_yaw: float, cube_yaw: float) -> float:
    """The cube is symmetric under quarter turns: the grasp yaw closest to the effector's."""
    cands = cube_yaw + np.arange(-4, 5) * (np.pi / 2)
    return float(cands[np.argmin(np.abs(cands - eff_yaw))])


class ExpertPolicy:
    """Scripted pick-and-place with noise, a small state machine on privileged state.

    Phases: approach (above the cube, gripper open, yaw aligned) -> descend -> grasp (close for
    `grasp_steps`) -> lift -> carry (above the goal) -> lower -> release (open for
    `grasp_steps`) -> retreat (up), then a new goal drawn uniformly on the table. A phase that
    runs longer than `phase_timeout` steps, or a cube that slips out of the closed gripper,
    restarts from "approach". Actions are proportional to the remaining distance (`gain` per
    metre, in the normalised action units, i.e. fraction of the 0.05 m maximum step) plus
    N(0, noise_std²) noise on translation and yaw; with probability `random_prob` a step takes a
    uniformly random action instead. Episodes run to truncation (`ends_on_success` is False).
    """

    ends_on_success = False
    PHASES = ("approach", "descend", "grasp", "lift", "carry", "lower", "release", "retreat")

    def __init__(
        self,
        rng: np.random.Generator,
        gain: float = 12.0,
        noise_std: float = 0.2,
        random_prob: float = 0.05,
        grasp_steps: int = 4,
        phase_timeout: int = 40,
    ) -> None:
        if gain <= 0 or noise_std < 0 or not 0 <= random_prob <= 1 or grasp_steps < 1:
            raise ValueError(
                "need gain > 0, noise_std >= 0, 0 <= random_prob <= 1, grasp_steps >= 1; got "
                f"{gain}, {noise_std}, {random_prob}, {grasp_steps}"
            )
        self.rng = rng
        self.gain = float(gain)
        self.noise_std = float(noise_std)
        self.random_prob = float(random_prob)
        self.grasp_steps = int(grasp_steps)
        self.phase_timeout = int(phase_timeout)
        self.reset()

    def reset(self) -> None:
        self.phase = "approach"
        self._in_phase = 0
        self._goal: np.ndarray | None = None
        self._place_yaw = 0.0

    def _enter(self, phase: str) -> None:
        self.phase, self._in_phase = phase, 0

    def _new_goal(self) -> None:
        xy = self.rng.uniform(*CUBE_XY_BOUNDS)
        self._goal = np.array([*xy, CUBE_HALF])
        self._place_yaw = float(self.rng.uniform(-np.pi, np.pi))

    def act(self, env: CubeEnv) -> np.ndarray:
        p = env.physical_state()
        eff, cube = p["effector_pos"].astype(np.float64), p["cube_pos"].astype(np.float64)
        eff_yaw, cube_yaw = float(p["effector_yaw"][0]), float(p["cube_yaw"][0])
        if self._goal is None:  # first goal: the episode's target
            s = env.get_state()
            self._goal = s[-4:-1].astype(np.float64)
            self._place_yaw = float(s[-1])
        self._in_phase += 1
        if self._in_phase > self.phase_timeout:
            self._enter("approach")
        held = self.phase in ("lift", "carry", "lower")
        if held and np.linalg.norm(cube - eff) > 0.05:  # dropped the cube
            self._enter("approach")

        grasp_yaw = _nearest_grasp_yaw(eff_yaw, cube_yaw)
        yaw_target, grip = grasp_yaw, -1.0
        ph = self.phase
        if ph == "approach":
            target = cube + np.array([0.0, 0.0, HOVER])
            if np.linalg.norm(target[:2] - eff[:2]) < 0.015 and abs(target[2] - eff[2]) < 0.03:
                self._enter("descend")
        if ph == "descend":
            target = cube.copy()
            if np.linalg.norm(cube - eff) < 0.012:
                self._enter("grasp")
        if ph == "grasp":
            target, grip = cube.copy(), 1.0
            if self._in_phase >= self.grasp_steps:
                self._enter("lift")
        if ph == "lift":
            target, grip = np.array([cube[0], cube[1], CARRY_Z]), 1.0
            if eff[2] > CARRY_Z - 0.03:
                self._enter("carry")
        if ph == "carry":
            target, grip = np.array([self._goal[0], self._goal[1], CARRY_Z]), 1.0
            yaw_target = _nearest_grasp_yaw(eff_yaw, self._place_yaw)
            if np.linalg.norm(self._goal[:2] - cube[:2]) < 0.015:
                self._enter("lower")
        if ph == "lower":
            target, grip = eff + (self._goal - cube), 1.0
            yaw_target = eff_yaw
            if np.linalg.norm(self._goal - cube) < 0.01:
                self._enter("release")
        if ph == "release":
            target, yaw_target = eff.copy(), eff_yaw
            if self._in_phase >= self.grasp_steps:
                self._enter("retreat")
        if ph == "retreat":
            target, yaw_target = np.array([eff[0], eff[1], CARRY_Z]), eff_yaw
            if eff[2] > CARRY_Z - 0.03:
                self._new_goal()
                self._enter("approach")

        if self.rng.random() < self.random_prob:
            return self.rng.uniform(-1.0, 1.0, 5).astype(np.float32)
        a = np.empty(5)
        a[:3] = self.gain * (target - eff)
        a[3] = (yaw_target - eff_yaw) / 0.3
        a[:4] += self.rng.normal(0.0, self.noise_std, 4)
        a[4] = grip
        return np.clip(a, -1.0, 1.0).astype(np.float32)
