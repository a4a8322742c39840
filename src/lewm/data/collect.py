"""Collect episodes from a simulator into an episode file (`lewm collect`).

Crash safety. HDF5 is not crash-consistent: in our test, every file the reference writer
(libver='latest') was writing when SIGKILLed refused to open afterwards ("file is already open
for write"), and with older file formats a kill while the metadata cache is dirty can corrupt
the index. So episodes never go straight into the final file:

1. each episode is generated (in a worker process), saved to `<out>.parts/ep_<i>.npz` under a
   temporary name and atomically renamed — a part file is either complete or absent;
2. when all N parts exist, they are merged in index order into `<out>.tmp`, which is atomically
   renamed onto `<out>`; the parts directory is then removed.

A SIGKILL therefore loses at most the episodes in flight; `resume=True` keeps the finished parts,
generates the missing ones and merges. `resume=True` on a finished file with fewer than N episodes
extends it (old episodes are copied into the new file; the split is recomputed for the new N).

Determinism. Episode i depends only on (seed, i): its env reset seed and policy generator come
from `SeedSequence([seed, i, attempt])`, so the file is identical for any worker count and any
interruption pattern.

Sharding. `episode_offset=K` makes a file hold episodes K..K+N-1 of the seed's sequence (its
`ep_idx` column says so), so shards collected anywhere with offsets 0, N, 2N, … and joined with
`lewm merge` (`lewm.data.merge`) give exactly the file of one collection of all the episodes.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import re
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from lewm.data import schema
from lewm.data.schema import DatasetError, DatasetMeta
from lewm.data.store import EpisodeStore
from lewm.data.writer import EpisodeWriter

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 100
PART_RE = re.compile(r"^ep_(\d+)\.npz$")
_WORKER: dict[str, Any] = {}


def parts_dir(out: str | os.PathLike) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".parts")


def _part_path(parts: Path, index: int) -> Path:
    return parts / f"ep_{index:07d}.npz"


# ---------------------------------------------------------------------------- one episode
def generate_episode(env: Any, params: dict[str, Any], index: int) -> dict[str, np.ndarray]:
    """Roll out episode `index` from a fresh seeded reset until truncation (or success, for
    policies with `ends_on_success`, e.g. the expert).

    Returns columns pixels (L,H,W,3) uint8, action (L,A) float32 (row L-1 is NaN), proprio,
    state (float32), ep_idx, step_idx (int64). Episodes shorter than `min_length` frames are
    redrawn with the next attempt seed (deterministic).
    """
    from lewm.envs import make_policy

    low = np.asarray(env.action_space.low, dtype=np.float32)
    high = np.asarray(env.action_space.high, dtype=np.float32)
    limit = params["max_steps"] if params["max_steps"] is not None else np.inf
    index += params.get("episode_offset", 0)  # position in the seed's sequence (sharding)
    for attempt in range(MAX_ATTEMPTS):
        env_seed, pol_seed = np.random.SeedSequence(
            [params["seed"], index, attempt]
        ).generate_state(2)
        obs, info = env.reset(seed=int(env_seed))
        policy = make_policy(
            params["env"], params["policy"], env, np.random.default_rng(int(pol_seed))
        )
        policy.reset()
        # The expert stops at success; a random policy runs to truncation (`ends_on_success`).
        stop_on_success = bool(getattr(policy, "ends_on_success", True))
        frames, states, props, actions = [obs], [env.get_state()], [env.proprio()], []
        done = stop_on_success and bool(info.get("success", False))
        while not done and len(actions) < limit:
            a = np.clip(np.asarray(policy.act(env), dtype=np.float32), low, high)
            obs, _, terminated, truncated, info = env.step(a)
            actions.append(a)
            frames.append(obs)
            states.append(env.get_state())
            props.append(env.proprio())
            done = bool(terminated or truncated)
            done = done or (stop_on_success and bool(info.get("success", False)))
        if len(frames) >= params["min_length"]:
            n = len(frames)
            actions.append(np.full_like(low, np.nan))
            return {
                schema.PIXELS: np.stack(frames).astype(np.uint8, copy=False),
                schema.ACTION: np.stack(actions).astype(np.float32),
                schema.PROPRIO: np.stack(props).astype(np.float32),
                schema.STATE: np.stack(states).astype(np.float32),
                schema.EP_IDX: np.full(n, index, dtype=np.int64),
                schema.STEP_IDX: np.arange(n, dtype=np.int64),
            }
    raise RuntimeError(
        f"episode {index}: no rollout reached min_length={params['min_length']} frames in "
        f"{MAX_ATTEMPTS} attempts; lower min_length or raise max_steps"
    )


def _make_env(params: dict[str, Any]) -> Any:
    from lewm.envs import make

    return make(params["env"], image_size=params["image_size"], **params["env_kwargs"])


def _save_part(parts: Path, index: int, episode: dict[str, np.ndarray]) -> int:
    final = _part_path(parts, index)
    tmp = final.with_name(f"{final.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        np.savez(fh, **episode)
    os.replace(tmp, final)  # atomic: the part is complete or absent
    return len(episode[schema.PIXELS])


def _watch_parent(parent_pid: int) -> None:
    # A SIGKILLed parent cannot stop its workers; they exit on their own instead of idling on.
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(3)


def _worker_init(params: dict[str, Any], parts: str, parent_pid: int) -> None:
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    _WORKER["params"] = params
    _WORKER["parts"] = Path(parts)
    _WORKER["env"] = _make_env(params)


def _worker_task(index: int) -> tuple[int, int]:
    ep = generate_episode(_WORKER["env"], _WORKER["params"], index)
    return index, _save_part(_WORKER["parts"], index, ep)


# ---------------------------------------------------------------------------- bookkeeping
def _completed_parts(parts: Path) -> set[int]:
    done = set()
    for p in parts.iterdir():
        m = PART_RE.match(p.name)
        if m:
            done.add(int(m.group(1)))
        elif ".npz.tmp" in p.name:  # left by a killed writer
            p.unlink(missing_ok=True)
    return done


def _check_params(found: dict[str, Any], params: dict[str, Any], where: str) -> None:
    diff = {k: (found.get(k), v) for k, v in params.items() if found.get(k) != v}
    if diff:
        raise DatasetError(
            f"{where}: cannot resume, collection settings differ (found vs requested): {diff}"
        )


def _prepare(out: Path, params: dict[str, Any], resume: bool, overwrite: bool) -> int:
    """Check/clean the destination; return the number of episodes already in `out`."""
    parts = parts_dir(out)
    if overwrite:
        out.unlink(missing_ok=True)
        shutil.rmtree(parts, ignore_errors=True)
    elif not resume and (out.exists() or parts.exists()):
        what = out if out.exists() else parts
        raise FileExistsError(
            f"{what} exists; pass resume=True to continue/extend it or overwrite=True to replace it"
        )
    existing = 0
    if out.exists():
        with EpisodeStore(out) as store:
            found = store.meta.extra.get("collection")
            if store.meta.source != "lewm" or found is None:
                raise DatasetError(f"{out}: was not written by `lewm collect`; cannot resume it")
            _check_params(found, params, str(out))
            existing = store.num_episodes
    parts.mkdir(parents=True, exist_ok=True)
    meta_file = parts / "collection.json"
    if meta_file.exists():
        _check_params(json.loads(meta_file.read_text()), params, str(parts))
    else:
        tmp = meta_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(params, sort_keys=True))
        os.replace(tmp, meta_file)
    return existing


def _run_workers(
    todo: list[int], params: dict[str, Any], parts: Path, workers: int, bar: tqdm
) -> int:
    steps = 0
    if workers == 1:
        env = _make_env(params)
        for i in todo:
            steps += _save_part(parts, i, generate_episode(env, params, i))
            bar.update(1)
        return steps
    # spawn, not fork: the parent may hold torch / HDF5 / tqdm threads.
    ctx = mp.get_context("spawn")
    ex = ProcessPoolExecutor(
        workers,
        mp_context=ctx,
        initializer=_worker_init,
        initargs=(params, str(parts), os.getpid()),
    )
    try:
        for fut in as_completed([ex.submit(_worker_task, i) for i in todo]):
            steps += fut.result()[1]
            bar.update(1)
    except BaseException:
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    ex.shutdown(wait=True)
    return steps


def _merge(out: Path, parts: Path, existing: int, episodes: int, meta: DatasetMeta) -> DatasetMeta:
    with EpisodeWriter(out) as w:
        if existing:
            with EpisodeStore(out) as old:
                for i in range(existing):
                    w.append(old.episode(i))
        for i in range(existing, episodes):
            with np.load(_part_path(parts, i), allow_pickle=False) as z:
                w.append({k: z[k] for k in z.files})
        return w.finish(meta, schema.make_split(episodes, meta.split_seed, meta.split_fractions))


def collect(
    env_name: str,
    out: str | os.PathLike,
    episodes: int,
    image_size: int = 64,
    policy: str = "expert",
    seed: int = 0,
    workers: int = 1,
    resume: bool = False,
    max_steps: int | None = None,
    progress: bool = True,
    min_length: int = 0,
    frameskip: int = 5,
    overwrite: bool = False,
    env_kwargs: dict[str, Any] | None = None,
    episode_offset: int = 0,
) -> Path:
    """Collect `episodes` episodes of `policy` in `env_name` into the episode file `out`.

    Args:
        env_name: env short name or gym id (`lewm.envs.make`).
        out: destination HDF5 file (see the module docstring for crash safety).
        episodes: total number of episodes N in the finished file.
        image_size: rendered frame side in pixels.
        policy: collecting policy name (`lewm.envs.make_policy`), e.g. "expert" or "random".
        seed: episode i is seeded from (seed, i); the split is seeded from `seed` too.
        workers: worker processes generating episodes (the file does not depend on it).
        resume: continue an interrupted collection, or extend a finished file, to N episodes.
        max_steps: cap on env steps per episode (default: the env's own truncation horizon).
        progress: show a tqdm bar (it stays quiet when stderr is not a terminal).
        min_length: redraw episodes with fewer frames than this (e.g. frameskip * num_frames +
            goal offset so every episode yields clips and evaluation pairs); 0 keeps all.
        frameskip: recorded in the metadata as the intended frameskip (informational).
        overwrite: delete an existing `out` / parts directory first.
        env_kwargs: extra env constructor arguments (e.g. {"randomize_door": True}).
        episode_offset: the file holds episodes K..K+N-1 of the seed's sequence (a shard for
            `lewm merge`; see the module docstring).

    Returns the path of the finished file.
    """
    if episodes < 1 or workers < 1 or min_length < 0 or episode_offset < 0:
        raise ValueError(
            f"need episodes >= 1, workers >= 1, min_length >= 0, episode_offset >= 0; got "
            f"{episodes}, {workers}, {min_length}, {episode_offset}"
        )
    out = Path(out)
    params = {
        "env": env_name,
        "image_size": int(image_size),
        "policy": policy,
        "seed": int(seed),
        "max_steps": None if max_steps is None else int(max_steps),
        "min_length": int(min_length),
        "env_kwargs": dict(env_kwargs or {}),
    }
    if episode_offset:  # recorded only when set, so files of unsharded collections are unchanged
        params["episode_offset"] = int(episode_offset)
    # Build the env here first: a bad name or argument fails before any work starts.
    env = _make_env(params)
    meta = DatasetMeta(
        env_id=type(env).env_id,
        env_version=int(type(env).env_version),
        image_size=int(image_size),
        frameskip=int(frameskip),
        action_low=tuple(float(x) for x in env.action_space.low),
        action_high=tuple(float(x) for x in env.action_space.high),
        state_names=tuple(env.state_names),
        policy=policy,
        seed=int(seed),
        workers=int(workers),
        min_length=int(min_length),
        max_steps=params["max_steps"],
        split_seed=int(seed),
        extra={"collection": params},
    )
    env.close()
    existing = _prepare(out, params, resume, overwrite)
    parts = parts_dir(out)
    if existing >= episodes:
        logger.info("%s already holds %d >= %d episodes; nothing to do", out, existing, episodes)
        shutil.rmtree(parts, ignore_errors=True)
        return out
    done = {i for i in _completed_parts(parts) if existing <= i < episodes}
    todo = [i for i in range(existing, episodes) if i not in done]
    if done:
        logger.info(
            "%s: resuming, %d of %d episodes already collected", out, existing + len(done), episodes
        )
    t0 = time.perf_counter()
    with tqdm(
        total=episodes - existing,
        initial=len(done),
        desc=f"collect {out.name}",
        unit="ep",
        disable=None if progress else True,
    ) as bar:
        steps = _run_workers(todo, params, parts, min(workers, max(len(todo), 1)), bar)
    dt = time.perf_counter() - t0
    if todo:
        logger.info(
            "collected %d episodes (%d steps) in %.1fs: %.0f steps/s with %d worker(s)",
            len(todo),
            steps,
            dt,
            steps / max(dt, 1e-9),
            workers,
        )
    _merge(out, parts, existing, episodes, meta)
    shutil.rmtree(parts, ignore_errors=True)
    return out
