"""Training throughput of LeWM (issue: the model and its training loop).

Times full optimisation steps (encode 4 frames, predict, SIGReg, backward, AdamW) on synthetic
clips at batch 32 for the CPU preset and the paper preset, fp32 vs bf16 autocast, and prints a
table with clips/s and ms/step. Usage: python benchmarks/train_speed.py [--steps 3] [--batch 32]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table  # noqa: E402

from lewm.config import RunConfig  # noqa: E402
from lewm.model import LeWM  # noqa: E402
from lewm.runtime import autocast, generator  # noqa: E402
from lewm.train import objective  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def time_steps(cfg: RunConfig, batch: int, steps: int, precision: str) -> float:
    torch.manual_seed(0)
    model = LeWM(cfg.model).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    m, t = cfg.model, cfg.data.num_frames
    pixels = torch.randint(0, 256, (batch, t, m.image_size, m.image_size, 3), dtype=torch.uint8)
    blocks = torch.randn(batch, t, m.action_block_dim)
    times = []
    for i in range(steps + 1):  # the first step is warm-up
        t0 = time.perf_counter()
        with autocast(torch.device("cpu"), precision):
            terms = objective(model, pixels, blocks, cfg, generator("cpu", 0, i))
        opt.zero_grad()
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    return sum(times[1:]) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--presets", default="tworoom-cpu,tworoom-paper")
    args = ap.parse_args()
    rows = []
    for name in args.presets.split(","):
        cfg = RunConfig.load(ROOT / "configs" / f"{name}.yaml")
        params = LeWM(cfg.model).param_counts()["total"]
        for precision in ("fp32", "bf16"):
            s = time_steps(cfg, args.batch, args.steps, precision)
            rows.append(
                [
                    name,
                    f"{params / 1e6:.2f}M",
                    cfg.data.num_frames,
                    precision,
                    f"{1000 * s:.0f}",
                    f"{args.batch / s:.1f}",
                ]
            )
            print(f"  {name} {precision}: {1000 * s:.0f} ms/step", file=sys.stderr)
    print(f"machine: {machine()}")
    print(f"batch {args.batch} clips, mean of {args.steps} steps after 1 warm-up step")
    print(table(["preset", "params", "frames/clip", "precision", "ms/step", "clips/s"], rows))


if __name__ == "__main__":
    main()
