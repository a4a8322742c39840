"""Read what a run directory holds, for the report: every artefact is optional.

A run directory (``lewm.checkpoint`` docstring) may hold ``config.json``, ``checkpoint/meta.json``,
``metrics.jsonl`` (training), ``summary.json`` (`lewm pipeline`), ``results.json`` (`lewm eval`),
episode GIFs (`lewm eval --video`), ``probe.json``, ``surprise.json/.png``, ``straightness.json``,
``imagine.json/.png/.gif`` and ``tsne.json/.png``. A missing file is ``None``; a damaged one is an
error naming the file (never silently skipped, DESIGN.md "Errors").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JSON_FILES = ("summary", "results", "probe", "surprise", "straightness", "imagine", "tsne")
IMAGE_FILES = ("surprise.png", "imagine.png", "imagine.gif", "tsne.png")


@dataclass
class RunFiles:
    """The artefacts found in one run directory (``None`` / empty where absent)."""

    run_dir: Path
    config: dict | None = None
    meta: dict | None = None
    train_rows: list[dict] = field(default_factory=list)
    val_rows: list[dict] = field(default_factory=list)
    json: dict[str, dict | None] = field(default_factory=dict)
    images: dict[str, Path] = field(default_factory=dict)
    videos: list[Path] = field(default_factory=list)
    video_episodes: dict[Path, dict] = field(default_factory=dict)

    def get(self, name: str) -> dict | None:
        """A JSON artefact by stem, e.g. ``get("probe")``."""
        return self.json.get(name)

    @property
    def env(self) -> str | None:
        return (self.config or {}).get("env")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def read_metrics(path: Path) -> tuple[list[dict], list[dict]]:
    """``metrics.jsonl`` -> (training rows, validation rows); a row is a validation row when it
    carries ``val_*`` keys (train.py writes the two kinds as separate lines)."""
    train_rows, val_rows = [], []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{i}: not valid JSON ({exc})") from exc
        if "step" not in row:
            raise ValueError(f"{path}:{i}: metrics row without a 'step' field")
        (val_rows if any(k.startswith("val_") for k in row) else train_rows).append(row)
    return train_rows, val_rows


def find_videos(video_dir: Path, limit: int) -> list[Path]:
    """Up to ``limit`` episode GIFs written by `lewm eval --video` (``seed*/episode_*.gif``),
    alternating successes and failures so the page shows both when both exist."""
    gifs = sorted(video_dir.rglob("episode_*.gif"))
    ok = [p for p in gifs if p.stem.endswith("_success")]
    bad = [p for p in gifs if not p.stem.endswith("_success")]
    picked: list[Path] = []
    while len(picked) < limit and (ok or bad):
        for pool in (ok, bad):
            if pool and len(picked) < limit:
                picked.append(pool.pop(0))
    return picked


def video_episodes(video_dir: Path, videos: list[Path]) -> dict[Path, dict]:
    """The per-episode record (episode, start, goal, steps) of each GIF, when the evaluation that
    wrote them left its results file beside them (``--out VIDEO_DIR/results.json``)."""
    res_path = video_dir / "results.json"
    if not res_path.is_file():
        return {}
    seeds = {f"seed{s['seed']}": s.get("episodes", []) for s in _read_json(res_path)["per_seed"]}
    out = {}
    for p in videos:
        eps = seeds.get(p.parent.name, [])
        i = int(p.stem.split("_")[1])
        if i < len(eps):
            out[p] = eps[i]
    return out


def load_run(run_dir: str | Path, video_dir: str | Path | None = None, max_videos: int = 4):
    """Collect a run directory's artefacts; ``video_dir`` defaults to ``RUN_DIR/videos``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    rf = RunFiles(run_dir=run_dir)
    for cfg in (run_dir / "config.json", run_dir / "checkpoint" / "config.json"):
        if cfg.is_file():
            rf.config = _read_json(cfg)
            break
    for d in ("checkpoint", "checkpoint.old"):
        if (run_dir / d / "meta.json").is_file():
            rf.meta = _read_json(run_dir / d / "meta.json")
            break
    if (run_dir / "metrics.jsonl").is_file():
        rf.train_rows, rf.val_rows = read_metrics(run_dir / "metrics.jsonl")
    for name in JSON_FILES:
        p = run_dir / f"{name}.json"
        rf.json[name] = _read_json(p) if p.is_file() else None
    rf.images = {n: run_dir / n for n in IMAGE_FILES if (run_dir / n).is_file()}
    vdir = Path(video_dir) if video_dir is not None else run_dir / "videos"
    if video_dir is not None and not vdir.is_dir():
        raise FileNotFoundError(f"video directory {vdir} does not exist")
    if vdir.is_dir():
        rf.videos = find_videos(vdir, max_videos)
        rf.video_episodes = video_episodes(vdir, rf.videos)
    if rf.config is None and rf.meta is None and not rf.train_rows and not any(rf.json.values()):
        raise FileNotFoundError(
            f"{run_dir} holds no run artefacts (config.json, checkpoint/, metrics.jsonl, "
            "results.json, ...); is it a run directory?"
        )
    return rf
