"""Push-T constants and geometry (SPEC §4), shared by the env, its renderer and its expert.

Every physical constant is gym-pusht 0.1.8's (the diffusion-policy / DINO-WM task the paper
uses), read from its `gym_pusht/envs/pusht.py` and from a live env. Coordinates are pymunk's
world frame, which is also the image's: x to the right, y downwards (gym-pusht draws with
`positive_y_is_up = False`), so a positive angle turns the T clockwise on the image.

The block frame has its origin at the middle of the bar's top edge: bar x in [-60, 60],
y in [0, 30]; stem x in [-15, 15], y in [30, 120] (the stem hangs below the bar, +y). The body's
centre of gravity is (0, 45) in that frame (gym-pusht: the mean of the two rectangles' centroids,
not the area-weighted centroid), and the state's block position is the frame origin.
"""

from __future__ import annotations

import math

import numpy as np

WORKSPACE = 512.0
# Walls: four pymunk segments of radius 2 between the corners (5, 5) and (506, 506).
WALL_LO, WALL_HI, WALL_RADIUS = 5.0, 506.0, 2.0
AGENT_RADIUS = 15.0
# Free range of the agent's centre: the disc touches a wall's surface at its ends.
FREE_LO = WALL_LO + WALL_RADIUS + AGENT_RADIUS  # 22
FREE_HI = WALL_HI - WALL_RADIUS - AGENT_RADIUS  # 489
KP, KV = 100.0, 20.0  # PD gains on the kinematic agent's velocity
PHYSICS_HZ, CONTROL_HZ = 100, 10  # 10 sub-steps of 0.01 s per control step
ACTION_SCALE = 100.0  # our relative action: PD target = agent + 100 * action
SUCCESS_POS, SUCCESS_ANGLE = 20.0, math.pi / 9
BLOCK_MASS = 1.0
# gym-pusht sums moment_for_poly(1, bar) twice (its stem term reuses the bar's vertices), about
# the block origin: 2 * (120^2 + 30^2) / 12 + 2 * 15^2 = 3000.
BLOCK_MOMENT = 3000.0
BLOCK_COG = (0.0, 45.0)
FRICTION = 0.0  # every shape: gym-pusht's `body.friction = 1` sets no shape's friction
# Vertices in gym-pusht's order (pymunk takes their convex hull), block frame.
BAR = ((-60.0, 30.0), (60.0, 30.0), (60.0, 0.0), (-60.0, 0.0))
STEM = ((-15.0, 30.0), (-15.0, 120.0), (15.0, 120.0), (15.0, 30.0))
# Pinned-block guard (`squeeze_guard`, not in gym-pusht): the T "touches" a wall within
# WALL_TOUCH px; the agent's velocity into a touching T is dropped once agent depth + wall depth
# exceeds GUARD_SQUEEZE px (free pushing stays shallower: docs/pusht.md).
WALL_TOUCH, GUARD_SQUEEZE = 0.5, 8.0
# Farthest point of the T from its centre of gravity (a stem corner, 76.5 px).
BLOCK_EXTENT = max(math.hypot(x - BLOCK_COG[0], y - BLOCK_COG[1]) for x, y in (*BAR, *STEM))


def wrap_angle(a: float | np.ndarray) -> float | np.ndarray:
    """Angle difference mapped to [-pi, pi)."""
    return (np.asarray(a) + math.pi) % (2 * math.pi) - math.pi


def rotation(angle: float) -> np.ndarray:
    """2 x 2 rotation matrix (block frame -> world frame)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def block_polygons(x: float, y: float, angle: float) -> list[np.ndarray]:
    """The T's two rectangles in world coordinates for a block at origin (x, y) and `angle`:
    [bar (4, 2), stem (4, 2)]."""
    rot = rotation(float(angle))
    return [np.asarray(poly) @ rot.T + (x, y) for poly in (BAR, STEM)]


def cog_from_pose(pose: np.ndarray) -> np.ndarray:
    """World position (2,) of the centre of gravity of a block at pose (x, y, angle)."""
    return np.asarray(pose[:2], np.float64) + rotation(float(pose[2])) @ BLOCK_COG


def pose_from_cog(cog: np.ndarray, angle: float) -> np.ndarray:
    """Block pose (x, y, angle) (3,) whose centre of gravity is at `cog` (2,)."""
    origin = np.asarray(cog, np.float64) - rotation(float(angle)) @ BLOCK_COG
    return np.array([origin[0], origin[1], float(angle)])


def point_polygon_distance(p: np.ndarray, poly: np.ndarray) -> float:
    """Distance from point p (2,) to a convex polygon (4, 2) (either winding); 0 if inside."""
    n, best, sides = len(poly), math.inf, set()
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        ab, ap = b - a, p - a
        t = min(1.0, max(0.0, float(ab @ ap) / float(ab @ ab)))
        best = min(best, float(np.hypot(*(ap - t * ab))))
        sides.add(bool(ab[0] * ap[1] - ab[1] * ap[0] >= 0))
    return 0.0 if len(sides) == 1 else best


def agent_block_gap(agent_xy: np.ndarray, block_pose: np.ndarray) -> float:
    """Distance from the agent disc's rim to the T, px (negative: they overlap)."""
    agent = np.asarray(agent_xy, np.float64)
    d = min(point_polygon_distance(agent, p) for p in block_polygons(*block_pose))
    return d - AGENT_RADIUS


