"""Push-T (SPEC §4): a disc agent pushes a T-shaped block to a goal pose, on pymunk.

Workspace 512 x 512 (pixel units; x to the right, y downwards, as in the image), static walls
along the edges. Bodies:

- agent: disc of radius 15, driven by a PD controller (kp 100, kv 20) toward the *relative*
  target ``agent + 100 * action`` (action in [-1, 1]^2); the controller sets the agent's velocity
  at each of the 10 physics sub-steps of a control step (100 Hz physics, 10 Hz control). The agent
  is a dynamic body (mass 5) (not kinematic as in gym-pusht), so walls and the block stop it: it
  cannot pass through either, even when the block is pinned against a wall.
- block: a T made of a 120 x 30 bar on top of a 30 x 90 stem, mass 1, friction 1. Its position is
  its centre of mass (the area-weighted centroid, 40.7 px below the bar's outer edge); with y
  pointing down, a positive angle turns the T clockwise on the image.
- the space has `damping = 0`: pymunk's damping is the fraction of velocity *kept* per second, so
  the block stops as soon as nothing pushes it (quasi-static pushing, as in the reference task).
  The agent's velocity is not damped (it is set by the controller).

Success (SPEC §4): ||(agent xy, block xy) - goal||_2 < 20 over the 4-vector, and the block angle
within pi/9 of the goal's, compared modulo 2 pi (the T has no rotational symmetry, so a full turn
is its only symmetry).

State (float32, 13): agent position and velocity, block position, angle and velocities, and the
episode's target block pose (the scripted expert's goal; `set_goal_state` overrides the goal used
for success). `set_state` rebuilds the pymunk space, so the dynamics after `set_state(s)` depend on
`s` only (no contact cache carried over from before).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import gymnasium
import numpy as np
import pymunk
from PIL import Image, ImageDraw

from lewm.envs.base import LeWMEnv

WORKSPACE = 512.0
WALL_LO, WALL_HI, WALL_RADIUS = 5.0, 506.0, 2.0
AGENT_RADIUS = 15.0
# Heavier than the block (1) so the agent pushes through contact, but not so heavy that the
# solver lets it squeeze into a block pinned against a wall (mass 20: 8 px overlap; 5: < 2 px).
AGENT_MASS = 5.0
KP, KV = 100.0, 20.0
PHYSICS_HZ, CONTROL_HZ = 100, 10
ACTION_SCALE = 100.0
SUCCESS_POS, SUCCESS_ANGLE = 20.0, math.pi / 9
BLOCK_MASS, FRICTION = 1.0, 1.0
# T geometry in the block frame with the origin at the centre of mass: bar 120 x 30 on top
# (y from BAR_TOP to BAR_TOP + 30), stem 30 x 90 below it. Area-weighted centroid of the T.
_BAR_AREA, _STEM_AREA = 120.0 * 30.0, 30.0 * 90.0
_COM_Y = (_BAR_AREA * 15.0 + _STEM_AREA * 75.0) / (_BAR_AREA + _STEM_AREA)
BAR_TOP = -_COM_Y
BAR = ((-60.0, BAR_TOP), (60.0, BAR_TOP), (60.0, BAR_TOP + 30.0), (-60.0, BAR_TOP + 30.0))
STEM = (
    (-15.0, BAR_TOP + 30.0),
    (15.0, BAR_TOP + 30.0),
    (15.0, BAR_TOP + 120.0),
    (-15.0, BAR_TOP + 120.0),
)
BLOCK_EXTENT = max(math.hypot(x, y) for x, y in (*BAR, *STEM))  # farthest point from the COM
# Reset sampling region (centres), kept away from the walls.
_AGENT_RANGE = (50.0, 462.0)
_BLOCK_RANGE = (130.0, 382.0)

WHITE, AGENT_BLUE, BLOCK_GRAY, WALL_BLACK, GOAL_GREEN = (
    (255, 255, 255),
    (65, 105, 225),
    (119, 136, 153),
    (0, 0, 0),
    (144, 238, 144),
)


def wrap_angle(a: float | np.ndarray) -> float | np.ndarray:
    """Angle difference mapped to [-pi, pi)."""
    return (np.asarray(a) + math.pi) % (2 * math.pi) - math.pi


def block_polygons(x: float, y: float, angle: float) -> list[np.ndarray]:
    """The T's two rectangles in world coordinates: [bar (4, 2), stem (4, 2)]."""
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return [np.asarray(poly) @ rot.T + (x, y) for poly in (BAR, STEM)]


