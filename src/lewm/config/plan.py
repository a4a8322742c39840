"""The `plan.*` section: the planning solver and MPC (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass

from lewm.config.errors import check


@dataclass(frozen=True)
class PlanConfig:
    solver: str = "cem"
    """'cem' (paper), 'mppi' or 'grad' (Adam through the differentiable rollout)."""
    horizon: int = 5
    """Planning horizon H in action blocks (paper: 5)."""
    receding_horizon: int = 5
    """Blocks executed before replanning (paper: 5, the whole plan)."""
    num_samples: int = 300
    """Candidates per iteration (paper: 300)."""
    num_elites: int = 30
    """Elites kept per iteration (paper: 30)."""
    iterations: int = 10
    """Solver iterations (paper: 30 for Push-T, 10 elsewhere)."""
    init_std: float = 1.0
    """Initial std in normalised action space."""
    cost: str = "last"
    """'last' (paper: squared L2 of the last predicted embedding to the goal) or 'all' steps."""
    mppi_temperature: float = 0.5
    """MPPI softmax temperature on (cost - min cost) / cost std."""
    grad_lr: float = 0.1
    """Adam learning rate of the gradient planner."""
    precision: str = "fp32"
    """'fp32' or 'bf16' autocast for the rollout inside the solver."""
    seed: int = 0
    """Solver generator seed (combined with the evaluation seed)."""

    def __post_init__(self) -> None:
        check(self.solver in ("cem", "mppi", "grad"), "plan.solver", "cem, mppi or grad")
        check(self.horizon >= 1, "plan.horizon", "must be >= 1")
        check(
            1 <= self.receding_horizon <= self.horizon,
            "plan.receding_horizon",
            f"must be in [1, plan.horizon={self.horizon}]",
        )
        check(self.num_samples >= 2, "plan.num_samples", "must be >= 2")
        check(
            1 <= self.num_elites <= self.num_samples,
            "plan.num_elites",
            "must be in [1, plan.num_samples]",
        )
        check(self.iterations >= 1, "plan.iterations", "must be >= 1")
        check(self.init_std > 0, "plan.init_std", "must be > 0")
        check(self.cost in ("last", "all"), "plan.cost", "must be 'last' or 'all'")
        check(self.mppi_temperature > 0, "plan.mppi_temperature", "must be > 0")
        check(self.grad_lr > 0, "plan.grad_lr", "must be > 0")
        check(self.precision in ("fp32", "bf16"), "plan.precision", "must be 'fp32' or 'bf16'")
