"""Shared pieces of the planning solvers: the cost-function type, the result record and chunked
candidate evaluation.

Solvers see only a cost function (DESIGN.md "Planners see a cost function, nothing else"):

    cost(actions (B, S, H, K)) -> (B, S)

B independent problems (one per episode), S candidate action sequences each, H action blocks of
dimension K = frameskip * A, all in normalised action space. Row b of the cost belongs to problem b
(its goal), so a solver may split S into chunks but never reorders or splits B.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

CostFn = Callable[[Tensor], Tensor]
"""cost(actions (B, S, H, K)) -> (B, S); lower is better."""


@dataclass
class PlanResult:
    """What a solver returns.

    actions: (B, H, K) the plan in normalised action space.
    cost:    (B,) cost of ``actions`` (evaluated once more after the last iteration).
    history: (iterations, B) best candidate cost seen in each iteration (diagnostics).
    """

    actions: Tensor
    cost: Tensor
    history: Tensor


class Solver(Protocol):
    """Anything with this ``solve`` method plans for B problems at once."""

    def solve(
        self,
        cost: CostFn,
        batch_size: int,
        horizon: int,
        action_dim: int,
        generator: torch.Generator,
        init_mean: Tensor | None = None,
    ) -> PlanResult: ...


def evaluate(cost: CostFn, actions: Tensor, max_batch: int | None = None) -> Tensor:
    """Evaluate ``cost`` on ``actions`` (B, S, H, K) -> (B, S) float32, in chunks along S.

    ``max_batch`` bounds the number of sequences (B * chunk) per cost call; None evaluates all S at
    once. The cost's output shape is checked so a wrong cost fails with a clear message.
    """
    b, s = actions.shape[:2]
    chunk = s if max_batch is None else max(1, max_batch // max(b, 1))
    outs = []
    for start in range(0, s, chunk):
        part = actions[:, start : start + chunk]
        c = cost(part)
        if c.shape != part.shape[:2]:
            raise ValueError(
                f"cost function returned shape {tuple(c.shape)}; expected (B, S) = "
                f"{tuple(part.shape[:2])} for actions of shape {tuple(part.shape)}"
            )
        outs.append(c.float())
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)


def initial_mean(
    init_mean: Tensor | None,
    batch_size: int,
    horizon: int,
    action_dim: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The starting mean (B, H, K): zeros (the normalised data mean), or ``init_mean`` (B, H', K)
    with H' <= H padded with zeros at the end (a warm start from the previous plan's tail)."""
    mean = torch.zeros(batch_size, horizon, action_dim, device=device, dtype=dtype)
    if init_mean is None:
        return mean
    if (
        init_mean.dim() != 3
        or init_mean.shape[0] != batch_size
        or init_mean.shape[1] > horizon
        or init_mean.shape[2] != action_dim
    ):
        raise ValueError(
            f"init_mean has shape {tuple(init_mean.shape)}; expected (B, H', K) with "
            f"B={batch_size}, H' <= {horizon}, K={action_dim}"
        )
    mean[:, : init_mean.shape[1]] = init_mean.to(device=device, dtype=dtype)
    return mean


def check_problem(batch_size: int, horizon: int, action_dim: int) -> None:
    """Raise a clear error for non-positive problem sizes."""
    for name, v in (("batch_size", batch_size), ("horizon", horizon), ("action_dim", action_dim)):
        if v < 1:
            raise ValueError(f"solve(): {name} must be >= 1, got {v}")
