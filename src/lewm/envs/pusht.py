"""Push-T (SPEC §4): a disc agent pushes a T-shaped block to a goal pose, on pymunk.

The physics is gym-pusht 0.1.8's (the diffusion-policy / DINO-WM task of the paper), matched
constant for constant (`pusht_geometry`) on pymunk >= 7, and checked against trajectories
recorded with the real package (`tests/data/pusht_reference.npz`,
`scripts/make_pusht_reference.py`):

- workspace 512 x 512 (x right, y down, as in the image); walls are four segments of radius 2
  between (5, 5) and (506, 506); space damping 0 (pymunk: the fraction of velocity kept per
  second, so the block stops as soon as nothing pushes it); every shape has friction 0.
- agent: a **kinematic** disc of radius 15. Before each of the 10 sub-steps of 0.01 s the PD law
  (kp 100, kv 20) adds `(kp (target - x) - kv v) dt` to its velocity, then the space steps
  (gym-pusht's order). Being kinematic, contacts never slow it: it pushes whatever is in its way.
- block: the T (bar 120 x 30 on a 30 x 90 stem), mass 1, moment 3000, centre of gravity (0, 45)
  in the block frame whose origin is the middle of the bar's top edge; the state's block
  position is that origin (the reference's convention), the angle pymunk's body angle.
- action: our relative target `agent + 100 * action`, action in [-1, 1]^2 (stable-worldmodel's
  convention); gym-pusht's absolute target `t` is the action `(t - agent) / 100`.

One deliberate difference, the **tunnelling guard** (`tunnel_guard=True`, the default; False
reproduces gym-pusht exactly). A kinematic disc ignores the static walls and has infinite mass
against the block, so in gym-pusht (a) a PD target outside the arena walks the agent through the
walls, and (b) an agent pushing a T pinned against a wall squeezes into it and drives it through
the wall. The guard acts on the controller's command only, never on how contacts are solved:
(a) the PD target is clamped to [22, 489]^2, the box the agent's centre can occupy without
touching a wall; (b) when the T touches a wall and the squeeze would pass 8 px, the agent's
velocity into the T is dropped (`pusht_geometry.squeeze_guard`). Free pushing never triggers
(b); docs/pusht.md gives the measured overlaps with and without the guard.

Success (SPEC §4): ||(agent xy, block xy) - goal||_2 < 20 over the 4-vector and the block angle
within pi/9 of the goal's, compared modulo 2 pi (the T's only rotational symmetry is a full turn).

State (float32, 13): agent position and velocity, block origin, angle, velocity (of the centre of
gravity, pymunk's) and angular velocity, and the episode's target block pose (the scripted
expert's goal; `set_goal_state` overrides the goal used for success). `set_state` rebuilds the
pymunk space, so the dynamics after `set_state(s)` depend on `s` only (no contact cache carried
over from before).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import gymnasium
import numpy as np
import pymunk

from lewm.envs.base import LeWMEnv
from lewm.envs.pusht_geometry import (
    ACTION_SCALE,
    AGENT_RADIUS,
    BAR,
    BLOCK_COG,
    BLOCK_MASS,
    BLOCK_MOMENT,
    CONTROL_HZ,
    FREE_HI,
    FREE_LO,
    FRICTION,
    KP,
    KV,
    PHYSICS_HZ,
    STEM,
    SUCCESS_ANGLE,
    SUCCESS_POS,
    WALL_HI,
    WALL_LO,
    WALL_RADIUS,
    WORKSPACE,
    is_free_configuration,
    pose_from_cog,
    squeeze_guard,
    state_pose_errors,
    wrap_angle,
)
from lewm.envs.pusht_render import default_colors, draw_scene

# Reset sampling: the block's centre of gravity uniform in this square (the T, which reaches
# 76.5 px from it, stays >= 46 px inside the walls), any angle; the agent's centre uniform in
# the agent square, clear of the block.
_COG_RANGE = (130.0, 382.0)
_AGENT_RANGE = (50.0, 462.0)
_DT = 1.0 / PHYSICS_HZ
# Beyond _NEAR px from the block origin the agent cannot touch the T (farthest T point 120.9 px
# from the origin, plus the agent's radius).
_NEAR = max(math.hypot(x, y) for x, y in (*BAR, *STEM)) + AGENT_RADIUS + 1.0


class PushTEnv(LeWMEnv):
    """Push-T on pymunk; see the module docstring for physics, success and state.

    Args:
        image_size: side of the square observation in pixels (64/96 CPU, 224 reference).
        max_episode_steps: `truncated` becomes True at this many control steps.
        goal_overlay: draw the goal pose of the T (light green) under the scene — for videos only;
            observations for the world model must not contain it.
        render_mode: only "rgb_array".
        tunnel_guard: keep the PD target inside [22, 489]^2 and stop the agent from squeezing
            into a T pinned against a wall (see the module docstring). False reproduces
            gym-pusht exactly, tunnelling included.
    """

    env_id: ClassVar[str] = "lewm/PushT-v0"
    # 1: gym-pusht's physics (kinematic agent, friction 0, cog (0, 45), segment walls) and the
    # block position at the bar-top origin; 0 was our own dynamic-agent, friction-1 variant.
    env_version: ClassVar[int] = 1
    max_episode_steps: int = 200
    state_names: ClassVar[tuple[str, ...]] = (
        "agent_x",
        "agent_y",
        "agent_vx",
        "agent_vy",
        "block_x",  # block origin: middle of the bar's top edge
        "block_y",
        "block_angle",
        "block_vx",  # velocity of the centre of gravity
        "block_vy",
        "block_omega",
        "target_x",  # the episode's target block pose, same convention
        "target_y",
        "target_angle",
    )
    surprise_object: ClassVar[str] = "block"
    surprise_colour: ClassVar[tuple[int, int, int]] = (220, 30, 30)
    # Each alone at its tolerance gives success distance 1 (the position norm covers agent and
    # block together).
    success_tolerances: ClassVar[dict[str, float]] = {
        "agent_x": SUCCESS_POS,
        "agent_y": SUCCESS_POS,
        "block_x": SUCCESS_POS,
        "block_y": SUCCESS_POS,
        "block_angle": SUCCESS_ANGLE,
    }

    def __init__(
        self,
        image_size: int = 64,
        max_episode_steps: int = 200,
        goal_overlay: bool = False,
        render_mode: str | None = "rgb_array",
        tunnel_guard: bool = True,
    ) -> None:
        super().__init__(image_size, render_mode, max_episode_steps)
        self.goal_overlay = bool(goal_overlay)
        self.tunnel_guard = bool(tunnel_guard)
        self.guard_hits = 0  # sub-steps at which the pinned-block guard acted (diagnostics)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self._steps = 0
        self._colors = default_colors()
        # gym-pusht's initial layout and fixed goal pose (256, 256, pi/4).
        self._build_space(
            np.array([256, 400, 0, 0, 256, 300, 0, 0, 0, 0, 256, 256, math.pi / 4], np.float64)
        )

    # --------------------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode. Options: `state` (a full state (13,)), or any of `agent_pos` (x, y),
        `block_pose` (x, y, angle), `target_pose` (x, y, angle) (block poses: origin at the
        bar's top middle); the rest is sampled: block and target poses with the centre of gravity
        uniform in [130, 382]^2 and any angle, the agent uniformly where it does not touch the
        block."""
        super().reset(seed=seed)
        opts = dict(options or {})
        unknown = set(opts) - {"state", "agent_pos", "block_pose", "target_pose"}
        if unknown:
            raise ValueError(f"PushTEnv.reset: unknown options {sorted(unknown)}")
        self._steps = 0
        self._goal_state = None
        self._colors = default_colors()
        if "state" in opts:
            self.set_state(opts["state"])
            return self.render(), self._info()
        rng = self.np_random
        block = self._pose_option(opts, "block_pose")
        block = self.sample_block_pose(rng) if block is None else block
        target = self._pose_option(opts, "target_pose")
        target = self.sample_block_pose(rng) if target is None else target
        agent = opts.get("agent_pos")
        if agent is None:
            for _ in range(10_000):
                agent = rng.uniform(*_AGENT_RANGE, 2)
                if is_free_configuration(agent, block):
                    break
        agent = np.asarray(agent, np.float64).reshape(-1)
        if agent.shape != (2,) or not np.all(np.isfinite(agent)):
            raise ValueError(f"agent_pos must be 2 finite numbers, got {opts.get('agent_pos')!r}")
        self.set_state(np.array([*agent, 0, 0, *block, 0, 0, 0, *target], np.float32))
        return self.render(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One control step: PD toward agent + 100 * clip(action), clamped into [22, 489]^2 (the
        tunnelling guard), over 10 physics sub-steps."""
        a = self._validated_action(action)
        agent = self._agent
        tx, ty = agent.position + ACTION_SCALE * a
        if self.tunnel_guard:
            tx, ty = min(max(tx, FREE_LO), FREE_HI), min(max(ty, FREE_LO), FREE_HI)
        self._control_target = np.array([tx, ty])
        for _ in range(PHYSICS_HZ // CONTROL_HZ):
            # gym-pusht's update, operation for operation: v += (kp (t - x) + kv (0 - v)) dt on
            # the kinematic agent, then the space steps.
            (px, py), (vx, vy) = agent.position, agent.velocity
            ax = KP * (tx - px) + KV * (0.0 - vx)
            ay = KP * (ty - py) + KV * (0.0 - vy)
            v = (vx + ax * _DT, vy + ay * _DT)
            agent.velocity = self._guarded(v) if self.tunnel_guard else v
            self._space.step(_DT)
        self._steps += 1
        info = self._info()
        truncated = self._steps >= self.max_episode_steps
        return self.render(), float(info["success"]), False, truncated, info

    def render(self) -> np.ndarray:
        s = self.get_state()
        goal = self.goal_state()[4:7] if self.goal_overlay else None
        return draw_scene(self.image_size, self._colors, s[0:2], s[4:7], goal)

    # ------------------------------------------------------------------------ state hooks
    def get_state(self) -> np.ndarray:
        a, b = self._agent, self._block
        return np.array(
            [
                *a.position,
                *a.velocity,
                *b.position,
                b.angle,
                *b.velocity,
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
        return state_pose_errors(self.get_state(), g)

    def success_distance(self, state: np.ndarray, goal: np.ndarray) -> float:
        """max(||(agent xy, block xy) - goal|| / 20, |angle error mod 2 pi| / (pi/9)) for full
        states (13,): < 1 exactly when `is_success` holds for `state` against `goal`. Pure."""
        s = self._validated_state(state, "state")
        g = self._validated_state(goal, "goal")
        pos, _, ang = state_pose_errors(s, g)
        return max(pos / SUCCESS_POS, ang / SUCCESS_ANGLE)

    def is_success(self) -> bool:
        """||(agent xy, block xy) - goal|| < 20 and block angle error (mod 2 pi) < pi/9."""
        return self.success_distance(self.get_state(), self.goal_state()) < 1.0

    # --------------------------------------------------------------------- surprise hooks
    def set_color(self, obj: str, rgb: Any) -> None:
        """Recolour "agent", "block", "wall" or "background" until the next reset."""
        if obj not in self._colors:
            raise ValueError(f"set_color: unknown object {obj!r}; valid: {sorted(self._colors)}")
        self._colors[obj] = tuple(int(v) for v in self._validated_rgb(rgb))

    def teleport(self, obj: str, position: Any) -> None:
        """Move "agent" to (x, y) or "block" to (x, y, angle) (origin at the bar's top middle)
        instantly, velocities zeroed; the new configuration must not overlap
        (agent/block/walls)."""
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
            block = self.sample_block_pose(rng)
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
    @staticmethod
    def sample_block_pose(rng: np.random.Generator) -> np.ndarray:
        """A random block pose (x, y, angle) (3,): centre of gravity uniform in [130, 382]^2,
        angle uniform in [-pi, pi)."""
        cog = rng.uniform(*_COG_RANGE, 2)
        return pose_from_cog(cog, rng.uniform(-math.pi, math.pi))

    @staticmethod
    def is_free_configuration(agent_xy: Any, block_pose: Any) -> bool:
        """Whether the agent disc and the T overlap neither each other nor the walls."""
        return is_free_configuration(agent_xy, block_pose)

    # ---------------------------------------------------------------------------- helpers
    def _build_space(self, s: np.ndarray) -> None:
        """A fresh pymunk space holding state `s` (float64 (13,)), built in gym-pusht's order
        (walls, agent, block) so that the contact solver visits the same pairs in the same
        order."""
        space = pymunk.Space()
        space.gravity = (0.0, 0.0)
        space.damping = 0.0
        lo, hi = WALL_LO, WALL_HI
        for a, b in (
            ((lo, hi), (lo, lo)),
            ((lo, lo), (hi, lo)),
            ((hi, lo), (hi, hi)),
            ((lo, hi), (hi, hi)),
        ):
            wall = pymunk.Segment(space.static_body, a, b, WALL_RADIUS)
            wall.friction = FRICTION
            space.add(wall)
        agent = pymunk.Body(body_type=pymunk.Body.KINEMATIC)
        agent.position, agent.velocity = (s[0], s[1]), (s[2], s[3])
        circle = pymunk.Circle(agent, AGENT_RADIUS)
        circle.friction = FRICTION
        space.add(agent, circle)
        block = pymunk.Body(BLOCK_MASS, BLOCK_MOMENT)
        shapes = [pymunk.Poly(block, p) for p in (BAR, STEM)]
        for shape in shapes:
            shape.friction = FRICTION
        block.center_of_gravity = BLOCK_COG
        # Angle first: pymunk turns a body about its centre of gravity, so setting the position
        # last puts the origin exactly at (x, y).
        block.angle = s[6]
        block.position = (s[4], s[5])
        block.velocity, block.angular_velocity = (s[7], s[8]), s[9]
        space.add(block, *shapes)
        self._space, self._agent, self._block = space, agent, block
        self._control_target = np.array([s[0], s[1]])
        self._target = np.asarray(s[10:13], np.float64).copy()

    def _guarded(self, v: tuple[float, float]) -> tuple[float, float]:
        """The agent's velocity `v` for the next sub-step after the pinned-block guard
        (`pusht_geometry.squeeze_guard`); counts the sub-steps at which it acted."""
        a, b = self._agent.position, self._block
        if math.hypot(a.x - b.position.x, a.y - b.position.y) > _NEAR:
            return v  # too far to touch the T
        pose = (b.position.x, b.position.y, b.angle)
        vb = (b.velocity.x, b.velocity.y, b.angular_velocity)
        out = squeeze_guard((a.x, a.y), v, pose, vb, _DT)
        self.guard_hits += out != v
        return out

    def _pose_option(self, opts: dict[str, Any], key: str) -> np.ndarray | None:
        if key not in opts:
            return None
        p = np.asarray(opts[key], np.float64).reshape(-1)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ValueError(f"{key} must be 3 finite numbers (x, y, angle), got {opts[key]!r}")
        return p

    def _info(self) -> dict[str, Any]:
        return {"success": self.is_success(), "state": self.get_state(), "step": self._steps}
