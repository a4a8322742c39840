"""What does Push-T's tunnelling guard change? gym-pusht's physics with and without it.

Usage: python benchmarks/pusht_guard.py [--pushes 200] [--episodes 40]

Two measurements, each run with `tunnel_guard=False` (gym-pusht exactly) and `True` (default):
- *wall pushes*: the T (centre of gravity 90-130 px from a wall, random angle) driven into each
  of the four walls at full action for 40 control steps, by an agent starting 110 px behind it;
- *policies*: `--episodes` episodes of 200 steps of the random policy (actions held 1-5 steps),
  the expert and expert_long from reset(seed=i).
Per row: deepest block-into-wall and agent-into-T overlaps (px of 512), blocks whose origin left
the 512-px workspace, steps with the agent's centre > 5 px outside its free box [22, 489]^2, and
the share of steps at which the pinned-block guard acted. Prints a table.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table  # noqa: E402

from lewm.envs import make, make_policy  # noqa: E402
from lewm.envs.policies import RandomPolicy  # noqa: E402
from lewm.envs.pusht_geometry import (  # noqa: E402
    FREE_HI,
    FREE_LO,
    agent_block_gap,
    block_wall_overlap,
    pose_from_cog,
)


class _Stats:
    def __init__(self) -> None:
        self.wall = self.agent = 0.0
        self.left = self.outside = self.guarded = self.steps = 0

    def add(self, env, hits_before: int) -> None:
        s = env.get_state()
        self.wall = max(self.wall, block_wall_overlap(s[4:7]))
        self.agent = max(self.agent, -agent_block_gap(s[0:2], s[4:7]))
        self.outside += bool(np.any(s[0:2] < FREE_LO - 5) or np.any(s[0:2] > FREE_HI + 5))
        self.guarded += env.guard_hits > hits_before
        self.steps += 1

    def row(self, name: str, guard: bool, episodes: int) -> list:
        return [
            name,
            "on" if guard else "off",
            episodes,
            f"{self.wall:.1f}",
            f"{self.agent:.1f}",
            self.left,
            self.outside,
            f"{100 * self.guarded / max(self.steps, 1):.2f}%",
        ]


def wall_pushes(guard: bool, pushes: int) -> list:
    """Full-speed pushes of the T into the four walls (see the module docstring)."""
    env = make("pusht", image_size=16, tunnel_guard=guard)
    rng, st = np.random.default_rng(0), _Stats()
    for i in tqdm(range(pushes), desc=f"wall pushes, guard {guard}", leave=False, disable=None):
        # Layout for the left wall, then turned by k quarter turns about the workspace centre.
        k = i % 4
        cog = np.array([rng.uniform(90, 130), rng.uniform(100, 412)])
        agent = cog + (110.0, rng.uniform(-30, 30))
        c, s = [(1, 0), (0, 1), (-1, 0), (0, -1)][k]
        turn = np.array([[c, -s], [s, c]])
        cog, agent = turn @ (cog - 256) + 256, turn @ (agent - 256) + 256
        push = turn @ (-1.0, 0.0)
        pose = pose_from_cog(cog, rng.uniform(-math.pi, math.pi))
        if not env.is_free_configuration(agent, pose):
            continue
        env.reset(options=dict(agent_pos=agent, block_pose=pose))
        for _ in range(40):
            hits = env.guard_hits
            env.step(push)
            st.add(env, hits)
            if np.any(env.get_state()[4:6] < 0) or np.any(env.get_state()[4:6] > 512):
                st.left += 1
                break
    return st.row("wall pushes", guard, pushes)


def policy_rows(guard: bool, policy: str, episodes: int) -> list:
    env = make("pusht", image_size=16, tunnel_guard=guard)
    st = _Stats()
    for ep in tqdm(range(episodes), desc=f"{policy}, guard {guard}", leave=False, disable=None):
        env.reset(seed=ep)
        if policy == "random":
            pol = RandomPolicy(np.random.default_rng(ep), max_repeat=5)
        else:
            pol = make_policy("pusht", policy, env, ep)
        pol.reset()
        left = False
        for _ in range(200):
            hits = env.guard_hits
            env.step(pol.act(env))
            st.add(env, hits)
            s = env.get_state()
            left = left or bool(np.any(s[4:6] < 0) or np.any(s[4:6] > 512))
        st.left += left
    return st.row(policy, guard, episodes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pushes", type=int, default=200)
    ap.add_argument("--episodes", type=int, default=40)
    args = ap.parse_args()
    rows = [wall_pushes(g, args.pushes) for g in (False, True)]
    for policy in ("random", "expert", "expert_long"):
        rows += [policy_rows(g, policy, args.episodes) for g in (False, True)]
    print(f"machine: {machine()}")
    head = [
        "run",
        "guard",
        "episodes",
        "max block in wall (px)",
        "max agent in T (px)",
        "T left workspace",
        "agent steps > 5 px outside",
        "steps guard acted",
    ]
    print(table(head, rows))


if __name__ == "__main__":
    main()
