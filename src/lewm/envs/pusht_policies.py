"""Push-T data-collection policies: uniform random and a scripted pushing expert (SPEC §4).

The expert (privileged: it reads the block pose and the episode's target pose from the state)
alternates two phases:

- *choose a push*: a contact point on the T's outline and a push direction into the block (the
  face's inward normal: contacts are frictionless, SPEC §4), in the block frame, from a fixed list
  of candidates (faces of the bar and the stem). Each candidate is scored by how much a small
  quasi-static push there would reduce the pose error to first order: the centre of gravity
  translates along the push direction and the block turns by cross(contact - cog, direction) /
  rho^2 (rho^2 = I / m = 3000 px^2). Errors are those of the centre of gravity (the pose's
  origin moves when the T turns), position in px and angle in px along the T's extent
  (`angle_weight` px per radian).
- *go and push*: reach the stand-off point in front of the contact, going around the block on a
  circle when the straight way is blocked, then push along the direction while the agent stays on
  the contact line; re-choose when it slips off or another push becomes much better.

Gaussian action noise and short random bursts make the trajectories diverse.

`SmoothExpertPolicy` ("expert_smooth") is the same expert with settings chosen for smoother
agent paths (docs/pusht.md, `benchmarks/pusht_expert_straightness.py`): it walks at most 60 px
of target offset per step (the default expert walks at up to 100 px, so its path around the T
turns through ~90 degrees per latent step), keeps a push under way while the agent stays within
14 px of the contact line and for at least 10 pushing steps, and pushes more slowly (25 px).

`ExpertPolicy` stops at success (the collector ends the episode). `LongExpertPolicy`
("expert_long") does not: each time it reaches its current target it draws a new random target
pose and keeps pushing, with the same noise, until the episode budget runs out — like the
reference data, whose episodes do not stop at success (mean length ~196). Its later targets are
its own: the state's target entries keep the episode's first target.
"""

from __future__ import annotations

import math

import numpy as np

from lewm.envs.policies import RandomPolicy
from lewm.envs.pusht import PushTEnv
from lewm.envs.pusht_geometry import (
    AGENT_RADIUS,
    BLOCK_COG,
    BLOCK_EXTENT,
    BLOCK_MASS,
    BLOCK_MOMENT,
    FREE_HI,
    FREE_LO,
    SUCCESS_ANGLE,
    SUCCESS_POS,
    block_polygons,
    cog_from_pose,
    rotation,
    wrap_angle,
)

__all__ = [
    "ExpertPolicy",
    "LongExpertPolicy",
    "SmoothExpertPolicy",
    "RandomPolicy",
    "PUSH_CANDIDATES",
]


def _candidates() -> list[tuple[np.ndarray, np.ndarray]]:
    """(contact point, unit push direction) pairs in the block frame (origin at the middle of the
    bar's top edge; bar y in [0, 30], stem y in [30, 120])."""
    out = []
    for x in (-50.0, -25.0, 0.0, 25.0, 50.0):  # top face of the bar, pushed towards the stem
        out.append(((x, 0.0), (0.0, 1.0)))
    for x in (-50.0, -35.0, 35.0, 50.0):  # underside of the bar, either side of the stem
        out.append(((x, 30.0), (0.0, -1.0)))
    for sx in (-1.0, 1.0):
        out.append(((60.0 * sx, 15.0), (-sx, 0.0)))  # ends of the bar
        for y in (55.0, 85.0, 112.0):  # sides of the stem
            out.append(((15.0 * sx, y), (-sx, 0.0)))
    for x in (-10.0, 0.0, 10.0):  # bottom of the stem
        out.append(((x, 120.0), (0.0, -1.0)))
    return [(np.array(c), np.array(d)) for c, d in out]


PUSH_CANDIDATES = _candidates()
_RHO2 = BLOCK_MOMENT / BLOCK_MASS  # squared radius of gyration about the centre of gravity
# Turn per unit push of each candidate: cross(contact - cog, direction) / rho^2 (rad per px).
_TURN = np.array(
    [
        ((c[0] - BLOCK_COG[0]) * d[1] - (c[1] - BLOCK_COG[1]) * d[0]) / _RHO2
        for c, d in PUSH_CANDIDATES
    ]
)


