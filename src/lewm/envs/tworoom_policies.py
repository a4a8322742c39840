"""Two-Room data-collection policies: uniform random and a noisy heuristic expert (SPEC §4)."""

from __future__ import annotations

import math

import numpy as np

from lewm.envs.policies import RandomPolicy
from lewm.envs.tworoom import SPEED, WALL_X, TwoRoomEnv, room_of

__all__ = ["ExpertPolicy", "RandomPolicy"]


class ExpertPolicy:
    """Noisy heuristic expert: head for the door if the episode's target is in the other room,
    then for the target (the target in the state, not a goal set with `set_goal_state`).

    Each fresh action is the unit direction to the current waypoint (shortened near it so the
    agent does not overshoot), plus Gaussian noise N(0, noise_std^2) per axis, clipped to
    [-1, 1]. With probability `repeat_prob` a fresh action is then held for 1..max_repeat extra
    steps. Noise and repeats make trajectories diverse while still reaching the target.

    Door crossing uses two waypoints on the door's axis, `approach_offset` px on either side of
    the wall: the near one until the agent is lined up with the door (|y - door_y| <= door_tol),
    then the far one.
    """

    ends_on_success = True

    def __init__(
        self,
        rng: np.random.Generator,
        noise_std: float = 0.7,
        repeat_prob: float = 0.2,
        max_repeat: int = 3,
        approach_offset: float = 22.0,
        door_tol: float = 6.0,
    ) -> None:
        if noise_std < 0 or not 0 <= repeat_prob <= 1 or max_repeat < 1:
            raise ValueError(
                "need noise_std >= 0, 0 <= repeat_prob <= 1, max_repeat >= 1; got "
                f"{noise_std}, {repeat_prob}, {max_repeat}"
            )
        self.rng = rng
        self.noise_std = float(noise_std)
        self.repeat_prob = float(repeat_prob)
        self.max_repeat = int(max_repeat)
        self.approach_offset = float(approach_offset)
        self.door_tol = float(door_tol)
        self.reset()

    def reset(self) -> None:
        self._held: np.ndarray | None = None
        self._left = 0

    def waypoint(self, env: TwoRoomEnv) -> np.ndarray:
        """Where the expert heads now (224-px units), float64 (2,)."""
        ax, ay, tx, ty, door_y = (float(v) for v in env.get_state())
        if room_of(ax) == room_of(tx):
            return np.array([tx, ty])
        side = -1.0 if room_of(ax) == 0 else 1.0  # side of the wall the agent is on
        lined_up = abs(ay - door_y) <= self.door_tol
        near_wall = abs(ax - WALL_X) <= self.approach_offset + 2.0
        # Lined up with the door: go through to the far side; otherwise line up on the near side.
        through = -1.0 if lined_up and near_wall else 1.0
        return np.array([WALL_X + through * side * self.approach_offset, door_y])

    def act(self, env: TwoRoomEnv) -> np.ndarray:
        if self._left > 0 and self._held is not None:
            self._left -= 1
            return self._held.copy()
        agent = env.get_state()[0:2].astype(np.float64)
        d = self.waypoint(env) - agent
        dist = math.hypot(d[0], d[1])
        a = d / dist * min(1.0, dist / SPEED) if dist > 1e-9 else np.zeros(2)
        a = np.clip(a + self.rng.normal(0.0, self.noise_std, 2), -1.0, 1.0).astype(np.float32)
        if self.rng.random() < self.repeat_prob:
            self._held, self._left = a, int(self.rng.integers(1, self.max_repeat + 1))
        return a
