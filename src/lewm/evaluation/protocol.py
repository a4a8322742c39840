"""The planning-success protocol (SPEC §5) and `lewm eval`.

Per evaluation seed: draw ``eval.episodes`` start/goal pairs — start = a random step of a random
episode, goal = the state ``goal_offset`` env steps later in the same episode, whose stored frame is
the goal image. Pairs come from the dataset's **test** episodes (``protocol='heldout'``, our
decision) or, for comparison with the reference, from its training episodes (``'paper'``). Every
episode gets ``eval_budget`` env steps of MPC and succeeds if the env's test holds at any step.
Beside the success rate we report the random-policy success on the same pairs and the share of
starts already inside the success test, so a number is never read without its floor.
With ``eval.exclude_solved`` only pairs whose start is not already solved are kept (drawn by
rejection from the same stream, so they are the standard pairs minus the solved ones, topped up
with further draws): a policy that does nothing scores 0 there. The share of draws rejected as
solved is reported beside the result instead.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lewm.baselines.registry import build_model
from lewm.checkpoint import load_checkpoint, load_state_strict
from lewm.config import RunConfig
from lewm.data.store import EpisodeStore
from lewm.envs import check_recorded_env, make
from lewm.evaluation.planner import LatentPlanner
from lewm.model import LeWM
from lewm.planning.mpc import run_mpc
from lewm.runtime import generator, resolve_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    """One evaluation problem: episode ``episode``, start step ``start``, goal step ``goal``."""

    episode: int
    start: int
    goal: int


def _pair_stream(store: EpisodeStore, protocol: str, goal_offset: int, seed: int):
    """Endless stream of pairs: a uniform episode of the split, then a uniform start in it."""
    split = "test" if protocol == "heldout" else "train"
    eps = np.asarray(store.episodes(split))
    eps = eps[store.ep_len[eps] > goal_offset]
    if len(eps) == 0:
        raise ValueError(
            f"{store.path}: no {split} episode is longer than goal_offset={goal_offset} steps; "
            "collect more or longer episodes"
        )
    rng = np.random.default_rng(seed)
    while True:
        ep = int(rng.choice(eps))
        start = int(rng.integers(0, store.ep_len[ep] - goal_offset))
        yield Pair(ep, start, start + goal_offset)


def sample_pairs(
    store: EpisodeStore, protocol: str, n: int, goal_offset: int, seed: int
) -> list[Pair]:
    """``n`` pairs from the test episodes ('heldout') or the training episodes ('paper')."""
    stream = _pair_stream(store, protocol, goal_offset, seed)
    return [next(stream) for _ in range(n)]


def sample_unsolved_pairs(
    store: EpisodeStore,
    protocol: str,
    n: int,
    goal_offset: int,
    seed: int,
    is_solved: Callable[[Pair], bool],
    max_draws: int | None = None,
) -> tuple[list[Pair], float]:
    """``n`` pairs of `sample_pairs`' stream whose start is not solved (``is_solved`` False).

    Returns (pairs, share of the draws that were rejected as solved). Raises ValueError when
    ``max_draws`` (default max(10 000, 200 n)) draws give fewer than ``n`` unsolved pairs."""
    max_draws = max(10_000, 200 * n) if max_draws is None else max_draws
    stream = _pair_stream(store, protocol, goal_offset, seed)
    pairs, draws = [], 0
    while len(pairs) < n:
        if draws >= max_draws:
            raise ValueError(
                f"eval.exclude_solved=true: only {len(pairs)} of the {n} pairs asked for have an "
                f"unsolved start after {draws} draws from {store.path} (protocol {protocol!r}, "
                f"goal_offset={goal_offset}); {draws - len(pairs)} draws started already solved. "
                "Use a larger eval.goal_offset, more varied episodes, or eval.exclude_solved=false"
            )
        pair = next(stream)
        draws += 1
        if not is_solved(pair):
            pairs.append(pair)
    return pairs, (draws - n) / draws


def draw_pairs(cfg: RunConfig, store: EpisodeStore, seed: int) -> tuple[list[Pair], float | None]:
    """The seed's evaluation pairs under ``cfg.eval``; with ``exclude_solved`` also the share of
    draws rejected as solved (else None)."""
    ev = cfg.eval
    if not ev.exclude_solved:
        return sample_pairs(store, ev.protocol, ev.episodes, ev.goal_offset, seed), None
    states = store.column("state")
    env = make(cfg.env, image_size=store.meta.image_size)
    env.reset(seed=0)

    def solved(p: Pair) -> bool:  # the same test `_setup_envs` reports as solved at start
        off = int(store.ep_offset[p.episode])
        env.set_state(np.asarray(states[off + p.start]))
        env.set_goal_state(np.asarray(states[off + p.goal]))
        return bool(env.is_success())

    try:
        return sample_unsolved_pairs(store, ev.protocol, ev.episodes, ev.goal_offset, seed, solved)
    finally:
        env.close()


def _setup_envs(cfg: RunConfig, store: EpisodeStore, pairs: list[Pair]):
    """One env per pair, placed at its start state with its goal; plus the goal frames."""
    states = store.column("state")
    pixels = store.column("pixels")
    envs, goal_frames, solved = [], [], []
    for p in pairs:
        off = int(store.ep_offset[p.episode])
        env = make(cfg.env, image_size=store.meta.image_size)
        env.reset(seed=0)
        env.set_state(np.asarray(states[off + p.start]))
        env.set_goal_state(np.asarray(states[off + p.goal]))
        envs.append(env)
        goal_frames.append(np.asarray(pixels[off + p.goal]))
        solved.append(bool(env.is_success()))
    return envs, np.stack(goal_frames), solved


def policy_success(
    cfg: RunConfig, store: EpisodeStore, pairs: list[Pair], act: Callable[[object], np.ndarray]
) -> float:
    """Success rate of ``act(env) -> action`` on the pairs within ``eval.eval_budget`` steps."""
    envs, _, _ = _setup_envs(cfg, store, pairs)
    hits = 0
    for env in envs:
        ok = env.is_success()
        for _ in range(cfg.eval.eval_budget):
            if ok:
                break
            env.step(act(env))
            ok = env.is_success()
        hits += ok
        env.close()
    return hits / len(envs)


def random_policy_success(
    cfg: RunConfig, store: EpisodeStore, pairs: list[Pair], seed: int
) -> float:
    """Success rate of uniform random actions on the same pairs and budget (the floor)."""
    rng = np.random.default_rng(seed)

    def act(env) -> np.ndarray:
        return rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)

    return policy_success(cfg, store, pairs, act)


def evaluate(
    model: LeWM,
    cfg: RunConfig,
    store: EpisodeStore,
    action_mean: np.ndarray,
    action_std: np.ndarray,
    device: torch.device,
    video_dir: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Run the protocol for every seed in ``cfg.eval.seeds``; returns the results record."""
    # Starts and goals are the dataset's states, set into today's env: they must be its own.
    check_recorded_env(cfg.env, store.meta.env_id, store.meta.env_version, str(store.path))
    per_seed, solve_times = [], []
    t_all = time.perf_counter()
    total = cfg.eval.episodes * len(cfg.eval.seeds)
    with tqdm(total=total, desc="eval episodes", disable=not progress) as bar:
        for seed in cfg.eval.seeds:
            record, times = _evaluate_seed(
                model, cfg, store, seed, action_mean, action_std, device, video_dir, bar
            )
            per_seed.append(record)
            solve_times += times
            log.info(
                "seed %d: success %.1f%% (random %.1f%%)",
                seed,
                100 * record["success"],
                100 * record["random_success"],
            )
    return summarize(per_seed, solve_times, time.perf_counter() - t_all, cfg)


