"""The reference ``config.json`` <-> our :class:`~lewm.config.ModelConfig` (format in
:mod:`lewm.reference`): every field is read or rejected with a message naming it; export writes
the config the reference needs to rebuild the same network."""

from __future__ import annotations

import logging
from typing import Any

from lewm.checkpoint import CheckpointError
from lewm.config import ModelConfig
from lewm.reference.keys import HF_LAYER_NORM_EPS, VIT_SIZES

log = logging.getLogger(__name__)


def _get(section: dict, key: str, where: str, default: Any = None) -> Any:
    if key in section:
        return section[key]
    if default is None:
        raise CheckpointError(f"config.json: '{where}.{key}' is missing")
    return default


def _section(cfg: dict, name: str) -> dict:
    sec = cfg.get(name)
    if not isinstance(sec, dict):
        raise CheckpointError(f"config.json: section '{name}' is missing or not a mapping")
    return sec


def _check_known(sec: dict, name: str, known: set[str]) -> None:
    unknown = sorted(set(sec) - known - {"_target_"})
    if unknown:
        raise CheckpointError(
            f"config.json: unsupported key(s) {[f'{name}.{u}' for u in unknown]} "
            f"(known: {sorted(known)})"
        )


def _check_mlp(sec: dict, name: str) -> None:
    norm = sec.get("norm_fn")
    target = norm.get("_target_", "") if isinstance(norm, dict) else str(norm or "BatchNorm1d")
    if not target.endswith("BatchNorm1d"):
        raise CheckpointError(f"config.json: {name}.norm_fn must be BatchNorm1d, got {target!r}")
    act = sec.get("act_fn")
    act = act.get("_target_", "") if isinstance(act, dict) else str(act or "GELU")
    if not act.endswith("GELU"):
        raise CheckpointError(f"config.json: {name}.act_fn must be GELU, got {act!r}")


def model_config_from_reference(ref: dict, frameskip: int = 5) -> ModelConfig:
    """The reference ``config.json`` -> our :class:`ModelConfig`.

    Fields: ``encoder.size`` (+ ViTConfig overrides ``hidden_size``, ``num_hidden_layers``,
    ``num_attention_heads``, ``intermediate_size``) -> enc_width / enc_depth / enc_heads /
    enc_mlp_ratio; ``encoder.image_size`` / ``patch_size``; ``projector.hidden_dim`` ->
    proj_hidden (pred_proj must agree); ``projector.output_dim`` -> embed_dim;
    ``predictor.num_frames`` -> history, ``depth``, ``heads``, ``dim_head``, ``mlp_dim``,
    ``dropout`` -> pred_*; ``encoder.layer_norm_eps`` (HF default 1e-12) -> enc_ln_eps;
    ``action_encoder.input_dim`` = K = frameskip * action_dim (the config
    does not store the frameskip: it is an argument, paper 5), ``smoothed_dim`` ->
    action_small_dim, ``mlp_scale`` -> action_mlp_ratio. Anything our model cannot represent
    (predictor input/output projections, a non-BatchNorm projector, ...) is refused.
    """
    enc = _section(ref, "encoder")
    _check_known(
        enc,
        "encoder",
        {"size", "patch_size", "image_size", "pretrained", "use_mask_token", "hidden_size",
         "num_hidden_layers", "num_attention_heads", "intermediate_size", "layer_norm_eps",
         "hidden_act", "qkv_bias"},
    )  # fmt: skip
    size = enc.get("size", "tiny")
    if size not in VIT_SIZES:
        raise CheckpointError(f"config.json: encoder.size {size!r} not in {sorted(VIT_SIZES)}")
    width, depth, heads = VIT_SIZES[size]
    width = int(enc.get("hidden_size", width))
    depth = int(enc.get("num_hidden_layers", depth))
    heads = int(enc.get("num_attention_heads", heads))
    mlp_ratio = int(enc.get("intermediate_size", 4 * width)) / width
    if enc.get("hidden_act", "gelu") != "gelu" or not enc.get("qkv_bias", True):
        raise CheckpointError("config.json: encoder needs hidden_act='gelu' and qkv_bias=true")
    pred, act = _section(ref, "predictor"), _section(ref, "action_encoder")
    proj, pproj = _section(ref, "projector"), _section(ref, "pred_proj")
    _check_known(
        pred,
        "predictor",
        {"num_frames", "input_dim", "hidden_dim", "output_dim", "depth", "heads", "mlp_dim",
         "dim_head", "dropout", "emb_dropout"},
    )  # fmt: skip
    _check_known(act, "action_encoder", {"input_dim", "emb_dim", "smoothed_dim", "mlp_scale"})
    for name, sec in (("projector", proj), ("pred_proj", pproj)):
        _check_known(sec, name, {"input_dim", "hidden_dim", "output_dim", "norm_fn", "act_fn"})
        _check_mlp(sec, name)
    d = int(_get(proj, "output_dim", "projector", proj.get("input_dim")))
    proj_hidden = int(_get(proj, "hidden_dim", "projector"))
    dims = {
        "projector.input_dim": (int(_get(proj, "input_dim", "projector")), width),
        "pred_proj.input_dim": (int(_get(pproj, "input_dim", "pred_proj")), d),
        "pred_proj.output_dim": (int(pproj.get("output_dim") or pproj["input_dim"]), d),
        "pred_proj.hidden_dim": (int(_get(pproj, "hidden_dim", "pred_proj")), proj_hidden),
        "predictor.input_dim": (int(_get(pred, "input_dim", "predictor")), d),
        "predictor.hidden_dim": (int(_get(pred, "hidden_dim", "predictor")), d),
        "predictor.output_dim": (int(pred.get("output_dim") or pred["input_dim"]), d),
        "action_encoder.emb_dim": (int(_get(act, "emb_dim", "action_encoder")), d),
    }
    for name, (got, want) in dims.items():
        if got != want:
            raise CheckpointError(
                f"config.json: {name}={got}, but this model needs {want} (our LeWM keeps the "
                "encoder width, latent, predictor and action-embedding widths tied)"
            )
    heads_p = int(_get(pred, "heads", "predictor"))
    dim_head = int(pred.get("dim_head", 64))
    if heads_p == 1 and dim_head == d:
        raise CheckpointError("config.json: predictor heads=1, dim_head=D has no output proj")
    if float(pred.get("emb_dropout", 0.0)) != 0.0:
        log.warning(
            "config.json: predictor.emb_dropout is ignored (ours has none; eval unaffected)"
        )
    k = int(_get(act, "input_dim", "action_encoder"))
    if k % frameskip:
        raise CheckpointError(
            f"config.json: action_encoder.input_dim={k} is not a multiple of frameskip={frameskip}"
        )
    return ModelConfig(
        encoder="vit",
        image_size=int(_get(enc, "image_size", "encoder", 224)),
        patch_size=int(_get(enc, "patch_size", "encoder", 16)),
        enc_width=width,
        enc_depth=depth,
        enc_heads=heads,
        enc_mlp_ratio=mlp_ratio,
        enc_ln_eps=vit_layer_norm_eps(ref),
        embed_dim=d,
        proj_hidden=proj_hidden,
        action_dim=k // frameskip,
        frameskip=frameskip,
        action_small_dim=int(act.get("smoothed_dim", 10)),
        action_mlp_ratio=int(act.get("mlp_scale", 4)),
        history=int(_get(pred, "num_frames", "predictor")),
        pred_depth=int(_get(pred, "depth", "predictor")),
        pred_heads=heads_p,
        pred_head_dim=dim_head,
        pred_mlp=int(_get(pred, "mlp_dim", "predictor")),
        pred_dropout=float(pred.get("dropout", 0.0)),
    )


