"""The surprise pipeline flags a planted teleport on a model that knows the true dynamics."""

from __future__ import annotations

import numpy as np
import torch

from lewm.envs.tworoom import SPEED
from lewm.evaluation.surprise import paired_test, surprise_experiment

FRAMESKIP = 5


class CentroidModel:
    """Stub world model: the 'embedding' is the agent position (centroid of the coloured — neither
    grey nor white — pixels, so it ignores the agent's colour) and the predictor moves it by the
    block's displacement (SPEED px per unit action, walls ignored)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        self.mean, self.std = torch.as_tensor(mean), torch.as_tensor(std)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:  # (B,T,H,W,3) -> (B,T,2)
        px = pixels.double()
        coloured = (px.amax(-1) - px.amin(-1)) > 100
        h, w = px.shape[2:4]
        ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
        n = coloured.sum((-1, -2)).clamp_min(1)
        scale = 224.0 / w
        x = (xs * coloured).sum((-1, -2)) / n * scale
        y = (ys * coloured).sum((-1, -2)) / n * scale
        return torch.stack([x, y], -1).float()

    def encode_actions(self, blocks: torch.Tensor) -> torch.Tensor:  # (B,T,K) -> (B,T,2)
        raw = blocks.view(*blocks.shape[:2], FRAMESKIP, 2) * self.std + self.mean
        return (SPEED * raw.clamp(-1, 1)).sum(2).float()

    def predict(self, emb: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return emb + act


def test_surprise_flags_teleports_and_ignores_colour_for_a_colour_blind_true_model():
    mean, std = np.zeros(2, np.float32), np.ones(2, np.float32)
    res, curves = surprise_experiment(
        CentroidModel(mean, std),
        "tworoom",
        "expert",
        64,
        FRAMESKIP,
        3,
        mean,
        std,
        num=16,
        step=4,
        frames=7,
        seed=0,
    )
    k = res["step"]
    tele, vis, base = (res["conditions"][c] for c in ("teleport", "visual", "unperturbed"))
    assert res["tests"]["teleport"]["p"] < 0.01
    assert tele["jump_mean"] > 20 * max(abs(base["jump_mean"]), 1.0)
    # The stub cannot see colour: the visual change leaves its surprise exactly unchanged.
    np.testing.assert_allclose(curves["visual"], curves["unperturbed"])
    assert abs(vis["jump_mean"] - base["jump_mean"]) < 1e-9
    assert res["tests"]["visual"]["p"] == 1.0
    # Before the perturbation all three conditions are the same trajectory.
    np.testing.assert_allclose(curves["teleport"][:, 1:k], curves["unperturbed"][:, 1:k])
    assert np.isnan(curves["teleport"][:, 0]).all()


def test_paired_test_handles_identical_samples():
    a = np.array([1.0, 2.0, 3.0])
    assert paired_test(a, a)["p"] == 1.0
    assert paired_test(a + 1.0, a)["p"] == 0.0
    assert 0.0 < paired_test(a + np.array([0.1, -0.2, 0.05]), a)["p"] <= 1.0
