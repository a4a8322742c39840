"""Data verbs: ``collect``, ``merge``, ``info`` (episodes on disk, SPEC §4)."""

from __future__ import annotations

from lewm.cli.args import add_verb, progress
from lewm.envs import ENVS


def register(sub) -> None:
    p = add_verb(sub, "collect", cmd_collect, "collect episodes into an HDF5 file")
    p.add_argument("env", help="environment name, e.g. tworoom")
    p.add_argument("--episodes", type=int, required=True, help="number of episodes")
    p.add_argument("--image-size", type=int, default=64, help="square render size (default 64)")
    p.add_argument(
        "--policy",
        default="expert",
        help="data policy (default expert): "
        + "; ".join(f"{name}: {' | '.join(entry.policies)}" for name, entry in ENVS.items()),
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

    p = add_verb(
        sub,
        "merge",
        cmd_merge,
        "join episode files collected as shards into one file (new split + stats)",
    )
    p.add_argument("shards", nargs="+", help="episode files written by `lewm collect`")
    p.add_argument("--out", required=True, help="output .h5 path")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")

    p = add_verb(sub, "info", cmd_info, "print a dataset's summary")
    p.add_argument("path", help="HDF5 dataset")


def cmd_collect(args) -> int:
    from lewm.data.collect import collect
    from lewm.data.info import summarize

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
        progress=progress(),
    )
    print(summarize(args.out))
    return 0


def cmd_merge(args) -> int:
    from lewm.data.info import summarize
    from lewm.data.merge import merge

    merge(args.shards, args.out, overwrite=args.overwrite)
    print(summarize(args.out))
    return 0


def cmd_info(args) -> int:
    from lewm.data.info import summarize

    print(summarize(args.path))
    return 0
