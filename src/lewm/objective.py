"""LeWM's training objective on one batch (SPEC §2): ``L = L_pred + λ·SIGReg(Z)``.

It sits beside :mod:`lewm.losses` (the two terms) and below the trainer; the baselines'
objectives live next to their models in :mod:`lewm.baselines`, and
:func:`lewm.baselines.registry.objective_for` picks one by ``model.kind``.
"""

from __future__ import annotations

import torch

from lewm.config import RunConfig
from lewm.losses import ReduceMean, prediction_loss, sigreg
from lewm.model.lewm import LeWM


def lewm_objective(
    model: LeWM,
    pixels: torch.Tensor,
    blocks: torch.Tensor,
    cfg: RunConfig,
    gen: torch.Generator,
    reduce_mean: ReduceMean | None = None,
    global_batch: int | None = None,
) -> dict[str, torch.Tensor]:
    """``L = L_pred + λ·SIGReg(Z)`` on one batch of clips (SPEC §2).

    pixels: uint8 (B,T,H,W,3); blocks: (B,T,K) z-scored action blocks. All T frames are encoded
    with gradients on both context and target side (no stop-gradient, no EMA). 'single' windows:
    frames 0..N-1 predict 1..N (teacher forcing); 'sliding': every N-window of the clip does.
    Returns loss, pred_loss, sigreg (scalars). Data parallel: ``reduce_mean``/``global_batch``
    make SIGReg the global-batch statistic (see :mod:`lewm.distributed`).
    """
    n = cfg.model.history
    emb = model.encode(pixels)  # (B,T,D)
    act = model.encode_actions(blocks)  # (B,T,D)
    if cfg.train.pred_windows == "single":
        pred, target = model.predict(emb[:, :n], act[:, :n]), emb[:, 1 : n + 1]
    else:
        pred, target = model.predict_windows(emb, act, n)
    pred_loss = prediction_loss(pred.float(), target.float())
    # SIGReg per time step over the batch: Z is (T, B, D).
    sig = sigreg(
        emb.float().transpose(0, 1),
        generator=gen,
        num_projections=cfg.train.sigreg_projections,
        num_knots=cfg.train.sigreg_knots,
        reduce_mean=reduce_mean,
        global_batch=global_batch,
    )
    loss = pred_loss + cfg.train.sigreg_lambda * sig
    return {"loss": loss, "pred_loss": pred_loss, "sigreg": sig}
