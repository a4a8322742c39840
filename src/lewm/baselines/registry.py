"""The one place where the model kind (``model.kind``: lewm | pldm | dinowm) is dispatched.

Every kind exposes the interface the trainer, planner and evaluation use — ``encode``,
``encode_actions``, ``predict``, ``rollout``, ``param_counts`` — and this table adds what differs
between kinds: how to build it, its training objective, the planning distance and the number of
tokens that represent one frame (what planning cost scales with, SPEC §5 "Planning time").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lewm.config import ModelConfig

Objective = Callable[..., dict[str, torch.Tensor]]


def build_model(cfg: ModelConfig, state_dict: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The network of ``cfg.kind``. ``state_dict``: the checkpoint the caller is about to load
    strictly; DINO-WM then takes its frozen encoder's shape from it instead of reading
    ``model.dino_weights`` (the checkpoint already holds those weights)."""
    if cfg.kind == "lewm":
        from lewm.model.lewm import LeWM

        return LeWM(cfg)
    if cfg.kind == "pldm":
        from lewm.baselines.pldm import PLDM

        return PLDM(cfg)
    if cfg.kind == "dinowm":
        from lewm.baselines.dinowm import DinoWM
        from lewm.model.dinov2 import VITS14, DinoV2

        encoder = None
        if state_dict is not None:
            regs = state_dict.get("encoder.register_tokens")
            encoder = DinoV2(**VITS14, num_registers=0 if regs is None else regs.shape[1])
        return DinoWM(cfg, encoder)
    raise ValueError(f"model.kind must be lewm, pldm or dinowm, got {cfg.kind!r}")


def objective_for(kind: str) -> Objective:
    """``f(model, pixels, blocks, cfg, gen, reduce_mean=None, global_batch=None) -> terms`` with
    at least ``loss`` and ``pred_loss``; every other key is a separately logged term."""
    if kind == "lewm":
        from lewm.objective import lewm_objective

        return lewm_objective
    if kind == "pldm":
        from lewm.baselines.pldm import pldm_objective

        return pldm_objective
    if kind == "dinowm":
        from lewm.baselines.dinowm import dinowm_objective

        return dinowm_objective
    raise ValueError(f"model.kind must be lewm, pldm or dinowm, got {kind!r}")


def goal_distance(cfg: ModelConfig) -> str:
    """Planning distance to the goal latent: 'sum' (squared L2 over D, LeWM and PLDM, SPEC §5) or
    'mean' (mean squared error over patch tokens and features, DINO-WM, SPEC §8)."""
    return "mean" if cfg.kind == "dinowm" else "sum"


def tokens_per_frame(cfg: ModelConfig) -> int:
    """Tokens one frame is encoded into: 1 (a CLS latent) or DINO-WM's patch count."""
    return (cfg.dino_image_size // 14) ** 2 if cfg.kind == "dinowm" else 1


def plan_max_batch(cfg: ModelConfig, device: torch.device) -> int | None:
    """Cap on rollouts per planning cost call, or None (all candidates of all problems at once).

    On a CPU the cap keeps a call's working set in cache; measured on the 2-core CPU at 50
    problems x 300 candidates (benchmarks/plan_speed.py): one-token models (LeWM, PLDM) at ~2k
    predictor tokens per call, 141 ms per problem and iteration in bf16 (345 fp32) vs 278 (787)
    in one call; DINO-WM's patch tokens at ~8k, 0.07 s per candidate with ~3 candidates per call
    vs 0.19 s with 54. On a GPU only DINO-WM is capped (its activations would need gigabytes).
    """
    tokens = tokens_per_frame(cfg)
    if tokens == 1 and device.type != "cpu":
        return None
    budget = 1 << 11 if tokens == 1 else 1 << 13
    return max(1, budget // (tokens * cfg.history))
