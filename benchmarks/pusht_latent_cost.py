"""Does a trained Push-T model's latent distance to the goal track the physical pose error?

For test episodes of the run's dataset, pairs (frame t+k, goal frame t+25) with k in 5..20 are
encoded; the squared latent distance is rank-correlated (Spearman) with the agent's and the
block's position errors and the block-angle error, and its power to separate "success-close"
pairs (SPEC §4 success test) from the rest is given as an AUC. A planner whose cost ranks mostly
the agent will move the agent, not the block.

Usage: python benchmarks/pusht_latent_cost.py RUN_DIR [--episodes 60]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table  # noqa: E402

from lewm.evaluation.embeddings import encode_frames, open_run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--episodes", type=int, default=60)
    ap.add_argument("--offset", type=int, default=25, help="goal = start + offset (SPEC §5)")
    args = ap.parse_args()
    run = open_run(args.run_dir, device="cpu")
    st = run.store
    names = list(st.meta.state_names)
    ix = {n: names.index(n) for n in ("agent_x", "block_x", "block_angle")}
    rows = []
    for e in st.episodes("test")[: args.episodes]:
        o, n = int(st.ep_offset[e]), int(st.ep_len[e])
        if n <= args.offset:
            continue
        z = encode_frames(run.model, np.asarray(st.column("pixels")[o : o + n]), run.device)
        z = z.numpy()
        s = np.asarray(st.column("state")[o : o + n], np.float64)
        for t in range(0, n - args.offset, 5):
            g = t + args.offset
            for k in (5, 10, 15, 20):
                a, b = s[t + k], s[g]
                agent = np.hypot(*(a[ix["agent_x"] :][:2] - b[ix["agent_x"] :][:2]))
                block = np.hypot(*(a[ix["block_x"] :][:2] - b[ix["block_x"] :][:2]))
                ang = abs(
                    (a[ix["block_angle"]] - b[ix["block_angle"]] + np.pi) % (2 * np.pi) - np.pi
                )
                latent = float(((z[t + k] - z[g]) ** 2).sum())
                rows.append((latent, agent, block, ang, np.hypot(agent, block)))
    r = np.array(rows)
    close = (r[:, 4] < 20) & (r[:, 3] < np.pi / 9)
    u = stats.mannwhitneyu(r[close, 0], r[~close, 0]).statistic
    auc = 1 - u / (close.sum() * (~close).sum())
    near = r[:, 1] < 10
    out = [
        ["all pairs", len(r), *(f"{stats.spearmanr(r[:, 0], r[:, i])[0]:.2f}" for i in (1, 2, 3))],
        [
            "agent within 10 px",
            int(near.sum()),
            *(f"{stats.spearmanr(r[near, 0], r[near, i])[0]:.2f}" for i in (1, 2, 3)),
        ],
    ]
    print(f"machine: {machine()}")
    print(f"run {args.run_dir}; Spearman rank correlation of the latent goal distance with:")
    print(table(["pairs", "n", "agent error", "block error", "angle error"], out))
    print(f"AUC of the latent distance for success-close pairs ({close.sum()}): {auc:.3f}")


if __name__ == "__main__":
    main()
