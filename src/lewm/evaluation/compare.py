"""`lewm compare RUN...`: several trained runs (any ``model.kind``) side by side (SPEC §8).

For every run: planning success (mean ± 95% interval over the evaluation seeds) on the **same**
start/goal pairs — its ``results.json`` is reused when it holds every requested seed on exactly the
requested pairs (a file with more seeds serves a subset), otherwise the run is evaluated now —,
the planning time per solve, the tokens one frame is encoded into, the parameter count and the
training time. An evaluation made here goes to ``results.json`` if the run has none, else to
``results.compare.json``: an existing results file is never overwritten.

Planning time is measured twice. ``plan_s_batch`` is the median solve time recorded by the
evaluation (one lock-step solve for all still-active episodes, so it depends on how many episodes
were still running). ``planning_time_s`` is measured here, side by side in one process, as the
median of ``timing_solves`` solves of a *single* problem (B = 1, the run's planner settings) — the
quantity the paper compares (0.98 s LeWM vs 47 s DINO-WM per plan, SPEC §5).
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from lewm.baselines.registry import tokens_per_frame
from lewm.checkpoint import load_checkpoint
from lewm.config import RunConfig
from lewm.data.store import EpisodeStore
from lewm.evaluation.planner import LatentPlanner
from lewm.evaluation.protocol import (
    confidence_interval,
    draw_pairs,
    evaluate_run,
    load_model,
    sample_pairs,
)
from lewm.runtime import generator, resolve_device

log = logging.getLogger(__name__)

COMPARE_RESULTS = "results.compare.json"
"""Where compare writes an evaluation when the run already has a results.json for other pairs."""


def requested_eval(
    cfg: RunConfig,
    episodes: int | None,
    seeds,
    protocol: str | None,
    exclude_solved: bool | None = None,
) -> dict:
    """The evaluation every run is held to: the given values, else those of ``cfg``."""
    return {
        "protocol": protocol or cfg.eval.protocol,
        "episodes": episodes or cfg.eval.episodes,
        "seeds": [int(s) for s in (seeds if seeds is not None else cfg.eval.seeds)],
        "goal_offset": cfg.eval.goal_offset,
        "eval_budget": cfg.eval.eval_budget,
        "exclude_solved": bool(
            cfg.eval.exclude_solved if exclude_solved is None else exclude_solved
        ),
    }


def _eval_overrides(req: dict) -> list[str]:
    """``eval.*`` overrides that make a run's evaluation the requested one."""
    return [
        f"eval.protocol={req['protocol']}",
        f"eval.episodes={req['episodes']}",
        f"eval.seeds=[{','.join(str(s) for s in req['seeds'])}]",
        f"eval.goal_offset={req['goal_offset']}",
        f"eval.eval_budget={req['eval_budget']}",
        f"eval.exclude_solved={str(req['exclude_solved']).lower()}",
    ]


def _expected_pairs(
    store: EpisodeStore, req: dict, cfg: RunConfig
) -> list[list[tuple[int, int, int]]]:
    """The requested pairs, drawn as `lewm eval` draws them (unsolved starts only if asked)."""
    ev_cfg = cfg.with_overrides(_eval_overrides(req))
    return [
        [(p.episode, p.start, p.goal) for p in draw_pairs(ev_cfg, store, seed)[0]]
        for seed in req["seeds"]
    ]


def matching_seeds(results: dict, store: EpisodeStore, req: dict, cfg: RunConfig) -> dict | None:
    """The results restricted to the requested seeds when every one of them was evaluated on
    exactly the requested pairs and budget (a file with more seeds serves a subset); else None.

    Success mean and interval are recomputed over the requested seeds; the solve-time median is
    the file's (over all its seeds).
    """
    if (
        results.get("protocol") != req["protocol"]
        or results.get("episodes_per_seed") != req["episodes"]
        or cfg.eval.eval_budget != req["eval_budget"]
        or cfg.eval.goal_offset != req["goal_offset"]
        or bool(results.get("exclude_solved", False)) != req["exclude_solved"]
    ):
        return None
    by_seed = {s["seed"]: s for s in results.get("per_seed", [])}
    if not set(req["seeds"]) <= set(by_seed):
        return None
    chosen = [by_seed[seed] for seed in req["seeds"]]
    got = [[(e["episode"], e["start"], e["goal"]) for e in s.get("episodes", [])] for s in chosen]
    if got != _expected_pairs(store, req, cfg):
        return None
    succ = [s["success"] for s in chosen]
    rand = [s["random_success"] for s in chosen]
    return {
        **results,
        "seeds": list(req["seeds"]),
        "per_seed": chosen,
        "success_mean": float(np.mean(succ)),
        "success_ci95": confidence_interval(succ),
        "random_success_mean": float(np.mean(rand)),
    }


