"""Model behaviour (SPEC §1): exact paper parameter count, pixel normalisation, causal predictor,
AdaLN-zero action-blindness at init, rollout == step-by-step predict, sliding windows."""

import pytest
import torch

from lewm.config import ModelConfig
from lewm.model import LeWM, sliding_windows
from lewm.model import predictor as predictor_mod
from lewm.model.lewm import IMAGENET_MEAN, IMAGENET_STD
from lewm.model.predictor import attention

SMALL = dict(
    image_size=32,
    patch_size=8,
    enc_width=32,
    enc_depth=2,
    enc_heads=2,
    embed_dim=16,
    proj_hidden=32,
    action_dim=2,
    frameskip=5,
    history=3,
    pred_depth=2,
    pred_heads=4,
    pred_head_dim=8,
    pred_mlp=64,
)


def _model(seed: int = 0, **kw) -> LeWM:
    torch.manual_seed(seed)
    return LeWM(ModelConfig(**{**SMALL, **kw}))


def _perturb_adaln(model: LeWM, seed: int = 1) -> None:
    """Give the zero-initialised AdaLN modulation non-zero weights (as training would)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for blk in model.predictor.blocks:
            lin = blk.adaln[-1]
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * 0.2)
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=g) * 0.2)


def _inputs(model: LeWM, b: int = 2, t: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    d, k = model.cfg.embed_dim, model.cfg.action_block_dim
    return torch.randn(b, t, d, generator=g), torch.randn(b, t, k, generator=g)


def test_paper_preset_parameter_count():
    cfg = ModelConfig(image_size=224, patch_size=14)  # other defaults are the paper's
    counts = LeWM(cfg).param_counts()
    assert counts == {
        "encoder": 5_501_376,  # ViT-Tiny/14 @ 224 (no pooler)
        "projector": 792_768,
        "predictor": 10_791_360,
        "pred_proj": 792_768,
        "action_encoder": 156_206,
        "total": 18_034_478,
    }


def test_encode_normalises_uint8():
    model = _model().eval()
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (2, 3, 32, 32, 3), generator=g, dtype=torch.uint8)
    x = model.normalize_pixels(pixels)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    manual = (pixels.reshape(6, 32, 32, 3).permute(0, 3, 1, 2).float() / 255 - mean) / std
    assert torch.allclose(x, manual, atol=1e-6)
    emb = model.encode(pixels)
    assert emb.shape == (2, 3, 16) and torch.isfinite(emb).all()
    # Each frame is encoded independently (eval mode: BatchNorm uses running statistics).
    assert torch.allclose(model.encode(pixels[1:, 2:]), emb[1:, 2:], atol=1e-5)
    with pytest.raises(TypeError, match="uint8"):
        model.encode(pixels.float())
    with pytest.raises(ValueError, match="image_size"):
        model.encode(pixels[:, :, :16, :16])


def test_encode_backprop_train_mode():
    for enc in ("vit", "cnn"):
        model = _model(encoder=enc).train()
        pixels = torch.randint(0, 256, (2, 2, 32, 32, 3), dtype=torch.uint8)
        model.encode(pixels).square().mean().backward()
        grads = [p.grad for p in model.encoder.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), enc


def test_cnn_encoder_at_64px():
    model = _model(encoder="cnn", image_size=64, enc_depth=4).eval()
    pixels = torch.randint(0, 256, (2, 2, 64, 64, 3), dtype=torch.uint8)
    assert model.encode(pixels).shape == (2, 2, 16)
    assert model.param_counts()["encoder"] < 2_000_000


def test_adaln_zero_starts_action_blind():
    model = _model().eval()
    emb, blocks = _inputs(model)
    other = torch.randn_like(blocks)
    p1 = model.predict(emb, model.encode_actions(blocks))
    p2 = model.predict(emb, model.encode_actions(other))
    assert torch.equal(p1, p2)
    # Every block is the identity at init: the predictor is LayerNorm(emb + pos) then pred_proj.
    expected = model.pred_proj(model.predictor.norm(emb + model.predictor.pos_embed))
    assert torch.allclose(p1, expected, atol=1e-6)
    _perturb_adaln(model)
    p3 = model.predict(emb, model.encode_actions(blocks))
    p4 = model.predict(emb, model.encode_actions(other))
    assert not torch.allclose(p3, p4, atol=1e-4)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_predictor_is_causal(k):
    model = _model().eval()
    _perturb_adaln(model)
    emb, blocks = _inputs(model)
    act = model.encode_actions(blocks)
    base = model.predict(emb, act)
    g = torch.Generator().manual_seed(k)
    # Random (not constant) perturbations: a constant shift across features is invisible to LN.
    emb2 = emb.clone()
    emb2[:, k] += torch.randn(emb[:, k].shape, generator=g)
    act2 = act.clone()
    act2[:, k] += torch.randn(act[:, k].shape, generator=g)
    for out in (model.predict(emb2, act), model.predict(emb, act2)):
        assert torch.allclose(out[:, :k], base[:, :k], atol=1e-6)
        assert not torch.allclose(out[:, k:], base[:, k:], atol=1e-4)


def test_predictor_rejects_long_history():
    model = _model()
    emb, blocks = _inputs(model, t=4)
    with pytest.raises(ValueError, match="history"):
        model.predict(emb, model.encode_actions(blocks))


def _step_by_step(model: LeWM, ctx: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """Reference rollout for one candidate: ctx (B, T, D), blocks (B, T-1+H, K) -> (B, T+H, D)."""
    n, embs = model.cfg.history, ctx
    act = model.encode_actions(blocks)
    while embs.shape[1] < blocks.shape[1] + 1:
        cur = embs.shape[1]
        lo = max(0, cur - n)
        nxt = model.predict(embs[:, lo:cur], act[:, lo:cur])[:, -1:]
        embs = torch.cat([embs, nxt], dim=1)
    return embs


@pytest.mark.parametrize("t", [1, 2, 3, 4])
def test_rollout_equals_step_by_step(t):
    model = _model().eval()
    _perturb_adaln(model)
    b, s, h = 2, 3, 5  # H > N
    g = torch.Generator().manual_seed(t)
    ctx = torch.randn(b, t, 16, generator=g)
    blocks = torch.randn(b, s, t - 1 + h, 10, generator=g)
    with torch.no_grad():
        out = model.rollout(ctx, blocks)
        assert out.shape == (b, s, t + h, 16)
        assert torch.equal(out[:, :, :t], ctx.unsqueeze(1).expand(b, s, t, 16))
        for j in range(s):
            ref = _step_by_step(model, ctx, blocks[:, j])
            assert torch.allclose(out[:, j], ref, atol=1e-5)


@pytest.mark.parametrize("tq,tk", [(1, 1), (3, 3), (1, 3), (2, 3), (4, 4), (6, 6), (2, 6)])
def test_attention_matches_sdpa(tq, tk, monkeypatch):
    """The broadcast small-T attention (and its chunking) equals SDPA with the causal mask of
    queries placed at the last Tq positions."""
    g = torch.Generator().manual_seed(tq * 10 + tk)
    q = torch.randn(37, tq, 4, 8, generator=g)
    k, v = torch.randn(2, 37, tk, 4, 8, generator=g)
    mask = torch.ones(tq, tk, dtype=torch.bool).tril(tk - tq)
    want = torch.nn.functional.scaled_dot_product_attention(
        *(z.transpose(1, 2) for z in (q, k, v)), attn_mask=mask
    ).transpose(1, 2)
    assert torch.allclose(attention(q, k, v), want, atol=1e-6)
    monkeypatch.setattr(predictor_mod, "SMALL_ATTENTION_CHUNK", 500)  # several chunks
    assert torch.allclose(predictor_mod.small_attention(q, k, v), want, atol=1e-6)


def test_predictor_extend_with_cache_equals_full_forward():
    model = _model().eval()
    _perturb_adaln(model)
    emb, blocks = _inputs(model, b=3, t=3)
    pred = model.predictor
    with torch.no_grad():
        act = model.encode_actions(blocks)
        full = pred(emb, act)
        mods = pred.modulations(act)
        first, cache = pred.extend(emb[:, :2], [m[:, :2] for m in mods])
        last, _ = pred.extend(emb[:, 2:], [m[:, 2:] for m in mods], cache)
        only_last, _ = pred.extend(emb, mods, last_only=True)
        with pytest.raises(ValueError, match="history"):
            pred.extend(emb, mods, cache)  # 2 cached + 3 new > N = 3
    assert torch.allclose(first, full[:, :2], atol=1e-6)
    assert torch.allclose(last, full[:, 2:], atol=1e-6)
    assert torch.allclose(only_last, full[:, 2:], atol=1e-6)


def test_rollout_is_differentiable():
    model = _model().eval()
    _perturb_adaln(model)
    ctx = torch.randn(1, 1, 16)
    blocks = torch.randn(1, 4, 5, 10, requires_grad=True)
    model.rollout(ctx, blocks)[:, :, -1].square().sum().backward()
    assert torch.isfinite(blocks.grad).all() and blocks.grad.abs().sum() > 0


def test_predict_windows():
    model = _model().eval()
    _perturb_adaln(model)
    n = model.cfg.history
    emb, blocks = _inputs(model, b=2, t=n + 1)
    act = model.encode_actions(blocks)
    pred, target = model.predict_windows(emb, act)
    # T = N + 1: exactly the paper's single window (frames 0..N-1 predict 1..N).
    assert torch.equal(target, emb[:, 1:])
    assert torch.allclose(pred, model.predict(emb[:, :n], act[:, :n]), atol=1e-6)
    # Longer clip: window s of sample i sits at row i * W + s.
    emb, blocks = _inputs(model, b=2, t=7)
    act = model.encode_actions(blocks)
    pred, target = model.predict_windows(emb, act)
    w = 7 - n
    assert pred.shape == target.shape == (2 * w, n, 16)
    for i in range(2):
        for s in range(w):
            assert torch.equal(target[i * w + s], emb[i, s + 1 : s + n + 1])
            ref = model.predict(emb[i : i + 1, s : s + n], act[i : i + 1, s : s + n])[0]
            assert torch.allclose(pred[i * w + s], ref, atol=1e-5)
    with pytest.raises(ValueError, match="T >="):
        model.predict_windows(emb[:, :n], act[:, :n])


def test_sliding_windows_order():
    x = torch.arange(2 * 5).view(2, 5, 1)
    w = sliding_windows(x, 3)
    assert w.shape == (6, 3, 1)
    assert w[:, :, 0].tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [5, 6, 7], [6, 7, 8], [7, 8, 9]]


def test_action_encoder_reads_nan_as_zero():
    model = _model()
    blocks = torch.randn(2, 3, 10)
    nan_blocks = blocks.clone()
    nan_blocks[:, -1] = float("nan")
    zero_blocks = blocks.clone()
    zero_blocks[:, -1] = 0.0
    assert torch.equal(model.encode_actions(nan_blocks), model.encode_actions(zero_blocks))
    with pytest.raises(ValueError, match="K=10"):
        model.encode_actions(torch.randn(2, 3, 4))


def test_paper_preset_forward_224():
    torch.manual_seed(0)
    model = LeWM(ModelConfig(image_size=224, patch_size=14)).eval()
    pixels = torch.randint(0, 256, (1, 2, 224, 224, 3), dtype=torch.uint8)
    with torch.no_grad():
        emb = model.encode(pixels)
        out = model.rollout(emb[:, :1], torch.randn(1, 4, 5, 10))
    assert emb.shape == (1, 2, 192) and out.shape == (1, 4, 6, 192)
    assert torch.isfinite(out).all()
