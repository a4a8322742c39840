"""DINO-WM-style baseline (SPEC §8): DINOv2 key names, frozen encoder, causal patch predictor,
training and planning with the mean-MSE patch cost."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from tests.conftest import tiny_config

from lewm.baselines import build_model, goal_distance, tokens_per_frame
from lewm.baselines.dinowm import DinoWM
from lewm.checkpoint import CheckpointError
from lewm.config import ConfigError, RunConfig
from lewm.data.store import EpisodeStore
from lewm.evaluation.protocol import evaluate, load_model
from lewm.model.dinov2 import load_dinov2_weights, random_dinov2
from lewm.planning.cost import goal_cost
from lewm.train import train

# Tiny DINO-WM: 16-px frames resized to 28 px -> 2x2 = 4 patch tokens per frame.
TINY_DINO = ["model.kind=dinowm", "model.dino_image_size=28", "model.dino_action_dim=4"]


def public_dinov2_vits14_shapes(registers: int = 0) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the public `dinov2_vits14` state dict (written out from its layout)."""
    w, hidden = 384, 1536
    shapes = {
        "cls_token": (1, 1, w),
        "pos_embed": (1, 1 + 37 * 37, w),
        "mask_token": (1, w),
        "patch_embed.proj.weight": (w, 3, 14, 14),
        "patch_embed.proj.bias": (w,),
        "norm.weight": (w,),
        "norm.bias": (w,),
    }
    if registers:
        shapes["register_tokens"] = (1, registers, w)
    for i in range(12):
        for name, shape in {
            "norm1.weight": (w,),
            "norm1.bias": (w,),
            "attn.qkv.weight": (3 * w, w),
            "attn.qkv.bias": (3 * w,),
            "attn.proj.weight": (w, w),
            "attn.proj.bias": (w,),
            "ls1.gamma": (w,),
            "norm2.weight": (w,),
            "norm2.bias": (w,),
            "mlp.fc1.weight": (hidden, w),
            "mlp.fc1.bias": (hidden,),
            "mlp.fc2.weight": (w, hidden),
            "mlp.fc2.bias": (w,),
            "ls2.gamma": (w,),
        }.items():
            shapes[f"blocks.{i}.{name}"] = shape
    return shapes


@pytest.mark.parametrize("registers", [0, 4])
def test_encoder_loads_a_state_dict_with_the_public_dinov2_names(tmp_path, registers):
    gen = torch.Generator().manual_seed(1)
    state = {
        k: torch.randn(s, generator=gen) * 0.02
        for k, s in public_dinov2_vits14_shapes(registers).items()
    }
    path = tmp_path / "dinov2_vits14.pth"
    torch.save(state, path)
    enc = load_dinov2_weights(path)
    own = enc.state_dict()
    assert set(own) == set(state)
    assert all(torch.equal(own[k], state[k]) for k in state)
    out = enc(torch.randn(2, 3, 56, 56))  # 4x4 grid: pos_embed interpolated from 37x37
    assert out.shape == (2, 16, 384) and torch.isfinite(out).all()
    # A wrong file fails naming the problem.
    bad = dict(state)
    bad["blocks.0.attn.qkv.weight"] = torch.zeros(10, 384)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="blocks.0.attn.qkv.weight"):
        load_dinov2_weights(tmp_path / "bad.pth")


def test_position_embedding_at_the_pretraining_grid_is_used_as_stored():
    enc = random_dinov2()
    assert torch.equal(enc.interpolate_pos_embed(37, 37), enc.pos_embed)
    small = enc.interpolate_pos_embed(4, 4)
    assert small.shape == (1, 17, 384) and torch.equal(small[:, 0], enc.pos_embed[:, 0])


def test_random_init_is_fixed_and_announced(tiny_dataset, caplog):
    cfg = tiny_config(tiny_dataset, *TINY_DINO)
    with caplog.at_level(logging.WARNING):
        a, b = build_model(cfg.model), build_model(cfg.model)
    assert "FIXED RANDOM" in caplog.text
    assert all(torch.equal(x, y) for x, y in zip(a.encoder.parameters(), b.encoder.parameters()))
    assert tokens_per_frame(cfg.model) == a.tokens_per_frame == 4
    with pytest.raises(ConfigError, match="dino_image_size"):
        RunConfig.load(None, ["model.kind=dinowm", "model.dino_image_size=60"])


