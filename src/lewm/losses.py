"""The two LeWM loss terms (SPEC §2): ``L = L_pred + lambda * SIGReg(Z)``.

SIGReg (sketched isotropic Gaussian regulariser) tests, along M random unit directions, whether the
per-time-step batch of embeddings is N(0, 1) with the Epps–Pulley statistic

    B * ∫ w(t) |φ̂(t) − e^{−t²/2}|² dt,   φ̂(t) = mean_b exp(i t h_b),   w(t) = e^{−t²/2},

integrated by the trapezoid rule on ``num_knots`` knots t ∈ linspace(0, 3) (end weights dt,
interior 2·dt: the factor 2 mirrors the even integrand onto [−3, 3]). The projections h are not
centred or standardised, so mean and scale are penalised too. Everything is computed in float32.

Multi-process (SPEC §2 decision): pass the same directions on every rank (same generator seed) and
a differentiable all-reduce-mean as ``reduce_mean``; it is applied to the stacked characteristic
function means (2, T, M, K) before squaring, and ``global_batch`` scales the statistic, so the
result equals the single-device statistic on the global batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

ReduceMean = Callable[[torch.Tensor], torch.Tensor]


def prediction_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over batch, time and dims: pred, target (B, T, D) -> scalar."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    return (pred - target).pow(2).mean()


def epps_pulley_knots(
    num_knots: int = 17, t_max: float = 3.0, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Knots t (K,) = linspace(0, t_max, K) and trapezoid weights (K,) times the window e^{−t²/2}.

    The weights integrate an even function over [−t_max, t_max] from its values on [0, t_max].
    """
    if num_knots < 2:
        raise ValueError(f"num_knots must be >= 2, got {num_knots}")
    t = torch.linspace(0.0, t_max, num_knots, dtype=torch.float32, device=device)
    dt = t_max / (num_knots - 1)
    w = torch.full((num_knots,), 2.0 * dt, dtype=torch.float32, device=device)
    w[0] = w[-1] = dt
    return t, w * torch.exp(-0.5 * t.square())


def epps_pulley(
    h: torch.Tensor,
    num_knots: int = 17,
    reduce_mean: ReduceMean | None = None,
    global_batch: int | None = None,
) -> torch.Tensor:
    """Epps–Pulley statistic of 1-D projections: h (T, B, M) -> (T, M), per time step and direction.

    ``reduce_mean`` (optional) maps the stacked (cos_mean, sin_mean) of shape (2, T, M, K) to its
    cross-process average; ``global_batch`` is then the total batch size B over processes
    (required with ``reduce_mean``; defaults to the local B otherwise).
    """
    if reduce_mean is not None and global_batch is None:
        raise ValueError("sigreg: pass global_batch (total batch over processes) with reduce_mean")
    batch = h.shape[1] if global_batch is None else global_batch
    t, weights = epps_pulley_knots(num_knots, device=h.device)
    x = h.float().unsqueeze(-1) * t  # (T, B, M, K)
    ecf = torch.stack([x.cos().mean(dim=1), x.sin().mean(dim=1)])  # (2, T, M, K)
    if reduce_mean is not None:
        ecf = reduce_mean(ecf)
    err = (ecf[0] - torch.exp(-0.5 * t.square())).square() + ecf[1].square()  # (T, M, K)
    return (err @ weights) * batch


def random_directions(
    dim: int,
    num: int,
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Gaussian directions with unit-norm columns: (dim, num) float32 on ``device``.

    Drawn on the generator's device (so a seeded generator gives the same directions on every
    rank) and moved to ``device``.
    """
    draw_on = generator.device if generator is not None else device
    u = torch.randn(dim, num, generator=generator, device=draw_on, dtype=torch.float32)
    return (u / u.norm(dim=0, keepdim=True)).to(device)


def sigreg_with_directions(
    z: torch.Tensor,
    directions: torch.Tensor,
    num_knots: int = 17,
    reduce_mean: ReduceMean | None = None,
    global_batch: int | None = None,
) -> torch.Tensor:
    """SIGReg for fixed directions: z (T, B, D), directions (D, M) -> scalar (mean over T and M)."""
    if z.dim() != 3 or directions.dim() != 2 or directions.shape[0] != z.shape[-1]:
        raise ValueError(
            f"sigreg expects z (T,B,D) and directions (D,M); got {tuple(z.shape)}, "
            f"{tuple(directions.shape)}"
        )
    h = z.float() @ directions.to(device=z.device, dtype=torch.float32)  # (T, B, M)
    return epps_pulley(h, num_knots, reduce_mean, global_batch).mean()


def sigreg(
    z: torch.Tensor,
    generator: torch.Generator | None = None,
    num_projections: int = 1024,
    num_knots: int = 17,
    reduce_mean: ReduceMean | None = None,
    global_batch: int | None = None,
) -> torch.Tensor:
    """SIGReg (SPEC §2): z (T, B, D) -> scalar; fresh random directions every call from
    ``generator``, shared across time steps. ≈ O(1) for N(0, I) samples, grows like B otherwise."""
    u = random_directions(z.shape[-1], num_projections, generator, z.device)
    return sigreg_with_directions(z, u, num_knots, reduce_mean, global_batch)


def lewm_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    emb: torch.Tensor,
    lam: float,
    generator: torch.Generator | None = None,
    num_projections: int = 1024,
    num_knots: int = 17,
    reduce_mean: ReduceMean | None = None,
    global_batch: int | None = None,
) -> dict[str, torch.Tensor]:
    """``L = L_pred + lam * SIGReg``.

    pred, target (B', N, D): predictions and aligned targets; emb (B, T, D): all encoded frame
    embeddings of the clips (SIGReg runs per time step over the batch, i.e. on emb.transpose(0,1)).
    Returns a new dict with scalar tensors ``loss``, ``pred_loss``, ``sigreg``.
    """
    pred_loss = prediction_loss(pred, target)
    reg = sigreg(
        emb.transpose(0, 1), generator, num_projections, num_knots, reduce_mean, global_batch
    )
    return {"loss": pred_loss + lam * reg, "pred_loss": pred_loss, "sigreg": reg}
