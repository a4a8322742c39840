"""How much does a trained model's latent distance weigh each state component at the success
tolerance?

A planner with the latent cost (SPEC §5: squared distance of the predicted last embedding to the
goal's) trades errors in one state component against another by how far each moves the
embedding. This script takes test-episode states of the run's dataset, moves one state column at
a time by ``scale × delta`` (a random sign per state), renders the moved state with the true
simulator (`set_state` + `render`), encodes both frames and prints the median squared latent
distance per column and scale, with the env's own `success_distance` of the moved state from the
original (1.0 = exactly at the success tolerance). The last line is the scale to read against:
the median latent distance from a test frame to the frame 25 steps later (the evaluation's goal).

If the component the success test is strictest about moves the embedding least at its
tolerance, CEM spends its samples on the others — the anisotropy `lewm diagnose`'s row 2 (true
dynamics, latent cost) cannot show by itself.

Usage: python benchmarks/latent_sensitivity.py RUN_DIR [--states 40] [--perturb agent_x=20 ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table  # noqa: E402

from lewm.envs import make  # noqa: E402
from lewm.evaluation.embeddings import encode_frames, open_run  # noqa: E402

# One success tolerance per column (SPEC §4's success tests); arm/agent columns that the success
# test ignores are included with a size that moves them visibly, to show what the latent weighs.
DEFAULT_PERTURB = {
    "pusht": {"agent_x": 20.0, "block_x": 20.0, "block_y": 20.0, "block_angle": np.pi / 9},
    "reacher": {"shoulder": 0.05, "wrist": 0.05},
    "cube": {"cube_x": 0.04, "cube_y": 0.04, "shoulder_pan": 0.05, "elbow": 0.05},
    "tworoom": {"agent_x": 0.05},
}


def parse_perturb(items: list[str]) -> dict[str, float]:
    out = {}
    for it in items:
        name, _, value = it.partition("=")
        if not value:
            raise SystemExit(f"--perturb wants NAME=DELTA, got {it!r}")
        out[name] = float(value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--data", default=None, help="dataset (default: the run's)")
    ap.add_argument("--states", type=int, default=40, help="test states to perturb")
    ap.add_argument("--perturb", action="append", default=[], help="NAME=DELTA (repeatable)")
    ap.add_argument("--scales", default="0.5,1,2,4", help="multiples of each DELTA")
    ap.add_argument("--offset", type=int, default=25, help="goal offset of the reference line")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    run = open_run(args.run_dir, data=args.data, device="cpu")
    st, env_name = run.store, run.cfg.env
    perturb = parse_perturb(args.perturb) or DEFAULT_PERTURB.get(env_name)
    if not perturb:
        raise SystemExit(f"no default perturbations for env {env_name!r}: pass --perturb")
    names = list(st.meta.state_names)
    unknown = sorted(set(perturb) - set(names))
    if unknown:
        raise SystemExit(f"unknown state columns {unknown}; the dataset's: {names}")
    scales = [float(s) for s in args.scales.split(",")]
    env = make(env_name, image_size=st.meta.image_size)
    env.reset(seed=args.seed)
    rng = np.random.default_rng(args.seed)

    # Test states with a frame `offset` steps later in the same episode (the reference line).
    starts, goals = [], []
    for e in rng.permutation(st.episodes("test")):
        o, n = int(st.ep_offset[e]), int(st.ep_len[e])
        if n > args.offset:
            t = int(rng.integers(0, n - args.offset))
            starts.append(o + t)
            goals.append(o + t + args.offset)
        if len(starts) == args.states:
            break
    if not starts:
        raise SystemExit(f"no test episode is longer than {args.offset} steps")
    states = np.asarray(st.column("state")[np.sort(starts)], np.float64)
    order = np.argsort(starts)
    goal_rows = np.asarray(goals)[order]
    pix = st.column("pixels")
    z_start = encode_frames(run.model, np.asarray(pix[np.sort(starts)]), run.device).numpy()
    z_goal = encode_frames(run.model, np.asarray(pix[goal_rows]), run.device).numpy()
    goal_dist = ((z_start - z_goal) ** 2).sum(1)

    rows = []
    for col, delta in perturb.items():
        j = names.index(col)
        for scale in scales:
            base_frames, moved_frames, sd = [], [], []
            for s in states:
                moved = s.copy()
                moved[j] += rng.choice([-1.0, 1.0]) * scale * delta
                try:
                    env.set_state(s.astype(np.float32))
                    f0 = env.render()
                    env.set_state(moved.astype(np.float32))
                    f1 = env.render()
                except ValueError:  # e.g. a Push-T agent moved into the block
                    continue
                base_frames.append(f0)
                moved_frames.append(f1)
                sd.append(env.success_distance(moved, s))
            if not base_frames:
                rows.append([col, f"{scale * delta:.4g}", 0, "-", "-", "-"])
                continue
            z0 = encode_frames(run.model, np.stack(base_frames), run.device).numpy()
            z1 = encode_frames(run.model, np.stack(moved_frames), run.device).numpy()
            d = ((z0 - z1) ** 2).sum(1)
            rows.append(
                [
                    col,
                    f"{scale * delta:.4g}",
                    len(d),
                    f"{np.median(sd):.2f}",
                    f"{np.median(d):.3g}",
                    f"{np.median(d) / np.median(goal_dist):.3f}",
                ]
            )
    print(f"machine: {machine()}")
    print(
        f"run {args.run_dir} (env {env_name}, {st.meta.image_size} px), {len(states)} test states"
    )
    print(
        table(
            ["column", "moved by", "n", "success distance", "latent dist² (median)", "÷ goal"],
            rows,
        )
    )
    print(
        f"median latent dist² from a test frame to the frame {args.offset} steps later: "
        f"{np.median(goal_dist):.3g} (p10 {np.percentile(goal_dist, 10):.3g}, "
        f"p90 {np.percentile(goal_dist, 90):.3g})"
    )


if __name__ == "__main__":
    main()