def reference_config(cfg: ModelConfig) -> dict:
    """Our :class:`ModelConfig` -> the reference ``config.json`` (released format, no
    ``_target_``). ``encoder.layer_norm_eps`` is written (``model.enc_ln_eps``) so the
    reference's HF ViT computes what ours does."""
    if cfg.encoder != "vit":
        raise CheckpointError("only a ViT encoder can be exported to the reference format")
    enc: dict[str, Any] = {"size": "tiny", "patch_size": cfg.patch_size,
                           "image_size": cfg.image_size, "pretrained": False,
                           "use_mask_token": False}  # fmt: skip
    named = [s for s, v in VIT_SIZES.items() if v == (cfg.enc_width, cfg.enc_depth, cfg.enc_heads)]
    if named:
        enc["size"] = named[0]
    else:
        enc.update(hidden_size=cfg.enc_width, num_hidden_layers=cfg.enc_depth,
                   num_attention_heads=cfg.enc_heads)  # fmt: skip
    hidden = int(round(cfg.enc_width * cfg.enc_mlp_ratio))
    if hidden != 4 * cfg.enc_width:
        enc["intermediate_size"] = hidden
    enc["layer_norm_eps"] = cfg.enc_ln_eps
    d = cfg.embed_dim
    mlp = {"input_dim": d, "output_dim": d, "hidden_dim": cfg.proj_hidden}
    return {
        "encoder": enc,
        "predictor": {
            "num_frames": cfg.history,
            "input_dim": d,
            "hidden_dim": d,
            "output_dim": d,
            "depth": cfg.pred_depth,
            "heads": cfg.pred_heads,
            "mlp_dim": cfg.pred_mlp,
            "dim_head": cfg.pred_head_dim,
            "dropout": cfg.pred_dropout,
            "emb_dropout": 0.0,
        },  # fmt: skip
        "action_encoder": {
            "input_dim": cfg.action_block_dim,
            "emb_dim": d,
            "smoothed_dim": cfg.action_small_dim,
            "mlp_scale": cfg.action_mlp_ratio,
        },  # fmt: skip
        "projector": {**mlp, "input_dim": cfg.enc_width},
        "pred_proj": dict(mlp),
    }


def vit_layer_norm_eps(ref: dict) -> float:
    """The LayerNorm eps the reference's ViT uses for this config (HF default 1e-12)."""
    return float(_section(ref, "encoder").get("layer_norm_eps", HF_LAYER_NORM_EPS))
