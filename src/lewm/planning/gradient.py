"""Gradient planner: Adam on the action sequence through the differentiable cost.

S independent restarts per problem: restart 0 starts at the mean (zeros or the warm start), the
others at mean + init_std * noise. Every restart takes ``iterations`` Adam steps on
sum_{b,s} cost[b, s] (the restarts do not interact, so the sum's gradient is each restart's own).
The plan returned is, per problem, the lowest-cost sequence seen at any step (including the final
one), which makes the result never worse than the starting mean. The reference
(stable-worldmodel ``GradientSolver``) returns the best restart after the last step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lewm.planning.base import CostFn, PlanResult, check_problem, evaluate, initial_mean
from lewm.planning.cem import gather_candidates


@dataclass(frozen=True)
class GradientPlanner:
    """Adam through the cost; ``cost`` must be differentiable w.r.t. the actions."""

    num_samples: int = 16
    """S: independent restarts per problem (restart 0 is the mean itself)."""
    iterations: int = 10
    """Adam steps."""
    lr: float = 0.1
    """Adam learning rate (in normalised action units)."""
    init_std: float = 1.0
    """Std of the restart perturbations around the mean."""
    max_batch: int | None = None
    """Largest number of sequences per cost call (splits S; gradients accumulate)."""

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise ValueError(f"GradientPlanner.num_samples must be >= 1, got {self.num_samples}")
        if self.iterations < 1:
            raise ValueError(f"GradientPlanner.iterations must be >= 1, got {self.iterations}")

    def _cost_and_grad(self, cost: CostFn, x: Tensor) -> Tensor:
        """Forward + backward in chunks along S; returns the detached costs (B, S)."""
        b, s = x.shape[:2]
        chunk = s if self.max_batch is None else max(1, self.max_batch // max(b, 1))
        outs = []
        for start in range(0, s, chunk):
            c = cost(x[:, start : start + chunk])
            if c.shape != (b, min(chunk, s - start)):
                raise ValueError(
                    f"cost function returned shape {tuple(c.shape)}; expected (B, S) = "
                    f"{(b, min(chunk, s - start))}"
                )
            if not c.requires_grad:
                raise ValueError("GradientPlanner needs a cost that is differentiable in actions")
            c.float().sum().backward()
            outs.append(c.detach().float())
        return torch.cat(outs, dim=1)

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

        init_mean: optional (B, H', K), H' <= H, zero-padded. Noise is drawn on
        ``generator.device``.
        """
        check_problem(batch_size, horizon, action_dim)
        device = generator.device
        b, s, h, k = batch_size, self.num_samples, horizon, action_dim
        mean = initial_mean(init_mean, b, h, k, device)
        x = mean[:, None].repeat(1, s, 1, 1)
        noise = torch.randn(b, s - 1, h, k, generator=generator, device=device)
        x[:, 1:] += self.init_std * noise
        x.requires_grad_(True)
        opt = torch.optim.Adam([x], lr=self.lr)
        best_cost = torch.full((b,), float("inf"), device=device)
        best = mean.clone()
        history = []
        with torch.enable_grad():
            for step in range(self.iterations + 1):
                opt.zero_grad(set_to_none=True)
                if step < self.iterations:
                    costs = self._cost_and_grad(cost, x)  # costs of x before this step
                else:
                    with torch.no_grad():
                        costs = evaluate(cost, x.detach(), self.max_batch)
                cmin, idx = costs.min(dim=1)
                better = cmin < best_cost
                cand = gather_candidates(x.detach(), idx[:, None])[:, 0]
                best = torch.where(better[:, None, None], cand, best)
                best_cost = torch.where(better, cmin, best_cost)
                if step < self.iterations:
                    history.append(cmin)
                    opt.step()
        return PlanResult(actions=best.detach(), cost=best_cost, history=torch.stack(history))
