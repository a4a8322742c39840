"""Training throughput of LeWM (issue: the model and its training loop).

Times full optimisation steps (encode 4 frames, predict, SIGReg, backward, AdamW) on synthetic
clips at batch 32 for the CPU preset and the paper preset, fp32 vs bf16 autocast, and prints a
table with clips/s and ms/step. Usage: python benchmarks/train_speed.py [--steps 3] [--batch 32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table, train_step_seconds  # noqa: E402

from lewm.config import RunConfig  # noqa: E402
from lewm.model import LeWM  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


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
            s = train_step_seconds(cfg, args.batch, args.steps, precision)
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
