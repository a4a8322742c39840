"""`eval.exclude_solved`: pairs whose start is already solved are redrawn (issue 17, Cube).

Two-Room is kinematic, so a policy that sends zero velocity never moves: on standard pairs it
succeeds exactly on the starts that are already solved, and on `exclude_solved` pairs never.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import tiny_config

from lewm.data.store import EpisodeStore
from lewm.evaluation.protocol import (
    _setup_envs,
    draw_pairs,
    evaluate_run,
    format_results,
    policy_success,
    sample_pairs,
)
from lewm.train import train

# Two-Room moves at most 5 px per axis (224-px units; 7.1 px diagonally) per step and succeeds
# within 16 px: after 4 steps the agent can be inside or outside the radius, so standard pairs
# mix solved and unsolved starts.
OFFSET = ["eval.goal_offset=4", "eval.eval_budget=8", "eval.episodes=30", "eval.protocol=paper"]


def _do_nothing(env) -> np.ndarray:
    return np.zeros(env.action_space.shape, dtype=np.float32)


def test_do_nothing_scores_zero_on_unsolved_pairs(tiny_dataset):
    store = EpisodeStore(tiny_dataset)
    cfg = tiny_config(tiny_dataset, *OFFSET)
    standard = sample_pairs(store, "paper", 30, 4, seed=0)
    envs, _, solved = _setup_envs(cfg, store, standard)
    for env in envs:
        env.close()
    assert 0 < sum(solved) < len(solved)  # the standard pairs mix both kinds
    # Doing nothing "succeeds" exactly on the solved starts of the standard pairs ...
    assert policy_success(cfg, store, standard, _do_nothing) == pytest.approx(np.mean(solved))

    ex = tiny_config(tiny_dataset, *OFFSET, "eval.exclude_solved=true")
    pairs, rejected = draw_pairs(ex, store, seed=0)
    assert len(pairs) == 30 and 0 < rejected < 1
    # ... and never on the unsolved ones.
    assert policy_success(ex, store, pairs, _do_nothing) == 0.0
    assert not any(_setup_envs(ex, store, pairs)[2])
    # Same stream as the standard pairs, solved ones skipped (seeds keep their meaning).
    kept = [p for p, s in zip(standard, solved) if not s]
    assert pairs[: len(kept)] == kept
    assert draw_pairs(cfg, store, seed=0) == (standard, None)  # off: the standard pairs


def test_exclude_solved_fails_clearly_when_every_start_is_solved(tiny_dataset):
    # 2 steps of at most 7.1 px never leave the 16 px radius: every start is solved.
    cfg = tiny_config(tiny_dataset, "eval.goal_offset=2", "eval.exclude_solved=true")
    with pytest.raises(ValueError, match=r"exclude_solved=true: only 0 of the 3 pairs"):
        draw_pairs(cfg, EpisodeStore(tiny_dataset), seed=0)


def test_eval_run_with_exclude_solved_reports_the_rejected_share(tiny_dataset, tmp_path):
    train(tiny_config(tiny_dataset, "train.max_steps=2"), tmp_path / "run", progress=False)
    res = evaluate_run(
        tmp_path / "run",
        overrides=[*OFFSET, "eval.episodes=4", "eval.exclude_solved=true"],
        progress=False,
    )
    assert res["exclude_solved"] is True and res["solved_at_start"] == 0.0
    assert 0 < res["solved_draws_rejected"] < 1
    assert "started solved, redrawn" in format_results(res)
    plain = evaluate_run(tmp_path / "run", overrides=OFFSET[:2], progress=False)
    assert plain["exclude_solved"] is False and plain["solved_draws_rejected"] is None
    assert "redrawn" not in format_results(plain)
