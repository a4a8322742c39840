"""Cross-entropy method (SPEC §5), batched over B problems.

Per iteration: sample S candidates around the current mean (candidate 0 *is* the mean, so the
mean is always evaluated), keep the ``num_elites`` lowest-cost ones, set mean = elite mean and
std = elite std (a standard deviation, not a variance). The plan returned is the final mean. This
follows the reference CEM (stable-worldmodel ``CEMSolver``); unlike it, all B problems are solved in
one batched loop and no Python loop runs over problems or candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lewm.planning.base import CostFn, PlanResult, check_problem, evaluate, initial_mean


def gather_candidates(candidates: Tensor, idx: Tensor) -> Tensor:
    """candidates (B, S, H, K), idx (B, E) long -> (B, E, H, K) the selected candidates."""
    b, _, h, k = candidates.shape
    return candidates.gather(1, idx[:, :, None, None].expand(b, idx.shape[1], h, k))


@dataclass(frozen=True)
class CEM:
    """Cross-entropy method solver (paper: 300 samples, 30 elites, std 1, 30/10 iterations)."""

    num_samples: int = 300
    """S: candidates per iteration (candidate 0 is the current mean)."""
    num_elites: int = 30
    """Lowest-cost candidates kept per iteration."""
    iterations: int = 10
    """CEM iterations."""
    init_std: float = 1.0
    """Initial per-dimension std in normalised action space."""
    max_batch: int | None = None
    """Largest number of sequences per cost call (splits S); None: all at once."""

    def __post_init__(self) -> None:
        if self.num_samples < 2:
            raise ValueError(f"CEM.num_samples must be >= 2, got {self.num_samples}")
        if not 1 <= self.num_elites <= self.num_samples:
            raise ValueError(
                f"CEM.num_elites must be in [1, num_samples={self.num_samples}], "
                f"got {self.num_elites}"
            )
        if self.iterations < 1:
            raise ValueError(f"CEM.iterations must be >= 1, got {self.iterations}")

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
        """Minimise ``cost`` for B=batch_size problems.

        cost: (B, S, H, K) -> (B, S). init_mean: optional (B, H', K), H' <= H, zero-padded.
        Samples are drawn on ``generator.device``. Returns PlanResult with actions (B, H, K).
        """
        check_problem(batch_size, horizon, action_dim)
        device = generator.device
        b, s, h, k = batch_size, self.num_samples, horizon, action_dim
        mean = initial_mean(init_mean, b, h, k, device)
        std = torch.full_like(mean, self.init_std)
        # One buffer reused every iteration; slot 0 holds the mean (SPEC §5).
        candidates = torch.empty(b, s, h, k, device=device)
        noise = torch.empty(b, s - 1, h, k, device=device)
        # Unbiased std as in the reference; a single elite has no spread, so std collapses to 0.
        correction = 1 if self.num_elites > 1 else 0
        history = []
        for _ in range(self.iterations):
            torch.randn(noise.shape, generator=generator, device=device, out=noise)
            torch.addcmul(mean[:, None], std[:, None], noise, out=candidates[:, 1:])
            candidates[:, 0] = mean
            costs = evaluate(cost, candidates, self.max_batch)  # (B, S)
            elite_cost, elite_idx = torch.topk(costs, self.num_elites, dim=1, largest=False)
            elites = gather_candidates(candidates, elite_idx)  # (B, E, H, K)
            mean = elites.mean(dim=1)
            std = elites.std(dim=1, correction=correction)
            history.append(elite_cost[:, 0])
        final = evaluate(cost, mean[:, None])[:, 0]
        return PlanResult(actions=mean, cost=final, history=torch.stack(history))
