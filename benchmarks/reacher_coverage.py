"""How well does each Reacher data policy cover the arm's state space (issue 17)?

Usage: python benchmarks/reacher_coverage.py [--policies expert,random,mixed] [--episodes 100]
       [--steps 200] [--grid 20] [--offset 25]

Each policy runs `--episodes` episodes of `--steps` steps from `reset(seed=20_000 + i)` (the
collector's shape: episodes run to truncation). Printed, per policy:
- joint angles: share of a grid×grid (shoulder × wrist) torus grid with >= 1 sample ("torus"),
  the normalised entropy of that histogram (1 = uniform), and per joint the share of `grid`
  angle bins visited;
- joint velocities: percentiles of |velocity| per joint, and the share of a grid×grid
  (angle, velocity) phase grid per joint (velocities in [-vmax, vmax]) with >= 1 sample;
- the evaluation's goal distance: for every start t, the larger of the two joint errors between
  the state at t and at t + `--offset` (the goal of SPEC §5), as percentiles and as the share of
  starts already within the success tolerance (0.05 rad per joint: "solved at start");
- torques: the share of action components at the ±1 limit (saturated), and the share of steps
  whose two torques both lie inside ±0.5 (the inside of the torque square).
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
from lewm.envs.reacher import SUCCESS_TOL, WRIST_LIMIT, wrap_angle  # noqa: E402


def rollout(policy: str, episodes: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """States float64 (episodes, steps + 1, 6) and actions float32 (episodes, steps, 2)."""
    env = make("reacher", image_size=16, max_episode_steps=steps)
    out = np.zeros((episodes, steps + 1, 6))
    acts = np.zeros((episodes, steps, 2), dtype=np.float32)
    for i in range(episodes):
        env.reset(seed=20_000 + i)
        pol = make_policy("reacher", policy, env, i)
        pol.reset()
        out[i, 0] = env.get_state()
        for t in range(steps):
            acts[i, t] = np.clip(pol.act(env), -1.0, 1.0)
            env.step(acts[i, t])
            out[i, t + 1] = env.get_state()
    env.close()
    return out, acts


def coverage(states: np.ndarray, grid: int, vmax: float, offset: int) -> dict[str, float]:
    """Coverage numbers of states (E, T, 6) (module docstring)."""
    q = states[..., 0:2].reshape(-1, 2)
    v = states[..., 2:4].reshape(-1, 2)
    lims = [(-np.pi, np.pi), (-WRIST_LIMIT, WRIST_LIMIT)]
    hist, *_ = np.histogram2d(q[:, 0], q[:, 1], bins=grid, range=lims)
    p = hist.ravel() / hist.sum()
    nz = p[p > 0]
    res = {
        "torus": float(np.mean(hist > 0)),
        "entropy": float(-(nz * np.log(nz)).sum() / np.log(p.size)),
    }
    for j, name in enumerate(("shoulder", "wrist")):
        h1, _ = np.histogram(q[:, j], bins=grid, range=lims[j])
        res[f"{name}_bins"] = float(np.mean(h1 > 0))
        ph, *_ = np.histogram2d(q[:, j], v[:, j], bins=grid, range=[lims[j], (-vmax, vmax)])
        res[f"{name}_phase"] = float(np.mean(ph > 0))
        for pct in (50, 95, 99):
            res[f"{name}_v{pct}"] = float(np.percentile(np.abs(v[:, j]), pct))
    err = np.abs(wrap_angle(states[:, offset:, 0:2] - states[:, :-offset, 0:2])).max(-1).ravel()
    for pct in (10, 50, 90):
        res[f"goal_d{pct}"] = float(np.percentile(err, pct))
    res["solved_at_start"] = float(np.mean(err <= SUCCESS_TOL))
    return res


def rows(name: str, c: dict[str, float], secs: float) -> tuple[list, list, list]:
    """Table rows (angles, velocities and torques, goal distance) of one policy's numbers."""

    def pct(k: str) -> str:
        return f"{100 * c[k]:.0f}%"

    angles = [name, pct("torus"), f"{c['entropy']:.2f}", pct("shoulder_bins"), pct("wrist_bins")]
    vel = [f"{c[f'{j}_v{p}']:.1f}" for j in ("shoulder", "wrist") for p in (50, 95, 99)]
    vel = [
        name,
        *vel,
        pct("shoulder_phase"),
        pct("wrist_phase"),
        pct("saturated"),
        pct("inner"),
        f"{secs:.0f}",
    ]
    goal = [name, *(f"{c[f'goal_d{p}']:.2f}" for p in (10, 50, 90)), pct("solved_at_start")]
    return angles, vel, goal


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", default="expert,random,mixed")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--grid", type=int, default=20)
    ap.add_argument("--vmax", type=float, default=8.0, help="phase-grid velocity range, rad/s")
    ap.add_argument("--offset", type=int, default=25, help="goal offset in env steps (SPEC §5)")
    args = ap.parse_args()
    if args.offset >= args.steps:
        raise SystemExit(f"--offset {args.offset} must be smaller than --steps {args.steps}")
    tables: tuple[list, list, list] = ([], [], [])
    for name in args.policies.split(","):
        t0 = time.perf_counter()
        states, actions = rollout(name, args.episodes, args.steps)
        c = coverage(states, args.grid, args.vmax, args.offset)
        c["saturated"] = float(np.mean(np.abs(actions) >= 0.99))
        c["inner"] = float(np.mean(np.all(np.abs(actions) < 0.5, axis=-1)))
        for t, r in zip(tables, rows(name, c, time.perf_counter() - t0)):
            t.append(r)
    g = args.grid
    print(f"Reacher data coverage, {args.episodes} episodes x {args.steps} steps each")
    print(f"Machine: {machine()}")
    print(f"\nJoint angles ({g}x{g} shoulder x wrist grid; {g} bins per joint)")
    print(
        table(
            ["policy", "torus cells visited", "entropy", "shoulder bins", "wrist bins"], tables[0]
        )
    )
    print(f"\nVelocities: |v| percentiles (rad/s); (angle, v) {g}x{g} grid, |v| <= {args.vmax}")
    heads = [f"{j} p{p}" for j in ("shoulder", "wrist") for p in (50, 95, 99)]
    heads += ["shoulder phase", "wrist phase", "torques saturated", "both torques < 0.5", "s"]
    print(table(["policy", *heads], tables[1]))
    print(f"\nGoal {args.offset} steps ahead: larger joint error (rad); tolerance {SUCCESS_TOL}")
    print(table(["policy", "p10", "median", "p90", "solved at start"], tables[2]))


if __name__ == "__main__":
    main()
