"""Baselines of the comparison (SPEC §8): PLDM (VICReg-style objective on LeWM's network) and a
DINO-WM-style model (frozen DINOv2 ViT-S/14 patch encoder). Dispatch on ``model.kind`` lives in
:mod:`lewm.baselines.registry` only."""

from lewm.baselines.registry import (
    build_model,
    goal_distance,
    objective_for,
    plan_max_batch,
    tokens_per_frame,
)

__all__ = ["build_model", "goal_distance", "objective_for", "plan_max_batch", "tokens_per_frame"]
