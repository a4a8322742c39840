"""Is the Push-T expert's zig-zag its noise? Agent/block straightness of expert rollouts with and
without the action noise, and of `expert_smooth`, in memory (no dataset written).

    python benchmarks/pusht_expert_straightness.py --episodes 30

Straightness as in `data_straightness.py`: mean cosine of consecutive 5-step displacements.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table  # noqa: E402
from data_straightness import straightness  # noqa: E402

from lewm.envs import make, make_policy  # noqa: E402

QUIET = {"noise_std": 0.0, "burst_prob": 0.0}
# (label, policy, constructor kwargs)
SETTINGS = [
    ("expert (data default)", "expert", {}),
    ("expert, no noise, no bursts", "expert", QUIET),
    ("expert, no noise, push_speed 0.2", "expert", {**QUIET, "push_speed": 0.2}),
    ("expert, min_push 10, hold_width 14", "expert", {"min_push": 10, "hold_width": 14.0}),
    ("expert, walk_speed 0.5", "expert", {"walk_speed": 0.5}),
    ("expert_smooth (data default)", "expert_smooth", {}),
    ("expert_smooth, no noise, no bursts", "expert_smooth", QUIET),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=30)
    p.add_argument("--steps", type=int, default=200)
    args = p.parse_args(argv)
    env = make("pusht", image_size=16)
    rows = []
    for name, policy_name, kwargs in SETTINGS:
        states, starts, lengths, solved, block_moving = [], [], [], 0, 0
        for ep in range(args.episodes):
            env.reset(seed=1000 + ep)
            policy = make_policy("pusht", policy_name, env, ep, **kwargs)
            policy.reset()
            starts.append(len(states))
            for _ in range(args.steps):
                s = env.get_state()
                states.append(s)
                block_moving += bool(np.hypot(s[7], s[8]) > 5.0)  # cog speed, px/s
                env.step(policy.act(env))
                if env.is_success():
                    solved += 1
                    break
            lengths.append(len(states) - starts[-1])
        st = np.asarray(states)
        agent = straightness(st, starts, lengths, [0, 1], 5)
        block = straightness(st, starts, lengths, [4, 5], 5)
        rows.append(
            [
                name,
                f"{agent[0]:+.2f}",
                f"{agent[2]:.0f}",
                f"{block[0]:+.2f}",
                f"{solved}/{args.episodes}",
                f"{np.mean(lengths):.0f}",
                f"{block_moving / len(states):.2f}",
            ]
        )
    env.close()
    headers = [
        "policy",
        "agent straightness",
        "agent move px",
        "block",
        "solved",
        "mean len",
        "block moving",
    ]
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
