"""Goal-reaching cost for latent planning (SPEC §5).

The caller (evaluation code) builds ``rollout_fn`` from the model, e.g.
``lambda a: model.rollout(context, cat(history_blocks, a))[:, :, T:]``; this module never imports
the model, so the solvers stay model-agnostic.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import Tensor

from lewm.planning.base import CostFn

RolloutFn = Callable[[Tensor], Tensor]
"""rollout_fn(actions (B, S, H, K)) -> (B, S, H, D) predicted embeddings of the next H frames."""


def goal_cost(
    rollout_fn: RolloutFn,
    goal_emb: Tensor,
    mode: str = "last",
    autocast_dtype: torch.dtype | None = None,
    distance: str = "sum",
) -> CostFn:
    """Build cost(actions (B, S, H, K)) -> (B, S) from a latent rollout and goal embeddings.

    goal_emb: (B, D), one goal per problem. mode "last" (paper): distance between the last
    predicted embedding and the goal; "all": that distance summed over all H predicted steps.
    distance "sum": squared L2 summed over D (LeWM, SPEC §5); "mean": mean squared error over D
    (DINO-WM's mean MSE over patch tokens, their features flattened into D, SPEC §8).
    ``autocast_dtype`` (e.g. torch.bfloat16) runs the rollout under autocast on the goal's device
    type; the distance is always computed in float32.
    """
    if mode not in ("last", "all"):
        raise ValueError(f"goal_cost: mode must be 'last' or 'all', got {mode!r}")
    if distance not in ("sum", "mean"):
        raise ValueError(f"goal_cost: distance must be 'sum' or 'mean', got {distance!r}")
    if goal_emb.dim() != 2:
        raise ValueError(f"goal_cost: goal_emb must be (B, D), got {tuple(goal_emb.shape)}")
    goal = goal_emb.float()[:, None, None, :]  # (B, 1, 1, D)

    def cost(actions: Tensor) -> Tensor:
        ctx = (
            torch.autocast(device_type=goal_emb.device.type, dtype=autocast_dtype)
            if autocast_dtype is not None
            else nullcontext()
        )
        with ctx:
            pred = rollout_fn(actions)
        b, s = actions.shape[:2]
        if pred.dim() != 4 or pred.shape[:2] != (b, s) or pred.shape[-1] != goal.shape[-1]:
            raise ValueError(
                f"goal_cost: rollout_fn returned {tuple(pred.shape)}; expected (B, S, H, D) with "
                f"B={b}, S={s}, D={goal.shape[-1]}"
            )
        if mode == "last":
            pred = pred[:, :, -1:]
        sq = (pred.float() - goal).pow(2)
        per_step = sq.sum(dim=-1) if distance == "sum" else sq.mean(dim=-1)
        return per_step.sum(dim=-1)

    return cost
