"""Planning: solvers that see only a cost function, the goal cost, and the MPC loop.

cost(actions (B, S, H, K)) -> (B, S)          (normalised action space; lower is better)
solver.solve(cost, batch_size, horizon, action_dim, generator, init_mean=None) -> PlanResult
"""

from __future__ import annotations

from lewm.config import PlanConfig
from lewm.planning.base import CostFn, PlanResult, Solver, evaluate
from lewm.planning.cem import CEM
from lewm.planning.cost import goal_cost
from lewm.planning.gradient import GradientPlanner
from lewm.planning.mppi import MPPI


def make_solver(plan_cfg: PlanConfig, max_batch: int | None = None) -> Solver:
    """The solver named by ``plan_cfg.solver`` ('cem', 'mppi' or 'grad'), configured from it.

    ``max_batch`` caps the sequences per cost call (candidate evaluation is split along S).
    """
    if plan_cfg.solver == "cem":
        return CEM(
            num_samples=plan_cfg.num_samples,
            num_elites=plan_cfg.num_elites,
            iterations=plan_cfg.iterations,
            init_std=plan_cfg.init_std,
            max_batch=max_batch,
        )
    if plan_cfg.solver == "mppi":
        return MPPI(
            num_samples=plan_cfg.num_samples,
            iterations=plan_cfg.iterations,
            init_std=plan_cfg.init_std,
            temperature=plan_cfg.mppi_temperature,
            max_batch=max_batch,
        )
    if plan_cfg.solver == "grad":
        return GradientPlanner(
            num_samples=plan_cfg.num_samples,
            iterations=plan_cfg.iterations,
            lr=plan_cfg.grad_lr,
            init_std=plan_cfg.init_std,
            max_batch=max_batch,
        )
    raise ValueError(f"plan.solver: unknown solver {plan_cfg.solver!r}; use cem, mppi or grad")


__all__ = [
    "CEM",
    "MPPI",
    "CostFn",
    "GradientPlanner",
    "PlanResult",
    "Solver",
    "evaluate",
    "goal_cost",
    "make_solver",
]
