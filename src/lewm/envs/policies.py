"""Env-agnostic data-collection policies and the policy interface.

A policy is built with a `np.random.Generator` (its only source of randomness), has `reset()`
(call at the start of each episode) and `act(env) -> np.ndarray (A,) float32`. Policies may read
the env's privileged state. `ends_on_success` tells the collector whether an episode driven by
this policy should stop once `info["success"]` is True (the collector decides; envs never
terminate on their own).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import gymnasium
import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Interface of a data-collection policy."""

    ends_on_success: bool

    def reset(self) -> None: ...

    def act(self, env: gymnasium.Env) -> np.ndarray: ...


class RandomPolicy:
    """Uniform actions in the env's (box) action space, each held for a random number of steps.

    Args:
        rng: numpy Generator.
        max_repeat: each sampled action is repeated k ~ Uniform{1..max_repeat} steps (1 = fresh
            action every step); repeats make random walks travel further (better coverage).
    """

    ends_on_success = False

    def __init__(self, rng: np.random.Generator, max_repeat: int = 1) -> None:
        if max_repeat < 1:
            raise ValueError(f"max_repeat must be >= 1, got {max_repeat}")
        self.rng = rng
        self.max_repeat = int(max_repeat)
        self.reset()

    def reset(self) -> None:
        self._action: np.ndarray | None = None
        self._left = 0

    def act(self, env: gymnasium.Env) -> np.ndarray:
        if self._left <= 0 or self._action is None:
            space = env.action_space
            self._action = self.rng.uniform(space.low, space.high).astype(np.float32)
            self._left = int(self.rng.integers(1, self.max_repeat + 1))
        self._left -= 1
        return self._action.copy()
