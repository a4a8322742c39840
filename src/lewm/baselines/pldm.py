"""PLDM baseline (SPEC §8): LeWM's encoder and predictor, no SIGReg, a VICReg-style objective

    L = pred + 18·var + 12·cov + 0.2·time_sim + 0.7·time_var + 0·time_cov + 0·idm

(the weights are ``train.pldm_*``). The anti-collapse terms act on the encoder's frame embeddings
Z (B, T, D):

- ``var``: per time step, the hinge ``mean_d relu(1 - std_b(z_d))`` over the batch (VICReg);
- ``cov``: per time step, the squared off-diagonal entries of the batch covariance, summed and
  divided by D (VICReg);
- ``time_sim``: mean squared difference of consecutive embeddings ``z_{t+1} - z_t``;
- ``time_var`` / ``time_cov``: the same hinge / covariance computed across the T frames of each
  clip (per sample), averaged over the batch;
- ``idm``: an inverse-dynamics head (``model.idm_hidden`` > 0) predicts the action block between
  two consecutive embeddings; MSE to the z-scored block.

Every term is returned separately so the trainer logs each one in ``metrics.jsonl``.
"""

from __future__ import annotations

import torch
from torch import nn

from lewm.config import ModelConfig
from lewm.losses import prediction_loss
from lewm.model.lewm import LeWM

EPS = 1e-4


def variance_hinge(z: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """z (G, N, D): G groups of N samples -> scalar mean over G and D of relu(1 - std_N).

    0 when every dimension has at least unit standard deviation over the N samples.
    """
    std = torch.sqrt(z.float().var(dim=1) + eps)  # (G, D)
    return torch.relu(1.0 - std).mean()


def covariance_penalty(z: torch.Tensor) -> torch.Tensor:
    """z (G, N, D) -> scalar: per group, sum of squared off-diagonal covariances / D; mean over G.

    0 when the D dimensions are uncorrelated over the N samples.
    """
    z = z.float()
    g, n, d = z.shape
    zc = z - z.mean(dim=1, keepdim=True)
    cov = zc.transpose(1, 2) @ zc / max(n - 1, 1)  # (G, D, D)
    off = cov - torch.diag_embed(torch.diagonal(cov, dim1=1, dim2=2))
    return (off.pow(2).sum(dim=(1, 2)) / d).mean()


def temporal_similarity(z: torch.Tensor) -> torch.Tensor:
    """z (B, T, D) -> mean squared difference of consecutive embeddings (0 for constant clips)."""
    if z.shape[1] < 2:
        raise ValueError(f"temporal_similarity needs T >= 2 frames, got {z.shape[1]}")
    return (z[:, 1:].float() - z[:, :-1].float()).pow(2).mean()


class PLDM(LeWM):
    """LeWM's network plus an optional inverse-dynamics head ``idm`` (``model.idm_hidden`` > 0):
    ``cat(z_t, z_{t+1}) (2D) -> Linear -> GELU -> Linear -> K`` (the action block between them)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        self.idm = None
        if cfg.idm_hidden:
            d = cfg.embed_dim
            self.idm = nn.Sequential(
                nn.Linear(2 * d, cfg.idm_hidden),
                nn.GELU(),
                nn.Linear(cfg.idm_hidden, cfg.action_block_dim),
            )

    def param_counts(self) -> dict[str, int]:
        counts = super().param_counts()
        if self.idm is not None:
            counts["idm"] = sum(x.numel() for x in self.idm.parameters())
        return counts


def pldm_terms(
    model: PLDM, emb: torch.Tensor, pred: torch.Tensor, target: torch.Tensor, blocks: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The seven PLDM terms (unweighted): emb (B, T, D) all frame embeddings, pred/target
    (B', N, D) aligned predictions, blocks (B, T, K) z-scored action blocks -> dict of scalars."""
    per_step = emb.transpose(0, 1)  # (T, B, D): statistics over the batch, per time step
    zero = emb.new_zeros((), dtype=torch.float32)
    terms = {
        "pred_loss": prediction_loss(pred.float(), target.float()),
        "var": variance_hinge(per_step),
        "cov": covariance_penalty(per_step),
        "time_sim": temporal_similarity(emb),
        "time_var": variance_hinge(emb),  # (B, T, D): statistics over each clip's frames
        "time_cov": covariance_penalty(emb),
        "idm": zero,
    }
    if model.idm is not None:
        pair = torch.cat([emb[:, :-1], emb[:, 1:]], dim=-1)  # (B, T-1, 2D)
        target_blocks = torch.nan_to_num(blocks[:, :-1].float(), nan=0.0)
        terms["idm"] = (model.idm(pair).float() - target_blocks).pow(2).mean()
    return terms


def pldm_objective(model: PLDM, pixels, blocks, cfg, gen=None, *_) -> dict[str, torch.Tensor]:
    """PLDM's loss on one batch of clips: pixels uint8 (B,T,H,W,3), blocks (B,T,K).

    Same teacher forcing as LeWM (frames 0..N-1 predict 1..N, or every N-window for
    ``train.pred_windows='sliding'``). Returns ``loss`` and every term, unweighted.
    """
    tc, n = cfg.train, cfg.model.history
    emb = model.encode(pixels)
    act = model.encode_actions(blocks)
    if tc.pred_windows == "single":
        pred, target = model.predict(emb[:, :n], act[:, :n]), emb[:, 1 : n + 1]
    else:
        pred, target = model.predict_windows(emb, act, n)
    terms = pldm_terms(model, emb, pred, target, blocks)
    weights = {
        "var": tc.pldm_var,
        "cov": tc.pldm_cov,
        "time_sim": tc.pldm_time_sim,
        "time_var": tc.pldm_time_var,
        "time_cov": tc.pldm_time_cov,
        "idm": tc.pldm_idm,
    }
    loss = terms["pred_loss"] + sum(w * terms[k] for k, w in weights.items())
    return {"loss": loss, **terms}