def block_wall_overlap(block_pose: np.ndarray) -> float:
    """How far the T reaches past the walls' inner surfaces, px (<= 0: inside). Pure Python
    (called at physics sub-steps)."""
    x, y, angle = (float(v) for v in block_pose)
    c, s = math.cos(angle), math.sin(angle)
    lo, hi = WALL_LO + WALL_RADIUS, WALL_HI - WALL_RADIUS
    worst = -math.inf
    for px, py in _VERTICES:
        wx, wy = x + c * px - s * py, y + s * px + c * py
        worst = max(worst, lo - wx, wx - hi, lo - wy, wy - hi)
    return worst


def is_free_configuration(agent_xy: np.ndarray, block_pose: np.ndarray, margin: float = 2.0):
    """Whether the agent disc and the T overlap neither each other nor the walls (with the agent
    at least `margin` px from the T)."""
    agent = np.asarray(agent_xy, np.float64)
    if np.any(agent < FREE_LO) or np.any(agent > FREE_HI):
        return False
    if block_wall_overlap(block_pose) > 0:
        return False
    return agent_block_gap(agent, block_pose) >= margin


def disc_penetrations(agent_xy: np.ndarray, block_pose: np.ndarray) -> list[tuple[float, tuple]]:
    """How deep the agent disc reaches into each of the T's rectangles, with the direction in
    which it goes deeper: [(depth px, (nx, ny) unit world vector), ...] for the rectangles it
    overlaps (depth > 0). Pure Python (called at every physics sub-step of a contact)."""
    c, s = math.cos(block_pose[2]), math.sin(block_pose[2])
    dx, dy = agent_xy[0] - block_pose[0], agent_xy[1] - block_pose[1]
    qx, qy = c * dx + s * dy, -s * dx + c * dy  # agent centre in the block frame
    out = []
    for (x0, y0), (x1, y1) in _RECTS:
        ex = max(x0 - qx, 0.0, qx - x1)
        ey = max(y0 - qy, 0.0, qy - y1)
        if ex > 0.0 or ey > 0.0:  # centre outside: depth = radius - distance to the rectangle
            dist = math.hypot(ex, ey)
            depth = AGENT_RADIUS - dist
            # Deeper = towards the closest point of the rectangle.
            nx, ny = (
                (x0 - qx if qx < x0 else (x1 - qx if qx > x1 else 0.0)),
                (y0 - qy if qy < y0 else (y1 - qy if qy > y1 else 0.0)),
            )
            nx, ny = nx / dist, ny / dist
        else:  # centre inside: deeper = away from the nearest face
            faces = (
                (qx - x0, 1.0, 0.0),
                (x1 - qx, -1.0, 0.0),
                (qy - y0, 0.0, 1.0),
                (y1 - qy, 0.0, -1.0),
            )
            inside, nx, ny = min(faces)
            depth = AGENT_RADIUS + inside
        if depth > 0.0:
            out.append((depth, (c * nx - s * ny, s * nx + c * ny)))
    return out


def squeeze_guard(
    agent_xy: tuple[float, float],
    v: tuple[float, float],
    block_pose: tuple[float, float, float],
    block_vel: tuple[float, float, float],
    dt: float,
) -> tuple[float, float]:
    """The pinned-block half of the tunnelling guard: the kinematic agent's velocity `v` for the
    next sub-step of `dt` s, for a block at pose (x, y, angle) moving at `block_vel` (vx, vy of
    the centre of gravity, omega).

    With the agent and the block advanced one sub-step at their velocities, if the T touches a
    wall (within WALL_TOUCH px) and the squeeze (how deep the agent reaches into the T plus how
    deep the T reaches into the wall) exceeds GUARD_SQUEEZE px, the part of `v` that takes the
    agent deeper into the T is dropped (it may still slide along it or back off). Free pushing
    never squeezes that hard (docs/pusht.md), so it is left exactly as gym-pusht computes it.
    Looking one sub-step ahead matters: a T hitting a wall at full speed would otherwise be
    driven in by its own momentum plus the agent's travel before the guard saw it.
    """
    vx, vy = v
    agent = (agent_xy[0] + vx * dt, agent_xy[1] + vy * dt)
    bvx, bvy, w = block_vel
    th = block_pose[2]
    # The origin moves with the centre of gravity's velocity plus omega x (origin - cog), where
    # origin - cog = -R(th) (0, 45).
    rx, ry = BLOCK_COG[1] * math.sin(th), -BLOCK_COG[1] * math.cos(th)
    pose = (block_pose[0] + (bvx - w * ry) * dt, block_pose[1] + (bvy + w * rx) * dt, th + w * dt)
    wall = None
    for depth, (nx, ny) in disc_penetrations(agent, pose):
        inward = vx * nx + vy * ny
        if inward <= 0.0:
            continue
        if wall is None:
            wall = block_wall_overlap(pose)
        if wall > -WALL_TOUCH and depth + max(wall, 0.0) > GUARD_SQUEEZE:
            vx, vy = vx - inward * nx, vy - inward * ny
    return vx, vy


_VERTICES = (*BAR, *STEM)
# The T's rectangles as ((x_min, y_min), (x_max, y_max)) in the block frame.
_RECTS = tuple(
    ((min(p[0] for p in r), min(p[1] for p in r)), (max(p[0] for p in r), max(p[1] for p in r)))
    for r in (BAR, STEM)
)


def state_pose_errors(state: np.ndarray, goal: np.ndarray) -> tuple[float, float, float]:
    """(4-vector position error, block position error, |block angle error|) between full
    states (13,)."""
    s, g = np.asarray(state, np.float64), np.asarray(goal, np.float64)
    d = np.concatenate([s[0:2] - g[0:2], s[4:6] - g[4:6]])
    block = float(np.hypot(*(s[4:6] - g[4:6])))
    return float(np.linalg.norm(d)), block, float(abs(wrap_angle(s[6] - g[6])))
