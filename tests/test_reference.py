"""Reference checkpoint import/export (issue 10), without the reference package.

The expected reference names and shapes are written out here by hand from the reference modules
(Hugging Face ViTModel without pooler; stable-worldmodel's Predictor / Embedder / MLP), so the
mapping in ``lewm.reference`` is checked against an independent spec, not against itself.
"""

from __future__ import annotations

import json

import pytest
import torch

from lewm.checkpoint import CheckpointError
from lewm.config import ModelConfig
from lewm.model import LeWM
from lewm.reference import (
    export_state_dict,
    import_reference,
    import_state_dict,
    model_config_from_reference,
    reference_config,
    write_reference,
)

CFG = ModelConfig(
    image_size=16,
    patch_size=8,
    enc_width=24,
    enc_depth=2,
    enc_heads=2,
    embed_dim=16,
    proj_hidden=32,
    action_dim=2,
    frameskip=5,
    history=3,
    pred_depth=2,
    pred_heads=2,
    pred_head_dim=8,
    pred_mlp=40,
)


def reference_spec(cfg: ModelConfig, naming: str = "old") -> dict[str, tuple[int, ...]]:
    """Reference parameter names and shapes for ``cfg`` (written from the reference modules)."""
    w, d, p, k = cfg.enc_width, cfg.embed_dim, cfg.patch_size, cfg.action_block_dim
    n_patch = (cfg.image_size // p) ** 2
    inner = cfg.pred_heads * cfg.pred_head_dim
    s: dict[str, tuple[int, ...]] = {
        "encoder.embeddings.cls_token": (1, 1, w),
        "encoder.embeddings.position_embeddings": (1, n_patch + 1, w),
        "encoder.embeddings.patch_embeddings.projection.weight": (w, 3, p, p),
        "encoder.embeddings.patch_embeddings.projection.bias": (w,),
        "encoder.layernorm.weight": (w,),
        "encoder.layernorm.bias": (w,),
    }
    names = {
        "old": ("encoder.encoder.layer", "attention.attention.query", "attention.attention.key",
                "attention.attention.value", "attention.output.dense", "intermediate.dense",
                "output.dense"),
        "new": ("encoder.layers", "attention.q_proj", "attention.k_proj", "attention.v_proj",
                "attention.o_proj", "mlp.fc1", "mlp.fc2"),
    }[naming]  # fmt: skip
    layer, q, kk, v, o, fc1, fc2 = names
    for i in range(cfg.enc_depth):
        pre = f"{layer}.{i}"
        for lin, (out_f, in_f) in ((q, (w, w)), (kk, (w, w)), (v, (w, w)), (o, (w, w)),
                                   (fc1, (4 * w, w)), (fc2, (w, 4 * w))):  # fmt: skip
            s[f"{pre}.{lin}.weight"] = (out_f, in_f)
            s[f"{pre}.{lin}.bias"] = (out_f,)
        for ln in ("layernorm_before", "layernorm_after"):
            s[f"{pre}.{ln}.weight"] = (w,)
            s[f"{pre}.{ln}.bias"] = (w,)
    for head, in_dim in (("projector", w), ("pred_proj", d)):
        h = cfg.proj_hidden
        s |= {f"{head}.net.0.weight": (h, in_dim), f"{head}.net.0.bias": (h,)}
        s |= {f"{head}.net.1.{b}": (h,) for b in ("weight", "bias", "running_mean", "running_var")}
        s |= {f"{head}.net.1.num_batches_tracked": (), f"{head}.net.3.weight": (d, h)}
        s[f"{head}.net.3.bias"] = (d,)
    small, hid = cfg.action_small_dim, cfg.action_mlp_ratio * d
    s |= {
        "action_encoder.patch_embed.weight": (small, k, 1),
        "action_encoder.patch_embed.bias": (small,),
        "action_encoder.embed.0.weight": (hid, small),
        "action_encoder.embed.0.bias": (hid,),
        "action_encoder.embed.2.weight": (d, hid),
        "action_encoder.embed.2.bias": (d,),
        "predictor.pos_embedding": (1, cfg.history, d),
        "predictor.transformer.norm.weight": (d,),
        "predictor.transformer.norm.bias": (d,),
    }
    for i in range(cfg.pred_depth):
        pre = f"predictor.transformer.layers.{i}"
        s |= {
            f"{pre}.attn.norm.weight": (d,),
            f"{pre}.attn.norm.bias": (d,),
            f"{pre}.attn.to_qkv.weight": (3 * inner, d),
            f"{pre}.attn.to_out.0.weight": (d, inner),
            f"{pre}.attn.to_out.0.bias": (d,),
            f"{pre}.mlp.net.0.weight": (d,),
            f"{pre}.mlp.net.0.bias": (d,),
            f"{pre}.mlp.net.1.weight": (cfg.pred_mlp, d),
            f"{pre}.mlp.net.1.bias": (cfg.pred_mlp,),
            f"{pre}.mlp.net.4.weight": (d, cfg.pred_mlp),
            f"{pre}.mlp.net.4.bias": (d,),
            f"{pre}.adaLN_modulation.1.weight": (6 * d, d),
            f"{pre}.adaLN_modulation.1.bias": (6 * d,),
        }
    return s


def random_reference_state(cfg: ModelConfig, naming: str = "old", seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in reference_spec(cfg, naming).items():
        if name.endswith("num_batches_tracked"):
            out[name] = torch.tensor(5)
        elif name.endswith("running_var"):
            out[name] = torch.rand(shape, generator=g) + 0.5
        else:
            out[name] = torch.randn(shape, generator=g) * 0.3
    return out


def _trained_like(seed: int = 0) -> LeWM:
    """A tiny model whose every parameter and BatchNorm statistic is non-trivial."""
    torch.manual_seed(seed)
    model = LeWM(CFG)
    model.load_state_dict(import_state_dict(random_reference_state(CFG, seed=seed), CFG))
    return model.eval()


def _outputs(model: LeWM) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    pix = torch.randint(0, 256, (2, 3, 16, 16, 3), generator=g, dtype=torch.uint8)
    blocks = torch.randn(2, 4, 6, CFG.action_block_dim, generator=g)
    with torch.no_grad():
        emb = model.encode(pix)
        pred = model.predict(emb, model.encode_actions(blocks[:, 0, :3]))
        roll = model.rollout(emb, blocks)
    return {"encode": emb, "predict": pred, "rollout": roll}


@pytest.mark.parametrize("naming", ["old", "new"])
def test_export_matches_the_reference_spec(naming):
    exported = export_state_dict(_trained_like(), naming=naming)
    spec = reference_spec(CFG, naming)
    assert {k: tuple(v.shape) for k, v in exported.items()} == spec


@pytest.mark.parametrize("naming", ["old", "new"])
def test_spec_state_round_trips_exactly(naming):
    ref = random_reference_state(CFG, naming)
    model = LeWM(CFG)
    model.load_state_dict(import_state_dict(ref, CFG))
    back = export_state_dict(model, naming=naming)
    assert back.keys() == ref.keys()
    assert all(torch.equal(back[k], ref[k]) for k in ref)


def test_fused_qkv_and_conv1d_mapping_are_semantic():
    ref = random_reference_state(CFG)
    model = LeWM(CFG).eval()
    model.load_state_dict(import_state_dict(ref, CFG))
    x = torch.randn(5, CFG.enc_width)
    q, k, v = model.encoder.blocks[1].attn.qkv(x).chunk(3, dim=-1)
    pre = "encoder.encoder.layer.1.attention.attention"
    for out, name in ((q, "query"), (k, "key"), (v, "value")):
        expect = x @ ref[f"{pre}.{name}.weight"].T + ref[f"{pre}.{name}.bias"]
        torch.testing.assert_close(out, expect)
    blocks = torch.randn(2, 4, CFG.action_block_dim)
    conv = torch.nn.functional.conv1d(
        blocks.transpose(1, 2),
        ref["action_encoder.patch_embed.weight"],
        ref["action_encoder.patch_embed.bias"],
    ).transpose(1, 2)
    torch.testing.assert_close(model.action_encoder.step_proj(blocks), conv)


@pytest.mark.parametrize("naming", ["old", "new"])
def test_export_import_reproduces_outputs(tmp_path, naming):
    model = _trained_like(seed=1)
    weights, config = write_reference(model, tmp_path, naming=naming)
    cfg, state = import_reference(weights, config)
    assert cfg == CFG
    again = LeWM(cfg).eval()
    again.load_state_dict(state, strict=True)
    ours, theirs = _outputs(model), _outputs(again)
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key


def test_wrapped_and_prefixed_weights_and_pooler_are_accepted(tmp_path):
    model = _trained_like()
    ref = {f"model.{k}": v for k, v in export_state_dict(model).items()}
    ref["model.encoder.pooler.dense.weight"] = torch.zeros(CFG.enc_width, CFG.enc_width)
    torch.save({"state_dict": ref}, tmp_path / "weights.pt")
    (tmp_path / "config.json").write_text(json.dumps(reference_config(CFG)))
    cfg, state = import_reference(tmp_path / "weights.pt", tmp_path / "config.json")
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_missing_key_is_refused_by_name():
    ref = random_reference_state(CFG)
    del ref["encoder.encoder.layer.1.attention.attention.key.bias"]
    with pytest.raises(
        CheckpointError, match=r"missing keys .*layer\.1\.attention\.attention\.key"
    ):
        import_state_dict(ref, CFG)


def test_wrong_shape_is_refused_by_name():
    ref = random_reference_state(CFG)
    ref["predictor.transformer.layers.0.attn.to_qkv.weight"] = torch.zeros(3, CFG.embed_dim)
    with pytest.raises(CheckpointError, match=r"layers\.0\.attn\.to_qkv\.weight: checkpoint \(3,"):
        import_state_dict(ref, CFG)


def test_unknown_key_is_refused_by_name():
    ref = random_reference_state(CFG)
    ref["predictor.transformer.input_proj.weight"] = torch.zeros(4, 4)
    with pytest.raises(CheckpointError, match=r"unmatched keys .*input_proj\.weight"):
        import_state_dict(ref, CFG)


def test_pickled_object_is_not_loaded(tmp_path):
    torch.save({"x": object()}, tmp_path / "weights.pt")
    (tmp_path / "config.json").write_text(json.dumps(reference_config(CFG)))
    with pytest.raises(CheckpointError, match="weights_only"):
        import_reference(tmp_path / "weights.pt", tmp_path / "config.json")


def test_released_config_format_maps_to_the_paper_model():
    released = {  # the published Push-T config.json (without Hydra _target_ entries)
        "encoder": {"size": "tiny", "patch_size": 14, "image_size": 224},
        "predictor": {"num_frames": 3, "input_dim": 192, "hidden_dim": 192, "output_dim": 192,
                      "depth": 6, "heads": 16, "mlp_dim": 2048, "dim_head": 64, "dropout": 0.1,
                      "emb_dropout": 0.0},
        "action_encoder": {"input_dim": 10, "emb_dim": 192},
        "projector": {"input_dim": 192, "output_dim": 192, "hidden_dim": 2048},
        "pred_proj": {"input_dim": 192, "output_dim": 192, "hidden_dim": 2048},
    }  # fmt: skip
    cfg = model_config_from_reference(released)
    assert (cfg.image_size, cfg.patch_size, cfg.enc_width, cfg.enc_depth, cfg.enc_heads) == (
        224, 14, 192, 12, 3,
    )  # fmt: skip
    assert (cfg.action_dim, cfg.frameskip, cfg.history, cfg.pred_depth) == (2, 5, 3, 6)
    assert model_config_from_reference(reference_config(cfg)) == cfg
    bad = json.loads(json.dumps(released))
    bad["predictor"]["hidden_dim"] = 256
    with pytest.raises(CheckpointError, match="predictor.hidden_dim"):
        model_config_from_reference(bad)
    with pytest.raises(CheckpointError, match="frameskip"):
        model_config_from_reference(released, frameskip=3)


def test_cli_import_then_export_round_trips(tmp_path):
    from lewm.cli import main
    from lewm.evaluation.protocol import load_model

    model = _trained_like(seed=2)
    weights, config = write_reference(model, tmp_path / "ref")
    assert (
        main(["import-reference", str(weights), str(config), "--out", str(tmp_path / "run")]) == 0
    )
    loaded, run_cfg, meta = load_model(tmp_path / "run", torch.device("cpu"))
    assert run_cfg.model == CFG and "action_mean" not in meta
    ours, theirs = _outputs(model), _outputs(loaded)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    out = tmp_path / "back"
    assert main(["export-reference", str(tmp_path / "run"), "--out", str(out)]) == 0
    back = torch.load(out / "weights.pt", weights_only=True)
    ref = torch.load(weights, weights_only=True)
    assert back.keys() == ref.keys() and all(torch.equal(back[k], ref[k]) for k in ref)
    assert json.loads((out / "config.json").read_text()) == json.loads(config.read_text())


def test_cli_refuses_a_mismatched_checkpoint(tmp_path, capsys):
    from lewm.cli import main

    weights, config = write_reference(_trained_like(), tmp_path / "ref")
    state = torch.load(weights, weights_only=True)
    del state["predictor.pos_embedding"]
    torch.save(state, weights)
    assert main(["import-reference", str(weights), str(config), "--out", str(tmp_path / "r")]) == 2
    assert "predictor.pos_embedding" in capsys.readouterr().err
    assert not (tmp_path / "r" / "checkpoint").exists()


def test_import_with_data_stores_action_statistics(tmp_path, tiny_dataset):
    from lewm.checkpoint import load_checkpoint
    from lewm.data.store import EpisodeStore
    from lewm.reference import import_to_run_dir

    weights, config = write_reference(_trained_like(), tmp_path / "ref")
    import_to_run_dir(weights, config, tmp_path / "run", env="tworoom", data=tiny_dataset)
    ckpt = load_checkpoint(tmp_path / "run")
    store = EpisodeStore(tiny_dataset)
    assert ckpt.meta["action_mean"] == store.action_mean.tolist()
    assert ckpt.meta["action_std"] == store.action_std.tolist()
    assert ckpt.config.data.path == str(tiny_dataset) and ckpt.config.env == "tworoom"


def test_layer_norm_eps_travels_with_the_checkpoint(tmp_path):
    """A reference config without ``layer_norm_eps`` means HF's 1e-12: import keeps it (so the
    imported model computes what the reference does), the encoder uses it, export writes it."""
    model = _trained_like()
    weights, config = write_reference(model, tmp_path)
    ref_cfg = json.loads(config.read_text())
    assert ref_cfg["encoder"]["layer_norm_eps"] == CFG.enc_ln_eps == 1e-6
    del ref_cfg["encoder"]["layer_norm_eps"]
    config.write_text(json.dumps(ref_cfg))
    cfg, state = import_reference(weights, config)
    assert cfg.enc_ln_eps == 1e-12
    hf = LeWM(cfg).eval()
    hf.load_state_dict(state)
    norms = [m for m in hf.encoder.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2 * CFG.enc_depth + 1 and all(m.eps == 1e-12 for m in norms)
    assert reference_config(cfg)["encoder"]["layer_norm_eps"] == 1e-12
    # The eps is a real difference (not round-off), which is why it is carried over.
    assert not torch.equal(_outputs(hf)["encode"], _outputs(model)["encode"])
    with pytest.raises(ValueError, match="enc_ln_eps"):
        ModelConfig(enc_ln_eps=0.0)
