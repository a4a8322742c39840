"""The main job (`lewm pipeline`): collect → train → evaluate → report in one run directory.

Every stage shows progress; the dataset is reused when it already exists (so a second call only
trains and evaluates), and the final table puts the success rate beside the random floor.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from lewm.config import RunConfig, apply_override

log = logging.getLogger(__name__)


def run_pipeline(
    config: str | Path,
    out: str | Path,
    overrides: list[str] = (),
    episodes: int | None = None,
    workers: int | None = None,
) -> dict:
    """Collect (if needed), train and evaluate; returns the summary written to ``summary.json``."""
    from lewm.data.collect import collect
    from lewm.data.info import summarize as dataset_summary
    from lewm.evaluation.protocol import evaluate_run, format_results
    from lewm.train import train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    raw = RunConfig.load(config).to_dict()
    raw["data"]["path"] = str(out / "dataset.h5")
    for ov in overrides:
        apply_override(raw, ov)
    if episodes is not None:
        raw["collect"]["episodes"] = episodes
    if workers is not None:
        raw["collect"]["workers"] = workers
    cfg = RunConfig.from_dict(raw)
    tty = sys.stderr.isatty()
    t0 = time.perf_counter()

    # 1. data
    data = Path(cfg.data.path)
    if data.exists():
        log.info("[1/3] dataset %s exists; reusing it", data)
        collect_s = 0.0
    else:
        log.info(
            "[1/3] collecting %d %s episodes (%s policy) -> %s",
            cfg.collect.episodes,
            cfg.env,
            cfg.collect.policy,
            data,
        )
        t = time.perf_counter()
        collect(
            cfg.env,
            data,
            episodes=cfg.collect.episodes,
            image_size=cfg.model.image_size,
            policy=cfg.collect.policy,
            seed=cfg.collect.seed,
            workers=cfg.collect.workers,
            progress=tty,
        )
        collect_s = time.perf_counter() - t
    print(dataset_summary(data), flush=True)

    # 2. train
    log.info("[2/3] training -> %s", out)
    t = time.perf_counter()
    result = train(cfg, out, progress=tty)
    train_s = time.perf_counter() - t

    # 3. evaluate
    log.info("[3/3] evaluating %d pairs x seeds %s", cfg.eval.episodes, list(cfg.eval.seeds))
    t = time.perf_counter()
    res = evaluate_run(out, progress=tty)
    eval_s = time.perf_counter() - t
    total = time.perf_counter() - t0

    summary = {
        "run_dir": str(out),
        "steps": result.step,
        "success_mean": res["success_mean"],
        "success_ci95": res["success_ci95"],
        "random_success_mean": res["random_success_mean"],
        "solved_at_start": res["solved_at_start"],
        "solve_seconds_median": res["solve_seconds_median"],
        "collect_seconds": collect_s,
        "train_seconds": train_s,
        "eval_seconds": eval_s,
        "total_seconds": total,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print()
    print(format_results(res))
    print(f"{'training':<26}{result.step} steps, {train_s / 60:.1f} min")
    print(f"{'collection':<26}{collect_s / 60:.1f} min")
    print(f"{'evaluation':<26}{eval_s / 60:.1f} min")
    print(f"{'total wall time':<26}{total / 60:.1f} min")
    print(f"{'run directory':<26}{out}")

    # 4. the page a person looks at (issue 11): everything above in one self-contained file
    from lewm.report.html import build_report

    print(f"{'report':<26}{build_report(out)}")
    return summary
