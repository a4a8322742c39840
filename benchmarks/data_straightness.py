"""Straightness of the *true* state trajectories of a dataset, at the model's latent step.

`lewm straightness` measures how straight a trained model's latent trajectories are (the paper
reports 0.5-0.6 for Push-T); this script measures the same quantity on the data's own state
columns: the mean cosine between consecutive displacements ``x[t+k] - x[t]`` and
``x[t+2k] - x[t+k]`` (k = frameskip) over test episodes. A latent that mostly encodes a part of
the scene cannot be straighter than that part's motion.

    python benchmarks/data_straightness.py datasets/pusht-64.h5 --columns agent_x,agent_y \
        --columns block_x,block_y
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table  # noqa: E402

from lewm.data.store import EpisodeStore  # noqa: E402


def straightness(
    states: np.ndarray, starts: list[int], lengths: list[int], cols: list[int], k: int
) -> tuple[float, int, float]:
    """(mean cosine, pairs, median displacement) over episodes; still steps are left out."""
    cos, moves = [], []
    for off, n in zip(starts, lengths):
        x = np.asarray(states[off : off + n], dtype=np.float64)[::k][:, cols]
        v = np.diff(x, axis=0)
        a, b = v[:-1], v[1:]
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        m = (na > 1e-6) & (nb > 1e-6)
        cos += list((a * b).sum(1)[m] / (na * nb)[m])
        moves += list(na[m])
    if not cos:
        return float("nan"), 0, 0.0
    return float(np.mean(cos)), len(cos), float(np.median(moves))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("datasets", nargs="+", type=Path)
    p.add_argument(
        "--columns", action="append", required=True, help="comma-separated state names, repeatable"
    )
    p.add_argument("--frameskip", type=int, default=5, help="env steps per latent step (5)")
    p.add_argument("--episodes", type=int, default=60, help="test episodes per dataset (60)")
    args = p.parse_args(argv)
    rows = []
    for path in args.datasets:
        with EpisodeStore(path, in_memory=False) as store:
            names = list(store.meta.state_names)
            eps = store.episodes("test")[: args.episodes]
            starts = [int(store.ep_offset[e]) for e in eps]
            lengths = [int(store.ep_len[e]) for e in eps]
            states = store.column("state")
            for group in args.columns:
                wanted = group.split(",")
                missing = [c for c in wanted if c not in names]
                if missing:
                    raise SystemExit(f"{path}: no state column {missing}; it has {names}")
                cols = [names.index(c) for c in wanted]
                mean, n, move = straightness(states, starts, lengths, cols, args.frameskip)
                rows.append([path.name, store.meta.policy, group, f"{mean:+.2f}", n, f"{move:.3g}"])
    print(f"frameskip {args.frameskip}, up to {args.episodes} test episodes per dataset")
    headers = ["dataset", "policy", "state columns", "straightness", "pairs", "median move"]
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
