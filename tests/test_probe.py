"""Probes read what is linearly encoded in a latent and nothing from noise; straightness."""

from __future__ import annotations

import numpy as np
import torch

from lewm.evaluation.probe import fit_ridge, group_quantities, pearson, probe_quantities
from lewm.metrics import straightness, trajectory_straightness


def _synthetic(n: int, seed: int):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, 224, (n, 2))  # a 2-D "agent position"
    mix = np.random.default_rng(99).normal(size=(2, 24))  # same encoding for train and test
    z = pos @ mix / 100 + 0.01 * rng.normal(size=(n, 24))
    noise = rng.normal(size=(n, 1))  # a quantity the latent knows nothing about
    door = np.full((n, 1), 49.0)  # constant: must be skipped
    return torch.tensor(z, dtype=torch.float32), np.concatenate([pos, noise, door], 1)


def test_probes_recover_linear_quantities_and_fail_on_noise():
    z_tr, y_tr = _synthetic(800, 0)
    z_te, y_te = _synthetic(400, 1)
    names = ["agent_x", "agent_y", "noise", "door_y"]
    res = probe_quantities(z_tr, y_tr, z_te, y_te, names, mlp_steps=300, seed=0)
    q = res["quantities"]
    for name in ("agent_x", "agent_y"):
        assert q[name]["linear"]["r"] > 0.99 and q[name]["linear"]["mse"] < 0.02
        assert q[name]["mlp"]["r"] > 0.95
    assert abs(q["noise"]["linear"]["r"]) < 0.15 and q["noise"]["linear"]["mse"] > 0.9
    assert abs(q["noise"]["mlp"]["r"]) < 0.2
    assert "door_y" in res["skipped"] and "door_y" not in q
    agent = res["groups"]["agent"]
    assert agent["members"] == ["agent_x", "agent_y"] and agent["linear"]["r"] > 0.99


def test_ridge_is_exact_on_noise_free_linear_data_and_pearson_is_bounded():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    w_true = torch.randn(5, 2, generator=g)
    y = x @ w_true + 3.0
    w, b = fit_ridge(x, y, alpha=0.0)
    assert torch.allclose(w, w_true, atol=1e-4) and torch.allclose(b, torch.full((2,), 3.0))
    assert torch.allclose(pearson(y, -y), torch.full((2,), -1.0))
    assert group_quantities(["agent_x", "agent_y", "target_x", "target_y", "door_y"]) == {
        "agent": ["agent_x", "agent_y"],
        "target": ["target_x", "target_y"],
        "door_y": ["door_y"],
    }


def test_straightness_is_one_on_a_line_and_near_zero_on_a_random_walk():
    g = torch.Generator().manual_seed(0)
    t = torch.arange(20, dtype=torch.float32)[None, :, None]
    line = torch.randn(4, 1, 32, generator=g) + t * torch.randn(4, 1, 32, generator=g)
    assert abs(straightness(line) - 1.0) < 1e-5
    walk = torch.randn(16, 200, 64, generator=g).cumsum(1)
    assert abs(straightness(walk)) < 0.03
    # Variable-length trajectories: every velocity pair counts once.
    assert abs(trajectory_straightness([line[0], line[1, :5]]) - 1.0) < 1e-5