class PushTEnv(LeWMEnv):
    """Push-T on pymunk; see the module docstring for physics, success and state.

    Args:
        image_size: side of the square observation in pixels (64/96 CPU, 224 reference).
        max_episode_steps: `truncated` becomes True at this many control steps.
        goal_overlay: draw the goal pose of the T (light green) under the scene — for videos only;
            observations for the world model must not contain it.
        render_mode: only "rgb_array".
    """

    env_id: ClassVar[str] = "lewm/PushT-v0"
    env_version: ClassVar[int] = 0
    max_episode_steps: int = 200
    state_names: ClassVar[tuple[str, ...]] = (
        "agent_x",
        "agent_y",
        "agent_vx",
        "agent_vy",
        "block_x",
        "block_y",
        "block_angle",
        "block_vx",
        "block_vy",
        "block_omega",
        "target_x",
        "target_y",
        "target_angle",
    )
    surprise_object: ClassVar[str] = "block"
    surprise_colour: ClassVar[tuple[int, int, int]] = (220, 30, 30)

    def __init__(
        self,
        image_size: int = 64,
        max_episode_steps: int = 200,
        goal_overlay: bool = False,
        render_mode: str | None = "rgb_array",
    ) -> None:
        super().__init__(image_size, render_mode, max_episode_steps)
        self.goal_overlay = bool(goal_overlay)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self._target = np.array([256.0, 256.0, math.pi / 4])
        self._steps = 0
        self._reset_colors()
        # Supersampled drawing then a box-filter downscale: anti-aliased edges keep the block's
        # angle readable at 64 px.
        self._ss = max(1, min(4, 256 // self.image_size))
        self._build_space(
            np.array([256.0, 400.0, 0, 0, 256.0, 300.0, 0, 0, 0, 0, *self._target], np.float64)
        )

    # --------------------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode. Options: `state` (a full state (13,)), or any of `agent_pos` (x, y),
        `block_pose` (x, y, angle), `target_pose` (x, y, angle); the rest is sampled: block and
        target poses uniformly (centres in [130, 382]^2, any angle), the agent uniformly where it
        does not touch the block."""
        super().reset(seed=seed)
        opts = dict(options or {})
        unknown = set(opts) - {"state", "agent_pos", "block_pose", "target_pose"}
        if unknown:
            raise ValueError(f"PushTEnv.reset: unknown options {sorted(unknown)}")
        self._steps = 0
        self._goal_state = None
        self._reset_colors()
        if "state" in opts:
            self.set_state(opts["state"])
            return self.render(), self._info()
        rng = self.np_random
        block = self._pose_option(opts, "block_pose")
        if block is None:
            block = np.array([*rng.uniform(*_BLOCK_RANGE, 2), rng.uniform(-math.pi, math.pi)])
        target = self._pose_option(opts, "target_pose")
        if target is None:
            target = np.array([*rng.uniform(*_BLOCK_RANGE, 2), rng.uniform(-math.pi, math.pi)])
        agent = opts.get("agent_pos")
        if agent is None:
            for _ in range(10_000):
                agent = rng.uniform(*_AGENT_RANGE, 2)
                if self._agent_clear_of_block(agent, block):
                    break
        agent = np.asarray(agent, np.float64).reshape(-1)
        if agent.shape != (2,) or not np.all(np.isfinite(agent)):
            raise ValueError(f"agent_pos must be 2 finite numbers, got {opts.get('agent_pos')!r}")
        state = np.array([*agent, 0, 0, *block, 0, 0, 0, *target], np.float32)
        self.set_state(state)
        return self.render(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One control step: PD toward agent + 100 * clip(action), 10 physics sub-steps."""
        a = self._validated_action(action)
        self._control_target = np.array(self._agent.position) + ACTION_SCALE * a
        for _ in range(PHYSICS_HZ // CONTROL_HZ):
            self._space.step(1.0 / PHYSICS_HZ)
        self._steps += 1
        info = self._info()
        truncated = self._steps >= self.max_episode_steps
        return self.render(), float(info["success"]), False, truncated, info

    def render(self) -> np.ndarray:
        size = self.image_size * self._ss
        k = size / WORKSPACE
        img = Image.new("RGB", (size, size), self._colors["background"])
        draw = ImageDraw.Draw(img)
        # Walls: everything outside the free interior [7, 504]^2.
        border = max(1, round((WALL_LO + WALL_RADIUS) * k))
        draw.rectangle((0, 0, size - 1, size - 1), outline=self._colors["wall"], width=border)
        if self.goal_overlay:
            g = self.goal_state()
            for poly in block_polygons(g[4], g[5], g[6]):
                draw.polygon([tuple(p) for p in poly * k], fill=GOAL_GREEN)
        b = self._block
        for poly in block_polygons(b.position.x, b.position.y, b.angle):
            draw.polygon([tuple(p) for p in poly * k], fill=self._colors["block"])
        ax, ay, r = self._agent.position.x * k, self._agent.position.y * k, AGENT_RADIUS * k
        draw.ellipse((ax - r, ay - r, ax + r, ay + r), fill=self._colors["agent"])
        if self._ss > 1:
            img = img.resize((self.image_size, self.image_size), Image.Resampling.BOX)
        return np.asarray(img, dtype=np.uint8)

    # ------------------------------------------------------------------------ state hooks
    def get_state(self) -> np.ndarray:
        a, b = self._agent, self._block
        return np.array(
            [
                a.position.x,
                a.position.y,
                a.velocity.x,
                a.velocity.y,
                b.position.x,
                b.position.y,
                b.angle,
                b.velocity.x,
                b.velocity.y,
                b.angular_velocity,
                *self._target,
            ],
            dtype=np.float32,
        )

    def set_state(self, state: np.ndarray) -> None:
        s = self._validated_state(state, "state").astype(np.float64)
        for name, lo, hi in (("agent", 0, 2), ("block", 4, 6)):
            if np.any(s[lo:hi] < 0) or np.any(s[lo:hi] > WORKSPACE):
                raise ValueError(
                    f"set_state: {name} position {s[lo:hi].tolist()} is outside "
                    f"the {WORKSPACE:.0f}-px workspace"
                )
        self._build_space(s)

    def proprio(self) -> np.ndarray:
        """Agent position and velocity (x, y, vx, vy), float32 (4,)."""
        return self.get_state()[0:4].copy()

    def physical_state(self) -> dict[str, np.ndarray]:
        s = self.get_state()
        return {
            "agent_pos": s[0:2].copy(),
            "agent_vel": s[2:4].copy(),
            "block_pos": s[4:6].copy(),
            "block_angle": s[6:7].copy(),
            # (cos, sin) of the angle: a continuous target for probes (the angle wraps).
            "block_angle_cs": np.array([math.cos(s[6]), math.sin(s[6])], np.float32),
        }

    def default_goal_state(self) -> np.ndarray:
        """Without `set_goal_state`: the block at the episode's target pose, the agent where it
        is now (so success reduces to the block's pose)."""
        s = self.get_state()
        s[4:7] = s[10:13]
        s[7:10] = 0.0
        return s

    def pose_errors(self, goal: np.ndarray | None = None) -> tuple[float, float, float]:
        """(4-vector position error, block position error, |block angle error|) to the goal."""
        g = self.goal_state() if goal is None else np.asarray(goal, np.float64)
        s = self.get_state().astype(np.float64)
        d = np.concatenate([s[0:2] - g[0:2], s[4:6] - g[4:6]])
        block = float(np.hypot(*(s[4:6] - g[4:6])))
        return float(np.linalg.norm(d)), block, float(abs(wrap_angle(s[6] - g[6])))

    def is_success(self) -> bool:
        """||(agent xy, block xy) - goal|| < 20 and block angle error (mod 2 pi) < pi/9."""
        pos, _, ang = self.pose_errors()
        return pos < SUCCESS_POS and ang < SUCCESS_ANGLE

    # --------------------------------------------------------------------- surprise hooks
    def set_color(self, obj: str, rgb: Any) -> None:
        """Recolour "agent", "block", "wall" or "background" until the next reset."""
        if obj not in self._colors:
            raise ValueError(f"set_color: unknown object {obj!r}; valid: {sorted(self._colors)}")
        self._colors[obj] = tuple(int(v) for v in self._validated_rgb(rgb))

    def teleport(self, obj: str, position: Any) -> None:
        """Move "agent" to (x, y) or "block" to (x, y, angle) instantly, velocities zeroed; the
        new configuration must not overlap (agent/block/walls)."""
        s = self.get_state().astype(np.float64)
        p = np.asarray(position, np.float64).reshape(-1)
        if obj == "agent" and p.shape == (2,):
            s[0:4] = (*p, 0.0, 0.0)
        elif obj == "block" and p.shape == (3,):
            s[4:10] = (*p, 0.0, 0.0, 0.0)
        else:
            raise ValueError(
                f"teleport: need obj 'agent' with (x, y) or 'block' with (x, y, angle); "
                f"got {obj!r} with {position!r}"
            )
        if not self.is_free_configuration(s[0:2], s[4:7]):
            raise ValueError(f"teleport: {obj} at {p.tolist()} overlaps the agent/block/walls")
        self._build_space(s)

    def surprise_teleport(self, rng: np.random.Generator) -> None:
        """Teleport agent and block together to a free random configuration, the block at least
        100 px and 45 degrees from its current pose."""
        here = self.get_state()
        for _ in range(10_000):
            block = np.array([*rng.uniform(*_BLOCK_RANGE, 2), rng.uniform(-math.pi, math.pi)])
            agent = rng.uniform(*_AGENT_RANGE, 2)
            far = (
                np.hypot(*(block[:2] - here[4:6])) >= 100
                and abs(wrap_angle(block[2] - here[6])) >= math.pi / 4
            )
            if far and self.is_free_configuration(agent, block):
                s = self.get_state().astype(np.float64)
                s[0:10] = (*agent, 0, 0, *block, 0, 0, 0)
                self._build_space(s)
                return
        raise RuntimeError("could not find a free teleport configuration")

    # ---------------------------------------------------------------------------- geometry
    def is_free_configuration(self, agent_xy: Any, block_pose: Any) -> bool:
        """Whether the agent disc and the T overlap neither each other nor the walls."""
        agent = np.asarray(agent_xy, np.float64)
        lo, hi = WALL_LO + WALL_RADIUS, WALL_HI - WALL_RADIUS
        if np.any(agent - AGENT_RADIUS < lo) or np.any(agent + AGENT_RADIUS > hi):
            return False
        polys = block_polygons(*block_pose)
        if any(np.any(p < lo) or np.any(p > hi) for p in polys):
            return False
        return self._agent_clear_of_block(agent, block_pose)

    @staticmethod
    def _agent_clear_of_block(agent: np.ndarray, block_pose: np.ndarray, margin: float = 2.0):
        return all(
            _point_polygon_distance(agent, poly) >= AGENT_RADIUS + margin
            for poly in block_polygons(*block_pose)
        )

    # ---------------------------------------------------------------------------- helpers
    def _build_space(self, s: np.ndarray) -> None:
        """A fresh pymunk space holding state `s` (float64 (13,))."""
        space = pymunk.Space()
        space.gravity = (0.0, 0.0)
        space.damping = 0.0  # velocity kept per second: bodies stop when not pushed
        # Walls are thick boxes outside the free interior [7, 504]^2 (the reference's segments
        # at 5 / 506 with radius 2): a thin segment lets a disc that is pushed hard into it end
        # up past its centre line and pop out on the far side.
        lo, hi, t = WALL_LO + WALL_RADIUS, WALL_HI - WALL_RADIUS, 100.0
        for x0, y0, x1, y1 in (
            (lo - t, lo - t, lo, hi + t),
            (hi, lo - t, hi + t, hi + t),
            (lo - t, lo - t, hi + t, lo),
            (lo - t, hi, hi + t, hi + t),
        ):
            wall = pymunk.Poly(space.static_body, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
            wall.friction = FRICTION
            space.add(wall)
        agent = pymunk.Body(AGENT_MASS, pymunk.moment_for_circle(AGENT_MASS, 0, AGENT_RADIUS))
        agent.velocity_func = self._pd_velocity
        self._control_target = np.array([s[0], s[1]])
        circle = pymunk.Circle(agent, AGENT_RADIUS)
        circle.friction = FRICTION
        # Uniform density: bar and stem carry mass in proportion to their areas, so the centre
        # of mass is the T's centroid, the body origin by construction of BAR and STEM.
        total = _BAR_AREA + _STEM_AREA
        inertia = pymunk.moment_for_poly(BLOCK_MASS * _BAR_AREA / total, BAR)
        inertia += pymunk.moment_for_poly(BLOCK_MASS * _STEM_AREA / total, STEM)
        block = pymunk.Body(BLOCK_MASS, inertia)
        shapes = [pymunk.Poly(block, p) for p in (BAR, STEM)]
        for shape in shapes:
            shape.friction = FRICTION
        space.add(agent, circle, block, *shapes)
        agent.position, agent.velocity = (s[0], s[1]), (s[2], s[3])
        block.position, block.angle = (s[4], s[5]), s[6]
        block.velocity, block.angular_velocity = (s[7], s[8]), s[9]
        self._space, self._agent, self._block = space, agent, block
        self._target = np.asarray(s[10:13], np.float64).copy()

    def _pd_velocity(self, body: pymunk.Body, gravity: Any, damping: float, dt: float) -> None:
        """Agent velocity update: PD acceleration kp (target - x) - kv v toward the control
        target, undamped. Applied as an acceleration inside pymunk's velocity integration, so
        contact impulses of the same sub-step act on the result; setting the velocity before
        `space.step` (as gym-pusht does for its kinematic agent) would move a dynamic agent into
        a wall before the contact is solved and let it creep through."""
        p, v = body.position, body.velocity
        tx, ty = self._control_target
        acc = (KP * (tx - p.x) - KV * v.x, KP * (ty - p.y) - KV * v.y)
        pymunk.Body.update_velocity(body, acc, 1.0, dt)

    def _pose_option(self, opts: dict[str, Any], key: str) -> np.ndarray | None:
        if key not in opts:
            return None
        p = np.asarray(opts[key], np.float64).reshape(-1)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ValueError(f"{key} must be 3 finite numbers (x, y, angle), got {opts[key]!r}")
        return p

    def _info(self) -> dict[str, Any]:
        return {"success": self.is_success(), "state": self.get_state(), "step": self._steps}

    def _reset_colors(self) -> None:
        self._colors = {
            "agent": AGENT_BLUE,
            "block": BLOCK_GRAY,
            "wall": WALL_BLACK,
            "background": WHITE,
        }


def _point_polygon_distance(p: np.ndarray, poly: np.ndarray) -> float:
    """Distance from point p (2,) to a convex polygon (4, 2); 0 if inside."""
    inside = True
    best = math.inf
    n = len(poly)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        ab, ap = b - a, p - a
        t = min(1.0, max(0.0, float(ab @ ap) / float(ab @ ab)))
        best = min(best, float(np.hypot(*(ap - t * ab))))
        if ab[0] * ap[1] - ab[1] * ap[0] < 0:
            inside = False
    # Vertices are listed clockwise on screen (y down) = counter-clockwise in y-up maths; a point
    # is inside when it is on the same side of every edge.
    if inside:
        return 0.0
    return best
