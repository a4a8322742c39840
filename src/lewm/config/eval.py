"""The `eval.*` section: the planning-success protocol (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass

from lewm.config.errors import check


@dataclass(frozen=True)
class EvalConfig:
    episodes: int = 50
    """Start/goal pairs per evaluation seed (paper: 50)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Evaluation seeds; success is reported as mean and 95% interval over them."""
    goal_offset: int = 25
    """Goal = the state this many env steps after the start in the same episode (paper: 25)."""
    eval_budget: int = 50
    """Env steps allowed per episode (paper: 50)."""
    protocol: str = "heldout"
    """'heldout' (pairs from test episodes) or 'paper' (pairs from training episodes)."""
    exclude_solved: bool = False
    """Redraw pairs whose start already passes the success test (a do-nothing policy scores 0)."""

    def __post_init__(self) -> None:
        check(self.episodes >= 1, "eval.episodes", "must be >= 1")
        check(len(self.seeds) >= 1, "eval.seeds", "needs at least one seed")
        check(self.goal_offset >= 1, "eval.goal_offset", "must be >= 1")
        check(self.eval_budget >= 1, "eval.eval_budget", "must be >= 1")
        check(self.protocol in ("heldout", "paper"), "eval.protocol", "'heldout' or 'paper'")