def _evaluate_seed(model, cfg, store, seed, action_mean, action_std, device, video_dir, bar):
    """One evaluation seed: its pairs, one lock-step MPC run over all of them, the random floor.
    Returns (per-seed record, solve times). ``bar`` counts finished episodes and successes."""
    pairs, rejected = draw_pairs(cfg, store, seed)
    envs, goal_frames, solved = _setup_envs(cfg, store, pairs)
    planner = LatentPlanner(model, cfg.plan, device, generator(device, cfg.plan.seed, "eval", seed))
    goal_emb = planner.encode(goal_frames)
    done_before, reached = bar.n, set()

    def is_success(env) -> bool:
        ok = bool(env.is_success())
        if ok:
            reached.add(id(env))
        return ok

    def plan_fn(obs, init_mean, active):
        bar.n = done_before + len(envs) - len(active)
        bar.set_postfix(success=f"{len(reached)}/{bar.n}" if bar.n else "-", refresh=True)
        return planner.plan(obs, goal_emb[torch.as_tensor(active)], init_mean)

    t0 = time.perf_counter()
    outcome = run_mpc(
        envs,
        plan_fn,
        frameskip=cfg.data.frameskip,
        receding_horizon=cfg.plan.receding_horizon,
        budget=cfg.eval.eval_budget,
        action_mean=action_mean,
        action_std=action_std,
        action_low=envs[0].action_space.low,
        action_high=envs[0].action_space.high,
        is_success=is_success,
        record_frames=video_dir is not None,
    )
    seconds = time.perf_counter() - t0
    bar.n = done_before + len(envs)
    bar.refresh()
    if video_dir is not None:
        from lewm.evaluation.video import write_episode_videos

        write_episode_videos(Path(video_dir) / f"seed{seed}", outcome, goal_frames)
    for env in envs:
        env.close()
    record = {
        "seed": seed,
        "success": float(np.mean([r.success for r in outcome])),
        "random_success": random_policy_success(cfg, store, pairs, seed),
        "solved_at_start": float(np.mean(solved)),
        "solved_draws_rejected": rejected,
        "seconds": seconds,
        "env_steps": int(sum(r.steps for r in outcome)),
        "episodes": [
            {
                "episode": p.episode,
                "start": p.start,
                "goal": p.goal,
                "success": r.success,
                "steps": r.steps,
                "solves": r.num_solves,
            }
            for p, r in zip(pairs, outcome)
        ],
    }
    return record, planner.solve_seconds


