"""Join episode files collected as shards into one file (`lewm merge SHARDS... --out FILE`).

Collection scales out like training: each worker or machine runs `lewm collect` into its own
shard, and `merge` joins them. Shards of one collection use the same seed and consecutive
`--episode-offset`s (shard j of n-episode shards: offset j*n); shards may also come from different
seeds (more data) or policies.

Rules (deterministic: the same shards give the same file, whatever their order on the command
line):

- **Refused** (a `DatasetError` naming the files and the field): files not written by
  `lewm collect`; shards that differ in env, env version, env arguments, image size, frameskip,
  action dimension or bounds, state names, columns, or split fractions; two shards holding the
  same episodes (same collection settings and seed, overlapping episode ranges).
- **Order:** shards sorted by (seed, episode offset, other settings); their episodes in order.
- **Split and action statistics** are recomputed over the merged episodes exactly as `collect`
  does (`make_split(E, split_seed)`, mean/std over the training episodes); `split_seed` is the
  first shard's seed.
- **Metadata.** When the shards are consecutive pieces of one collection (same settings and seed,
  offsets contiguous), the merged file is the file one `lewm collect` of all the episodes writes:
  same columns, `ep_idx`, split, statistics and metadata, including the collection record, so
  `lewm collect --resume` can extend it. Only two fields can differ: `workers` (kept when all
  shards agree, else None — the data never depends on it) and `extra["merged_from"]` (the shards'
  file names, seeds, offsets and episode counts, for provenance). Otherwise (different seeds,
  policies, gaps) the file has no collection record (it cannot be extended by `collect`), `ep_idx`
  is renumbered 0..E-1, and `seed`/`policy`/`max_steps`/`workers` keep the common value or become
  None/"mixed"; `min_length` is the smallest.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from lewm.data import schema
from lewm.data.schema import DatasetError, DatasetMeta
from lewm.data.store import EpisodeStore
from lewm.data.writer import EpisodeWriter

logger = logging.getLogger(__name__)

# Metadata every shard must share (a merged file has one env, image size, action space, ...).
SAME_META = (
    "env_id",
    "env_version",
    "image_size",
    "frameskip",
    "action_dim",
    "action_low",
    "action_high",
    "state_names",
    "split_fractions",
)
SAME_COLLECTION = ("env", "env_kwargs", "image_size")


def _collection(store: EpisodeStore) -> dict[str, Any]:
    params = store.meta.extra.get("collection") if store.meta.source == "lewm" else None
    if not isinstance(params, dict):
        raise DatasetError(
            f"{store.path}: not written by `lewm collect` (no collection record); merge joins "
            "shards collected with `lewm collect`"
        )
    return params


def _settings(params: dict[str, Any]) -> str:
    """Collection settings other than the episode offset, as a canonical string."""
    return json.dumps({k: v for k, v in params.items() if k != "episode_offset"}, sort_keys=True)


def _column_spec(store: EpisodeStore) -> dict[str, tuple[tuple[int, ...], str]]:
    return {
        c: (tuple(store.column_shape(c)[1:]), str(store.column(c).dtype)) for c in store.columns
    }


def _check_compatible(stores: list[EpisodeStore]) -> None:
    ref = stores[0]
    ref_params, ref_cols = _collection(ref), _column_spec(ref)
    for s in stores[1:]:
        params = _collection(s)
        diff = {
            k: (getattr(ref.meta, k), getattr(s.meta, k))
            for k in SAME_META
            if getattr(ref.meta, k) != getattr(s.meta, k)
        }
        diff.update(
            {
                f"collection.{k}": (ref_params.get(k), params.get(k))
                for k in SAME_COLLECTION
                if ref_params.get(k) != params.get(k)
            }
        )
        cols = _column_spec(s)
        if cols != ref_cols:
            diff["columns"] = (ref_cols, cols)
        if diff:
            raise DatasetError(
                f"cannot merge {s.path} with {ref.path}: the shards differ in "
                + "; ".join(f"{k} ({a!r} vs {b!r})" for k, (a, b) in diff.items())
            )


def _sort_key(store: EpisodeStore) -> tuple[int, int, str]:
    params = _collection(store)
    return int(params["seed"]), int(params.get("episode_offset", 0)), _settings(params)


def _check_overlap(stores: list[EpisodeStore]) -> None:
    groups: dict[str, list[tuple[int, EpisodeStore]]] = {}
    for s in stores:
        params = _collection(s)
        groups.setdefault(_settings(params), []).append((params.get("episode_offset", 0), s))
    for group in groups.values():
        group.sort(key=lambda item: item[0])
        for (off_a, a), (off_b, b) in zip(group, group[1:], strict=False):
            if off_b < off_a + a.num_episodes:
                end_a, end_b = off_a + a.num_episodes - 1, off_b + b.num_episodes - 1
                raise DatasetError(
                    f"{a.path} and {b.path} hold the same episodes (same collection settings "
                    f"and seed {_collection(a)['seed']}; episodes {off_a}..{end_a} and "
                    f"{off_b}..{end_b}): collect shards with disjoint --episode-offset ranges "
                    "or different seeds"
                )


def _common(values: list[Any], otherwise: Any) -> Any:
    return values[0] if all(v == values[0] for v in values) else otherwise


def _merged_meta(stores: list[EpisodeStore]) -> tuple[DatasetMeta, int]:
    """Metadata of the merged file and the `ep_idx` of its first episode."""
    metas = [s.meta for s in stores]
    params = [_collection(s) for s in stores]
    first = params[0]
    offsets = [p.get("episode_offset", 0) for p in params]
    one_collection = all(_settings(p) == _settings(first) for p in params) and all(
        offsets[j + 1] == offsets[j] + stores[j].num_episodes for j in range(len(stores) - 1)
    )
    provenance = [
        {
            "file": s.path.name,
            "seed": p["seed"],
            "episode_offset": o,
            "episodes": s.num_episodes,
        }
        for s, p, o in zip(stores, params, offsets, strict=True)
    ]
    workers = _common([m.workers for m in metas], None)
    if one_collection:
        # Exactly what one `collect` of all the episodes records (see the module docstring).
        return metas[0].replace(
            workers=workers, extra={"collection": first, "merged_from": provenance}
        ), offsets[0]
    meta = metas[0].replace(
        seed=_common([m.seed for m in metas], None),
        policy=_common([m.policy for m in metas], "mixed"),
        max_steps=_common([m.max_steps for m in metas], None),
        min_length=min(m.min_length for m in metas),
        workers=workers,
        split_seed=metas[0].split_seed,
        extra={"merged_from": provenance},
    )
    return meta, 0


def merge(
    shards: Sequence[str | os.PathLike], out: str | os.PathLike, overwrite: bool = False
) -> DatasetMeta:
    """Join the episode files `shards` into `out` (see the module docstring for the rules).

    Written to `<out>.tmp` and renamed onto `out` when complete (`EpisodeWriter`). Returns the
    merged file's metadata.
    """
    out = Path(out)
    paths = [Path(p) for p in shards]
    if not paths:
        raise ValueError("merge needs at least one shard")
    resolved = {p.resolve() for p in paths}
    if len(resolved) != len(paths):
        raise DatasetError(f"a shard is listed twice: {[str(p) for p in paths]}")
    if out.resolve() in resolved:
        raise DatasetError(f"{out}: the output must not be one of the shards")
    if out.exists() and not overwrite:
        raise DatasetError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    with ExitStack() as stack:
        stores = [stack.enter_context(EpisodeStore(p)) for p in paths]
        _check_compatible(stores)
        stores.sort(key=_sort_key)
        _check_overlap(stores)
        meta, base = _merged_meta(stores)
        total_eps = sum(s.num_episodes for s in stores)
        total_rows = sum(s.num_steps for s in stores)
        with EpisodeWriter(out, expected_rows=total_rows) as w:
            position = 0
            for s in stores:
                for i in range(s.num_episodes):
                    ep = s.episode(i)
                    if schema.EP_IDX in ep:  # the episode's index in the merged collection
                        ep[schema.EP_IDX] = np.full_like(ep[schema.EP_IDX], base + position)
                    w.append(ep)
                    position += 1
            split = schema.make_split(total_eps, meta.split_seed, meta.split_fractions)
            merged = w.finish(meta, split)
    logger.info(
        "merged %d shards (%d episodes, %d steps) into %s", len(stores), total_eps, total_rows, out
    )
    return merged
