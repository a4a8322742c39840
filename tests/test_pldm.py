"""PLDM baseline (SPEC §8): each loss term behaves; it trains, logs every term and plans."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.conftest import tiny_config

from lewm.baselines.pldm import (
    PLDM,
    covariance_penalty,
    pldm_objective,
    temporal_similarity,
    variance_hinge,
)
from lewm.config import ConfigError, RunConfig
from lewm.data.store import EpisodeStore
from lewm.evaluation.protocol import evaluate, load_model
from lewm.train import train


def _whitened(n: int, d: int, seed: int = 0) -> torch.Tensor:
    """n samples of d exactly decorrelated, exactly unit-variance dimensions: (n, d)."""
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = x - x.mean(0)
    cov = x.T @ x / (n - 1)
    evals, evecs = torch.linalg.eigh(cov)
    return (x @ evecs @ torch.diag(evals.rsqrt()) @ evecs.T).float()


def test_variance_hinge_is_zero_at_unit_variance_and_grows_as_latents_collapse():
    z = _whitened(256, 8)[None]  # (G=1, N, D)
    assert variance_hinge(z).item() < 1e-3
    assert variance_hinge(2.0 * z).item() == pytest.approx(0.0, abs=1e-6)  # hinge: only below 1
    shrunk = [variance_hinge(s * z).item() for s in (0.75, 0.5, 0.1, 0.0)]
    assert shrunk == sorted(shrunk) and shrunk[0] > 0.2
    assert shrunk[-1] == pytest.approx(1.0, abs=0.02)  # fully collapsed: 1 - sqrt(eps)


def test_covariance_penalty_is_zero_for_decorrelated_and_positive_for_correlated_latents():
    z = _whitened(256, 8)
    assert covariance_penalty(z[None]).item() < 1e-8
    mixed = z.clone()
    mixed[:, 1] = 0.8 * z[:, 0] + 0.6 * z[:, 1]  # corr(dim0, dim1) = 0.8
    pen = covariance_penalty(mixed[None]).item()
    assert pen == pytest.approx(2 * 0.8**2 / 8, rel=1e-3)  # two off-diagonal entries, / D
    groups = torch.stack([z, mixed])  # mean over groups
    assert covariance_penalty(groups).item() == pytest.approx(pen / 2, rel=1e-3)


def test_temporal_similarity_penalises_change_between_frames():
    still = torch.ones(4, 5, 3)
    assert temporal_similarity(still).item() == 0.0
    ramp = torch.arange(5.0)[None, :, None].expand(4, 5, 3)  # +1 per step in every dim
    assert temporal_similarity(ramp).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="T >= 2"):
        temporal_similarity(torch.ones(4, 1, 3))


def test_objective_weights_each_term_and_idm_needs_its_head(tiny_dataset):
    cfg = tiny_config(tiny_dataset, "model.kind=pldm", "model.idm_hidden=16", "train.pldm_idm=1")
    torch.manual_seed(0)
    model = PLDM(cfg.model)
    assert model.idm is not None and "idm" in model.param_counts()
    from lewm.train import open_datasets

    _, ds, _ = open_datasets(cfg)
    batch = ds.get_batch(list(range(8)))
    pixels, blocks = torch.as_tensor(batch["pixels"]), torch.as_tensor(batch["actions"])
    model.eval()
    terms = pldm_objective(model, pixels, blocks, cfg)
    tc = cfg.train
    expected = (
        terms["pred_loss"]
        + tc.pldm_var * terms["var"]
        + tc.pldm_cov * terms["cov"]
        + tc.pldm_time_sim * terms["time_sim"]
        + tc.pldm_time_var * terms["time_var"]
        + tc.pldm_time_cov * terms["time_cov"]
        + tc.pldm_idm * terms["idm"]
    )
    assert terms["idm"].item() > 0
    assert torch.allclose(terms["loss"], expected)
    assert (tc.pldm_var, tc.pldm_cov, tc.pldm_time_sim, tc.pldm_time_var) == (18, 12, 0.2, 0.7)
    with pytest.raises(ConfigError, match="idm_hidden"):
        RunConfig.load(None, ["model.kind=pldm", "train.pldm_idm=1"])


def test_pldm_trains_logs_every_term_and_plans(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, "model.kind=pldm")
    res = train(cfg, tmp_path / "run", progress=False)
    assert res.step == cfg.train.max_steps
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    terms = {"loss", "pred_loss", "var", "cov", "time_sim", "time_var", "time_cov", "idm"}
    assert terms <= set(records[0]) and "sigreg" not in records[0]
    assert any("val_var" in r for r in records)
    model, loaded, meta = load_model(tmp_path / "run", torch.device("cpu"))
    assert isinstance(model, PLDM) and loaded.model.kind == "pldm"
    store = EpisodeStore(tiny_dataset)
    out = evaluate(
        model,
        loaded,
        store,
        np.asarray(meta["action_mean"], np.float32),
        np.asarray(meta["action_std"], np.float32),
        torch.device("cpu"),
        progress=False,
    )
    assert 0.0 <= out["success_mean"] <= 1.0 and out["solve_seconds_median"] > 0
