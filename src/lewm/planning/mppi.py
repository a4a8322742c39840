"""Model-predictive path integral (MPPI) solver, batched over B problems.

Per iteration: sample S candidates ~ N(mean, std^2) (candidate 0 is the mean), weight them with

    w = softmax(-(c - min c) / (temperature * std(c) + eps))      over the S candidates,

and set mean = sum_s w_s * candidate_s. Dividing by the cost spread makes ``temperature`` free of
the cost's scale (latent distances differ between models); the reference (stable-worldmodel
``MPPISolver``) divides by the temperature alone and averages only its top-k. With
``update_std`` (default) the std becomes the weighted std of the candidates, as in TD-MPC's MPPI,
floored at ``min_std`` so the search never freezes; without it the std stays ``init_std``
(classic MPPI).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lewm.planning.base import CostFn, PlanResult, check_problem, evaluate, initial_mean


@dataclass(frozen=True)
class MPPI:
    """MPPI solver seeing only ``cost(actions (B, S, H, K)) -> (B, S)``."""

    num_samples: int = 300
    """S: candidates per iteration (candidate 0 is the current mean)."""
    iterations: int = 10
    """MPPI iterations."""
    init_std: float = 1.0
    """Initial per-dimension sampling std in normalised action space."""
    temperature: float = 0.5
    """Softmax temperature, in units of the candidates' cost std."""
    update_std: bool = True
    """Set std to the weighted std of the candidates after each iteration."""
    min_std: float = 0.05
    """Floor on the std when ``update_std`` is on."""
    max_batch: int | None = None
    """Largest number of sequences per cost call (splits S); None: all at once."""
    eps: float = 1e-8
    """Keeps the softmax finite when all candidates cost the same."""

    def __post_init__(self) -> None:
        if self.num_samples < 2:
            raise ValueError(f"MPPI.num_samples must be >= 2, got {self.num_samples}")
        if self.iterations < 1:
            raise ValueError(f"MPPI.iterations must be >= 1, got {self.iterations}")
        if self.temperature <= 0:
            raise ValueError(f"MPPI.temperature must be > 0, got {self.temperature}")

    @torch.no_grad()
    def solve(
        self,
        cost: CostFn,
        batch_size: int,
        horizon: int,
        action_dim: int,
        generator: torch.Generator,
        init_mean: Tensor | None = None,
    ) -> PlanResult:
        """Minimise ``cost`` for B=batch_size problems; returns actions (B, H, K).

        init_mean: optional (B, H', K), H' <= H, zero-padded. Samples are drawn on
        ``generator.device``.
        """
        check_problem(batch_size, horizon, action_dim)
        device = generator.device
        b, s, h, k = batch_size, self.num_samples, horizon, action_dim
        mean = initial_mean(init_mean, b, h, k, device)
        std = torch.full_like(mean, self.init_std)
        candidates = torch.empty(b, s, h, k, device=device)
        noise = torch.empty(b, s - 1, h, k, device=device)
        history = []
        for _ in range(self.iterations):
            torch.randn(noise.shape, generator=generator, device=device, out=noise)
            torch.addcmul(mean[:, None], std[:, None], noise, out=candidates[:, 1:])
            candidates[:, 0] = mean
            costs = evaluate(cost, candidates, self.max_batch)  # (B, S)
            cmin = costs.min(dim=1, keepdim=True).values
            scale = self.temperature * costs.std(dim=1, keepdim=True) + self.eps
            w = torch.softmax(-(costs - cmin) / scale, dim=1)[:, :, None, None]  # (B, S, 1, 1)
            mean = (w * candidates).sum(dim=1)
            if self.update_std:
                var = (w * (candidates - mean[:, None]).pow(2)).sum(dim=1)
                std = var.sqrt().clamp_min(self.min_std)
            history.append(cmin[:, 0])
        final = evaluate(cost, mean[:, None])[:, 0]
        return PlanResult(actions=mean, cost=final, history=torch.stack(history))