def test_predictor_is_frame_causal():
    cfg = RunConfig.load(
        None, [*TINY_DINO, "model.image_size=28", "model.embed_dim=32", "model.pred_depth=1"]
    )
    torch.manual_seed(0)
    model = DinoWM(cfg.model, encoder=random_dinov2()).eval()
    emb = torch.randn(2, 3, model.tokens_per_frame * 384)
    act = torch.randn(2, 3, cfg.model.dino_action_dim)
    out = model.predict(emb, act)
    emb2 = emb.clone()
    emb2[:, 2] += 1.0  # change the last frame only
    out2 = model.predict(emb2, act)
    assert torch.allclose(out[:, :2], out2[:, :2], atol=1e-6)  # earlier frames unaffected
    assert not torch.allclose(out[:, 2], out2[:, 2])


def test_mean_patch_cost_is_mean_squared_error_over_tokens():
    goal = torch.zeros(1, 6)
    pred = torch.tensor([1.0, 2.0, 0.0, 0.0, 0.0, 3.0]).view(1, 1, 1, 6)
    mean_cost = goal_cost(lambda a: pred, goal, distance="mean")(torch.zeros(1, 1, 1, 2))
    sum_cost = goal_cost(lambda a: pred, goal, distance="sum")(torch.zeros(1, 1, 1, 2))
    assert mean_cost.item() == pytest.approx(14 / 6) and sum_cost.item() == pytest.approx(14)
    cfg = RunConfig.load(None, ["model.kind=dinowm"])
    assert goal_distance(cfg.model) == "mean" and goal_distance(RunConfig().model) == "sum"


def test_encoder_stays_frozen_and_bit_identical_through_training_then_plans(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, *TINY_DINO)
    before = {k: v.clone() for k, v in build_model(cfg.model).encoder.state_dict().items()}
    res = train(cfg, tmp_path / "run", progress=False)
    model = res.model
    assert model.encoder.training is False and model.predictor.training is True
    after = model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None and not p.requires_grad for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.predictor.parameters())
    counts = model.param_counts()
    assert counts["trainable"] == counts["total"] - counts["encoder"] > 0

    loaded, loaded_cfg, meta = load_model(tmp_path / "run", torch.device("cpu"))
    assert isinstance(loaded, DinoWM) and meta["params"] == counts
    assert all(torch.equal(before[k], v) for k, v in loaded.encoder.state_dict().items())
    store = EpisodeStore(tiny_dataset)
    out = evaluate(
        loaded,
        loaded_cfg,
        store,
        np.asarray(meta["action_mean"], np.float32),
        np.asarray(meta["action_std"], np.float32),
        torch.device("cpu"),
        progress=False,
    )
    assert 0.0 <= out["success_mean"] <= 1.0 and out["solve_seconds_median"] > 0


def test_rollout_equals_step_by_step_prediction():
    cfg = RunConfig.load(None, [*TINY_DINO, "model.image_size=28", "model.embed_dim=32"])
    torch.manual_seed(0)
    model = DinoWM(cfg.model, encoder=random_dinov2()).eval()
    ctx = torch.randn(2, 1, 4 * 384)
    blocks = torch.randn(2, 3, 5, cfg.model.action_block_dim)
    out = model.rollout(ctx, blocks)
    assert out.shape == (2, 3, 6, 4 * 384)
    emb = ctx[:, None].expand(2, 3, 1, -1).reshape(6, 1, -1)
    act = model.encode_actions(blocks.reshape(6, 5, -1))
    for h in range(5):
        window = emb[:, -3:]
        nxt = model.predict(window, act[:, h + 1 - window.shape[1] : h + 1])[:, -1:]
        emb = torch.cat([emb, nxt], dim=1)
    assert torch.allclose(out.reshape(6, 6, -1), emb, atol=1e-5)
