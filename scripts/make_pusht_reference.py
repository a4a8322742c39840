"""Record reference Push-T trajectories with the real gym-pusht (run once; output in tests/data/).

lewm's `lewm/PushT-v0` matches gym-pusht 0.1.8 (the diffusion-policy / DINO-WM task, SPEC §4)
constant for constant on pymunk >= 7, while gym-pusht pins pymunk < 7, so the project does not
depend on it. This script runs in a throw-away venv that has gym-pusht and NOT lewm:

    python3 -m venv /tmp/gympusht && /tmp/gympusht/bin/pip install gym-pusht==0.1.8
    /tmp/gympusht/bin/python scripts/make_pusht_reference.py

It drives the reference env with a small scripted pusher (approach a contact point on the T, then
push through it, with noise) and records 50 control steps per trajectory: pushes through the
centre of gravity, off-centre pushes that turn the block, pushes into a wall and a corner, and a
fast hit. Every absolute target stays within 100 px of the agent on each axis, so lewm's relative
action (target - agent) / 100 stays in [-1, 1]^2, and inside [25, 487]^2, where lewm's tunnelling
guard (the PD target kept inside the arena) never acts.

Output `tests/data/pusht_reference.npz` (states in the reference's convention: pymunk world
frame, x right, y down on the image; block position = the body origin, the middle of the bar's
top edge; block angle = pymunk's body angle, not wrapped):
    targets  float64 (N, 50, 2)   absolute PD targets passed to gym-pusht's step
    states   float64 (N, 51, 10)  agent x, y, block x, y, angle, agent vx, vy, block vx, vy,
                                  omega (block velocity = pymunk's, of the centre of gravity)
    names    str (N,)             what each trajectory exercises
    fields   str (10,)            the column names of `states`
    versions str (2,)             gym-pusht and pymunk versions that produced it
"""

from __future__ import annotations

import argparse
import math
from importlib.metadata import version
from pathlib import Path

import numpy as np

STEPS = 50
TARGET_LO, TARGET_HI = 25.0, 487.0  # inside lewm's clamped PD-target box [22, 489]
MAX_MOVE = 99.0  # per axis: |target - agent| <= 100 keeps lewm's action in [-1, 1]
FIELDS = (
    "agent_x",
    "agent_y",
    "block_x",
    "block_y",
    "block_angle",
    "agent_vx",
    "agent_vy",
    "block_vx",
    "block_vy",
    "block_omega",
)
# name, agent start, block origin (x, y), block angle, contact point (block frame), push
# direction (block frame, into the block), push step in px per control step, noise std (px),
# control steps of pushing after which the agent backs off (None: push to the end).
# The "squeeze" plans drive the T into a wall and keep pushing: the kinematic agent then
# squeezes into it (lewm's tunnelling guard acts there; they are replayed without it).
PLANS = (
    ("bar_face_through_cog", (256, 120), (256, 170, 0.0), (0.0, -1.0), (0.0, 1.0), 25, 2, 20),
    ("bar_end_turn", (120, 150), (260, 230, 0.3), (50.0, -1.0), (0.0, 1.0), 25, 3, 20),
    ("stem_side_turn", (400, 330), (250, 220, -0.4), (16.0, 100.0), (-1.0, 0.0), 25, 3, None),
    ("stem_bottom_up", (256, 460), (250, 250, 0.1), (5.0, 121.0), (0.0, -1.0), 30, 4, 18),
    ("fast_hit", (100, 400), (280, 260, -1.0), (-61.0, 15.0), (1.0, 0.0), 80, 5, 8),
    ("bar_underside", (120, 330), (270, 220, 0.7), (40.0, 31.0), (0.0, -1.0), 25, 3, None),
    ("wall_touch_slow", (300, 300), (200, 250, 1.5708), (0.0, -1.0), (0.0, 1.0), 8, 1, 28),
    ("stem_side_slow", (330, 400), (180, 383, 0.3), (16.0, 100.0), (-1.0, 0.0), 12, 1, 36),
    ("squeeze_left_wall", (380, 256), (150, 230, 1.5708), (0.0, -1.0), (0.0, 1.0), 35, 2, None),
    ("squeeze_corner", (360, 380), (130, 140, 2.4), (0.0, -1.0), (0.0, 1.0), 35, 2, None),
)


