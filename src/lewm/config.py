"""Typed, frozen run configuration (DESIGN.md "Config").

One dataclass per concern; every field carries a one-line docstring (the string literal under it)
and is checked in ``__post_init__`` with an error naming the field. A run is described by
:class:`RunConfig`, loaded from a YAML preset in ``configs/`` plus ``key=value`` overrides
(``train.lr=1e-4``, ``model.enc_depth=6``). Unknown keys are errors. No ``eval``/``exec``.

Shape glossary used across the package: B batch, T time, S candidates, H horizon, D latent,
A raw action dimension, K = frameskip * A (one action block).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import yaml


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range; the message names the field."""


def _check(cond: bool, name: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"config field '{name}': {msg}")


@dataclass(frozen=True)
class DataConfig:
    path: str = "datasets/tworoom.h5"
    """HDF5 episode file written by `lewm collect` (or the reference tools)."""
    num_frames: int = 4
    """Frames per training clip, spaced `frameskip` env steps apart (paper: 4)."""
    frameskip: int = 5
    """Env steps per latent step; the actions between two kept frames form one block (SPEC §1)."""
    clip_stride: int = 1
    """Raw-index stride between clip starts (paper: 1, every raw index)."""
    in_memory: bool = True
    """Hold the pixel array in RAM (fast); set false for files larger than memory."""
    num_workers: int = 0
    """DataLoader worker processes (0: load in the main process)."""

    def __post_init__(self) -> None:
        _check(self.num_frames >= 2, "data.num_frames", "needs at least 2 frames")
        _check(self.frameskip >= 1, "data.frameskip", "must be >= 1")
        _check(self.clip_stride >= 1, "data.clip_stride", "must be >= 1")
        _check(self.num_workers >= 0, "data.num_workers", "must be >= 0")


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "lewm"
    """World model: 'lewm' (SPEC §1–2), or the SPEC §8 baselines 'pldm' (same network, VICReg-style
    loss, no SIGReg) and 'dinowm' (frozen DINOv2 ViT-S/14 patch encoder + patch-token predictor)."""
    encoder: str = "vit"
    """Frame encoder: 'vit' (paper, ViT-Tiny at 224) or 'cnn' (encoder-agnostic ablation)."""
    image_size: int = 64
    """Square input image size in pixels."""
    patch_size: int = 8
    """ViT patch size (paper: 14 at 224 px)."""
    enc_width: int = 192
    """Encoder width (ViT hidden size / CNN output width before the projector)."""
    enc_depth: int = 12
    """ViT blocks (or CNN stages)."""
    enc_heads: int = 3
    """ViT attention heads."""
    enc_mlp_ratio: float = 4.0
    """ViT MLP hidden = ratio * width."""
    enc_ln_eps: float = 1e-6
    """ViT LayerNorm epsilon. Checkpoints imported from the reference keep theirs (Hugging Face's
    ViT default 1e-12), so they compute exactly what the reference does."""
    embed_dim: int = 192
    """Latent dimension D of the frame embedding (projector output)."""
    proj_hidden: int = 2048
    """Hidden width of the projector and pred_proj MLPs (Linear -> BatchNorm -> GELU -> Linear)."""
    action_dim: int = 2
    """Raw env action dimension A."""
    frameskip: int = 5
    """Raw actions per action block (block dim K = frameskip * action_dim)."""
    action_small_dim: int = 10
    """Per-block linear embedding size before the action MLP (SPEC §1)."""
    action_mlp_ratio: int = 4
    """Action MLP hidden = ratio * embed_dim."""
    history: int = 3
    """Predictor history N (learned positional embedding of this length)."""
    pred_depth: int = 6
    """Predictor transformer blocks."""
    pred_heads: int = 16
    """Predictor attention heads."""
    pred_head_dim: int = 64
    """Predictor per-head dimension (inner attention width = heads * head_dim)."""
    pred_mlp: int = 2048
    """Predictor MLP hidden size."""
    pred_dropout: float = 0.1
    """Dropout in predictor attention and MLP (paper ablation: 0.1 best)."""
    idm_hidden: int = 0
    """PLDM inverse-dynamics head hidden width (action block from two latents); 0: no head."""
    dino_image_size: int = 56
    """dinowm: frames are resized to this side for the ViT-S/14 (multiple of 14; 56: 16 patches)."""
    dino_weights: str = ""
    """dinowm: local `dinov2_vits14` state dict (.pth/.safetensors); empty: fixed random init."""
    dino_action_dim: int = 10
    """dinowm: action-embedding width concatenated to every patch token's features."""

    def __post_init__(self) -> None:
        _check(
            self.kind in ("lewm", "pldm", "dinowm"), "model.kind", "must be lewm, pldm or dinowm"
        )
        _check(self.idm_hidden >= 0, "model.idm_hidden", "must be >= 0")
        _check(0 < self.enc_ln_eps < 1, "model.enc_ln_eps", "must be in (0, 1)")
        if self.kind == "dinowm":
            _check(
                self.dino_image_size >= 14 and self.dino_image_size % 14 == 0,
                "model.dino_image_size",
                "must be a positive multiple of the ViT-S/14 patch size 14",
            )
            _check(self.dino_action_dim >= 1, "model.dino_action_dim", "must be >= 1")
        _check(self.encoder in ("vit", "cnn"), "model.encoder", "must be 'vit' or 'cnn'")
        _check(self.image_size >= 8, "model.image_size", "must be >= 8")
        if self.encoder == "vit" and self.kind != "dinowm":  # dinowm has its own ViT-S/14
            _check(
                self.image_size % self.patch_size == 0,
                "model.patch_size",
                f"must divide model.image_size={self.image_size}",
            )
            _check(
                self.enc_width % self.enc_heads == 0,
                "model.enc_heads",
                f"must divide model.enc_width={self.enc_width}",
            )
        for name in (
            "enc_width",
            "enc_depth",
            "embed_dim",
            "proj_hidden",
            "action_dim",
            "frameskip",
            "history",
            "pred_depth",
            "pred_heads",
            "pred_head_dim",
            "pred_mlp",
            "action_small_dim",
            "action_mlp_ratio",
        ):
            _check(getattr(self, name) >= 1, f"model.{name}", "must be >= 1")
        _check(0.0 <= self.pred_dropout < 1.0, "model.pred_dropout", "must be in [0, 1)")

    @property
    def action_block_dim(self) -> int:
        """K: dimension of one normalised action block."""
        return self.frameskip * self.action_dim


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 128
    """Clips per optimisation step (paper: 128)."""
    lr: float = 5e-5
    """AdamW peak learning rate (paper: 5e-5)."""
    weight_decay: float = 1e-3
    """AdamW weight decay (paper: 1e-3)."""
    warmup_frac: float = 0.01
    """Fraction of the schedule spent in linear warm-up (paper: 1%)."""
    epochs: float = 10.0
    """Passes over the training clips (paper: 10); ignored when max_steps > 0."""
    max_steps: int = 0
    """Total optimisation steps; 0 means derive from epochs."""
    max_minutes: float = 0.0
    """Wall-clock budget: stop (and checkpoint) after this many minutes; 0 disables."""
    schedule_steps: int = 0
    """Length of the cosine schedule in steps; 0 means the run length (the reference sized it
    for 100 epochs and stopped at 10)."""
    grad_clip: float = 1.0
    """Max global gradient norm (paper: 1.0); 0 disables."""
    sigreg_lambda: float = 0.09
    """Weight of SIGReg in L = L_pred + lambda * SIGReg (SPEC §2 decision: 0.09)."""
    sigreg_projections: int = 1024
    """Random directions M per SIGReg call."""
    sigreg_knots: int = 17
    """Trapezoid knots on [0, 3]."""
    pred_windows: str = "single"
    """How a clip feeds the predictor: 'single' (paper: frames 0..N-1 predict 1..N) or 'sliding'
    (every N-frame window of a longer clip predicts its next frames; amortises encoding)."""
    precision: str = "fp32"
    """'fp32' (default; bf16 NaNs reported late in training) or 'bf16' autocast."""
    pldm_var: float = 18.0
    """PLDM weight of the per-step variance hinge (SPEC §8: 18)."""
    pldm_cov: float = 12.0
    """PLDM weight of the per-step covariance term (SPEC §8: 12)."""
    pldm_time_sim: float = 0.2
    """PLDM weight of the temporal similarity ||z_{t+1} - z_t||^2 (SPEC §8: 0.2)."""
    pldm_time_var: float = 0.7
    """PLDM weight of the variance hinge across time within a clip (SPEC §8: 0.7)."""
    pldm_time_cov: float = 0.0
    """PLDM weight of the covariance across time within a clip (SPEC §8: 0)."""
    pldm_idm: float = 0.0
    """PLDM weight of the inverse-dynamics loss (SPEC §8: 0; > 0 needs model.idm_hidden > 0)."""
    seed: int = 3072
    """Run seed (paper: 3072): weights, data order and SIGReg directions derive from it."""
    device: str = "auto"
    """'auto' (an accelerator if present, else CPU) or an explicit torch device string."""
    threads: int = 0
    """torch CPU threads; 0 leaves torch's default."""
    val_every: int = 500
    """Steps between validation passes (and checkpoints)."""
    val_batches: int = 8
    """Validation batches per pass."""
    ckpt_every: int = 500
    """Steps between checkpoints."""
    log_every: int = 20
    """Steps between metrics.jsonl records."""
    tensorboard: bool = False
    """Also log to TensorBoard (needs the `tensorboard` extra)."""

    def __post_init__(self) -> None:
        _check(self.batch_size >= 2, "train.batch_size", "BatchNorm and SIGReg need >= 2")
        _check(self.lr > 0, "train.lr", "must be > 0")
        _check(self.weight_decay >= 0, "train.weight_decay", "must be >= 0")
        _check(0 <= self.warmup_frac < 1, "train.warmup_frac", "must be in [0, 1)")
        _check(self.epochs > 0 or self.max_steps > 0, "train.epochs", "epochs or max_steps > 0")
        _check(self.max_steps >= 0, "train.max_steps", "must be >= 0")
        _check(self.schedule_steps >= 0, "train.schedule_steps", "must be >= 0")
        _check(self.max_minutes >= 0, "train.max_minutes", "must be >= 0")
        _check(self.grad_clip >= 0, "train.grad_clip", "must be >= 0")
        _check(self.sigreg_lambda >= 0, "train.sigreg_lambda", "must be >= 0")
        _check(self.sigreg_projections >= 1, "train.sigreg_projections", "must be >= 1")
        _check(self.sigreg_knots >= 2, "train.sigreg_knots", "must be >= 2")
        _check(
            self.pred_windows in ("single", "sliding"),
            "train.pred_windows",
            "must be 'single' or 'sliding'",
        )
        _check(self.precision in ("fp32", "bf16"), "train.precision", "must be 'fp32' or 'bf16'")
        for name in ("val_every", "val_batches", "ckpt_every", "log_every"):
            _check(getattr(self, name) >= 1, f"train.{name}", "must be >= 1")
        _check(self.threads >= 0, "train.threads", "must be >= 0")
        for name in ("var", "cov", "time_sim", "time_var", "time_cov", "idm"):
            _check(getattr(self, f"pldm_{name}") >= 0, f"train.pldm_{name}", "must be >= 0")


