"""Shared helpers for the benchmark scripts: machine description, table printing, training-step
timing."""

from __future__ import annotations

import os
import platform
import time

import torch


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}; {os.cpu_count()} cores; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); python {platform.python_version()}"
    )


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep, *[line(r) for r in cells[1:]]])


def train_step_seconds(cfg, batch: int, steps: int, precision: str) -> float:
    """Mean seconds of ``steps`` optimisation steps (after one warm-up) of `lewm train`'s
    objective for ``cfg`` (a RunConfig) on random clips of ``cfg.data.num_frames`` frames: encode,
    predict, loss, backward, gradient clipping, AdamW (lr 1e-4, weight decay 1e-3)."""
    from lewm.model import LeWM
    from lewm.runtime import autocast, generator
    from lewm.train import objective

    torch.manual_seed(0)
    model = LeWM(cfg.model).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-3)
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