def rot(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s], [s, c]])


def reset_to(env, agent, block) -> None:
    """Put the reference env in (agent xy, block origin xy, angle) with zero velocities.

    gym-pusht's `reset_to_state` sets the position at angle 0 and then the angle, which turns
    the body about its centre of gravity (0, 45) and moves the origin; pre-compensate for it."""
    cog = np.array([0.0, 45.0])
    x, y, a = block
    req = np.array([x, y]) - cog + rot(a) @ cog
    env.reset(seed=0, options={"reset_to_state": [agent[0], agent[1], req[0], req[1], a]})


def read(env) -> np.ndarray:
    a, b = env.agent, env.block
    return np.array(
        [
            a.position.x,
            a.position.y,
            b.position.x,
            b.position.y,
            b.angle,
            a.velocity.x,
            a.velocity.y,
            b.velocity.x,
            b.velocity.y,
            b.angular_velocity,
        ]
    )


def target_for(s, plan, engaged, rng):
    """Next absolute target: go to the stand-off point, push through the contact for
    `push_steps` control steps, then back off. `engaged` counts the pushing steps so far."""
    _, _, _, contact, direction, push, noise, push_steps = plan
    r = rot(s[4])
    c = r @ np.array(contact) + s[2:4]
    d = r @ np.array(direction)
    agent = s[0:2]
    standoff = c - d * 22.0
    if not engaged and np.hypot(*(standoff - agent)) < 6.0:
        engaged = 1
    if engaged and push_steps is not None and engaged > push_steps:
        goal = agent - d * 20.0  # back off
    elif engaged:
        goal = agent + d * push
    else:
        goal = standoff
    engaged += bool(engaged)
    goal = goal + rng.normal(0.0, noise, 2)
    step = np.clip(goal - agent, -MAX_MOVE, MAX_MOVE)
    return np.clip(agent + step, TARGET_LO, TARGET_HI), engaged


def record(plan, seed: int):
    import gym_pusht  # noqa: F401  (registers gym_pusht/PushT-v0)
    import gymnasium as gym

    env = gym.make("gym_pusht/PushT-v0", obs_type="state").unwrapped
    name, agent, block = plan[0], plan[1], plan[2]
    reset_to(env, agent, block)
    s = read(env)
    assert np.allclose(s[0:5], [*agent, *block], atol=1e-9), (name, s[0:5])
    for shape in env.block.shapes:  # the start must be free: no overlap with walls or agent
        for other in env.space.shapes:
            if other.body is not env.block:
                assert not shape.shapes_collide(other).points, f"{name}: start overlaps"
    rng = np.random.default_rng(seed)
    states, targets, engaged = [s], [], 0
    for _ in range(STEPS):
        t, engaged = target_for(s, plan, engaged, rng)
        targets.append(t)
        env.step(np.asarray(t, np.float64))
        s = read(env)
        states.append(s)
    env.close()
    return np.array(targets), np.array(states)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / "tests" / "data" / "pusht_reference.npz"
    ap.add_argument("--out", type=Path, default=default)
    args = ap.parse_args()
    targets, states = zip(*(record(p, seed) for seed, p in enumerate(PLANS)))
    targets, states = np.stack(targets), np.stack(states)
    for p, s in zip(PLANS, states):
        moved = np.hypot(*(s[-1, 2:4] - s[0, 2:4]))
        turned = math.degrees(abs(s[-1, 4] - s[0, 4]))
        print(f"{p[0]:22s} block moved {moved:6.1f} px, turned {turned:6.1f} deg")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        targets=targets,
        states=states,
        names=np.array([p[0] for p in PLANS]),
        fields=np.array(FIELDS),
        versions=np.array([f"gym-pusht {version('gym-pusht')}", f"pymunk {version('pymunk')}"]),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