@dataclass(frozen=True)
class PlanConfig:
    solver: str = "cem"
    """'cem' (paper), 'mppi' or 'grad' (Adam through the differentiable rollout)."""
    horizon: int = 5
    """Planning horizon H in action blocks (paper: 5)."""
    receding_horizon: int = 5
    """Blocks executed before replanning (paper: 5, the whole plan)."""
    num_samples: int = 300
    """Candidates per iteration (paper: 300)."""
    num_elites: int = 30
    """Elites kept per iteration (paper: 30)."""
    iterations: int = 10
    """Solver iterations (paper: 30 for Push-T, 10 elsewhere)."""
    init_std: float = 1.0
    """Initial std in normalised action space."""
    cost: str = "last"
    """'last' (paper: squared L2 of the last predicted embedding to the goal) or 'all' steps."""
    mppi_temperature: float = 0.5
    """MPPI softmax temperature on (cost - min cost) / cost std."""
    grad_lr: float = 0.1
    """Adam learning rate of the gradient planner."""
    precision: str = "fp32"
    """'fp32' or 'bf16' autocast for the rollout inside the solver."""
    seed: int = 0
    """Solver generator seed (combined with the evaluation seed)."""

    def __post_init__(self) -> None:
        _check(self.solver in ("cem", "mppi", "grad"), "plan.solver", "cem, mppi or grad")
        _check(self.horizon >= 1, "plan.horizon", "must be >= 1")
        _check(
            1 <= self.receding_horizon <= self.horizon,
            "plan.receding_horizon",
            f"must be in [1, plan.horizon={self.horizon}]",
        )
        _check(self.num_samples >= 2, "plan.num_samples", "must be >= 2")
        _check(
            1 <= self.num_elites <= self.num_samples,
            "plan.num_elites",
            "must be in [1, plan.num_samples]",
        )
        _check(self.iterations >= 1, "plan.iterations", "must be >= 1")
        _check(self.init_std > 0, "plan.init_std", "must be > 0")
        _check(self.cost in ("last", "all"), "plan.cost", "must be 'last' or 'all'")
        _check(self.mppi_temperature > 0, "plan.mppi_temperature", "must be > 0")
        _check(self.grad_lr > 0, "plan.grad_lr", "must be > 0")
        _check(self.precision in ("fp32", "bf16"), "plan.precision", "must be 'fp32' or 'bf16'")


