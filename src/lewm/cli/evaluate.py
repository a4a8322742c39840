"""Evaluation verbs: ``eval`` (planning success of one run, SPEC §5), ``compare`` (runs side
by side, SPEC §8) and ``diagnose`` (where planning success is lost, docs/diagnose.md)."""

from __future__ import annotations

import json
from pathlib import Path

from lewm.cli.args import (
    add_eval_selection,
    add_overrides,
    add_run_dir,
    add_verb,
    eval_overrides,
    progress,
    seeds_list,
)


def register(sub) -> None:
    p = add_verb(sub, "eval", cmd_eval, "planning success of a trained run (SPEC §5)")
    add_run_dir(p)
    add_eval_selection(p, "default: the run's eval.*")
    p.add_argument("--data", default=None, help="dataset path (default: the run's)")
    p.add_argument("--video", default=None, help="write one GIF per episode into this directory")
    p.add_argument("--out", default=None, help="results.json path (default RUN_DIR/results.json)")
    add_overrides(p, "plan.iterations=30 (plan.* / eval.*)")

    p = add_verb(
        sub,
        "compare",
        cmd_compare,
        "runs side by side: success, planning time, tokens, params (SPEC §8)",
    )
    p.add_argument("run_dirs", nargs="+", help="run directories with checkpoints")
    add_eval_selection(p, "default: the first run's")
    p.add_argument("--data", default=None, help="dataset path for every run (default: each run's)")
    p.add_argument(
        "--timing-solves", type=int, default=3, help="single-problem solves timed per run (3)"
    )
    p.add_argument(
        "--exclude-solved",
        action="store_true",
        default=None,
        help="only pairs whose start is not already solved (default: the first run's "
        "eval.exclude_solved)",
    )
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.add_argument("--html", default=None, help="also write an HTML comparison page here")

    p = add_verb(
        sub,
        "diagnose",
        cmd_diagnose,
        "where planning success is lost: four world models on eval's pairs -> diagnose.json",
    )
    add_run_dir(p)
    add_eval_selection(p, "default: the run's eval.*")
    p.add_argument("--data", default=None, help="dataset path (default: the run's)")
    p.add_argument("--device", default=None, help="torch device (default: auto)")
    p.add_argument("--out", default=None, help="diagnose.json path (default RUN_DIR/diagnose.json)")
    p.add_argument("--sim-samples", type=int, default=100, help="rows 1-2: CEM candidates (100)")
    p.add_argument("--sim-elites", type=int, default=10, help="rows 1-2: CEM elites (10)")
    p.add_argument("--sim-iterations", type=int, default=5, help="rows 1-2: CEM iterations (5)")
    p.add_argument("--workers", type=int, default=2, help="rows 1-2: worker processes (2)")
    p.add_argument(
        "--probe", choices=["mlp", "linear"], default="mlp", help="row 3's state probe (mlp)"
    )
    p.add_argument(
        "--probe-episodes", type=int, default=300, help="training episodes fitting it (300)"
    )
    p.add_argument("--windows", type=int, default=256, help="test windows of the latent checks")
    p.add_argument(
        "--sensitivity-states",
        type=int,
        default=40,
        help="test states of the latent sensitivity at the success tolerance (40)",
    )
    p.add_argument("--rows", default="1,2,3,4", help="rows to run, e.g. 1,4 (default all)")
    add_overrides(p, "plan.iterations=10 (plan.* / eval.*)")


def cmd_eval(args) -> int:
    from lewm.evaluation.protocol import evaluate_run, format_results

    results = evaluate_run(
        args.run_dir,
        overrides=eval_overrides(args),
        data_path=args.data,
        video_dir=args.video,
        out=args.out,
        progress=progress(),
    )
    print(format_results(results))
    return 0


def cmd_compare(args) -> int:
    from lewm.evaluation.compare import compare_runs, format_compare

    rows = compare_runs(
        args.run_dirs,
        episodes=args.episodes,
        seeds=seeds_list(args.seeds),
        protocol=args.protocol,
        data_path=args.data,
        timing_solves=args.timing_solves,
        exclude_solved=args.exclude_solved,
        progress=progress(),
    )
    print(format_compare(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
        print(f"-> {args.json}")
    if args.html:
        from lewm.report.html import build_compare_report

        out = build_compare_report(rows, [Path(d) for d in args.run_dirs], Path(args.html))
        print(f"-> {out}")
    return 0


def cmd_diagnose(args) -> int:
    from lewm.evaluation.diagnose import diagnose_run, format_diagnosis
    from lewm.evaluation.diagnose_rows import DiagnoseSettings

    try:
        rows = tuple(int(r) for r in args.rows.split(","))
    except ValueError:
        raise ValueError(f"--rows must be comma-separated row numbers, got {args.rows!r}") from None
    settings = DiagnoseSettings(
        sim_samples=args.sim_samples,
        sim_elites=args.sim_elites,
        sim_iterations=args.sim_iterations,
        workers=args.workers,
        probe=args.probe,
        probe_episodes=args.probe_episodes,
        windows=args.windows,
        sensitivity_states=args.sensitivity_states,
        rows=rows,
    )
    rec = diagnose_run(
        args.run_dir,
        overrides=eval_overrides(args),
        data=args.data,
        settings=settings,
        device=args.device,
        out=args.out,
        progress=progress(),
    )
    print(format_diagnosis(rec))
    print(f"-> {args.out or Path(args.run_dir) / 'diagnose.json'}")
    return 0
