"""Projector MLP used twice (SPEC §1): after the encoder CLS token and after the predictor
(``pred_proj``): ``Linear(in -> hidden) -> BatchNorm1d(hidden) -> GELU -> Linear(hidden -> out)``.

The projector matters: the encoder's final LayerNorm would otherwise stop SIGReg from shaping the
latent. BatchNorm statistics are taken over all flattened (B*T) rows.
"""

from __future__ import annotations

import torch
from torch import nn


class Projector(nn.Module):
    """MLP with BatchNorm applied on flattened leading dimensions.

    Args:
        in_dim: input width. hidden_dim: hidden width (``proj_hidden``). out_dim: output width.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_dim) -> (..., out_dim); BatchNorm sees the (prod(...), in_dim) rows."""
        lead = x.shape[:-1]
        return self.net(x.reshape(-1, x.shape[-1])).reshape(*lead, -1)
