"""Action encoder (SPEC §1): one action block (K = frameskip * A z-scored raw actions) per latent
step -> ``Linear(K -> small)`` -> ``Linear(small -> ratio * D)`` -> SiLU -> ``Linear(-> D)``.

The reference implements the first map as a kernel-1 Conv1d over time, which is the same per-step
linear map (same 110 parameters for K=10, small=10); we write it as ``nn.Linear``.
"""

from __future__ import annotations

import torch
from torch import nn


class ActionEncoder(nn.Module):
    """Per-step embedding of action blocks.

    Args:
        block_dim: K, the dimension of one action block.
        embed_dim: D, output width (the predictor width).
        small_dim: width of the first per-step linear map (paper: 10).
        mlp_ratio: hidden width of the MLP = ``mlp_ratio * embed_dim``.
    """

    def __init__(self, block_dim: int, embed_dim: int, small_dim: int = 10, mlp_ratio: int = 4):
        super().__init__()
        self.block_dim = block_dim
        self.step_proj = nn.Linear(block_dim, small_dim)
        self.mlp = nn.Sequential(
            nn.Linear(small_dim, mlp_ratio * embed_dim),
            nn.SiLU(),
            nn.Linear(mlp_ratio * embed_dim, embed_dim),
        )

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        """blocks (..., K) -> (..., D). NaN entries (episode ends, SPEC §1) are read as 0."""
        if blocks.shape[-1] != self.block_dim:
            raise ValueError(
                f"action blocks must have last dim K={self.block_dim} "
                f"(frameskip * action_dim), got shape {tuple(blocks.shape)}"
            )
        x = torch.nan_to_num(blocks.to(self.step_proj.weight.dtype), nan=0.0)
        return self.mlp(self.step_proj(x))
