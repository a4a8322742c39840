"""`lewm diagnose RUN`: where planning success is lost (issue 16 §1), for any registered env.

On the same held-out start/goal pairs and seeds as `lewm eval` (`protocol.sample_pairs`), the same
CEM/MPC loop (`planning.mpc.run_mpc`, budget, goal offset, receding horizon) plans with four
world models of increasing realism:

1. **planner ceiling**: the true simulator rolls the candidates out (`set_state`), cost = the
   env's `success_distance` in state space. Low here means that no world model can score high
   under this protocol, budget and solver setting.
2. **true dynamics, learned cost**: the true simulator rolls out, the imagined end frames are
   rendered and encoded, cost = latent distance to the encoded goal frame (is the encoder's
   distance a usable cost?).
3. **learned dynamics, oracle cost**: the predictor rolls out, a probe fitted on frozen latents
   of training frames decodes the predicted state, cost = `success_distance` (is the predictor
   accurate over the horizon?).
4. **the model as it plans**: `lewm eval` (its ``results.json`` is reused when it holds exactly
   these pairs, seeds, plan settings and checkpoint step).

Rows 1-2 step the simulator once per candidate env step, so they get their own smaller CEM
(``--sim-samples`` x ``--sim-iterations``, default 100 x 5, printed beside them) and run one
episode per task on worker processes (torch one thread each). Rows 3-4 use the run's planner.
Beside the rows: the random floor, the solved-start share, the probe's held-out accuracy and the
per-step latent checks (`diagnose_latent`) and the latent sensitivity at the success tolerance
(`diagnose_sensitivity`). Everything goes to ``RUN_DIR/diagnose.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lewm.evaluation.diagnose_latent import format_latent_checks, latent_checks
from lewm.evaluation.diagnose_rows import (
    ROW_NAMES,
    DiagnoseSettings,
    check_env,
    fit_oracle_probe,
    model_row,
    open_diagnosis,
    probe_row,
    sim_episode,
)
from lewm.evaluation.diagnose_sensitivity import (
    format_sensitivity,
    latent_sensitivity,
    sensitivity_verdict,
)
from lewm.evaluation.protocol import confidence_interval, draw_pairs

log = logging.getLogger(__name__)

_WORKER: dict = {}


def _worker_init(run_dir: str, cfg: dict, data: str, settings: dict) -> None:
    # One torch thread per worker: the episodes are the parallelism (2 cores here).
    torch.set_num_threads(1)
    _WORKER["run"] = open_diagnosis(run_dir, cfg, data, "cpu")
    _WORKER["settings"] = DiagnoseSettings(**settings)


def _worker_task(task: tuple) -> dict:
    return sim_episode(_WORKER["run"], _WORKER["settings"], *task)


def _sim_rows(run, settings: DiagnoseSettings, pairs: dict, progress: bool) -> list[dict]:
    """Rows 1-2: one task per (row, seed, pair), spread over ``settings.workers`` processes."""
    tasks = [
        (row, seed, i, p)
        for row in settings.rows
        if row in (1, 2)
        for seed, ps in pairs.items()
        for i, p in enumerate(ps)
    ]
    if not tasks:
        return []
    bar = tqdm(total=len(tasks), desc="diagnose rows 1-2 (true simulator)", disable=not progress)
    out: list[dict] = []
    t0 = time.perf_counter()

    def finished(record: dict) -> None:
        out.append(record)
        bar.update(1)
        if not progress:
            _log_tenth(len(out), len(tasks), t0)

    with bar:
        if settings.workers == 1:
            for t in tasks:
                finished(sim_episode(run, settings, *t))
            return out
        # spawn, not fork: the parent holds torch and HDF5 threads (as `lewm collect`).
        ex = ProcessPoolExecutor(
            settings.workers,
            mp_context=mp.get_context("spawn"),
            initializer=_worker_init,
            initargs=(
                str(run.run_dir),
                run.cfg.to_dict(),
                str(run.store.path),
                dataclasses.asdict(settings),
            ),
        )
        try:
            for fut in as_completed([ex.submit(_worker_task, t) for t in tasks]):
                finished(fut.result())
        except BaseException:
            ex.shutdown(wait=False, cancel_futures=True)
            raise
        ex.shutdown(wait=True)
    return out


def _log_tenth(done: int, total: int, t0: float) -> None:
    """Without a terminal the bar is silent: a log line at every tenth of the episodes, so a
    `nohup` log of a long ceiling row (Cube: ~1 min per episode) shows it is moving."""
    step = max(1, total // 10)
    if done % step == 0 or done == total:
        spent = time.perf_counter() - t0
        log.info(
            "rows 1-2: %d/%d episodes in %.0f s (about %.0f s left)",
            done, total, spent, spent / done * (total - done),
        )


def _row_summary(row: int, per_seed: dict[int, list[dict]], plan: str, seconds: float) -> dict:
    """Success mean ± 95% interval over seeds of one row's episode records."""
    succ = {s: float(np.mean([e["success"] for e in eps])) for s, eps in per_seed.items()}
    vals = [succ[s] for s in sorted(succ)]
    near = [e["closest"] for eps in per_seed.values() for e in eps if "closest" in e]
    return {
        # Median over episodes of the smallest success distance reached (< 1: success).
        "closest_median": float(np.median(near)) if near else None,
        "row": row,
        "name": ROW_NAMES[row],
        "planner": plan,
        "success_mean": float(np.mean(vals)),
        "success_ci95": confidence_interval(vals),
        "per_seed": {str(s): succ[s] for s in sorted(succ)},
        "seconds": seconds,
        "episodes": {str(s): per_seed[s] for s in sorted(per_seed)},
    }


