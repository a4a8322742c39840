"""Import and export checkpoints of the reference LeWM (stable-worldmodel / le-wm).

The reference releases a model as ``weights.pt`` (a plain state dict, possibly wrapped in
``{"state_dict": ...}`` or ``{"model": ...}``) plus ``config.json``::

    {"encoder":        {"size": "tiny", "patch_size": 14, "image_size": 224, ...ViTConfig kwargs},
     "predictor":      {"num_frames", "input_dim", "hidden_dim", "output_dim", "depth", "heads",
                        "mlp_dim", "dim_head", "dropout", "emb_dropout"},
     "action_encoder": {"input_dim": K, "emb_dim": D, ["smoothed_dim", "mlp_scale"]},
     "projector":      {"input_dim", "output_dim", "hidden_dim"},
     "pred_proj":      {"input_dim", "output_dim", "hidden_dim"}}

(``_target_`` / ``norm_fn`` entries of Hydra configs are accepted and checked.) Parameter names:

- encoder: a Hugging Face ``ViTModel`` without pooler. "Old" naming is HF's own
  (``encoder.encoder.layer.{i}.attention.attention.query``, ``attention.output.dense``,
  ``intermediate.dense``, ``output.dense``); "new" naming is transformers 5's (checked with 5.24),
  which le-wm's ``load_weights.py`` also translates old checkpoints into
  (``encoder.layers.{i}.attention.q_proj`` / ``k_proj`` / ``v_proj`` / ``o_proj``,
  ``mlp.fc1``, ``mlp.fc2``). Both are read; export writes either (default old, as released;
  ``naming="new"`` loads strictly into a reference LeWM built with transformers 5). HF keeps
  q, k and v as three linears; ours is one fused ``qkv`` linear with the rows in (q, k, v)
  order, so import concatenates and export splits.
- predictor ``predictor.pos_embedding``, ``predictor.transformer.layers.{i}.{attn.norm,
  attn.to_qkv, attn.to_out.0, mlp.net.*, adaLN_modulation.1}``, ``predictor.transformer.norm``;
  the fused ``to_qkv`` has the same (q | k | v, heads-major) row layout as ours: copied as is.
- action encoder ``action_encoder.patch_embed`` is a kernel-1 ``Conv1d`` (weight (small, K, 1));
  ours is the same map as ``nn.Linear`` (weight (small, K)): a reshape.
- projector / pred_proj (``net.0``, BatchNorm ``net.1`` with its running statistics, ``net.3``)
  have our names already.

Unused HF parts (``encoder.pooler.*``, ``encoder.embeddings.mask_token``) are dropped with a
warning; every other key must be known and of the expected shape, else :class:`CheckpointError`
names it. Files are read with ``torch.load(weights_only=True)``: nothing is unpickled.

One numerical difference is not a weight: HF's ViT LayerNorms use ``layer_norm_eps`` (default
1e-12), our default is 1e-6. The effect is small (measured by the parity benchmark: 2e-4 on
embeddings of magnitude ~1, a ViT 192 x 6 at 64 px) but above float32 round-off, so import
carries the checkpoint's value into ``model.enc_ln_eps`` and export writes ours into
``encoder.layer_norm_eps``: both directions compute exactly what the other side does.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lewm.checkpoint import CheckpointError, mismatch_report
from lewm.config import ModelConfig

log = logging.getLogger(__name__)

# stable_pretraining.backbone.utils.vit_hf size table (width, depth, heads); MLP = 4 x width.
VIT_SIZES = {
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
    "huge": (1280, 32, 16),
}
HF_LAYER_NORM_EPS = 1e-12
"""Hugging Face ``ViTConfig.layer_norm_eps`` default (the reference never overrides it)."""

_IGNORED = (re.compile(r"^encoder\.pooler\."), re.compile(r"^encoder\.embeddings\.mask_token$"))
# le-wm's "new" encoder naming -> HF naming (applied to encoder layer keys only).
_NEW_TO_OLD = (
    ("attention.q_proj", "attention.attention.query"),
    ("attention.k_proj", "attention.attention.key"),
    ("attention.v_proj", "attention.attention.value"),
    ("attention.o_proj", "attention.output.dense"),
    ("mlp.fc1", "intermediate.dense"),
    ("mlp.fc2", "output.dense"),
)
_NEW_LAYER = re.compile(r"^encoder\.layers\.(\d+)\.(.*)$")
_OLD_LAYER = re.compile(r"^encoder\.encoder\.layer\.(\d+)\.(.*)$")


@dataclass(frozen=True)
class _Rule:
    """One of our tensors and the reference tensor(s) it comes from."""

    ours: str
    refs: tuple[str, ...]
    kind: str = "copy"  # "copy" | "cat" (refs concatenated on dim 0) | "conv1d" (trailing 1)


def _rules(cfg: ModelConfig) -> list[_Rule]:
    """The full key correspondence for a model built from ``cfg`` (every state-dict entry)."""
    if cfg.encoder != "vit":
        raise CheckpointError(
            f"the reference format has a ViT encoder; this model has model.encoder={cfg.encoder!r}"
        )
    wb = ("weight", "bias")
    r: list[_Rule] = [
        _Rule("encoder.cls_token", ("encoder.embeddings.cls_token",)),
        _Rule("encoder.pos_embed", ("encoder.embeddings.position_embeddings",)),
    ]
    r += [
        _Rule(f"encoder.patch_embed.{p}", (f"encoder.embeddings.patch_embeddings.projection.{p}",))
        for p in wb
    ]
    for i in range(cfg.enc_depth):
        ours, ref = f"encoder.blocks.{i}", f"encoder.encoder.layer.{i}"
        for p in wb:
            qkv = tuple(f"{ref}.attention.attention.{n}.{p}" for n in ("query", "key", "value"))
            r += [
                _Rule(f"{ours}.norm1.{p}", (f"{ref}.layernorm_before.{p}",)),
                _Rule(f"{ours}.attn.qkv.{p}", qkv, "cat"),
                _Rule(f"{ours}.attn.proj.{p}", (f"{ref}.attention.output.dense.{p}",)),
                _Rule(f"{ours}.norm2.{p}", (f"{ref}.layernorm_after.{p}",)),
                _Rule(f"{ours}.mlp.0.{p}", (f"{ref}.intermediate.dense.{p}",)),
                _Rule(f"{ours}.mlp.2.{p}", (f"{ref}.output.dense.{p}",)),
            ]
    r += [_Rule(f"encoder.norm.{p}", (f"encoder.layernorm.{p}",)) for p in wb]
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    for head in ("projector", "pred_proj"):
        r += [_Rule(f"{head}.net.0.{p}", (f"{head}.net.0.{p}",)) for p in wb]
        r += [_Rule(f"{head}.net.1.{p}", (f"{head}.net.1.{p}",)) for p in bn]
        r += [_Rule(f"{head}.net.3.{p}", (f"{head}.net.3.{p}",)) for p in wb]
    r += [
        _Rule("action_encoder.step_proj.weight", ("action_encoder.patch_embed.weight",), "conv1d"),
        _Rule("action_encoder.step_proj.bias", ("action_encoder.patch_embed.bias",)),
    ]
    for j in (0, 2):
        r += [_Rule(f"action_encoder.mlp.{j}.{p}", (f"action_encoder.embed.{j}.{p}",)) for p in wb]
    r.append(_Rule("predictor.pos_embed", ("predictor.pos_embedding",)))
    for i in range(cfg.pred_depth):
        ours, ref = f"predictor.blocks.{i}", f"predictor.transformer.layers.{i}"
        r.append(_Rule(f"{ours}.attn.qkv.weight", (f"{ref}.attn.to_qkv.weight",)))
        for p in wb:
            r += [
                _Rule(f"{ours}.attn.norm.{p}", (f"{ref}.attn.norm.{p}",)),
                _Rule(f"{ours}.attn.out.{p}", (f"{ref}.attn.to_out.0.{p}",)),
                _Rule(f"{ours}.adaln.1.{p}", (f"{ref}.adaLN_modulation.1.{p}",)),
            ]
            r += [_Rule(f"{ours}.mlp.net.{j}.{p}", (f"{ref}.mlp.net.{j}.{p}",)) for j in (0, 1, 4)]
    r += [_Rule(f"predictor.norm.{p}", (f"predictor.transformer.norm.{p}",)) for p in wb]
    return r


def _our_shapes(cfg: ModelConfig) -> dict[str, torch.Size]:
    """State-dict shapes of our model for ``cfg``, built on the meta device (no memory)."""
    from lewm.model import LeWM

    with torch.device("meta"):
        model = LeWM(cfg)
    return {k: v.shape for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------------- state dicts
def export_state_dict(model: nn.Module, naming: str = "old") -> dict[str, torch.Tensor]:
    """Our LeWM -> a state dict with the reference's parameter names.

    ``naming``: "old" (Hugging Face transformers 4 ViT names, as in the released ``weights.pt``)
    or "new" (transformers 5 / le-wm names: ``encoder.layers.{i}.attention.q_proj``, ...).
    Tensors are detached CPU copies; BatchNorm running statistics are included.
    """
    if naming not in ("old", "new"):
        raise ValueError(f"naming must be 'old' or 'new', got {naming!r}")
    cfg: ModelConfig = model.cfg  # type: ignore[assignment]
    own = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    rules = _rules(cfg)
    unmapped = sorted(set(own) - {r.ours for r in rules})
    if unmapped:
        raise CheckpointError(f"no reference name for our parameters {unmapped[:5]}")
    out: dict[str, torch.Tensor] = {}
    for rule in rules:
        t = own[rule.ours]
        if rule.kind == "cat":
            for name, part in zip(rule.refs, t.chunk(len(rule.refs), dim=0)):
                out[name] = part.clone()
        elif rule.kind == "conv1d":
            out[rule.refs[0]] = t.unsqueeze(-1).clone()
        else:
            out[rule.refs[0]] = t.clone()
    if naming == "new":
        out = {_to_new(k): v for k, v in out.items()}
    return out


def reference_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Expected reference key -> shape for a model of ``cfg`` (what :func:`import_state_dict`
    checks against)."""
    shapes = _our_shapes(cfg)
    out: dict[str, tuple[int, ...]] = {}
    for rule in _rules(cfg):
        s = tuple(shapes[rule.ours])
        if rule.kind == "cat":
            part = (s[0] // len(rule.refs), *s[1:])
            out.update({name: part for name in rule.refs})
        elif rule.kind == "conv1d":
            out[rule.refs[0]] = (*s, 1)
        else:
            out[rule.refs[0]] = s
    return out


def _canonical(key: str) -> str:
    """le-wm's new encoder naming -> HF naming; other keys unchanged."""
    m = _NEW_LAYER.match(key)
    if not m:
        return key
    rest = m.group(2)
    for new, old in _NEW_TO_OLD:
        if rest.startswith(new):
            rest = old + rest[len(new) :]
            break
    return f"encoder.encoder.layer.{m.group(1)}.{rest}"


def _to_new(key: str) -> str:
    """HF (transformers 4) encoder naming -> transformers 5 / le-wm naming."""
    m = _OLD_LAYER.match(key)
    if not m:
        return key
    rest = m.group(2)
    for new, old in _NEW_TO_OLD:
        if rest.startswith(old):
            rest = new + rest[len(old) :]
            break
    return f"encoder.layers.{m.group(1)}.{rest}"


def unwrap_state(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded ``weights.pt``: a plain dict, or one wrapped under
    ``state_dict`` / ``model``; a common ``model.`` prefix (Lightning) is stripped."""
    if isinstance(obj, dict):
        for wrap in ("state_dict", "model"):
            if isinstance(obj.get(wrap), dict):
                obj = obj[wrap]
                break
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise CheckpointError(f"{source}: expected a state dict of name -> tensor")
    if obj and all(k.startswith("model.") for k in obj):
        obj = {k[len("model.") :]: v for k, v in obj.items()}
    return dict(obj)


def import_state_dict(
    ref_state: dict[str, torch.Tensor], cfg: ModelConfig, source: str = "reference state dict"
) -> dict[str, torch.Tensor]:
    """A reference state dict (old or new naming) -> our state dict for a model of ``cfg``.

    Raises :class:`CheckpointError` naming every unknown, missing or mis-shaped key.
    """
    canon: dict[str, tuple[str, torch.Tensor]] = {}
    for key, value in ref_state.items():
        if any(p.search(key) for p in _IGNORED):
            log.warning("%s: dropping %s (unused by the CLS-token encoder)", source, key)
            continue
        c = _canonical(key)
        if c in canon:
            raise CheckpointError(f"{source}: {key} and {canon[c][0]} name the same parameter")
        canon[c] = (key, value)
    expected = reference_shapes(cfg)
    unknown = sorted(canon[c][0] for c in set(canon) - set(expected))
    missing = sorted(set(expected) - set(canon))
    shapes = [
        f"{canon[c][0]}: checkpoint {tuple(canon[c][1].shape)} vs expected {expected[c]}"
        for c in sorted(set(expected) & set(canon))
        if tuple(canon[c][1].shape) != expected[c]
    ]
    if unknown or missing or shapes:
        problems = mismatch_report(8, unmatched=unknown, missing=missing, shapes=shapes)
        raise CheckpointError(f"{source} does not match the model config: {problems}")
    ours: dict[str, torch.Tensor] = {}
    for rule in _rules(cfg):
        parts_ = [canon[name][1].detach().cpu() for name in rule.refs]
        if rule.kind == "cat":
            t = torch.cat(parts_, dim=0)
        elif rule.kind == "conv1d":
            t = parts_[0].squeeze(-1)
        else:
            t = parts_[0]
        ours[rule.ours] = t.contiguous().clone()
    return ours


# ------------------------------------------------------------------------------------- configs
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


# ------------------------------------------------------------------------------- files and API
def import_reference(
    weights_pt: str | Path, config_json: str | Path, frameskip: int = 5
) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """Read a released ``weights.pt`` + ``config.json`` -> (our ModelConfig, our state dict).

    ``weights_pt`` is loaded with ``weights_only=True``; the state dict loads strictly into
    ``LeWM(cfg)``. Raises :class:`CheckpointError` on an unreadable file or any key mismatch.
    """
    weights_pt, config_json = Path(weights_pt), Path(config_json)
    try:
        ref_cfg = json.loads(config_json.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{config_json}: unreadable config ({exc})") from exc
    cfg = model_config_from_reference(ref_cfg, frameskip=frameskip)
    try:
        obj = torch.load(weights_pt, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad or pickled files
        raise CheckpointError(f"{weights_pt}: cannot load with weights_only=True ({exc})") from exc
    state = import_state_dict(unwrap_state(obj, str(weights_pt)), cfg, str(weights_pt))
    return cfg, state


def export_reference(model: nn.Module, naming: str = "old") -> dict[str, torch.Tensor]:
    """Our LeWM -> the reference state dict; see :func:`export_state_dict`."""
    return export_state_dict(model, naming)


def write_reference(
    model: nn.Module, out_dir: str | Path, naming: str = "old"
) -> tuple[Path, Path]:
    """Write ``out_dir/weights.pt`` (tensors only) and ``out_dir/config.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights, config = out_dir / "weights.pt", out_dir / "config.json"
    torch.save(export_state_dict(model, naming), weights)
    config.write_text(json.dumps(reference_config(model.cfg), indent=2) + "\n")
    return weights, config


# ------------------------------------------------------------------------------- run directories
def import_to_run_dir(
    weights_pt: str | Path,
    config_json: str | Path,
    out: str | Path,
    frameskip: int = 5,
    env: str | None = None,
    data: str | Path | None = None,
) -> Path:
    """`lewm import-reference`: write a run directory that `lewm eval` loads.

    The released files carry no action statistics; with ``data`` (an HDF5 episode file) its
    ``action_mean`` / ``action_std`` go into the checkpoint's meta, otherwise `lewm eval` takes
    them from the dataset it is given (``--data``). Returns the checkpoint directory.
    """
    from lewm.checkpoint import save_checkpoint
    from lewm.config import DataConfig, RunConfig
    from lewm.model import LeWM

    cfg, state = import_reference(weights_pt, config_json, frameskip=frameskip)
    model = LeWM(cfg)
    model.load_state_dict(state, strict=True)
    data_cfg = DataConfig(frameskip=frameskip, num_frames=max(4, cfg.history + 1))
    meta: dict[str, Any] = {
        "imported_from": {"weights": str(weights_pt), "config": str(config_json)},
    }
    if data is not None:
        from lewm.data.store import EpisodeStore

        store = EpisodeStore(data, in_memory=False)
        if len(store.action_mean) != cfg.action_dim:
            raise CheckpointError(
                f"{data}: action dim {len(store.action_mean)}, the checkpoint needs "
                f"{cfg.action_dim} (action_encoder.input_dim / frameskip {frameskip})"
            )
        meta["action_mean"] = store.action_mean.tolist()
        meta["action_std"] = store.action_std.tolist()
        data_cfg = DataConfig(path=str(data), frameskip=frameskip, num_frames=data_cfg.num_frames)
    run = RunConfig(data=data_cfg, model=cfg)
    if env is not None:
        run = run.replace(env=env)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run.save(out / "config.json")
    return save_checkpoint(out, model, run, step=0, extra_meta=meta)


def export_run_dir(run_dir: str | Path, out: str | Path, naming: str = "old") -> tuple[Path, Path]:
    """`lewm export-reference`: a run's checkpoint -> ``out/weights.pt`` + ``out/config.json``."""
    from lewm.checkpoint import load_checkpoint, load_state_strict
    from lewm.model import LeWM

    ckpt = load_checkpoint(run_dir)
    model = LeWM(ckpt.config.model)
    load_state_strict(model, ckpt.state_dict, str(ckpt.path / "model.safetensors"))
    return write_reference(model, out, naming=naming)