@dataclass(frozen=True)
class EvalConfig:
    episodes: int = 50
    """Start/goal pairs per evaluation seed (paper: 50)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Evaluation seeds; success is reported as mean and 95% interval over them."""
    goal_offset: int = 25
    """Goal = the state this many env steps after the start in the same episode (paper: 25)."""
    eval_budget: int = 50
    """Env steps allowed per episode (paper: 50)."""
    protocol: str = "heldout"
    """'heldout' (pairs from test episodes) or 'paper' (pairs from training episodes)."""

    def __post_init__(self) -> None:
        _check(self.episodes >= 1, "eval.episodes", "must be >= 1")
        _check(len(self.seeds) >= 1, "eval.seeds", "needs at least one seed")
        _check(self.goal_offset >= 1, "eval.goal_offset", "must be >= 1")
        _check(self.eval_budget >= 1, "eval.eval_budget", "must be >= 1")
        _check(self.protocol in ("heldout", "paper"), "eval.protocol", "'heldout' or 'paper'")


@dataclass(frozen=True)
class CollectConfig:
    episodes: int = 2000
    """Episodes the pipeline collects when its dataset does not exist yet."""
    policy: str = "expert"
    """Data policy (Two-Room: 'expert' noisy heuristic, or 'random')."""
    seed: int = 0
    """Collection seed (episode i is seeded from (seed, i))."""
    workers: int = 2
    """Collection worker processes."""

    def __post_init__(self) -> None:
        _check(self.episodes >= 1, "collect.episodes", "must be >= 1")
        _check(self.workers >= 1, "collect.workers", "must be >= 1")


