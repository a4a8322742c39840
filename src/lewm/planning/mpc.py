"""Receding-horizon control helpers (SPEC §5), independent of the model and the environment.

Action layout: a plan is (B, H, K) normalised action blocks, K = frameskip * A; block h holds the
raw env actions h*frameskip ... (h+1)*frameskip - 1 in row-major order (step-major, then action
dimension), each z-scored per raw dimension with the dataset's action mean/std (A,).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

logger = logging.getLogger(__name__)

PlanFn = Callable[[np.ndarray, "Tensor | None", np.ndarray], Tensor]
"""plan_fn(obs uint8 (B, H, W, 3), init_mean (B, H, K) or None, episode_idx (B,)) -> (B, H, K)."""


def normalize_actions(raw: Any, mean: Any, std: Any) -> Any:
    """raw (..., A) -> (raw - mean) / std; mean, std (A,). Works on tensors and arrays alike."""
    return (raw - mean) / std


def unnormalize_actions(norm: Any, mean: Any, std: Any) -> Any:
    """norm (..., A) -> norm * std + mean; mean, std (A,). Inverse of :func:`normalize_actions`."""
    return norm * std + mean


def blocks_to_env_actions(
    plan: Tensor,
    frameskip: int,
    action_dim: int,
    mean: Any,
    std: Any,
    low: Any = None,
    high: Any = None,
) -> np.ndarray:
    """plan (B, H, K) normalised blocks -> (B, H*frameskip, A) float32 raw env actions.

    mean, std: (A,) dataset action statistics; low/high: optional env bounds (scalar or (A,)) to
    clip to. Returns a NumPy array on the host.
    """
    b, h, k = plan.shape
    if k != frameskip * action_dim:
        raise ValueError(
            f"plan block dim K={k} must equal frameskip * action_dim = {frameskip}*{action_dim}"
        )
    norm = plan.detach().float().cpu().numpy().reshape(b, h * frameskip, action_dim)
    raw = unnormalize_actions(norm, np.asarray(mean, np.float32), np.asarray(std, np.float32))
    if low is not None or high is not None:
        raw = np.clip(raw, low, high)
    return raw.astype(np.float32)


def env_actions_to_blocks(raw: Any, frameskip: int, mean: Any, std: Any) -> Tensor:
    """raw (B, N, A) env actions, N a multiple of frameskip -> (B, N/frameskip, frameskip*A)
    normalised float32 blocks. Inverse of :func:`blocks_to_env_actions` (without clipping)."""
    raw_t = torch.as_tensor(np.asarray(raw), dtype=torch.float32)
    b, n, a = raw_t.shape
    if n % frameskip:
        raise ValueError(f"env_actions_to_blocks: N={n} is not a multiple of frameskip={frameskip}")
    mean_t = torch.as_tensor(np.asarray(mean), dtype=torch.float32)
    std_t = torch.as_tensor(np.asarray(std), dtype=torch.float32)
    return normalize_actions(raw_t, mean_t, std_t).reshape(b, n // frameskip, frameskip * a)


def warm_start(prev_plan: Tensor, executed_blocks: int) -> Tensor:
    """prev_plan (B, H, K) -> (B, H, K): the unexecuted tail moved to the front, zeros (the
    normalised data mean) after it. executed_blocks == H gives all zeros."""
    h = prev_plan.shape[1]
    if not 0 <= executed_blocks <= h:
        raise ValueError(f"warm_start: executed_blocks={executed_blocks} not in [0, H={h}]")
    out = torch.zeros_like(prev_plan)
    out[:, : h - executed_blocks] = prev_plan[:, executed_blocks:]
    return out


@dataclass
class EpisodeResult:
    """Outcome of one MPC episode.

    solve_times: wall seconds of each batched plan_fn call that served this episode (the call
    planned ``solve_batch[i]`` episodes at once). frames: observations (H, W, 3) at the start and
    after every step, when recorded.
    """

    success: bool = False
    solved_at_start: bool = False
    steps: int = 0
    success_step: int | None = None
    num_solves: int = 0
    solve_times: list[float] = field(default_factory=list)
    solve_batch: list[int] = field(default_factory=list)
    frames: list[np.ndarray] | None = None


def _default_observe(env: Any) -> np.ndarray:
    return env.render()


def _default_is_success(env: Any) -> bool:
    return bool(env.is_success())


def run_mpc(
    envs: Sequence[Any],
    plan_fn: PlanFn,
    frameskip: int,
    receding_horizon: int,
    budget: int,
    action_mean: Any,
    action_std: Any,
    action_low: Any = None,
    action_high: Any = None,
    observe: Callable[[Any], np.ndarray] | None = None,
    is_success: Callable[[Any], bool] | None = None,
    record_frames: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> list[EpisodeResult]:
    """Run one MPC episode per env in lock-step and return one :class:`EpisodeResult` each.

    The envs are already reset to their starts with goals set. Each round, every active episode
    is observed (``observe(env)``, default ``env.render()``) and one ``plan_fn(obs (B, H, W, 3),
    init_mean, episode_idx (B,))`` call plans for all of them; ``init_mean`` is None in the first
    round, then the previous plans' unexecuted tails (:func:`warm_start`; zeros when
    receding_horizon == H). Each episode then executes exactly frameskip * receding_horizon env
    actions (fewer only where the budget ends). An episode ends at its first success
    (``is_success(env)``, default ``env.is_success()``, checked at the start and after every step)
    or after ``budget`` env steps. The env's terminated/truncated flags are ignored: like the
    reference, the protocol runs a fixed step budget.
    """
    observe = observe or _default_observe
    is_success = is_success or _default_is_success
    if receding_horizon < 1 or frameskip < 1 or budget < 0:
        raise ValueError("run_mpc: frameskip, receding_horizon must be >= 1 and budget >= 0")
    action_dim = int(np.asarray(action_mean).shape[-1])
    n = len(envs)
    results = [EpisodeResult(frames=[] if record_frames else None) for _ in range(n)]
    done = np.zeros(n, dtype=bool)
    for i, env in enumerate(envs):
        if record_frames:
            results[i].frames.append(np.asarray(observe(env)).copy())
        if is_success(env):
            results[i].success = results[i].solved_at_start = True
            results[i].success_step = 0
            done[i] = True
        elif budget == 0:
            done[i] = True
    tails: list[Tensor | None] = [None] * n
    while not done.all():
        active = np.flatnonzero(~done)
        obs = np.stack([np.asarray(observe(envs[i])) for i in active])
        init = None
        if tails[active[0]] is not None:  # all active episodes share the same round count
            init = torch.stack([tails[i] for i in active])
        t0 = clock()
        plan = plan_fn(obs, init, active)
        dt = clock() - t0
        if plan.dim() != 3 or plan.shape[0] != len(active) or plan.shape[1] < receding_horizon:
            raise ValueError(
                f"plan_fn returned {tuple(plan.shape)}; expected (B={len(active)}, H, K) with "
                f"H >= receding_horizon={receding_horizon}"
            )
        actions = blocks_to_env_actions(
            plan[:, :receding_horizon],
            frameskip,
            action_dim,
            action_mean,
            action_std,
            action_low,
            action_high,
        )  # (B, receding_horizon * frameskip, A)
        for j, i in enumerate(active):
            res = results[i]
            res.num_solves += 1
            res.solve_times.append(dt)
            res.solve_batch.append(len(active))
            tails[i] = warm_start(plan[j : j + 1].detach(), receding_horizon)[0]
            done[i] = _execute(envs[i], actions[j], res, budget, observe, is_success)
        logger.debug("MPC round: %d active episodes, solve %.3fs", len(active), dt)
    return results


def _execute(
    env: Any,
    actions: np.ndarray,
    res: EpisodeResult,
    budget: int,
    observe: Callable[[Any], np.ndarray],
    is_success: Callable[[Any], bool],
) -> bool:
    """Step ``env`` through actions (N, A) until success or budget; returns True when done."""
    for a in actions:
        if res.steps >= budget:
            return True
        env.step(a)
        res.steps += 1
        if res.frames is not None:
            res.frames.append(np.asarray(observe(env)).copy())
        if is_success(env):
            res.success = True
            res.success_step = res.steps
            return True
    return res.steps >= budget
