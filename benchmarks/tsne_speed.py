"""t-SNE for `lewm tsne`: scikit-learn's Barnes–Hut TSNE vs the exact O(N²) torch t-SNE that
`lewm.evaluation.tsne` held before issue 18, side by side in one process.

Data: a 2-D "workspace" (like Two-Room's agent position) mapped into D=128 dimensions by random
Fourier features (a smooth, curved embedding) plus a little noise. Quality: the mean fraction of
each point's 10 nearest neighbours in the 2-D ground truth that are also among its 10 nearest
neighbours in the map (what `lewm tsne` reports; chance 10/(N-1)). Time: wall-clock seconds of one
map (1000 iterations each, perplexity 30, seed 0).

    flock /tmp/lewm-cpu.lock .venv/bin/python benchmarks/tsne_speed.py --sizes 1000,2000,5000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, table  # noqa: E402

from lewm.evaluation.tsne import knn_overlap, tsne  # noqa: E402


def workspace(n: int, dim: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) positions in [0, 1]^2 and their (N, dim) curved embedding."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, 1, size=(n, 2))
    w = rng.normal(0, 3.0, size=(2, dim))
    b = rng.uniform(0, 2 * np.pi, size=dim)
    z = np.sin(u @ w + b) + 0.02 * rng.normal(size=(n, dim))
    return u, z.astype(np.float32)


def exact_torch_tsne(x: torch.Tensor, perplexity=30.0, iterations=1000, seed=0) -> np.ndarray:
    """The exact t-SNE `lewm.evaluation.tsne` used before issue 18 (our own code, kept here only
    as the measured alternative): bisection bandwidths, symmetrised P, Student-t kernel, early
    exaggeration 12 for 250 iterations, momentum 0.5 -> 0.8, gains, "auto" learning rate."""
    n = len(x)
    perplexity = min(perplexity, (n - 1) / 3)
    x = x.double()
    d2 = torch.cdist(x, x).pow(2)
    d2 = d2 / d2[d2 > 0].median().clamp_min(1e-12)
    d2.fill_diagonal_(float("inf"))
    target = np.log(perplexity)
    lo, hi = torch.zeros(n, dtype=x.dtype), torch.full((n,), float("inf"), dtype=x.dtype)
    beta = torch.ones(n, dtype=x.dtype)
    for _ in range(100):
        p = torch.softmax(-d2 * beta[:, None], dim=1)
        entropy = -(p * torch.log(p.clamp_min(1e-300))).sum(1)
        flat = entropy > target
        lo, hi = torch.where(flat, beta, lo), torch.where(flat, hi, beta)
        beta = torch.where(torch.isinf(hi), beta * 2, (lo + hi) / 2)
    p = torch.softmax(-d2 * beta[:, None], dim=1)
    p = ((p + p.T) / (2 * n)).clamp_min(1e-12).fill_diagonal_(0.0)
    y = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=x.dtype) * 1e-4
    lr = max(n / 12.0 / 4, 50.0)
    update, gains = torch.zeros_like(y), torch.ones_like(y)
    for it in range(iterations):
        exag, mom = (12.0, 0.5) if it < 250 else (1.0, 0.8)
        w = 1.0 / (1.0 + torch.cdist(y, y).pow(2))
        w.fill_diagonal_(0.0)
        m = (exag * p - (w / w.sum()).clamp_min(1e-12)) * w
        grad = 4.0 * (m.sum(1, keepdim=True) * y - m @ y)
        gains = torch.where((grad > 0) == (update > 0), gains * 0.8, gains + 0.2).clamp_min(0.01)
        update = mom * update - lr * gains * grad
        y = y + update
        y = y - y.mean(0)
    return y.float().numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,2000,5000", help="comma-separated point counts")
    ap.add_argument("--exact-max", type=int, default=2000, help="largest N for the exact ones")
    ap.add_argument("--iterations", type=int, default=1000)
    args = ap.parse_args()
    methods = {
        "sklearn barnes_hut": lambda z: tsne(z, 30.0, args.iterations, 0, "barnes_hut"),
        "sklearn exact": lambda z: tsne(z, 30.0, args.iterations, 0, "exact"),
        "torch exact (before)": lambda z: exact_torch_tsne(
            torch.from_numpy(z), 30.0, args.iterations
        ),
    }
    tsne(workspace(60)[1], 10.0, 250, 0)  # warm-up: imports and compiled code, not timed
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        u, z = workspace(n)
        latent = knn_overlap(u, z)
        for name, fn in methods.items():
            if "exact" in name and n > args.exact_max:
                rows.append([n, name, "not run", "-", f"{latent:.3f}", f"{10 / (n - 1):.4f}"])
                continue
            t0 = time.perf_counter()
            pts = fn(z)
            dt = time.perf_counter() - t0
            ov = knn_overlap(u, pts)
            rows.append([n, name, f"{dt:.1f}", f"{ov:.3f}", f"{latent:.3f}", f"{10 / (n - 1):.4f}"])
            print(f"N={n} {name}: {dt:.1f} s, 10-NN overlap {ov:.3f}", flush=True)
    print()
    print(f"machine: {machine()}")
    print(f"iterations {args.iterations}, perplexity 30, D=128 random-Fourier workspace")
    hdr = ["N", "method", "seconds", "10-NN overlap map", "latent", "chance"]
    print(table(hdr, rows))


if __name__ == "__main__":
    main()