@dataclass(frozen=True)
class RunConfig:
    env: str = "tworoom"
    """Environment name (see `lewm.envs.make`)."""
    collect: CollectConfig = field(default_factory=CollectConfig)
    """How the pipeline collects its dataset."""
    data: DataConfig = field(default_factory=DataConfig)
    """Dataset and clip settings."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Model architecture."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Optimisation."""
    plan: PlanConfig = field(default_factory=PlanConfig)
    """Planning solver and MPC."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Evaluation protocol."""

    def __post_init__(self) -> None:
        _check(
            self.model.frameskip == self.data.frameskip,
            "model.frameskip",
            f"must equal data.frameskip={self.data.frameskip}",
        )
        _check(
            self.model.history < self.data.num_frames,
            "model.history",
            f"must be < data.num_frames={self.data.num_frames} (history frames predict the next)",
        )
        _check(
            self.train.pldm_idm == 0 or (self.model.kind == "pldm" and self.model.idm_hidden > 0),
            "train.pldm_idm",
            "> 0 needs model.kind=pldm and model.idm_hidden > 0 (the inverse-dynamics head)",
        )

    # ----------------------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples become lists) suitable for JSON/YAML."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        return _build(cls, d, prefix="")

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
        """Load a YAML/JSON preset (or none: ``path=None`` gives defaults) and apply overrides."""
        raw: dict[str, Any] = {}
        if path is not None:
            p = Path(path)
            if not p.is_file():
                raise ConfigError(f"config file not found: {p}")
            loaded = yaml.safe_load(p.read_text())
            if loaded is not None and not isinstance(loaded, dict):
                raise ConfigError(f"{p}: top level must be a mapping of sections")
            raw = loaded or {}
        for ov in overrides:
            _apply_override(raw, ov)
        return cls.from_dict(raw)

    def replace(self, **sections: Any) -> RunConfig:
        return dataclasses.replace(self, **sections)


def _apply_override(raw: dict[str, Any], override: str) -> None:
    if "=" not in override:
        raise ConfigError(f"override '{override}' must look like section.key=value")
    key, value = override.split("=", 1)
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{override}': '{part}' is not a section")
    node[parts[-1]] = yaml.safe_load(value) if value.strip() != "" else ""


def _coerce(tp: Any, value: Any, name: str) -> Any:
    origin = getattr(tp, "__origin__", None)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config field '{name}': expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ConfigError(f"config field '{name}': expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config field '{name}': expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config field '{name}': expected a string, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, int | str) and not isinstance(value, bool):
            value = [int(v) for v in str(value).split(",")] if isinstance(value, str) else [value]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config field '{name}': expected a list, got {value!r}")
        return tuple(_coerce(tp.__args__[0], v, name) for v in value)
    raise ConfigError(f"config field '{name}': unsupported type {tp}")


def _build(cls: type, d: dict[str, Any], prefix: str) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"config section '{prefix.rstrip('.') or 'root'}' must be a mapping")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(prefix + u for u in unknown)}; "
            f"valid keys in '{prefix.rstrip('.') or 'root'}': {', '.join(sorted(known))}"
        )
    kwargs = {}
    for f in fields(cls):
        if f.name not in d:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, d[f.name] or {}, prefix + f.name + ".")
        else:
            kwargs[f.name] = _coerce(tp, d[f.name], prefix + f.name)
    return cls(**kwargs)


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its one-line docstring (parsed from the source), for `lewm config --help`."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr):
            if isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                docs[node.target.id] = " ".join(nxt.value.value.split())  # type: ignore[attr-defined]
    return docs
