"""Common base class of the lewm simulators (contract: docs/CONTRACTS.md, "Environments").

Every env is a `gymnasium.Env` with pixel observations (uint8 (H, W, 3), square, `image_size`
pixels a side) plus the privileged hooks the evaluation needs: full-state save/restore, goals taken
from a state, success tests, named physical quantities for probing, and the "surprise" hooks
(recolour / teleport an object mid-episode).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import gymnasium
import numpy as np


class LeWMEnv(gymnasium.Env, abc.ABC):
    """Abstract lewm environment; subclasses implement the env-specific hooks.

    Class attributes every subclass sets: `env_id` (gym id), `env_version` (bumped when dynamics
    or rendering change, so datasets can record which simulator produced them),
    `max_episode_steps` (default truncation horizon), `state_names` (names of the S entries of
    `get_state()`).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}
    env_id: ClassVar[str] = ""
    env_version: ClassVar[int] = 0
    max_episode_steps: int = 100
    state_names: ClassVar[tuple[str, ...]] = ()
    # Violation-of-expectation experiment (SPEC §7, `lewm surprise`): which object the visual
    # change recolours, and its new colour. The physical violation is `surprise_teleport`.
    surprise_object: ClassVar[str] = ""
    surprise_colour: ClassVar[tuple[int, int, int]] = (0, 0, 255)
    # For `lewm diagnose`'s latent sensitivity: state column -> the change of that column alone
    # that puts a state exactly at the success tolerance (success_distance 1). Empty: not known.
    success_tolerances: ClassVar[dict[str, float]] = {}

    def __init__(
        self,
        image_size: int = 64,
        render_mode: str | None = "rgb_array",
        max_episode_steps: int | None = None,
    ) -> None:
        """Validate and set `image_size`, `render_mode` and (if given) `max_episode_steps`."""
        if max_episode_steps is not None:
            if max_episode_steps < 1:
                raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
            self.max_episode_steps = int(max_episode_steps)
        if not isinstance(image_size, (int, np.integer)) or image_size < 8:
            raise ValueError(f"image_size must be an int >= 8 pixels, got {image_size!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' (or None), got {render_mode!r}")
        self.image_size = int(image_size)
        self.render_mode = "rgb_array"
        self.observation_space = gymnasium.spaces.Box(
            0, 255, (self.image_size, self.image_size, 3), dtype=np.uint8
        )
        self._goal_state: np.ndarray | None = None

    # ----------------------------------------------------------------- env-specific (abstract)
    @abc.abstractmethod
    def get_state(self) -> np.ndarray:
        """Full simulator state, float32 (S,), entries named by `state_names`."""

    @abc.abstractmethod
    def set_state(self, state: np.ndarray) -> None:
        """Restore a state returned by `get_state()` exactly (goal and colours are unchanged)."""

    @abc.abstractmethod
    def render(self) -> np.ndarray:
        """Current frame, uint8 (image_size, image_size, 3)."""

    @abc.abstractmethod
    def proprio(self) -> np.ndarray:
        """Proprioceptive vector, float32 (P,)."""

    @abc.abstractmethod
    def physical_state(self) -> dict[str, np.ndarray]:
        """Named physical quantities (each a float32 array) for probing."""

    @abc.abstractmethod
    def default_goal_state(self) -> np.ndarray:
        """Goal state used when `set_goal_state` has not been called since the last reset."""

    @abc.abstractmethod
    def is_success(self) -> bool:
        """Whether the current state satisfies the goal (SPEC §4 success criterion)."""

    def success_distance(self, state: np.ndarray, goal: np.ndarray) -> float:
        """Normalised distance of full state ``state`` (S,) to goal state ``goal`` (S,): a
        non-negative float that is < 1.0 exactly when `is_success()` would hold for ``state``
        against ``goal`` (SPEC §4's test divided by its tolerance). Cheap and pure: no simulator
        stepping, the env's own state is untouched. Used as the oracle planning cost of
        `lewm diagnose`; envs without it cannot run that diagnosis."""
        raise NotImplementedError(
            f"{type(self).__name__} ({self.env_id}) does not implement success_distance(state, "
            "goal); `lewm diagnose` needs it (see lewm/envs/base.py)"
        )

    @abc.abstractmethod
    def set_color(self, obj: str, rgb: Any) -> None:
        """Surprise hook: draw `obj` in colour `rgb` (3 ints in [0, 255]) until the next reset."""

    @abc.abstractmethod
    def teleport(self, obj: str, position: Any) -> None:
        """Surprise hook: move `obj` to `position` instantly (must be a free position)."""

    @abc.abstractmethod
    def surprise_teleport(self, rng: np.random.Generator) -> None:
        """Physical violation for `lewm surprise`: teleport the env's objects (Two-Room: the
        agent; Push-T: agent and block) to a random free configuration clearly away from the
        current one, drawn from `rng`."""

    # ----------------------------------------------------------------------- shared behaviour
    def surprise_recolour(self) -> None:
        """Visual change for `lewm surprise`: draw `surprise_object` in `surprise_colour`."""
        self.set_color(self.surprise_object, self.surprise_colour)

    def set_goal_state(self, state: np.ndarray) -> None:
        """Take the goal from a full state (S,), e.g. a dataset state 25 steps later.

        The goal holds until the next `reset()`, which goes back to `default_goal_state()`.
        """
        self._goal_state = self._validated_state(state, "goal state")

    def goal_state(self) -> np.ndarray:
        """The effective goal as a full state (S,) float32."""
        if self._goal_state is not None:
            return self._goal_state.copy()
        return self.default_goal_state()

    def goal_image(self) -> np.ndarray:
        """Render of the goal state, uint8 (image_size, image_size, 3)."""
        with self.temporary_state(self.goal_state()):
            return self.render()

    @contextmanager
    def temporary_state(self, state: np.ndarray) -> Iterator[None]:
        """Context manager: set `state`, then restore the previous state on exit."""
        saved = self.get_state()
        self.set_state(state)
        try:
            yield
        finally:
            self.set_state(saved)

    def state_dict(self, state: np.ndarray | None = None) -> dict[str, float]:
        """Name -> value view of a state (default: the current one)."""
        s = self.get_state() if state is None else self._validated_state(state, "state")
        return dict(zip(self.state_names, (float(v) for v in s)))

    # --------------------------------------------------------------------------- helpers
    @staticmethod
    def _ratio_below_one_iff(error: float, tol: float) -> float:
        """error / tol, nudged below 1.0 when ``error <= tol`` (tests that accept equality), so
        that `success_distance` < 1 agrees with an inclusive `is_success` even at the boundary."""
        r = float(error) / float(tol)
        if error <= tol and r >= 1.0:
            return float(np.nextafter(1.0, 0.0))
        return r

    def _validated_state(self, state: Any, what: str) -> np.ndarray:
        s = np.asarray(state, dtype=np.float32).reshape(-1)
        if s.shape != (len(self.state_names),):
            raise ValueError(
                f"{type(self).__name__}: {what} must have shape ({len(self.state_names)},) "
                f"with entries {self.state_names}, got shape {np.shape(state)}"
            )
        if not np.all(np.isfinite(s)):
            raise ValueError(f"{type(self).__name__}: {what} has non-finite entries: {s}")
        return s

    def _validated_action(self, action: Any) -> np.ndarray:
        """Action as float64 (A,), clipped to the action space; NaN/shape errors are raised."""
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        shape = self.action_space.shape
        if a.shape != shape:
            raise ValueError(
                f"{type(self).__name__}: action must have shape {shape}, got {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{type(self).__name__}: action has non-finite entries: {a}")
        return np.clip(a, self.action_space.low, self.action_space.high)

    @staticmethod
    def _validated_rgb(rgb: Any) -> np.ndarray:
        c = np.asarray(rgb)
        if c.shape != (3,) or np.any(c < 0) or np.any(c > 255):
            raise ValueError(f"colour must be 3 values in [0, 255], got {rgb!r}")
        return c.astype(np.uint8)
