"""How much does a trained model's latent distance weigh each state column at the success
tolerance? (`lewm diagnose` prints the same table at scale 1; this script adds scales and any
column.)

Test-episode states of the run's dataset are moved one state column at a time by ``scale ×
delta`` (a random sign per state), rendered with the true simulator and encoded
(`lewm.evaluation.diagnose_sensitivity`). By default ``delta`` is the env's success tolerance of
the column (`success_tolerances`), so at scale 1 every row is one success tolerance; ``--perturb
NAME=DELTA`` measures any column (e.g. an arm joint the success test ignores).

Usage: python benchmarks/latent_sensitivity.py RUN_DIR [--data D] [--states 40]
           [--scales 0.5,1,2,4] [--perturb shoulder_pan=0.05 ...]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco is imported, as the CLI does

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402

from lewm.envs import make  # noqa: E402
from lewm.evaluation.diagnose_sensitivity import (  # noqa: E402
    format_sensitivity,
    latent_sensitivity,
    sensitivity_verdict,
)
from lewm.evaluation.embeddings import open_run  # noqa: E402


def parse_perturb(items: list[str]) -> dict[str, float]:
    out = {}
    for it in items:
        name, _, value = it.partition("=")
        if not value:
            raise SystemExit(f"--perturb wants NAME=DELTA, got {it!r}")
        out[name] = float(value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--data", default=None, help="dataset (default: the run's)")
    ap.add_argument("--states", type=int, default=40, help="test states to perturb")
    ap.add_argument("--perturb", action="append", default=[], help="NAME=DELTA (repeatable)")
    ap.add_argument("--scales", default="0.5,1,2,4", help="multiples of each DELTA")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    run = open_run(args.run_dir, data=args.data, device="cpu")
    env = make(run.cfg.env, image_size=run.store.meta.image_size)
    env.reset(seed=args.seed)
    tolerances = parse_perturb(args.perturb) or None
    scales = tuple(float(s) for s in args.scales.split(","))
    res = latent_sensitivity(run, env, args.states, args.seed, scales, tolerances)
    print(f"machine: {machine()}")
    print(f"run {args.run_dir} (env {run.cfg.env}, {run.store.meta.image_size} px)")
    print(format_sensitivity(res))
    line = sensitivity_verdict(res)
    if line:
        print(line)


if __name__ == "__main__":
    main()
