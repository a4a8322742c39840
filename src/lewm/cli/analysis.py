"""Analysis verbs of SPEC §7 (physical understanding), each run on a trained run directory:
``probe``, ``surprise``, ``straightness``, ``imagine``, ``tsne``."""

from __future__ import annotations

from pathlib import Path

from lewm.cli.args import add_analysis_options, add_run_dir, add_verb, progress


def _verb(sub, name: str, handler, help_: str):
    p = add_verb(sub, name, handler, help_)
    add_run_dir(p)
    add_analysis_options(p)
    return p


def register(sub) -> None:
    p = _verb(sub, "probe", cmd_probe, "linear and MLP probes of physical quantities -> probe.json")
    p.add_argument("--max-episodes", type=int, default=300, help="episodes per split (300)")
    p.add_argument("--stride", type=int, default=1, help="use every n-th frame (1)")
    p.add_argument("--mlp-steps", type=int, default=500, help="MLP probe Adam steps (500)")
    p = _verb(
        sub, "surprise", cmd_surprise, "violation-of-expectation test -> surprise.json / .png"
    )
    p.add_argument("--trajectories", type=int, default=32, help="trajectories (32)")
    p.add_argument("--step", type=int, default=10, help="latent frame of the perturbation (10)")
    p.add_argument("--frames", type=int, default=None, help="latent frames (default step+8)")
    p.add_argument("--policy", default=None, help="policy (default: the dataset's)")
    p = _verb(
        sub,
        "straightness",
        cmd_straightness,
        "temporal straightening on test episodes -> straightness.json",
    )
    p.add_argument("--max-episodes", type=int, default=200, help="test episodes (200)")
    p = _verb(
        sub, "imagine", cmd_imagine, "decoded open-loop rollout beside real frames -> imagine.png"
    )
    p.add_argument("--decoder-steps", type=int, default=1000, help="decoder training steps")
    p.add_argument("--retrain", action="store_true", help="retrain decoder.safetensors")
    p.add_argument("--episode", type=int, default=None, help="episode (default: a test one)")
    p.add_argument("--frames", type=int, default=16, help="latent frames shown (16)")
    p.add_argument("--context", type=int, default=1, help="real context frames (1)")
    p = _verb(sub, "tsne", cmd_tsne, "t-SNE of embeddings coloured by the agent position")
    p.add_argument("--max-points", type=int, default=5000, help="frames embedded (5000)")
    p.add_argument(
        "--iterations", type=int, default=1000, help="t-SNE iterations (1000; at least 250)"
    )
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (30)")


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
        progress=progress(),
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
        progress=progress(),
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
        progress=progress(),
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
        progress=progress(),
    )
    print(
        f"t-SNE of {res['points']} {res['split']} frames; {res['knn_k']}-NN overlap with "
        f"{'/'.join(res['colour_by'])}: map {res['knn_overlap_tsne_vs_physical']:.3f}, latent "
        f"{res['knn_overlap_latent_vs_physical']:.3f} (chance {res['knn_chance']:.3f}) "
        f"-> {Path(args.run_dir) / 'tsne.png'}"
    )
    return 0
