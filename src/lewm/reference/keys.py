"""The key-mapping rules between the reference state dict and ours (format in
:mod:`lewm.reference`): one :class:`_Rule` per tensor of ours (copy, concatenate q/k/v, or reshape
a kernel-1 Conv1d), the old/new Hugging Face ViT namings, and strict import/export of state dicts
with every unknown, missing or mis-shaped key named (:class:`~lewm.checkpoint.CheckpointError`).
Pure tensors and dicts; no file I/O."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
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
