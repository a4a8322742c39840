"""`lewm.evaluation.tsne`: the map keeps a workspace's neighbourhoods; the overlap is right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lewm.evaluation.tsne import knn_overlap, tsne


def _workspace(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) positions and a curved 64-D embedding of them (random Fourier features)."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, 1, size=(n, 2))
    z = np.sin(u @ rng.normal(0, 3.0, size=(2, 64)) + rng.uniform(0, 6.3, size=64))
    return u, z.astype(np.float32)


def test_knn_overlap_is_one_for_the_same_points_and_near_chance_for_unrelated_ones():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 3))
    assert knn_overlap(a, a * 3.0 + 1.0, k=10) == 1.0  # same neighbours up to scale and shift
    chance = 10 / 399
    assert knn_overlap(a, rng.normal(size=(400, 3)), k=10) < 3 * chance


def test_tsne_map_keeps_the_workspace_neighbourhoods_and_is_seeded():
    u, z = _workspace(300)
    pts = tsne(torch.from_numpy(z), perplexity=30, iterations=300, seed=0)
    assert pts.shape == (300, 2) and pts.dtype == np.float32
    # chance is 10/299 = 0.033; the 64-D embedding itself keeps ~0.9
    assert knn_overlap(u, pts) > 0.6
    np.testing.assert_array_equal(pts, tsne(z, perplexity=30, iterations=300, seed=0))


def test_tsne_refuses_too_few_points():
    with pytest.raises(ValueError, match="N >= 4"):
        tsne(np.zeros((3, 5), np.float32))
