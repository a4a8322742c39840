"""Collection and clip-loading speed (Two-Room, expert policy).

Prints one table: env steps/s of `collect` (rendering at --image-size px, expert policy; wall
time of the whole call, including worker start-up and the final merge into HDF5) for 1 and 2
workers plus the bare in-process rollout loop without I/O, and clips/s of `ClipDataset`
(single items, batched `get_batch`, and single items read lazily from the file), with the
machine it ran on.

    python benchmarks/collect_speed.py [--episodes 200] [--image-size 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lewm.data import ClipDataset, EpisodeStore
from lewm.data.collect import collect, generate_episode


def _rollout_only(episodes: int, image_size: int, seed: int) -> tuple[int, float]:
    from lewm.envs import make

    params = {
        "env": "tworoom",
        "image_size": image_size,
        "policy": "expert",
        "seed": seed,
        "max_steps": None,
        "min_length": 0,
        "env_kwargs": {},
    }
    env = make("tworoom", image_size=image_size)
    t0 = time.perf_counter()
    steps = sum(len(generate_episode(env, params, i)["pixels"]) for i in range(episodes))
    return steps, time.perf_counter() - t0


def _clips_per_s(fn, n_clips: int, min_time: float = 1.0) -> float:
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_time:
        fn()
        done += n_clips
    return done / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        steps, dt = _rollout_only(args.episodes, args.image_size, seed=0)
        rows.append(("rollout loop only (1 proc, no I/O)", f"{steps / dt:,.0f} steps/s"))
        path = None
        for workers in (1, 2):
            out = Path(tmp) / f"w{workers}.h5"
            t0 = time.perf_counter()
            collect(
                "tworoom",
                out,
                args.episodes,
                image_size=args.image_size,
                policy="expert",
                seed=0,
                workers=workers,
                progress=False,
            )
            dt = time.perf_counter() - t0
            n = EpisodeStore(out).num_steps
            rows.append(
                (
                    f"collect, {workers} worker(s), end to end",
                    f"{n / dt:,.0f} steps/s ({n} steps, {dt:.2f} s)",
                )
            )
            path = out

        t0 = time.perf_counter()
        ds = ClipDataset(path, "train", num_frames=4, frameskip=5)
        rows.append(
            (
                "ClipDataset open + load to RAM",
                f"{time.perf_counter() - t0:.3f} s ({len(ds)} clips)",
            )
        )
        rng = np.random.default_rng(0)
        idx = iter(rng.integers(0, len(ds), size=2_000_000))
        rows.append(
            (
                "clips, single item (in memory)",
                f"{_clips_per_s(lambda: ds[int(next(idx))], 1):,.0f} clips/s",
            )
        )

        def batch() -> None:
            ds.get_batch(rng.integers(0, len(ds), args.batch))

        rate = _clips_per_s(batch, args.batch)
        rows.append((f"clips, get_batch({args.batch}) (in memory)", f"{rate:,.0f} clips/s"))
        lazy = ClipDataset(path, "train", num_frames=4, frameskip=5, in_memory=False)
        rows.append(
            (
                "clips, single item (lazy, from HDF5)",
                f"{_clips_per_s(lambda: lazy[int(next(idx))], 1):,.0f} clips/s",
            )
        )

    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"cpu_count={os.cpu_count()}, torch {torch.__version__}, numpy {np.__version__}"
    )
    print(f"Two-Room, expert policy, {args.episodes} episodes, {args.image_size} px\n")
    w = max(len(r[0]) for r in rows)
    print(f"| {'measurement'.ljust(w)} | result |")
    print(f"|{'-' * (w + 2)}|--------|")
    for name, val in rows:
        print(f"| {name.ljust(w)} | {val} |")


if __name__ == "__main__":
    main()
