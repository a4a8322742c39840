"""t-SNE of frozen embeddings coloured by physical quantities (SPEC §7; `lewm tsne`).

Exact O(N²) t-SNE (van der Maaten & Hinton, 2008) in torch — enough for a few thousand points and
no extra dependency: per-point Gaussian bandwidths found by bisection to match the perplexity,
symmetrised affinities, Student-t low-dimensional kernel, early exaggeration, momentum and the
classic per-parameter gains. Beside the figure we report how well neighbourhoods are kept: the
mean fraction of each point's k nearest neighbours in physical coordinates that are also among its
k nearest neighbours in the map (chance level k / (N-1)).

Shapes: N points, D latent.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from lewm.evaluation.embeddings import (
    encode_frames,
    episode_rows,
    open_run,
    read_rows,
)
from lewm.evaluation.probe import group_quantities

log = logging.getLogger(__name__)


def _affinities(x: torch.Tensor, perplexity: float, iters: int = 100) -> torch.Tensor:
    """Symmetric joint probabilities P (N, N) of x (N, D) (float64, zero diagonal, sums to 1)."""
    n = len(x)
    d2 = torch.cdist(x, x).pow(2)
    d2 = d2 / d2[d2 > 0].median().clamp_min(1e-12)  # scale-free bisection range
    d2.fill_diagonal_(float("inf"))
    target = np.log(perplexity)
    lo = torch.zeros(n, dtype=x.dtype)
    hi = torch.full((n,), float("inf"), dtype=x.dtype)
    beta = torch.ones(n, dtype=x.dtype)
    for _ in range(iters):
        logits = -d2 * beta[:, None]
        p = torch.softmax(logits, dim=1)
        entropy = -(p * torch.log(p.clamp_min(1e-300))).sum(1)
        too_flat = entropy > target  # entropy too high -> sharpen (raise beta)
        lo = torch.where(too_flat, beta, lo)
        hi = torch.where(too_flat, hi, beta)
        beta = torch.where(torch.isinf(hi), beta * 2, (lo + hi) / 2)
    p = torch.softmax(-d2 * beta[:, None], dim=1)
    p = (p + p.T) / (2 * n)
    return p.clamp_min(1e-12).fill_diagonal_(0.0)


def tsne(
    x: torch.Tensor,
    perplexity: float = 30.0,
    iterations: int = 1000,
    seed: int = 0,
    exaggeration: float = 12.0,
    exaggeration_iters: int = 250,
) -> np.ndarray:
    """Two-dimensional t-SNE map of x (N, D) -> (N, 2) float32. ``seed`` drives the (tiny random)
    initialisation; the result is deterministic given it."""
    n = len(x)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    perplexity = min(perplexity, (n - 1) / 3)
    x = x.double().cpu()
    p = _affinities(x, perplexity)
    gen = torch.Generator().manual_seed(seed)
    y = torch.randn(n, 2, generator=gen, dtype=torch.float64) * 1e-4
    lr = max(n / exaggeration / 4, 50.0)  # the "auto" rate of Belkina et al. (2019)
    update = torch.zeros_like(y)
    gains = torch.ones_like(y)
    for it in range(iterations):
        exag = exaggeration if it < exaggeration_iters else 1.0
        momentum = 0.5 if it < exaggeration_iters else 0.8
        w = 1.0 / (1.0 + torch.cdist(y, y).pow(2))  # Student-t kernel (N, N)
        w.fill_diagonal_(0.0)
        q = (w / w.sum()).clamp_min(1e-12)
        m = (exag * p - q) * w
        grad = 4.0 * (m.sum(1, keepdim=True) * y - m @ y)  # 4 sum_j m_ij (y_i - y_j)
        same_sign = (grad > 0) == (update > 0)
        gains = torch.where(same_sign, gains * 0.8, gains + 0.2).clamp_min(0.01)
        update = momentum * update - lr * gains * grad
        y = y + update
        y = y - y.mean(0)
    return y.float().numpy()


def knn_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each point's k nearest neighbours in a (N, Da) that are also among its k
    nearest neighbours in b (N, Db)."""

    def knn(v: np.ndarray) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(v), dtype=torch.float64)
        d = torch.cdist(t, t)
        d.fill_diagonal_(float("inf"))
        return d.topk(k, largest=False).indices

    na, nb = knn(a), knn(b)
    hits = (na[:, :, None] == nb[:, None, :]).any(-1).double().mean()
    return float(hits)


def run_tsne(
    run_dir: str | Path,
    data: str | None = None,
    split: str = "test",
    max_points: int = 1000,
    colour_by: list[str] | None = None,
    perplexity: float = 30.0,
    iterations: int = 1000,
    seed: int = 0,
    device: str | None = None,
    progress: bool = False,
) -> dict:
    """`lewm tsne`: writes ``tsne.png`` and ``tsne.json`` (points, colours, neighbourhoods)."""
    from lewm.report.plots import plot_embedding_2d

    run = open_run(run_dir, data, device)
    names = list(run.store.meta.state_names)
    if colour_by is None:  # the first object with x/y coordinates (Two-Room: the agent)
        groups = [g for g in group_quantities(names).values() if len(g) > 1]
        colour_by = groups[0] if groups else names[:1]
    missing = [c for c in colour_by if c not in names]
    if missing:
        raise ValueError(f"{run.store.path}: no state quantity {missing}; have {names}")
    eps = run.store.episodes(split)
    rows = np.concatenate(episode_rows(run.store, eps))
    if len(rows) > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_points, replace=False))
    z = encode_frames(
        run.model, read_rows(run.store, "pixels", rows), run.device, progress=progress
    )
    state = np.asarray(read_rows(run.store, "state", rows), np.float64)
    cols = [names.index(c) for c in colour_by]
    pts = tsne(z, perplexity, iterations, seed)
    k = min(10, len(rows) - 1)
    phys = state[:, cols]
    res = {
        "split": split,
        "points": len(rows),
        "episodes": int(len(eps)),
        "colour_by": colour_by,
        "perplexity": perplexity,
        "iterations": iterations,
        "knn_k": k,
        "knn_overlap_tsne_vs_physical": knn_overlap(phys, pts, k),
        "knn_overlap_latent_vs_physical": knn_overlap(phys, z.numpy(), k),
        "knn_chance": k / (len(rows) - 1),
        "tsne": pts.tolist(),
        "colours": {c: state[:, i].tolist() for c, i in zip(colour_by, cols)},
        "run_dir": str(run.run_dir),
        "step": run.meta.get("step"),
    }
    plot_embedding_2d(
        pts,
        {c: state[:, i] for c, i in zip(colour_by, cols)},
        run.run_dir / "tsne.png",
        title="t-SNE of embeddings",
    )
    (run.run_dir / "tsne.json").write_text(json.dumps(res) + "\n")
    return res