class ExpertPolicy:
    """Scripted pushing expert toward the episode's target block pose (see module docstring).

    Args:
        rng: numpy Generator (noise and random bursts).
        noise_std: Gaussian noise per action axis (normalised action units).
        burst_prob: probability per step of starting a burst of uniform random actions.
        burst_len: maximum burst length in steps.
        push_speed: action magnitude while pushing (0..1; 1 = 100-px relative target).
        angle_weight: px of position error one radian of angle error is worth when scoring.
        min_push: steps a chosen push is kept once the agent pushes (unless it stops reducing
            the error) before a better push may replace it; 0 re-chooses at every step.
        switch_ratio: a push is replaced when its score falls below this share of the best.
        walk_speed: largest action magnitude while walking to a stand-off point (0..1].
        hold_width: px across the contact line within which a push under way keeps pushing.
    """

    ends_on_success = True

    def __init__(
        self,
        rng: np.random.Generator,
        noise_std: float = 0.1,
        burst_prob: float = 0.02,
        burst_len: int = 4,
        push_speed: float = 0.35,
        angle_weight: float = 80.0,
        min_push: int = 0,
        switch_ratio: float = 0.5,
        walk_speed: float = 1.0,
        hold_width: float = 8.0,
    ) -> None:
        if noise_std < 0 or not 0 <= burst_prob <= 1 or burst_len < 1 or push_speed <= 0:
            raise ValueError(
                "need noise_std >= 0, 0 <= burst_prob <= 1, burst_len >= 1, push_speed > 0; got "
                f"{noise_std}, {burst_prob}, {burst_len}, {push_speed}"
            )
        if min_push < 0 or not 0 <= switch_ratio <= 1 or not 0 < walk_speed <= 1 or hold_width < 0:
            raise ValueError(
                "need min_push >= 0, 0 <= switch_ratio <= 1, 0 < walk_speed <= 1, hold_width >= 0; "
                f"got {min_push}, {switch_ratio}, {walk_speed}, {hold_width}"
            )
        self.rng = rng
        self.noise_std = float(noise_std)
        self.burst_prob = float(burst_prob)
        self.burst_len = int(burst_len)
        self.push_speed = float(push_speed)
        self.angle_weight = float(angle_weight)
        self.min_push = int(min_push)
        self.switch_ratio = float(switch_ratio)
        self.walk_speed = float(walk_speed)
        self.hold_width = float(hold_width)
        self.reset()

    def reset(self) -> None:
        self._push: int | None = None
        self._pushed = 0  # steps spent pushing with the current push
        self._burst = 0

    # ------------------------------------------------------------------------------ acting
    def act(self, env: PushTEnv) -> np.ndarray:
        if self._burst > 0:
            self._burst -= 1
            return self.rng.uniform(-1.0, 1.0, 2).astype(np.float32)
        if self.rng.random() < self.burst_prob:
            self._burst = int(self.rng.integers(1, self.burst_len + 1))
        a = self.clean_action(env)
        a = a + self.rng.normal(0.0, self.noise_std, 2)
        return np.clip(a, -1.0, 1.0).astype(np.float32)

    def clean_action(self, env: PushTEnv) -> np.ndarray:
        """Noise-free action, float64 (2,)."""
        s = env.get_state().astype(np.float64)
        agent, block, target = s[0:2], s[4:7], self._goal(s)
        scores = self.push_scores(block, target)
        best = int(np.argmax(scores))
        committed = self._push is not None and 0 < self._pushed < self.min_push
        if self._push is None or (
            not (committed and scores[self._push] > 0)
            and scores[self._push] < self.switch_ratio * scores[best]
        ):
            if self._push != best:
                self._pushed = 0
            self._push = best
        if scores[self._push] <= 0:
            return np.zeros(2)
        contact, direction = self._world_push(block, self._push)
        standoff = contact - direction * (AGENT_RADIUS + 4.0)
        # On the contact line and touching (or about to): push.
        rel = agent - contact
        along = float(rel @ direction)
        across = float(rel @ np.array([-direction[1], direction[0]]))
        # A push under way keeps going while the agent stays within `hold_width` of the contact
        # line (the T turns under it); a new one starts only on the line (8 px).
        width = self.hold_width if self._pushed > 0 else 8.0
        if abs(across) < width and -(AGENT_RADIUS + 12.0) < along < 0.0:
            self._pushed += 1
            return direction * self.push_speed - 0.05 * across * np.array(
                [-direction[1], direction[0]]
            )
        return self._go_to(agent, standoff, block)

    # ----------------------------------------------------------------------------- scoring
    def push_scores(self, block: np.ndarray, target: np.ndarray) -> np.ndarray:
        """First-order pose-error reduction per candidate push, float64 (C,), for block and
        target poses (3,); unreachable candidates (stand-off point outside the agent's free
        box) score -inf."""
        e_pos = cog_from_pose(target) - cog_from_pose(block)
        e_ang = float(wrap_angle(target[2] - block[2]))
        dist = float(np.hypot(*e_pos))
        u = e_pos / dist if dist > 1e-9 else np.zeros(2)
        rot = rotation(float(block[2]))
        lo, hi = FREE_LO + 1.0, FREE_HI - 1.0
        # Weigh the two errors by their share of the total, in px.
        ang_px = abs(e_ang) * self.angle_weight
        w_pos = dist / (dist + ang_px + 1e-9)
        w_ang = ang_px / (dist + ang_px + 1e-9)
        out = np.empty(len(PUSH_CANDIDATES))
        for i, (cb, db) in enumerate(PUSH_CANDIDATES):
            d = rot @ db
            standoff = rot @ cb + block[:2] - d * (AGENT_RADIUS + 4.0)
            if np.any(standoff < lo) or np.any(standoff > hi):
                out[i] = -np.inf
                continue
            turn = _TURN[i] * self.angle_weight
            out[i] = w_pos * float(u @ d) + w_ang * math.copysign(1.0, e_ang) * turn
        return out

    def _goal(self, s: np.ndarray) -> np.ndarray:
        """Target block pose (3,) the expert pushes to: the episode's."""
        return s[10:13]

    @staticmethod
    def _world_push(block: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
        cb, db = PUSH_CANDIDATES[i]
        rot = rotation(float(block[2]))
        return rot @ cb + block[:2], rot @ db

    # -------------------------------------------------------------------------- navigation
    def _go_to(self, agent: np.ndarray, goal: np.ndarray, block: np.ndarray) -> np.ndarray:
        """Action toward `goal`, around the block when the straight way would touch it."""
        if self._path_clear(agent, goal, block):
            way = goal
        else:
            centre = cog_from_pose(block)
            radius = BLOCK_EXTENT + AGENT_RADIUS + 12.0
            ra = agent - centre
            r = float(np.hypot(*ra))
            phi_a = math.atan2(ra[1], ra[0])
            rg = goal - centre
            dphi = float(wrap_angle(math.atan2(rg[1], rg[0]) - phi_a))
            if r < radius - 6.0:  # too close: back away radially first
                way = centre + ra / max(r, 1e-9) * radius
            else:
                phi = phi_a + math.copysign(min(abs(dphi), math.radians(35.0)), dphi)
                way = centre + radius * np.array([math.cos(phi), math.sin(phi)])
            way = np.clip(way, FREE_LO + 2.0, FREE_HI - 2.0)
        step = (way - agent) / 60.0
        norm = float(np.hypot(*step))
        if self.walk_speed < 1.0 and norm > self.walk_speed:  # 1: the historical clip only
            step = step * (self.walk_speed / norm)
        return np.clip(step, -1.0, 1.0)

    @staticmethod
    def _path_clear(a: np.ndarray, b: np.ndarray, block: np.ndarray) -> bool:
        polys = block_polygons(*block)
        for t in np.linspace(0.0, 1.0, 12):
            p = a + t * (b - a)
            for poly in polys:
                if _inflated_contains(poly, p, AGENT_RADIUS + 3.0):
                    return False
        return True


def _inflated_contains(poly: np.ndarray, p: np.ndarray, margin: float) -> bool:
    """Whether p lies within `margin` of the convex rectangle `poly` (4, 2)."""
    centre = poly.mean(axis=0)
    ex, ey = poly[1] - poly[0], poly[3] - poly[0]
    lx, ly = float(np.hypot(*ex)), float(np.hypot(*ey))
    rel = p - centre
    u = abs(float(rel @ ex) / lx) - lx / 2
    v = abs(float(rel @ ey) / ly) - ly / 2
    return math.hypot(max(u, 0.0), max(v, 0.0)) < margin


class LongExpertPolicy(ExpertPolicy):
    """The expert without the stop at success ("expert_long"): on reaching its current target
    it draws a new random target pose (`PushTEnv.sample_block_pose`) and keeps pushing until
    the collector's episode budget ends. Same arguments as `ExpertPolicy`."""

    ends_on_success = False

    def reset(self) -> None:
        super().reset()
        self._target: np.ndarray | None = None
        self.targets_reached = 0

    def _goal(self, s: np.ndarray) -> np.ndarray:
        if self._target is None:
            self._target = s[10:13].copy()
        e_pos = float(np.hypot(*(s[4:6] - self._target[:2])))
        e_ang = abs(float(wrap_angle(s[6] - self._target[2])))
        if e_pos < SUCCESS_POS and e_ang < SUCCESS_ANGLE:
            self._target = PushTEnv.sample_block_pose(self.rng)
            self._push = None
            self.targets_reached += 1
        return self._target


class SmoothExpertPolicy(ExpertPolicy):
    """The expert with smoother agent paths ("expert_smooth", see the module docstring): the
    same arguments as `ExpertPolicy`, other defaults (walk_speed 0.6, push_speed 0.25,
    min_push 10, hold_width 14). Stops at success, like `ExpertPolicy`."""

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        walk_speed: float = 0.6,
        push_speed: float = 0.25,
        min_push: int = 10,
        hold_width: float = 14.0,
        **kwargs: float,
    ) -> None:
        super().__init__(
            rng,
            walk_speed=walk_speed,
            push_speed=push_speed,
            min_push=min_push,
            hold_width=hold_width,
            **kwargs,
        )
