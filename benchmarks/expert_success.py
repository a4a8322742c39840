"""How good are the scripted data policies? Success rate and episode length of each env's
"expert" (and the "random" floor) on its own random goals, plus simulator speed.

Usage: python benchmarks/expert_success.py [--envs pusht,tworoom] [--episodes 50] [--steps 300]
Each episode: reset(seed=10_000 + i), run the policy until the env's success test holds or
`--steps` control steps pass; a policy that does not stop at success (`ends_on_success` False,
e.g. Push-T's "expert_long") runs the whole budget, and its success is the first step at which
the test holds. Prints a table (with the targets such a policy reached per episode, when it
counts them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table  # noqa: E402

from lewm.envs import make, make_policy  # noqa: E402


def run(env_name: str, policy: str, episodes: int, steps: int, image_size: int) -> list:
    env = make(env_name, image_size=image_size, max_episode_steps=steps)
    succ, first, reached, frames, t0 = [], [], [], 0, time.perf_counter()
    for i in range(episodes):
        env.reset(seed=10_000 + i)
        pol = make_policy(env_name, policy, env, i)
        pol.reset()
        stops = bool(getattr(pol, "ends_on_success", True))
        hit, n = None, 0
        while n < steps and (hit is None or not stops):
            ok = env.step(pol.act(env))[4]["success"]
            n += 1
            hit = n if ok and hit is None else hit
        frames += n
        succ.append(hit is not None)
        first += [hit] if hit is not None else []
        reached.append(getattr(pol, "targets_reached", np.nan))
    secs = time.perf_counter() - t0
    env.close()
    return [
        env_name,
        policy,
        episodes,
        f"{100 * np.mean(succ):.0f}%",
        f"{np.mean(first):.0f}" if first else "-",
        "-" if np.all(np.isnan(reached)) else f"{np.nanmean(reached):.1f}",
        f"{frames / secs:,.0f}",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", default="pusht,tworoom")
    ap.add_argument("--policies", default="expert,random")
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--image-size", type=int, default=64)
    args = ap.parse_args()
    rows = [
        run(e, p, args.episodes, args.steps, args.image_size)
        for e in args.envs.split(",")
        for p in args.policies.split(",")
    ]
    print(f"machine: {machine()}")
    print(f"{args.episodes} episodes per row, at most {args.steps} steps, {args.image_size} px")
    head = [
        "env",
        "policy",
        "episodes",
        "success",
        "mean steps to success",
        "targets reached / episode",
        "steps/s",
    ]
    print(table(head, rows))


if __name__ == "__main__":
    main()
