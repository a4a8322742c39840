"""Write an episode file (HDF5, stable-worldmodel layout; see `lewm.data.schema`).

`EpisodeWriter` writes into `<path>.tmp` and moves it onto `path` with one atomic rename in
`finish()`, so `path` is either the previous complete file or the new complete file, never a
half-written one (HDF5 is not crash-consistent: a process killed mid-write can leave a file that
no longer opens). Columns are resizable (maxshape None on the first axis), so the reference
`HDF5Writer` can append to our files; `ep_len` / `ep_offset` are written last.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lewm.data import schema
from lewm.data.schema import DatasetError, DatasetMeta

# Rows per HDF5 chunk: pixel chunks of 16 frames (~200 KB at 64 px) read fast both in bulk and
# for one clip; small columns use large chunks.
PIXEL_CHUNK_ROWS = 16
SMALL_CHUNK_ROWS = 4096


def _chunk_rows(name: str, row_bytes: int) -> int:
    if name == schema.PIXELS:
        return PIXEL_CHUNK_ROWS
    return max(1, min(SMALL_CHUNK_ROWS, (1 << 20) // max(row_bytes, 1)))


class EpisodeWriter:
    """Append episodes to a new episode file, then `finish()` with metadata and split.

    Args:
        path: destination; written to `<path>.tmp` and renamed onto `path` by `finish()`.
        expected_rows: total steps if known (datasets are allocated once instead of grown).
    """

    def __init__(self, path: str | os.PathLike, expected_rows: int | None = None) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f: h5py.File | None = h5py.File(self.tmp, "w", libver=schema.H5_LIBVER)
        self._expected = expected_rows
        self._spec: dict[str, tuple[tuple[int, ...], np.dtype]] | None = None
        self.ep_len: list[int] = []
        self._actions: list[np.ndarray] = []
        self.rows = 0

    def _init(self, episode: Mapping[str, np.ndarray]) -> None:
        self._spec = {}
        alloc = self._expected or 0
        for name, arr in episode.items():
            a = np.asarray(arr)
            shape, dtype = a.shape[1:], a.dtype
            row_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            self._f.create_dataset(
                name,
                shape=(alloc, *shape),
                maxshape=(None, *shape),
                dtype=dtype,
                chunks=(_chunk_rows(name, row_bytes), *shape),
            )
            self._spec[name] = (shape, dtype)

    def append(self, episode: Mapping[str, np.ndarray]) -> None:
        """Append one episode: a dict column -> array (L, ...), all with the same L."""
        if self._f is None:
            raise RuntimeError("EpisodeWriter is closed")
        missing = [c for c in schema.REQUIRED_COLUMNS if c not in episode]
        if missing:
            raise DatasetError(f"{self.path}: episode lacks required column(s) {missing}")
        lengths = {k: len(v) for k, v in episode.items()}
        if len(set(lengths.values())) != 1:
            raise DatasetError(f"{self.path}: episode columns differ in length: {lengths}")
        n = lengths[schema.PIXELS]
        if n < 1:
            raise DatasetError(f"{self.path}: empty episode")
        if self._spec is None:
            self._init(episode)
        if set(episode) != set(self._spec):
            raise DatasetError(
                f"{self.path}: episode columns {sorted(episode)} differ from "
                f"the file's {sorted(self._spec)}"
            )
        for name, arr in episode.items():
            a = np.asarray(arr)
            shape, dtype = self._spec[name]
            if a.shape[1:] != shape:
                raise DatasetError(
                    f"{self.path}: column '{name}' per-step shape {a.shape[1:]} != {shape}"
                )
            ds = self._f[name]
            if ds.shape[0] < self.rows + n:
                ds.resize(self.rows + n, axis=0)
            ds[self.rows : self.rows + n] = a.astype(dtype, copy=False)
        self._actions.append(np.asarray(episode[schema.ACTION], dtype=np.float32))
        self.ep_len.append(n)
        self.rows += n

    def extend(self, episodes: Iterable[Mapping[str, np.ndarray]]) -> None:
        for ep in episodes:
            self.append(ep)

    def finish(self, meta: DatasetMeta, split_codes: np.ndarray | None = None) -> DatasetMeta:
        """Write ep_len/ep_offset, the split and metadata (action stats computed over the
        training episodes), then atomically rename onto `path`. Returns the stored metadata.

        `split_codes` default: `make_split(E, meta.split_seed, meta.split_fractions)`.
        """
        if self._f is None:
            raise RuntimeError("EpisodeWriter is closed")
        if not self.ep_len:
            self.abort()
            raise DatasetError(f"{self.path}: no episodes to write")
        f = self._f
        for name in self._spec:
            if f[name].shape[0] != self.rows:
                f[name].resize(self.rows, axis=0)
        ep_len = np.asarray(self.ep_len, dtype=np.int32)
        ep_offset = np.concatenate([[0], np.cumsum(ep_len, dtype=np.int64)[:-1]]).astype(np.int64)
        f.create_dataset(schema.EP_LEN, data=ep_len, maxshape=(None,))
        f.create_dataset(schema.EP_OFFSET, data=ep_offset, maxshape=(None,))
        num_eps = len(ep_len)
        if split_codes is None:
            split_codes = schema.make_split(num_eps, meta.split_seed, meta.split_fractions)
        split_codes = np.asarray(split_codes, dtype=np.uint8)
        if split_codes.shape != (num_eps,):
            raise DatasetError(
                f"{self.path}: split has {split_codes.shape} codes for {num_eps} episodes"
            )
        train = np.flatnonzero(split_codes == schema.SPLIT_CODES["train"])
        mean, std = schema.action_stats(np.concatenate(self._actions), ep_len, ep_offset, train)
        meta = meta.replace(
            action_dim=int(self._spec[schema.ACTION][0][0]),
            action_mean=tuple(float(x) for x in mean),
            action_std=tuple(float(x) for x in std),
            image_size=int(self._spec[schema.PIXELS][0][0]),
            num_episodes=num_eps,
            num_steps=int(self.rows),
            format_version=schema.FORMAT_VERSION,
        )
        f.attrs[schema.META_ATTR] = meta.to_json()
        f.attrs[schema.SPLIT_ATTR] = split_codes
        f.close()
        self._f = None
        os.replace(self.tmp, self.path)
        return meta

    def abort(self) -> None:
        """Close and delete the temporary file (the destination is untouched)."""
        if self._f is not None:
            with contextlib.suppress(Exception):
                self._f.close()
            self._f = None
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if self._f is not None:  # not finished (error or forgotten finish): leave no debris
            self.abort()


def write_episodes(
    path: str | os.PathLike,
    episodes: Iterable[Mapping[str, np.ndarray]],
    meta: DatasetMeta | None = None,
    split_codes: np.ndarray | None = None,
) -> DatasetMeta:
    """Write a complete episode file from an iterable of episode dicts (see `EpisodeWriter`)."""
    with EpisodeWriter(path) as w:
        w.extend(episodes)
        return w.finish(meta or DatasetMeta(), split_codes)
