"""`lewm report`: one self-contained HTML page per run, and the same page style for several runs.

:func:`build_report` gathers whatever a run directory holds (:mod:`lewm.report.runfiles`), renders
one section per artefact (:mod:`lewm.report.sections`; a missing one names the command that makes
it) and writes a single file whose images and GIFs are embedded as data URIs (issue 11), so it
opens from disk and can be mailed as is. :func:`build_compare_report` puts several runs side by
side (`lewm compare --html`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from lewm.report import curves
from lewm.report.page import data_uri, esc, figure, hint, num, page, para, pct, table
from lewm.report.runfiles import load_run
from lewm.report.sections import SECTIONS

log = logging.getLogger(__name__)


def _write(out_path: Path, text: str) -> Path:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out_path)  # a reader never sees half a page
    return out_path


def build_report(
    run_dir: str | Path,
    out_path: str | Path | None = None,
    video_dir: str | Path | None = None,
    max_videos: int = 4,
) -> Path:
    """Write the report of ``run_dir`` (default ``RUN_DIR/report.html``); returns its path.

    ``video_dir``: where `lewm eval --video` wrote its GIFs (default ``RUN_DIR/videos`` if it
    exists); up to ``max_videos`` are embedded, successes and failures alternating.
    """
    if max_videos < 0:
        raise ValueError(f"max_videos must be >= 0, got {max_videos}")
    rf = load_run(run_dir, video_dir, max_videos)
    out_path = Path(out_path) if out_path is not None else rf.run_dir / "report.html"
    sections = [(sid, title, fn(rf)) for sid, title, fn in SECTIONS]
    step = (rf.meta or {}).get("step")
    sub = (
        f"{rf.env or 'unknown env'} · step {num(step)} · {rf.run_dir} · written "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    log.info("report of %s -> %s", rf.run_dir, out_path)
    return _write(out_path, page(f"LeWM run report: {rf.run_dir.name}", sub, sections))


COMPARE_COLUMNS = (
    ("name", "run", str),
    ("kind", "model", str),  # optional columns are shown only when some row has them
    ("success_mean", "planning success", None),
    ("random_success", "random floor", pct),
    ("planning_time_s", "planning time / solve (s)", lambda v: num(v, 3)),
    ("tokens_per_frame", "tokens / frame", num),
    ("params", "parameters", num),
    ("train_minutes", "training (min)", lambda v: num(v, 1)),
)
OPTIONAL_COLUMNS = {"kind", "random_success"}


def _compare_table(rows: list[dict]) -> str:
    cols = [
        c
        for c in COMPARE_COLUMNS
        if c[0] not in OPTIONAL_COLUMNS or any(r.get(c[0]) is not None for r in rows)
    ]
    body = []
    for r in rows:
        cells = []
        for key, _, fmt in cols:
            v = r.get(key)
            if key == "success_mean":
                cells.append(pct(v, r.get("success_ci")))
            else:
                cells.append("–" if v is None else fmt(v))
        body.append(cells)
    text_cols = sum(c[0] in ("name", "kind") for c in cols)
    return table([h for _, h, _ in cols], body, numeric_from=text_cols)


def build_compare_report(rows: list[dict], run_dirs: list[Path], out_path: Path) -> Path:
    """The report page for several runs: a comparison table (rows with keys name, success_mean,
    success_ci, planning_time_s, tokens_per_frame, params, train_minutes, optionally kind and
    random_success; missing values show '–')
    and training curves overlaid per run, ``rows[i]`` describing ``run_dirs[i]``."""
    if len(rows) != len(run_dirs):
        raise ValueError(f"{len(rows)} rows but {len(run_dirs)} run directories")
    if not rows:
        raise ValueError("nothing to compare: no runs given")
    runs, names = {}, []
    for r, d in zip(rows, run_dirs):
        rf = load_run(d, max_videos=0)
        name = str(r.get("name") or Path(d).name)
        if name in runs:
            name = f"{name} ({d})"
        names.append(name)
        if rf.train_rows or rf.val_rows:
            runs[name] = (rf.train_rows, rf.val_rows)
    sections = [
        (
            "table",
            "Comparison",
            _compare_table(rows)
            + para("Planning success: mean ± 95% interval over evaluation seeds (SPEC §5).")
            # Each row's closing note (lewm compare): lr, final loss terms, and for DINO-WM
            # whether its frozen encoder has pretrained DINOv2 features at all.
            + "".join(para(f"{r['name']}: {r['note']}") for r in rows if r.get("note")),
        )
    ]
    png = curves.training_curves(runs) if runs else None
    if png:
        curves_html = figure(
            data_uri(png, "image/png"), "Training curves per run: train solid, validation dashed."
        )
    else:
        curves_html = hint("training metrics", "lewm train --config PRESET --run-dir RUN_DIR")
    missing = [n for n in names if n not in runs]
    if png and missing:
        curves_html += para(f"No metrics.jsonl for: {', '.join(missing)}.")
    sections.append(("training", "Training curves", curves_html))
    links = "".join(f"<li>{esc(n)}: <code>{esc(d)}</code></li>" for n, d in zip(names, run_dirs))
    sections.append(
        (
            "runs",
            "Run directories",
            f"<ul>{links}</ul>" + para("Each run's own page: lewm report RUN_DIR."),
        )
    )
    return _write(Path(out_path), page("LeWM comparison", f"{len(rows)} runs", sections))
