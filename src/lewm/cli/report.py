"""Report verb: ``report`` (one self-contained HTML page of a run)."""

from __future__ import annotations

from lewm.cli.args import add_verb


def register(sub) -> None:
    p = add_verb(sub, "report", cmd_report, "one self-contained HTML page of a run (report.html)")
    p.add_argument("run_dir", help="run directory")
    p.add_argument("--out", default=None, help="HTML path (default RUN_DIR/report.html)")
    p.add_argument(
        "--videos",
        default=None,
        help="GIF directory written by `lewm eval --video` (default RUN_DIR/videos if present)",
    )
    p.add_argument("--max-videos", type=int, default=4, help="episode GIFs embedded (4)")


def cmd_report(args) -> int:
    from lewm.report.html import build_report

    path = build_report(args.run_dir, args.out, args.videos, args.max_videos)
    print(f"report -> {path}")
    return 0
