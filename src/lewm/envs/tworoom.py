"""Two-Room navigation (SPEC §4): a disc agent in two rooms joined by one door.

Geometry is defined in 224-px units and scaled to any square `image_size` at render time:

- arena 224 x 224, white background, black border 14 px thick (free interior [14, 210]^2);
- vertical wall centred at x = 112, 10 px thick (x in [107, 117]), with one door of half-size
  14 px centred at `door_y` (49 by default; drawn uniformly per episode with `randomize_door`);
- agent: red disc of radius 7; the target (radius 7) is never drawn — the goal image is the render
  of the goal state, i.e. the agent standing at the goal position.

Coordinates: x grows to the right (image columns), y grows downwards (image rows).

Action: 2-D, clipped per axis to [-1, 1] and used as is (not normalised to unit length), times a
speed of 5 px per step: a = (1, 0) moves 5 px right, a = (1, 1) moves 5 px on each axis. This
keeps the map from action to displacement linear (the world model sees the raw action) and
diagonal moves just as reachable as axis-aligned ones.

Collision: walls are rigid; the disc never overlaps a wall. A move is split into sub-steps of at
most 2 px (less than the wall thickness, so nothing tunnels), each resolved per axis: an axis
whose move would overlap a wall advances only up to contact (bisection), while the other axis
still moves — so the agent slides along walls and around the door's corners. Positions are kept
at float32 precision (rounded towards the free side), so `set_state(get_state())` replays the
dynamics bit for bit.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import gymnasium
import numpy as np

from lewm.envs.base import LeWMEnv

ARENA = 224.0
BORDER = 14.0
WALL_X = 112.0
WALL_HALF = 5.0
DOOR_HALF = 14.0
DOOR_Y = 49.0
AGENT_RADIUS = 7.0
SPEED = 5.0
SUCCESS_RADIUS = 16.0
# Door centres drawn with `randomize_door`: the wall segment above/below keeps >= 7 px.
DOOR_Y_RANGE = (BORDER + DOOR_HALF + 7.0, ARENA - BORDER - DOOR_HALF - 7.0)
# Free range of the agent centre inside the border, and of each room (centre keeps the disc
# clear of the middle wall).
_LO, _HI = BORDER + AGENT_RADIUS, ARENA - BORDER - AGENT_RADIUS
ROOM_X = {
    0: (_LO, WALL_X - WALL_HALF - AGENT_RADIUS),  # left room
    1: (WALL_X + WALL_HALF + AGENT_RADIUS, _HI),  # right room
}
_MAX_SUBSTEP = 2.0
_BISECT_ITERS = 12

WHITE, BLACK, RED, GREEN = (255, 255, 255), (0, 0, 0), (255, 0, 0), (0, 200, 0)


def room_of(x: float) -> int:
    """0 for the left room, 1 for the right room (by the agent centre's side of the wall)."""
    return 0 if x < WALL_X else 1


class TwoRoomEnv(LeWMEnv):
    """Two-Room navigation env; see the module docstring for geometry, actions and collisions.

    Args:
        image_size: side of the square observation in pixels (64 CPU default, 224 reference).
        randomize_door: draw the door centre uniformly in `DOOR_Y_RANGE` at each reset.
        cross_room_prob: probability that a sampled target lies in the other room.
        max_episode_steps: `truncated` becomes True at this many steps.
        render_mode: only "rgb_array".
    """

    env_id: ClassVar[str] = "lewm/TwoRoom-v0"
    env_version: ClassVar[int] = 0
    max_episode_steps: int = 100
    state_names: ClassVar[tuple[str, ...]] = (
        "agent_x",
        "agent_y",
        "target_x",
        "target_y",
        "door_y",
    )
    success_radius: ClassVar[float] = SUCCESS_RADIUS
    success_tolerances: ClassVar[dict[str, float]] = {
        "agent_x": SUCCESS_RADIUS,
        "agent_y": SUCCESS_RADIUS,
    }
    surprise_object: ClassVar[str] = "agent"
    surprise_colour: ClassVar[tuple[int, int, int]] = (0, 0, 255)

    def __init__(
        self,
        image_size: int = 64,
        randomize_door: bool = False,
        cross_room_prob: float = 0.5,
        max_episode_steps: int = 100,
        render_mode: str | None = "rgb_array",
    ) -> None:
        super().__init__(image_size, render_mode, max_episode_steps)
        if not 0.0 <= cross_room_prob <= 1.0:
            raise ValueError(f"cross_room_prob must be in [0, 1], got {cross_room_prob}")
        self.randomize_door = bool(randomize_door)
        self.cross_room_prob = float(cross_room_prob)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self._agent = np.array([60.0, 150.0])
        self._target = np.array([160.0, 150.0])
        self._door_y = DOOR_Y
        self._steps = 0
        self._reset_colors()
        # Pixel-centre coordinates in 224-px units, and the cached static background.
        self._scale = self.image_size / ARENA
        self._pix = (np.arange(self.image_size) + 0.5) / self._scale
        self._bg_key: tuple | None = None
        self._bg: np.ndarray | None = None

    # --------------------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode. Options: `door_y`, `agent_pos`, `target_pos` (224-px units); what is
        not given is sampled (agent uniformly in a random room, target in the other room with
        probability `cross_room_prob`, at least 2 success radii from the agent)."""
        super().reset(seed=seed)
        opts = dict(options or {})
        unknown = set(opts) - {"door_y", "agent_pos", "target_pos"}
        if unknown:
            raise ValueError(f"TwoRoomEnv.reset: unknown options {sorted(unknown)}")
        rng = self.np_random
        if "door_y" in opts:
            door_y = float(opts["door_y"])
            if not DOOR_Y_RANGE[0] <= door_y <= DOOR_Y_RANGE[1]:
                raise ValueError(f"door_y must be in {DOOR_Y_RANGE}, got {door_y}")
        elif self.randomize_door:
            door_y = float(rng.uniform(*DOOR_Y_RANGE))
        else:
            door_y = DOOR_Y
        self._door_y = float(np.float32(door_y))  # the state is float32
        agent = self._option_pos(opts, "agent_pos")
        if agent is None:
            agent = self._sample_in_room(int(rng.integers(2)))
        target = self._option_pos(opts, "target_pos")
        while target is None:
            room = room_of(agent[0])
            if rng.random() < self.cross_room_prob:
                room = 1 - room
            cand = self._sample_in_room(room)
            if np.hypot(*(cand - agent)) >= 2 * SUCCESS_RADIUS:
                target = cand
        self._agent, self._target = agent, target
        self._steps = 0
        self._goal_state = None
        self._reset_colors()
        return self.render(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the agent by 5 px x clip(action, -1, 1) per axis, stopping at walls."""
        a = self._validated_action(action)
        self._agent = self._settle(self._agent, self._move(self._agent, SPEED * a))
        self._steps += 1
        info = self._info()
        truncated = self._steps >= self.max_episode_steps
        return self.render(), float(info["success"]), False, truncated, info

    def render(self) -> np.ndarray:
        img = self._background().copy()
        self._paint_disc(img, self._agent, AGENT_RADIUS, self._colors["agent"])
        return img

    # ------------------------------------------------------------------------ state hooks
    def get_state(self) -> np.ndarray:
        return np.array([*self._agent, *self._target, self._door_y], dtype=np.float32)

    def set_state(self, state: np.ndarray) -> None:
        s = self._validated_state(state, "state").astype(np.float64)
        door_y, agent = float(s[4]), s[0:2].copy()
        saved, self._door_y = self._door_y, door_y
        if self._collides(agent[0], agent[1]):
            self._door_y = saved
            raise ValueError(f"set_state: the agent at {agent.tolist()} overlaps a wall ({s=})")
        self._agent, self._target = agent, s[2:4].copy()

    def proprio(self) -> np.ndarray:
        """Agent position (x, y), float32 (2,)."""
        return self._agent.astype(np.float32)

    def physical_state(self) -> dict[str, np.ndarray]:
        goal = self.goal_state()
        return {
            "agent_pos": self._agent.astype(np.float32),
            "target_pos": self._target.astype(np.float32),
            "door_y": np.array([self._door_y], dtype=np.float32),
            "goal_pos": goal[0:2].copy(),
            "agent_room": np.array([room_of(self._agent[0])], dtype=np.float32),
        }

    def default_goal_state(self) -> np.ndarray:
        """Without `set_goal_state`, the goal is the episode's target: the agent on the target."""
        s = self.get_state()
        s[0:2] = s[2:4]
        return s

    def goal_position(self) -> np.ndarray:
        """Position the agent must reach, float64 (2,) (224-px units)."""
        return self.goal_state()[0:2].astype(np.float64)

    def is_success(self) -> bool:
        """Agent centre within 16 px (224-px units) of the goal state's agent position."""
        d = self._agent - self.goal_position()
        return bool(math.hypot(d[0], d[1]) <= SUCCESS_RADIUS)

    def success_distance(self, state: np.ndarray, goal: np.ndarray) -> float:
        """Agent-to-goal-agent distance / 16 px: < 1 exactly when `is_success()` would hold."""
        s, g = np.asarray(state, np.float64), np.asarray(goal, np.float64)
        return self._ratio_below_one_iff(math.hypot(s[0] - g[0], s[1] - g[1]), SUCCESS_RADIUS)

    # --------------------------------------------------------------------- surprise hooks
    def set_color(self, obj: str, rgb: Any) -> None:
        """Recolour "agent", "target" (not drawn), "wall" (border and wall) or "background";
        lasts until the next reset."""
        if obj not in self._colors:
            raise ValueError(f"set_color: unknown object {obj!r}; valid: {sorted(self._colors)}")
        self._colors[obj] = tuple(int(v) for v in self._validated_rgb(rgb))

    def teleport(self, obj: str, position: Any) -> None:
        """Move "agent" or "target" to `position` (x, y) in 224-px units; it must be free."""
        if obj not in ("agent", "target"):
            raise ValueError(f"teleport: unknown object {obj!r}; valid: ['agent', 'target']")
        pos = self._option_pos({obj: position}, obj)
        if obj == "agent":
            self._agent = pos
        else:
            self._target = pos

    def surprise_teleport(self, rng: np.random.Generator, min_dist: float = 60.0) -> None:
        """Teleport the agent to a free position at least `min_dist` px (224-px units) away."""
        for _ in range(10_000):
            p = rng.uniform(0.0, ARENA, 2)
            if self.is_free(*p) and np.hypot(*(p - self._agent)) >= min_dist:
                self.teleport("agent", p)
                return
        raise RuntimeError("could not find a free teleport position")

    # ---------------------------------------------------------------------------- physics
    def is_free(self, x: float, y: float) -> bool:
        """Whether the agent disc centred at (x, y) overlaps no wall (touching is allowed)."""
        return not self._collides(float(x), float(y))

    def _collides(self, x: float, y: float) -> bool:
        if x < _LO or x > _HI or y < _LO or y > _HI:
            return True
        dx = max(WALL_X - WALL_HALF - x, 0.0, x - (WALL_X + WALL_HALF))
        if dx >= AGENT_RADIUS:
            return False
        # Nearest point of the two wall segments: above the door (y <= lo) or below (y >= hi).
        lo, hi = self._door_y - DOOR_HALF, self._door_y + DOOR_HALF
        dy = 0.0 if (y <= lo or y >= hi) else min(y - lo, hi - y)
        return dx * dx + dy * dy < AGENT_RADIUS * AGENT_RADIUS

    def _move(self, pos: np.ndarray, delta: np.ndarray) -> np.ndarray:
        x, y = float(pos[0]), float(pos[1])
        dx, dy = float(delta[0]), float(delta[1])
        n = max(1, math.ceil(max(abs(dx), abs(dy)) / _MAX_SUBSTEP))
        sx, sy = dx / n, dy / n
        for _ in range(n):
            if sx:
                x = self._advance(x, y, sx, 0)
            if sy:
                y = self._advance(x, y, sy, 1)
        return np.array([x, y])

    def _settle(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Round `end` to float32 (so states round-trip exactly) without entering a wall: if the
        rounding overlaps one, step one float32 ulp at a time towards the free `start`."""
        p, toward = np.asarray(end, np.float32), np.asarray(start, np.float32)
        for _ in range(16):
            if not self._collides(float(p[0]), float(p[1])):
                return p.astype(np.float64)
            p = np.nextafter(p, toward)
        return toward.astype(np.float64)

    def _advance(self, x: float, y: float, d: float, axis: int) -> float:
        """New coordinate along `axis` after moving by `d`, stopped at first contact."""
        start = x if axis == 0 else y

        def hits(t: float) -> bool:
            return self._collides(x + t * d, y) if axis == 0 else self._collides(x, y + t * d)

        if not hits(1.0):
            return start + d
        lo, hi = 0.0, 1.0  # lo is always free (or the start), hi always collides
        for _ in range(_BISECT_ITERS):
            mid = 0.5 * (lo + hi)
            if hits(mid):
                hi = mid
            else:
                lo = mid
        return start + lo * d

    # ---------------------------------------------------------------------------- helpers
    def _sample_in_room(self, room: int) -> np.ndarray:
        x = self.np_random.uniform(*ROOM_X[room])
        y = self.np_random.uniform(_LO, _HI)
        return np.array([x, y], dtype=np.float32).astype(np.float64)

    def _option_pos(self, opts: dict[str, Any], key: str) -> np.ndarray | None:
        if key not in opts:
            return None
        # Rounded to float32 first: the stored state is float32 and must be free itself.
        p = np.asarray(opts[key], dtype=np.float32).reshape(-1).astype(np.float64)
        if p.shape != (2,) or not np.all(np.isfinite(p)):
            raise ValueError(f"{key} must be 2 finite numbers (x, y), got {opts[key]!r}")
        if self._collides(float(p[0]), float(p[1])):
            raise ValueError(
                f"{key}={p.tolist()} overlaps a wall (door_y={self._door_y}); the agent disc "
                f"(radius {AGENT_RADIUS}) must fit in the free space"
            )
        return p

    def _info(self) -> dict[str, Any]:
        return {"success": self.is_success(), "state": self.get_state(), "step": self._steps}

    def _reset_colors(self) -> None:
        self._colors = {"agent": RED, "target": GREEN, "wall": BLACK, "background": WHITE}

    def _background(self) -> np.ndarray:
        """Static image (border, wall with its door), cached per door position and colours."""
        key = (self._door_y, self._colors["wall"], self._colors["background"])
        if key != self._bg_key:
            u = self._pix
            border = (u < BORDER) | (u > ARENA - BORDER)
            in_wall_x = np.abs(u - WALL_X) <= WALL_HALF
            in_door_y = np.abs(u - self._door_y) < DOOR_HALF
            # Rows index y, columns index x.
            wall = border[:, None] | border[None, :] | (in_wall_x[None, :] & ~in_door_y[:, None])
            bg = np.empty((self.image_size, self.image_size, 3), dtype=np.uint8)
            bg[:] = self._colors["background"]
            bg[wall] = self._colors["wall"]
            self._bg, self._bg_key = bg, key
        return self._bg

    def _paint_disc(self, img: np.ndarray, center: np.ndarray, radius: float, rgb: tuple) -> None:
        """Fill the pixels whose centres lie inside the disc (vectorised over its bounding box)."""
        s = self._scale
        cx, cy, r = center[0] * s, center[1] * s, radius * s
        size = self.image_size
        c0, c1 = max(int(cx - r), 0), min(int(math.ceil(cx + r)) + 1, size)
        r0, r1 = max(int(cy - r), 0), min(int(math.ceil(cy + r)) + 1, size)
        if c0 >= c1 or r0 >= r1:
            return
        dx = np.arange(c0, c1) + 0.5 - cx
        dy = np.arange(r0, r1) + 0.5 - cy
        mask = dy[:, None] ** 2 + dx[None, :] ** 2 <= r * r
        img[r0:r1, c0:c1][mask] = rgb