def run_results(
    run_dir: Path, req: dict, data_path: str | None, progress: bool
) -> tuple[dict, str]:
    """The run's evaluation on the requested pairs: (results, 'reused <file>' | 'evaluated')."""
    ckpt_cfg = load_checkpoint(run_dir).config
    store = EpisodeStore(data_path or ckpt_cfg.data.path, in_memory=False)
    for name in ("results.json", COMPARE_RESULTS):
        path = run_dir / name
        if path.is_file():
            res = matching_seeds(json.loads(path.read_text()), store, req, ckpt_cfg)
            if res is not None:
                return res, f"reused {name}"
    out = run_dir / ("results.json" if not (run_dir / "results.json").exists() else COMPARE_RESULTS)
    log.info("%s: no results on the requested pairs; evaluating -> %s", run_dir, out)
    res = evaluate_run(run_dir, _eval_overrides(req), data_path, out=str(out), progress=progress)
    return res, "evaluated"


@torch.no_grad()
def single_solve_seconds(
    run_dir: Path, data_path: str | None, solves: int, device: torch.device
) -> float:
    """Median wall time of ``solves`` single-problem plans (B = 1) with the run's planner.

    The start and goal frames are a fixed held-out pair (evaluation seed 0); one warm-up solve
    is not counted.
    """
    model, cfg, _ = load_model(run_dir, device)
    store = EpisodeStore(data_path or cfg.data.path, in_memory=False)
    pair = sample_pairs(store, cfg.eval.protocol, 1, cfg.eval.goal_offset, 0)[0]
    pixels, off = store.column("pixels"), int(store.ep_offset[pair.episode])
    obs = np.asarray(pixels[off + pair.start])[None]
    goal = np.asarray(pixels[off + pair.goal])[None]
    planner = LatentPlanner(model, cfg.plan, device, generator(device, cfg.plan.seed, "timing"))
    goal_emb = planner.encode(goal)
    times = []
    for i in range(solves + 1):
        t0 = time.perf_counter()
        planner.plan(obs, goal_emb)
        if i:  # the first solve warms up allocators and kernels
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def train_minutes(run_dir: Path) -> float | None:
    """Training wall time: ``summary.json``'s train_seconds (pipeline runs), else estimated from
    the timestamps of ``metrics.jsonl`` (span of the logged steps scaled to all steps)."""
    summary = run_dir / "summary.json"
    if summary.is_file():
        secs = json.loads(summary.read_text()).get("train_seconds")
        if secs:
            return secs / 60
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.open() if line.strip()]
    rows = [r for r in rows if "loss" in r and "time" in r and "step" in r]
    if len(rows) < 2 or rows[-1]["step"] <= rows[0]["step"]:
        return None
    span = rows[-1]["time"] - rows[0]["time"]
    return span * rows[-1]["step"] / (rows[-1]["step"] - rows[0]["step"]) / 60


# Loss terms shown in a row's closing note, per model kind (the kind's objective, SPEC §2 / §8).
NOTE_TERMS = {
    "lewm": ("pred_loss", "sigreg"),
    "pldm": ("pred_loss", "var", "cov", "time_sim", "time_var", "time_cov", "idm"),
    "dinowm": ("pred_loss",),
}


