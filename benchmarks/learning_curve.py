"""Planning success against training length: every snapshot of a run on the same pairs.

A run trained with ``train.keep_every=N`` keeps ``RUN/snapshots/step_NNNNNN`` (weights only);
this script evaluates each of them and the run's final checkpoint on the same held-out pairs and
prints one row per point: step, training minutes at that step (from ``RUN/metrics.jsonl``),
success per seed, mean ± 95% interval and the random floor. A point whose ``results.json``
already holds the requested pairs is reused (as `lewm compare` does), so the script can be rerun
as new snapshots appear.

    python benchmarks/learning_curve.py runs/pusht-cpu --episodes 50 --seeds 0,1,2 \
        --data datasets/pusht-64.h5

Snapshots before the end of a cosine schedule are taken at a learning rate that has not yet
decayed: each point is what a run stopped there by ``train.max_minutes`` would give, not a run
scheduled to end there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, table  # noqa: E402

from lewm.checkpoint import SNAPSHOTS, load_checkpoint  # noqa: E402
from lewm.evaluation.compare import requested_eval, run_results  # noqa: E402


def minutes_at(run_dir: Path) -> dict[int, float]:
    """Step -> minutes since the first logged record (the first step's time is not counted)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {}
    records = [json.loads(line) for line in path.open() if line.strip()]
    records = [r for r in records if "time" in r and "step" in r]
    if not records:
        return {}
    t0 = records[0]["time"]
    return {int(r["step"]): (r["time"] - t0) / 60 for r in records}


def curve_points(run_dir: Path) -> list[Path]:
    """The run's snapshots in step order, then the run itself (a snapshot of its final step is
    the same weights and is left out)."""
    final = int(load_checkpoint(run_dir).meta["step"])
    snaps = sorted((run_dir / SNAPSHOTS).glob("step_*")) if (run_dir / SNAPSHOTS).is_dir() else []
    keep = [p for p in snaps if not p.name.endswith(".tmp") and int(p.name[5:]) != final]
    return [*keep, run_dir]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--episodes", type=int, default=None, help="pairs per seed (run's eval.*)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (run's eval.*)")
    p.add_argument("--data", default=None, help="dataset of the pairs (default: the run's)")
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args(argv)

    cfg = load_checkpoint(args.run_dir).config
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    req = requested_eval(cfg, args.episodes, seeds, None)
    minutes = minutes_at(args.run_dir)
    rows, records = [], []
    for point in curve_points(args.run_dir):
        res, source = run_results(point, req, args.data, progress=True)
        step = int(res["step"])
        per_seed = [round(100 * s["success"]) for s in res["per_seed"]]
        logged = [s for s in minutes if s <= step]  # the last step may fall between log records
        mins = minutes[max(logged)] if logged else None
        rows.append(
            [
                step,
                "–" if mins is None else f"{mins:.1f}",
                ", ".join(str(v) for v in per_seed),
                f"{100 * res['success_mean']:.1f}%"
                + (f" ± {100 * res['success_ci95']:.1f}" if len(per_seed) > 1 else " (1 seed)"),
                f"{100 * res['random_success_mean']:.1f}%",
                source,
            ]
        )
        records.append({"step": step, "minutes": mins, "per_seed": per_seed, "source": source})
    print(f"machine: {machine()}")
    print(f"run: {args.run_dir}; pairs: {req}")
    headers = ["step", "train min", "success per seed (%)", "mean ± 95%", "random", "source"]
    print(table(headers, rows))
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
