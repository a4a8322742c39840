"""t-SNE of frozen embeddings coloured by physical quantities (SPEC §7; `lewm tsne`).

The map is scikit-learn's :class:`~sklearn.manifold.TSNE` (Barnes–Hut, O(N log N); PCA
initialisation, learning rate "auto"): on the 2-core CPU it is faster than the exact O(N²) torch
t-SNE this module used to hold at every size measured and keeps neighbourhoods as well
(``benchmarks/tsne_speed.py``, docs/tsne.md), so `lewm tsne` maps 5,000 points by
default. Beside the figure we report how well neighbourhoods are kept: the mean fraction of each
point's k nearest neighbours in physical coordinates that are also among its k nearest neighbours
in the map (chance level k / (N-1)).

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

MIN_ITERATIONS = 250
"""scikit-learn's TSNE runs at least this many iterations (its early-exaggeration phase)."""


def tsne(
    x: torch.Tensor | np.ndarray,
    perplexity: float = 30.0,
    iterations: int = 1000,
    seed: int = 0,
    method: str = "barnes_hut",
) -> np.ndarray:
    """Two-dimensional t-SNE map of x (N, D) -> (N, 2) float32, deterministic given ``seed``.

    ``perplexity`` is capped at (N-1)/3 (the bandwidth search needs 3·perplexity neighbours);
    ``iterations`` below :data:`MIN_ITERATIONS` are raised to it, with a warning. ``method``:
    'barnes_hut' (default) or 'exact' (scikit-learn's O(N²) gradient).
    """
    from sklearn.manifold import TSNE

    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    n = len(x)
    if x.ndim != 2 or n < 4:
        raise ValueError(f"t-SNE needs x of shape (N >= 4, D), got {x.shape}")
    if iterations < MIN_ITERATIONS:
        log.warning(
            "t-SNE: %d iterations requested; scikit-learn runs at least %d, using %d",
            iterations,
            MIN_ITERATIONS,
            MIN_ITERATIONS,
        )
    ts = TSNE(
        n_components=2,
        perplexity=min(perplexity, (n - 1) / 3),
        max_iter=max(iterations, MIN_ITERATIONS),
        init="pca",
        learning_rate="auto",
        method=method,
        random_state=seed,
    )
    return ts.fit_transform(x).astype(np.float32)


def knn_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each point's k nearest neighbours in a (N, Da) that are also among its k
    nearest neighbours in b (N, Db) (a point is never its own neighbour)."""
    from sklearn.neighbors import NearestNeighbors

    def knn(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64)
        return NearestNeighbors(n_neighbors=k).fit(v).kneighbors(return_distance=False)

    na, nb = knn(a), knn(b)
    hits = (na[:, :, None] == nb[:, None, :]).any(-1).mean()
    return float(hits)


def run_tsne(
    run_dir: str | Path,
    data: str | None = None,
    split: str = "test",
    max_points: int = 5000,
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
        "iterations": max(iterations, MIN_ITERATIONS),
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
