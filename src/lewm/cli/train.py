"""Training verbs: ``train`` (one run) and ``pipeline`` (collect → train → evaluate)."""

from __future__ import annotations

from pathlib import Path

from lewm.cli.args import add_overrides, add_verb, progress


def register(sub) -> None:
    p = add_verb(sub, "train", cmd_train, "train LeWM from a config preset and key=value overrides")
    p.add_argument("--config", default=None, help="YAML preset, e.g. configs/tworoom-cpu.yaml")
    p.add_argument("--run-dir", default=None, help="run directory (default runs/<preset name>)")
    p.add_argument("--resume", action="store_true", help="resume the run in --run-dir")
    add_overrides(p, "train.lr=1e-4")

    p = add_verb(
        sub, "pipeline", cmd_pipeline, "the whole job: collect, train, evaluate (Two-Room CPU)"
    )
    p.add_argument("--config", default="configs/tworoom-cpu.yaml", help="YAML preset")
    p.add_argument("--out", default="runs/tworoom-cpu", help="run directory")
    p.add_argument(
        "--episodes", type=int, default=None, help="episodes to collect (preset default)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="collection worker processes (default: the preset's collect.workers)",
    )
    add_overrides(p, "train.max_minutes=5")


def cmd_train(args) -> int:
    from lewm.config import RunConfig
    from lewm.distributed import process_group, rank
    from lewm.train import train

    if args.resume and args.run_dir is None:
        raise SystemExit("lewm train --resume needs --run-dir")
    run_dir = Path(args.run_dir or Path("runs") / Path(args.config or "default").stem)
    if args.resume and args.config is None:
        cfg = RunConfig.load(run_dir / "config.json", args.overrides)
    else:
        cfg = RunConfig.load(args.config, args.overrides)
    # Under torchrun (WORLD_SIZE > 1): join the process group for DDP (lewm.distributed).
    with process_group(cfg.train.device):
        res = train(cfg, run_dir, resume=args.resume, progress=progress())
        if rank() == 0:
            print(f"trained {res.step} steps in {res.seconds / 60:.1f} min -> {res.run_dir}")
    return 0


def cmd_pipeline(args) -> int:
    from lewm.pipeline import run_pipeline

    run_pipeline(
        args.config,
        args.out,
        overrides=args.overrides,
        episodes=args.episodes,
        workers=args.workers,
    )
    return 0
