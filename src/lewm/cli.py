"""`lewm <verb>`: thin wrappers over the library functions.

Process-wide set-up (logging, rendering backends, thread counts) happens here in :func:`main`,
never at import (DESIGN.md "No side effects at import").
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("lewm")


def _add_collect(sub) -> None:
    p = sub.add_parser("collect", help="collect episodes into an HDF5 file")
    p.add_argument("env", help="environment name, e.g. tworoom")
    p.add_argument("--episodes", type=int, required=True, help="number of episodes")
    p.add_argument("--image-size", type=int, default=64, help="square render size (default 64)")
    p.add_argument(
        "--policy", default="expert", help="data policy: expert | random (default expert)"
    )
    p.add_argument("--out", required=True, help="output .h5 path")
    p.add_argument("--seed", type=int, default=0, help="collection seed (default 0)")
    p.add_argument(
        "--episode-offset",
        type=int,
        default=0,
        help="first episode of this shard in the seed's episode sequence: shard j of n-episode "
        "shards uses j*n; join shards with `lewm merge` (default 0)",
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted collection")


def _add_merge(sub) -> None:
    p = sub.add_parser(
        "merge", help="join episode files collected as shards into one file (new split + stats)"
    )
    p.add_argument("shards", nargs="+", help="episode files written by `lewm collect`")
    p.add_argument("--out", required=True, help="output .h5 path")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train LeWM from a config preset and key=value overrides")
    p.add_argument("--config", default=None, help="YAML preset, e.g. configs/tworoom-cpu.yaml")
    p.add_argument("--run-dir", default=None, help="run directory (default runs/<preset name>)")
    p.add_argument("--resume", action="store_true", help="resume the run in --run-dir")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=1e-4")


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="planning success of a trained run (SPEC §5)")
    p.add_argument("run_dir", help="run directory with a checkpoint")
    p.add_argument("--episodes", type=int, default=None, help="start/goal pairs per seed")
    p.add_argument("--seeds", default=None, help="comma-separated evaluation seeds, e.g. 0,1,2")
    p.add_argument(
        "--protocol",
        choices=["heldout", "paper"],
        default=None,
        help="heldout: pairs from test episodes (default); paper: from training episodes",
    )
    p.add_argument("--data", default=None, help="dataset path (default: the run's)")
    p.add_argument("--video", default=None, help="write one GIF per episode into this directory")
    p.add_argument("--out", default=None, help="results.json path (default RUN_DIR/results.json)")
    p.add_argument(
        "overrides", nargs="*", help="plan.* / eval.* overrides, e.g. plan.iterations=30"
    )


def _add_pipeline(sub) -> None:
    p = sub.add_parser("pipeline", help="the whole job: collect, train, evaluate (Two-Room CPU)")
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
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.max_minutes=5")


def _add_physics(sub) -> None:
    """Verbs of SPEC §7 (physical understanding), each run on a trained run directory."""

    def common(name: str, help_: str):
        p = sub.add_parser(name, help=help_)
        p.add_argument("run_dir", help="run directory with a checkpoint")
        p.add_argument("--data", default=None, help="dataset path (default: the run's)")
        p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
        p.add_argument("--device", default=None, help="torch device (default: auto)")
        return p

    p = common("probe", "linear and MLP probes of physical quantities -> RUN_DIR/probe.json")
    p.add_argument("--max-episodes", type=int, default=300, help="episodes per split (300)")
    p.add_argument("--stride", type=int, default=1, help="use every n-th frame (1)")
    p.add_argument("--mlp-steps", type=int, default=500, help="MLP probe Adam steps (500)")
    p = common("surprise", "violation-of-expectation test -> surprise.json / surprise.png")
    p.add_argument("--trajectories", type=int, default=32, help="trajectories (32)")
    p.add_argument("--step", type=int, default=10, help="latent frame of the perturbation (10)")
    p.add_argument("--frames", type=int, default=None, help="latent frames (default step+8)")
    p.add_argument("--policy", default=None, help="policy (default: the dataset's)")
    p = common("straightness", "temporal straightening on test episodes -> straightness.json")
    p.add_argument("--max-episodes", type=int, default=200, help="test episodes (200)")
    p = common("imagine", "decoded open-loop rollout beside real frames -> imagine.png/.gif")
    p.add_argument("--decoder-steps", type=int, default=1000, help="decoder training steps")
    p.add_argument("--retrain", action="store_true", help="retrain decoder.safetensors")
    p.add_argument("--episode", type=int, default=None, help="episode (default: a test one)")
    p.add_argument("--frames", type=int, default=16, help="latent frames shown (16)")
    p.add_argument("--context", type=int, default=1, help="real context frames (1)")
    p = common("tsne", "t-SNE of embeddings coloured by the agent position -> tsne.png")
    p.add_argument("--max-points", type=int, default=1000, help="frames embedded (1000)")
    p.add_argument("--iterations", type=int, default=1000, help="t-SNE iterations (1000)")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (30)")


def _add_reference(sub) -> None:
    """Checkpoints of the reference implementation (stable-worldmodel / le-wm), issue 10."""
    p = sub.add_parser(
        "import-reference", help="reference weights.pt + config.json -> a run directory"
    )
    p.add_argument("weights", help="reference weights.pt (loaded with weights_only=True)")
    p.add_argument("config", help="reference config.json")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--frameskip", type=int, default=5, help="env steps per action block (5)")
    p.add_argument("--env", default=None, help="environment the model plans in, e.g. tworoom")
    p.add_argument(
        "--data",
        default=None,
        help="HDF5 dataset whose action mean/std go into the checkpoint (the reference files "
        "carry none; without it `lewm eval --data` takes them from its dataset)",
    )
    p = sub.add_parser("export-reference", help="a run's checkpoint -> weights.pt + config.json")
    p.add_argument("run_dir", help="run directory with a checkpoint")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--naming",
        choices=["old", "new"],
        default="old",
        help="ViT key names: old (transformers 4, as released) or new (transformers 5)",
    )


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page of a run (report.html)")
    p.add_argument("run_dir", help="run directory")
    p.add_argument("--out", default=None, help="HTML path (default RUN_DIR/report.html)")
    p.add_argument(
        "--videos",
        default=None,
        help="GIF directory written by `lewm eval --video` (default RUN_DIR/videos if present)",
    )
    p.add_argument("--max-videos", type=int, default=4, help="episode GIFs embedded (4)")


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare", help="runs side by side: success, planning time, tokens, params (SPEC §8)"
    )
    p.add_argument("run_dirs", nargs="+", help="run directories with checkpoints")
    p.add_argument("--episodes", type=int, default=None, help="pairs per seed (first run's)")
    p.add_argument("--seeds", default=None, help="comma-separated evaluation seeds (first run's)")
    p.add_argument("--protocol", choices=["heldout", "paper"], default=None, help="pair source")
    p.add_argument("--data", default=None, help="dataset path for every run (default: each run's)")
    p.add_argument(
        "--timing-solves", type=int, default=3, help="single-problem solves timed per run (3)"
    )
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.add_argument("--html", default=None, help="also write an HTML comparison page here")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lewm", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="verb", required=True)
    _add_collect(sub)
    _add_merge(sub)
    p = sub.add_parser("info", help="print a dataset's summary")
    p.add_argument("path", help="HDF5 dataset")
    _add_train(sub)
    _add_eval(sub)
    _add_pipeline(sub)
    _add_physics(sub)
    _add_reference(sub)
    _add_report(sub)
    _add_compare(sub)
    return parser


def cmd_collect(args) -> int:
    from lewm.data.collect import collect
    from lewm.data.store import summarize

    collect(
        args.env,
        args.out,
        episodes=args.episodes,
        image_size=args.image_size,
        policy=args.policy,
        seed=args.seed,
        episode_offset=args.episode_offset,
        workers=args.workers,
        resume=args.resume,
        progress=sys.stderr.isatty(),
    )
    print(summarize(args.out))
    return 0


def cmd_merge(args) -> int:
    from lewm.data.merge import merge
    from lewm.data.store import summarize

    merge(args.shards, args.out, overwrite=args.overwrite)
    print(summarize(args.out))
    return 0


def cmd_info(args) -> int:
    from lewm.data.store import summarize

    print(summarize(args.path))
    return 0


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
        res = train(cfg, run_dir, resume=args.resume, progress=sys.stderr.isatty())
        if rank() == 0:
            print(f"trained {res.step} steps in {res.seconds / 60:.1f} min -> {res.run_dir}")
    return 0


def cmd_eval(args) -> int:
    from lewm.evaluation.protocol import evaluate_run, format_results

    overrides = list(args.overrides)
    if args.episodes is not None:
        overrides.append(f"eval.episodes={args.episodes}")
    if args.seeds is not None:
        overrides.append(f"eval.seeds=[{args.seeds}]")
    if args.protocol is not None:
        overrides.append(f"eval.protocol={args.protocol}")
    results = evaluate_run(
        args.run_dir,
        overrides=overrides,
        data_path=args.data,
        video_dir=args.video,
        out=args.out,
        progress=sys.stderr.isatty(),
    )
    print(format_results(results))
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


def cmd_probe(args) -> int:
    from lewm.evaluation.probe import format_probe_table, run_probe

    res = run_probe(
        args.run_dir,
        args.data,
        args.max_episodes,
        args.stride,
        mlp_steps=args.mlp_steps,
        seed=args.seed,
        device=args.device,
        progress=sys.stderr.isatty(),
    )
    print(format_probe_table(res))
    print(f"-> {Path(args.run_dir) / 'probe.json'}")
    return 0


def cmd_surprise(args) -> int:
    from lewm.evaluation.surprise import format_surprise, run_surprise

    res = run_surprise(
        args.run_dir,
        args.data,
        args.trajectories,
        args.step,
        args.frames,
        args.policy,
        args.seed,
        args.device,
    )
    print(format_surprise(res))
    print(f"-> {Path(args.run_dir) / 'surprise.json'}, surprise.png")
    return 0


def cmd_straightness(args) -> int:
    from lewm.evaluation.straightness import run_straightness

    res = run_straightness(
        args.run_dir,
        args.data,
        max_episodes=args.max_episodes,
        seed=args.seed,
        device=args.device,
        progress=sys.stderr.isatty(),
    )
    ref = res["state_straightness"]
    print(
        f"straightness {res['straightness']:.4f} (mean cos of consecutive latent velocities, "
        f"{res['episodes']} {res['split']} episodes; physical state "
        f"{float('nan') if ref is None else ref:.4f}) "
        f"-> {Path(args.run_dir) / 'straightness.json'}"
    )
    return 0


def cmd_imagine(args) -> int:
    from lewm.evaluation.imagine import run_imagine

    res = run_imagine(
        args.run_dir,
        args.data,
        args.decoder_steps,
        args.episode,
        args.frames,
        args.context,
        args.seed,
        args.retrain,
        args.device,
        progress=sys.stderr.isatty(),
    )
    dec = res["decoder"]
    print(
        f"episode {res['episode']}: {res['frames']} frames, context {res['context']}; decoder "
        f"train MSE {dec['final_train_mse']:.4f} ({'loaded' if dec['loaded'] else 'trained'}); "
        f"pixel MSE imagined {sum(res['pixel_mse_imagined']) / res['frames']:.4f}, "
        f"reconstructed {sum(res['pixel_mse_reconstruction']) / res['frames']:.4f}"
    )
    print(f"-> {Path(args.run_dir)}/imagine.png, imagine.gif, imagine.json")
    return 0


def cmd_tsne(args) -> int:
    from lewm.evaluation.tsne import run_tsne

    res = run_tsne(
        args.run_dir,
        args.data,
        max_points=args.max_points,
        perplexity=args.perplexity,
        iterations=args.iterations,
        seed=args.seed,
        device=args.device,
        progress=sys.stderr.isatty(),
    )
    print(
        f"t-SNE of {res['points']} {res['split']} frames; {res['knn_k']}-NN overlap with "
        f"{'/'.join(res['colour_by'])}: map {res['knn_overlap_tsne_vs_physical']:.3f}, latent "
        f"{res['knn_overlap_latent_vs_physical']:.3f} (chance {res['knn_chance']:.3f}) "
        f"-> {Path(args.run_dir) / 'tsne.png'}"
    )
    return 0


def cmd_report(args) -> int:
    from lewm.report.html import build_report

    path = build_report(args.run_dir, args.out, args.videos, args.max_videos)
    print(f"report -> {path}")
    return 0


def cmd_compare(args) -> int:
    import json

    from lewm.evaluation.compare import compare_runs, format_compare

    seeds = None if args.seeds is None else [int(s) for s in args.seeds.split(",")]
    rows = compare_runs(
        args.run_dirs,
        episodes=args.episodes,
        seeds=seeds,
        protocol=args.protocol,
        data_path=args.data,
        timing_solves=args.timing_solves,
        progress=sys.stderr.isatty(),
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


def cmd_import_reference(args) -> int:
    from lewm.reference import import_to_run_dir

    ckpt = import_to_run_dir(
        args.weights, args.config, args.out, args.frameskip, env=args.env, data=args.data
    )
    stats = "from " + args.data if args.data else "none (pass --data to `lewm eval`)"
    print(f"imported -> {ckpt}; action statistics: {stats}")
    return 0


def cmd_export_reference(args) -> int:
    from lewm.reference import export_run_dir

    weights, config = export_run_dir(args.run_dir, args.out, naming=args.naming)
    print(f"exported -> {weights}, {config}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Overrides may also follow options (`lewm eval RUN --seeds 0 plan.iterations=30`), which
    # argparse alone would reject once the positionals are consumed.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1  # started by torchrun
    if launched and args.verb != "train":
        print(f"lewm {args.verb}: only `lewm train` runs under torchrun", file=sys.stderr)
        return 2
    quiet = launched and int(os.environ.get("RANK", "0")) != 0  # log from rank 0 only
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # Headless MuJoCo rendering for the MuJoCo envs, chosen here and never at import.
    os.environ.setdefault("MUJOCO_GL", "egl")
    handler = {
        "collect": cmd_collect,
        "merge": cmd_merge,
        "info": cmd_info,
        "train": cmd_train,
        "eval": cmd_eval,
        "pipeline": cmd_pipeline,
        "probe": cmd_probe,
        "surprise": cmd_surprise,
        "straightness": cmd_straightness,
        "imagine": cmd_imagine,
        "tsne": cmd_tsne,
        "import-reference": cmd_import_reference,
        "export-reference": cmd_export_reference,
        "report": cmd_report,
        "compare": cmd_compare,
    }[args.verb]
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        if args.verbose:
            raise
        print(f"lewm {args.verb}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
