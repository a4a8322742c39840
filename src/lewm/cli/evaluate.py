"""Evaluation verbs: ``eval`` (planning success of one run, SPEC §5) and ``compare`` (runs side
by side, SPEC §8)."""

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
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.add_argument("--html", default=None, help="also write an HTML comparison page here")


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