def confidence_interval(values: list[float]) -> float:
    """Half-width of the 95% Student-t interval of the mean (0 for a single value)."""
    if len(values) < 2:
        return 0.0
    from scipy import stats

    return float(
        stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))
    )


def summarize(
    per_seed: list[dict], solve_times: list[float], seconds: float, cfg: RunConfig
) -> dict:
    succ = [s["success"] for s in per_seed]
    rand = [s["random_success"] for s in per_seed]
    steps = sum(s["env_steps"] for s in per_seed)
    episodes = cfg.eval.episodes * len(per_seed)
    return {
        "protocol": cfg.eval.protocol,
        "episodes_per_seed": cfg.eval.episodes,
        "seeds": list(cfg.eval.seeds),
        "success_mean": float(np.mean(succ)),
        "success_ci95": confidence_interval(succ),
        "random_success_mean": float(np.mean(rand)),
        "random_success_ci95": confidence_interval(rand),
        "solved_at_start": float(np.mean([s["solved_at_start"] for s in per_seed])),
        "exclude_solved": bool(cfg.eval.exclude_solved),
        "solved_draws_rejected": _mean_or_none([s.get("solved_draws_rejected") for s in per_seed]),
        "solve_seconds_median": float(np.median(solve_times)) if solve_times else 0.0,
        "solve_seconds_p90": float(np.percentile(solve_times, 90)) if solve_times else 0.0,
        "seconds_per_episode": sum(s["seconds"] for s in per_seed) / max(1, episodes),
        "env_steps_per_second": steps / max(1e-9, sum(s["seconds"] for s in per_seed)),
        "total_seconds": seconds,
        "plan": cfg.to_dict()["plan"],
        "per_seed": per_seed,
    }


def _mean_or_none(values: list) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def load_model(run_dir: str | Path, device: torch.device) -> tuple[LeWM, RunConfig, dict]:
    """Build the model of a run (any ``model.kind``) and load its weights strictly."""
    ckpt = load_checkpoint(run_dir)
    model = build_model(ckpt.config.model, ckpt.state_dict)
    load_state_strict(model, ckpt.state_dict, str(ckpt.path / "model.safetensors"))
    return model.to(device).eval(), ckpt.config, ckpt.meta


def evaluate_run(
    run_dir: str | Path,
    overrides: list[str] = (),
    data_path: str | None = None,
    video_dir: str | None = None,
    out: str | None = None,
    progress: bool = True,
) -> dict:
    """`lewm eval`: load a run, evaluate it, write ``results.json`` (or ``out``)."""
    run_dir = Path(run_dir)
    probe = load_checkpoint(run_dir)
    cfg = probe.config.with_overrides(overrides)
    device = resolve_device(cfg.train.device)
    model, _, meta = load_model(run_dir, device)
    store = EpisodeStore(data_path or cfg.data.path, in_memory=False)
    mean = np.asarray(meta.get("action_mean", store.action_mean), dtype=np.float32)
    std = np.asarray(meta.get("action_std", store.action_std), dtype=np.float32)
    results = evaluate(model, cfg, store, mean, std, device, video_dir, progress)
    results.update(run_dir=str(run_dir), step=meta.get("step"), dataset=str(store.path))
    out_path = Path(out) if out else run_dir / "results.json"
    out_path.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _rejected_note(r: dict) -> str:
    share = r.get("solved_draws_rejected")
    if not r.get("exclude_solved") or share is None:
        return ""
    return f" (eval.exclude_solved: {100 * share:.1f}% of the draws started solved, redrawn)"


def format_results(r: dict) -> str:
    """A short human-readable table of a results record."""

    def interval(ci: float) -> str:
        # One seed has no spread to estimate: say so rather than print "± 0.0".
        return f" ± {100 * ci:.1f}" if len(r["per_seed"]) > 1 else " (one seed: no interval)"

    lines = [
        f"{'protocol':<26}{r['protocol']} ({r['episodes_per_seed']} pairs x seeds {r['seeds']})",
        f"{'planning success':<26}{100 * r['success_mean']:.1f}%{interval(r['success_ci95'])}",
        f"{'random policy':<26}{100 * r['random_success_mean']:.1f}%"
        f"{interval(r['random_success_ci95'])}",
        f"{'solved at start':<26}{100 * r['solved_at_start']:.1f}%" + _rejected_note(r),
        f"{'per seed':<26}" + ", ".join(f"{100 * s['success']:.0f}%" for s in r["per_seed"]),
        f"{'plan time / solve':<26}median {r['solve_seconds_median']:.2f} s, "
        f"p90 {r['solve_seconds_p90']:.2f} s",
        f"{'time / episode':<26}{r['seconds_per_episode']:.2f} s "
        f"({r['env_steps_per_second']:.1f} env steps/s)",
    ]
    return "\n".join(lines)