def final_terms(run_dir: Path) -> dict[str, float]:
    """The last validation record of ``metrics.jsonl`` (keys without the ``val_`` prefix), else
    the last training record; {} without metrics."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {}
    last_val, last_train = {}, {}
    for line in path.open():
        if not line.strip():
            continue
        rec = json.loads(line)
        if any(k.startswith("val_") for k in rec):
            last_val = {k[4:]: v for k, v in rec.items() if k.startswith("val_")}
        elif "loss" in rec:
            last_train = rec
    return last_val or last_train


def run_note(cfg: RunConfig, terms: dict[str, float]) -> str:
    """One line under the table: the run's learning rate and final loss terms, and — for a
    DINO-WM-style run without ``model.dino_weights`` — that its encoder is not DINOv2."""
    m = cfg.model
    shown = ", ".join(f"{k} {terms[k]:.3g}" for k in NOTE_TERMS.get(m.kind, ()) if k in terms)
    note = f"lr {cfg.train.lr:g}; final terms{' (val)' if terms else ''}: {shown or 'none logged'}"
    if m.kind == "dinowm":
        enc = (
            f"DINOv2 weights {Path(m.dino_weights).name}"
            if m.dino_weights
            else "fixed RANDOM frozen ViT-S/14: numbers without pretrained DINOv2 features"
        )
        note = f"{enc}; {note}"
    return note


def compare_runs(
    run_dirs: list[str | Path],
    episodes: int | None = None,
    seeds: list[int] | None = None,
    protocol: str | None = None,
    data_path: str | None = None,
    timing_solves: int = 3,
    exclude_solved: bool | None = None,
    device: str = "auto",
    progress: bool = True,
) -> list[dict]:
    """One row per run (keys: name, run_dir, kind, success_mean, success_ci, random_success,
    planning_time_s, plan_s_batch, tokens_per_frame, params, trainable_params, train_minutes,
    steps, lr, final_terms, note, source). The pairs are those requested, defaulting to the first
    run's evaluation settings (``exclude_solved``: unsolved starts only, as
    ``eval.exclude_solved``)."""
    if not run_dirs:
        raise ValueError("lewm compare: give at least one run directory")
    dirs = [Path(d) for d in run_dirs]
    first = load_checkpoint(dirs[0]).config
    req = requested_eval(first, episodes, seeds, protocol, exclude_solved)
    dev = resolve_device(device)
    rows = []
    for d in dirs:
        ckpt = load_checkpoint(d)
        res, source = run_results(d, req, data_path, progress)
        params = ckpt.meta.get("params", {})
        rows.append(
            {
                "name": d.name,
                "run_dir": str(d),
                "kind": ckpt.config.model.kind,
                "success_mean": res["success_mean"],
                "success_ci": res["success_ci95"],
                "random_success": res.get("random_success_mean"),
                "planning_time_s": single_solve_seconds(d, data_path, timing_solves, dev),
                "plan_s_batch": res.get("solve_seconds_median"),
                "tokens_per_frame": tokens_per_frame(ckpt.config.model),
                "params": params.get("total"),
                "trainable_params": params.get("trainable", params.get("total")),
                "train_minutes": train_minutes(d),
                "steps": ckpt.meta.get("step"),
                "lr": ckpt.config.train.lr,
                "final_terms": (terms := final_terms(d)),
                "note": run_note(ckpt.config, terms),
                "source": source,
            }
        )
    rows[0]["requested"] = req
    return rows


def _millions(n: int | None) -> str:
    return "–" if n is None else f"{n / 1e6:.2f}M"


def format_compare(rows: list[dict]) -> str:
    """The comparison table, with each run's planning-time ratio to the first run."""
    req = rows[0].get("requested", {})
    head = (
        f"{'run':<24}{'kind':<8}{'success %':>14}{'random %':>10}{'plan s/solve':>14}"
        f"{'x first':>9}{'batch s':>9}{'tok/frame':>11}{'params':>9}{'trained':>9}{'train min':>11}"
        f"{'steps':>7}"
    )
    lines = [
        f"pairs: {req.get('protocol')} protocol, {req.get('episodes')} pairs x seeds "
        f"{req.get('seeds')}; plan s/solve = median of single-problem solves measured side by side",
        head,
        "-" * len(head),
    ]
    base = rows[0]["planning_time_s"]
    for r in rows:
        succ = f"{100 * r['success_mean']:.1f} ± {100 * r['success_ci']:.1f}"
        rand = "–" if r["random_success"] is None else f"{100 * r['random_success']:.1f}"
        batch = "–" if r["plan_s_batch"] is None else f"{r['plan_s_batch']:.2f}"
        tmin = "–" if r["train_minutes"] is None else f"{r['train_minutes']:.1f}"
        lines.append(
            f"{r['name'][:23]:<24}{r['kind']:<8}{succ:>14}{rand:>10}{r['planning_time_s']:>14.3f}"
            f"{r['planning_time_s'] / base:>8.1f}x{batch:>9}{r['tokens_per_frame']:>11}"
            f"{_millions(r['params']):>9}{_millions(r['trainable_params']):>9}{tmin:>11}"
            f"{'–' if r.get('steps') is None else r['steps']:>7}"
        )
    lines.append("sources: " + "; ".join(f"{r['name']}: {r['source']}" for r in rows))
    lines += [f"note {r['name']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines)
