"""Planning speed: CEM time per solve with the LeWM rollout as its cost (issue: latent planning).

Settings as the paper (SPEC §5): 300 candidates x 30 iterations x horizon 5, history 3, context =
the current frame. Presets: the CPU preset and the paper preset; batches of 1 and 50 episodes;
fp32 and bf16 autocast. For slow combinations (`--max-seconds`) only a few iterations are timed and
the per-iteration time is scaled to 30; such rows are marked "extrapolated".
Usage: python benchmarks/plan_speed.py [--iterations 30] [--max-seconds 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table  # noqa: E402

from lewm.baselines.registry import plan_max_batch  # noqa: E402
from lewm.config import RunConfig  # noqa: E402
from lewm.model import LeWM  # noqa: E402
from lewm.planning import CEM  # noqa: E402
from lewm.planning.cost import goal_cost  # noqa: E402
from lewm.runtime import autocast  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@torch.inference_mode()
def solve_time(model: LeWM, batch: int, iterations: int, precision: str) -> float:
    m = model.cfg
    px = torch.randint(0, 256, (batch, 2, m.image_size, m.image_size, 3), dtype=torch.uint8)
    with autocast(torch.device("cpu"), precision):
        emb = model.encode(px).float()
    context, goal = emb[:, :1], emb[:, 1]

    def rollout(actions):
        with autocast(torch.device("cpu"), precision):
            return model.rollout(context, actions)[:, :, 1:].float()

    # Candidates chunked as `lewm eval` does (cache-sized calls on a CPU).
    max_batch = plan_max_batch(model.cfg, torch.device("cpu"))
    cem = CEM(num_samples=300, num_elites=30, iterations=iterations, max_batch=max_batch)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    cem.solve(goal_cost(rollout, goal), batch, 5, m.action_block_dim, g)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        help="time a probe of 2 iterations first; extrapolate if 30 would exceed this",
    )
    ap.add_argument("--presets", default="tworoom-cpu,tworoom-paper")
    ap.add_argument("--batches", default="1,50")
    args = ap.parse_args()
    rows = []
    for name in args.presets.split(","):
        cfg = RunConfig.load(ROOT / "configs" / f"{name}.yaml")
        torch.manual_seed(0)
        model = LeWM(cfg.model).eval()
        for batch in [int(b) for b in args.batches.split(",")]:
            for precision in ("fp32", "bf16"):
                probe = solve_time(model, batch, 2, precision) / 2
                if probe * args.iterations <= args.max_seconds:
                    s, how = solve_time(model, batch, args.iterations, precision), "measured"
                else:
                    s, how = probe * args.iterations, "extrapolated (2 its)"
                rows.append([name, batch, precision, f"{s:.2f}", f"{s / batch:.3f}", how])
                print(f"  {name} B={batch} {precision}: {s:.2f} s/solve ({how})", file=sys.stderr)
    print(f"machine: {machine()}")
    print(f"CEM 300 samples x {args.iterations} iterations x horizon 5, 1 context frame")
    print(table(["preset", "episodes", "precision", "s/solve", "s/solve/episode", "how"], rows))


if __name__ == "__main__":
    main()