def diagnose_run(
    run_dir: str | Path,
    overrides: list[str] = (),
    data: str | None = None,
    settings: DiagnoseSettings | None = None,
    device: str | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """`lewm diagnose`: the four rows, the probe's accuracy and the latent checks; writes
    ``diagnose.json`` into the run (or ``out``) and returns the record."""
    settings = settings or DiagnoseSettings()
    t_all = time.perf_counter()
    run = open_diagnosis(run_dir, overrides, data, device)
    cfg = run.cfg
    env = check_env(run)
    # The pairs `lewm eval` plans on for each seed (same draw, same exclusions).
    pairs = {seed: draw_pairs(cfg, run.store, seed)[0] for seed in cfg.eval.seeds}
    # Cheap, and it fails early (e.g. no test episode long enough) before the costly rows.
    checks = latent_checks(run, env, settings.windows, seed=0)
    sensitivity = latent_sensitivity(run, env, settings.sensitivity_states, seed=0)
    rows = _sim_summaries(run, settings, pairs, progress)
    extra = _model_rows(run, env, settings, pairs, progress, rows)
    env.close()
    record = {
        "run_dir": str(run.run_dir),
        "dataset": str(run.store.path),
        "step": run.meta.get("step"),
        "env": cfg.env,
        "protocol": cfg.eval.protocol,
        "episodes_per_seed": cfg.eval.episodes,
        "seeds": list(cfg.eval.seeds),
        "goal_offset": cfg.eval.goal_offset,
        "eval_budget": cfg.eval.eval_budget,
        "plan_cost": cfg.plan.cost,
        "settings": dataclasses.asdict(settings),
        "rows": [rows[r] for r in sorted(rows)],
        **extra,
        "latent_checks": checks,
        "latent_sensitivity": sensitivity,
        "total_seconds": time.perf_counter() - t_all,
    }
    record["verdict"] = verdict(record)
    lopsided = sensitivity_verdict(sensitivity)
    if lopsided:
        record["verdict"].append(lopsided)
    path = Path(out) if out else run.run_dir / "diagnose.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def _sim_summaries(run, settings: DiagnoseSettings, pairs: dict, progress: bool) -> dict:
    """Rows 1-2 run and summarised: {row: summary}."""
    sim = _sim_rows(run, settings, pairs, progress)
    rows = {}
    for row in (1, 2):
        recs = [r for r in sim if r["row"] == row]
        if recs:
            per_seed = {
                s: sorted((r for r in recs if r["seed"] == s), key=lambda r: r["index"])
                for s in pairs
            }
            # Worker seconds summed over the row's episodes (the rows share the pool).
            secs = float(sum(r["seconds"] for r in recs))
            rows[row] = _row_summary(row, per_seed, settings.sim_planner(), secs)
    return rows


def _model_rows(run, env, settings, pairs: dict, progress: bool, rows: dict) -> dict:
    """Rows 3-4 added to ``rows``; returns {"probe": row 3's probe info, "floor": row 4's
    random-policy floor and solved-start share} (None where the row did not run)."""
    cfg, extra = run.cfg, {"probe": None, "floor": None}
    if 3 in settings.rows:
        t0 = time.perf_counter()
        probe, extra["probe"] = fit_oracle_probe(run, env, settings, progress)
        per_seed = {s: probe_row(run, probe, env, s, pairs[s], progress) for s in pairs}
        rows[3] = _row_summary(3, per_seed, _run_planner(cfg), time.perf_counter() - t0)
    if 4 in settings.rows:
        t0 = time.perf_counter()
        res, source = model_row(run, settings, progress)
        per_seed = {s["seed"]: s["episodes"] for s in res["per_seed"]}
        rows[4] = _row_summary(4, per_seed, _run_planner(cfg), time.perf_counter() - t0)
        rows[4]["source"] = source
        extra["floor"] = {
            "random_success_mean": res["random_success_mean"],
            "solved_at_start": res["solved_at_start"],
        }
    return extra


def _run_planner(cfg) -> str:
    p = cfg.plan
    return f"{p.solver} {p.num_samples}x{p.iterations}, {p.num_elites} elites (the run's)"


def verdict(rec: dict) -> list[str]:
    """Plain-language reading of the rows (docs/diagnose.md "Reading the table")."""
    got = {r["row"]: r["success_mean"] for r in rec["rows"]}
    lines = []
    if 1 in got:
        c = 100 * got[1]
        if got[1] < 0.5:
            lines.append(
                f"Planner ceiling {c:.0f}%: even the true simulator with the exact cost fails on "
                "most pairs under this protocol, budget and CEM setting, so no world model can "
                "score high here; raise --sim-samples/--sim-iterations to tell a weak solver "
                "from an unreachable task."
            )
        else:
            lines.append(f"Planner ceiling {c:.0f}%: the protocol and budget allow success.")
    if 1 in got and 2 in got:
        lines.append(
            f"Learned cost (row 1 -> 2): {100 * (got[1] - got[2]):+.0f} points lost by "
            "replacing the state distance with the encoder's latent distance."
        )
    if 1 in got and 3 in got:
        lines.append(
            f"Learned dynamics (row 1 -> 3): {100 * (got[1] - got[3]):+.0f} points lost by "
            "replacing the simulator with the predictor (read with the probe's accuracy)."
        )
    if 4 in got and 2 in got and 3 in got:
        lines.append(
            f"Both together (row 4): {100 * got[4]:.0f}% vs {100 * min(got[2], got[3]):.0f}% "
            "for the weaker single replacement."
        )
    return lines


def format_diagnosis(rec: dict) -> str:
    """The table `lewm diagnose` prints."""
    n = "one seed: no interval" if len(rec["seeds"]) == 1 else "± 95% interval"
    lines = [
        f"lewm diagnose {rec['run_dir']} (step {rec['step']}, env {rec['env']}, "
        f"{rec['protocol']}: {rec['episodes_per_seed']} pairs x seeds {rec['seeds']}, goal "
        f"+{rec['goal_offset']} steps, budget {rec['eval_budget']}, cost '{rec['plan_cost']}')",
        f"{'row':<48}{'success':>12}{'':<7}{'closest':>8}{'minutes':>8}   planner",
    ]
    for r in rec["rows"]:
        ci = f" ± {100 * r['success_ci95']:.1f}" if len(rec["seeds"]) > 1 else ""
        src = f" [{r['source']}]" if "source" in r else ""
        near = "-" if r["closest_median"] is None else f"{r['closest_median']:.2f}"
        lines.append(
            f"{r['row']} {r['name']:<46}{100 * r['success_mean']:>11.1f}%{ci:<7}{near:>8}"
            f"{r['seconds'] / 60:>8.1f}   {r['planner']}{src}"
        )
    lines.append(
        f"(success: mean over seeds, {n}; closest: median over episodes of the smallest "
        "success distance reached, < 1 is success; minutes: rows 1-2 summed over workers)"
    )
    if rec["floor"]:
        f = rec["floor"]
        lines.append(
            f"random policy {100 * f['random_success_mean']:.1f}%, solved at start "
            f"{100 * f['solved_at_start']:.1f}%"
        )
    if rec["probe"]:
        p = rec["probe"]
        lines.append(
            f"row 3 probe: {p['kind']} on {p['train_frames']} training frames (angles as cos/sin: "
            f"{', '.join(map(str, p['angles_as_cos_sin'])) or 'none'}); on "
            f"{p['frames']} test frames the decoded state is within the success tolerance of the "
            f"true one for {100 * p['within_tolerance']:.0f}% (median distance "
            f"{p['decoded_error_median']:.2f}; < 1 is inside)"
        )
    lines += rec["verdict"]
    lines.append("latent checks per step of the horizon:")
    lines.append(format_latent_checks(rec["latent_checks"]))
    lines.append("latent sensitivity at the success tolerance:")
    lines.append(format_sensitivity(rec["latent_sensitivity"]))
    lines.append(f"total {rec['total_seconds'] / 60:.1f} min")
    return "\n".join(lines)
