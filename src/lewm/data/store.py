"""Read-only view of an episode file (HDF5, stable-worldmodel layout; see `lewm.data.schema`).

`EpisodeStore(path)` validates the file on open: it must be HDF5, hold `ep_len`, `ep_offset`,
`pixels` and `action`, and `ep_len` / `ep_offset` must describe exactly the N rows that every
per-step column holds. Anything else is a `DatasetError` naming the file and the problem —
never a silent wrong read.

Files written by the reference tools carry no `lewm_meta`: the store derives what is missing
(action dimension and bounds from the data, a seeded 90/5/5 episode split, action statistics over
the training episodes) and logs a warning saying so.

Actions must be finite except for NaN at an episode's last step (the reference's convention:
the last frame has no action leaving it; clips read it as 0, SPEC §1). Any other NaN and any ±inf
is refused on open, naming the rows — `np.nan_to_num` would otherwise turn +inf into 3.4e38 and
a run would train on it (issue 18).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lewm.data import schema
from lewm.data.schema import DatasetError, DatasetMeta

logger = logging.getLogger(__name__)

# Seed of the split derived for files without lewm metadata (deterministic across reads).
DERIVED_SPLIT_SEED = 0
# Rows of the action column checked per read on open (bounds the memory of the check).
_ACTION_CHECK_ROWS = 1 << 20


def _open_h5(path: Path) -> h5py.File:
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    if path.is_dir():
        raise DatasetError(f"{path}: is a directory, expected an HDF5 episode file")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        with open(path, "rb") as fh:
            head = fh.read(8)
        if head != b"\x89HDF\r\n\x1a\n":
            raise DatasetError(f"{path}: not an HDF5 file (bad signature {head!r})") from e
        raise DatasetError(f"{path}: unreadable HDF5 file (truncated or corrupt?): {e}") from e


def _check_actions(
    action: h5py.Dataset, ep_len: np.ndarray, ep_offset: np.ndarray, path: str, show: int = 5
) -> None:
    """Raise `DatasetError` if the (N, A) action column holds ±inf anywhere, or NaN anywhere but
    an episode's last step; the message names the column, the count and the first ``show`` rows
    (row, episode, step, values). Episodes are contiguous (checked by `schema.check_index`)."""
    last = np.zeros(len(action), dtype=bool)
    last[ep_offset + ep_len - 1] = True
    bad_rows: list[np.ndarray] = []
    count = 0
    for start in range(0, len(action), _ACTION_CHECK_ROWS):
        a = np.asarray(action[start : start + _ACTION_CHECK_ROWS])
        stop = start + len(a)
        bad = np.isinf(a).any(axis=1) | (np.isnan(a).any(axis=1) & ~last[start:stop])
        rows = start + np.flatnonzero(bad)
        count += len(rows)
        if sum(len(r) for r in bad_rows) < show:
            bad_rows.append(rows[:show])
    if not count:
        return
    first = np.concatenate(bad_rows)[:show]
    eps = np.searchsorted(ep_offset, first, side="right") - 1
    where = "; ".join(
        f"row {r} (episode {e}, step {r - ep_offset[e]}): {np.asarray(action[r]).tolist()}"
        for r, e in zip(first.tolist(), eps.tolist())
    )
    raise DatasetError(
        f"{path}: column 'action' has {count} row(s) with non-finite values; first: {where}. "
        "Only NaN at an episode's last step is allowed (read as 0); fix or drop those episodes"
    )


class EpisodeStore:
    """Read-only view of an episode file.

    Args:
        path: the HDF5 file.
        in_memory: load every per-step column into RAM now (same as calling
            `load_into_memory()`).

    Attributes: `meta` (DatasetMeta), `num_episodes` (E), `num_steps` (N), `ep_len` int64 (E,),
    `ep_offset` int64 (E,), `split_codes` uint8 (E,), `columns` (per-step column names),
    `action_mean` / `action_std` float32 (A,).
    """

    def __init__(self, path: str | os.PathLike, in_memory: bool = False) -> None:
        self.path = Path(path)
        self._h5: h5py.File | None = _open_h5(self.path)
        self._mem: dict[str, np.ndarray] = {}
        try:
            self._read_index()
            self._read_meta()
        except DatasetError:
            self.close()
            raise
        except (OSError, KeyError, TypeError) as e:
            self.close()
            raise DatasetError(f"{self.path}: unreadable episode file ({e})") from e
        if in_memory:
            self.load_into_memory()

    # ------------------------------------------------------------------------ validation
    def _read_index(self) -> None:
        f = self._file()
        missing = [k for k in (*schema.INDEX_DATASETS, *schema.REQUIRED_COLUMNS) if k not in f]
        if missing:
            raise DatasetError(
                f"{self.path}: missing dataset(s) {missing}; an episode file needs "
                f"{list(schema.INDEX_DATASETS + schema.REQUIRED_COLUMNS)} (found {sorted(f)})"
            )
        ep_len, ep_offset = np.asarray(f[schema.EP_LEN][()]), np.asarray(f[schema.EP_OFFSET][()])
        cols = {}
        for name, obj in f.items():
            if name in schema.INDEX_DATASETS:
                continue
            if not isinstance(obj, h5py.Dataset) or obj.ndim == 0:
                raise DatasetError(
                    f"{self.path}: root entry '{name}' is not a per-step column (every root "
                    "dataset except ep_len/ep_offset must have N rows)"
                )
            cols[name] = obj.shape[0]
        lengths = set(cols.values())
        if len(lengths) != 1:
            raise DatasetError(f"{self.path}: columns have different lengths: {cols}")
        self.num_steps = lengths.pop()
        schema.check_index(ep_len, ep_offset, self.num_steps, str(self.path))
        self.ep_len = ep_len.astype(np.int64)
        self.ep_offset = ep_offset.astype(np.int64)
        self.num_episodes = len(self.ep_len)
        self.columns = sorted(cols)
        px = f[schema.PIXELS]
        if px.dtype != np.uint8 or px.ndim != 4 or px.shape[-1] != 3:
            raise DatasetError(
                f"{self.path}: 'pixels' must be uint8 (N, H, W, 3) channels-last, got "
                f"{px.dtype} {px.shape}"
            )
        act = f[schema.ACTION]
        if act.ndim != 2 or not np.issubdtype(act.dtype, np.floating):
            raise DatasetError(
                f"{self.path}: 'action' must be float (N, A), got {act.dtype} {act.shape}"
            )
        _check_actions(act, self.ep_len, self.ep_offset, str(self.path))

    def _read_meta(self) -> None:
        f = self._file()
        raw = f.attrs.get(schema.META_ATTR)
        if raw is None:
            self._derive_meta()
            return
        if isinstance(raw, bytes):
            raw = raw.decode()
        self.meta = DatasetMeta.from_json(raw, str(self.path))
        split = f.attrs.get(schema.SPLIT_ATTR)
        if split is None:
            raise DatasetError(
                f"{self.path}: has '{schema.META_ATTR}' but no '{schema.SPLIT_ATTR}' attribute"
            )
        split = np.asarray(split, dtype=np.uint8).reshape(-1)
        if len(split) != self.num_episodes or (split > 2).any():
            raise DatasetError(
                f"{self.path}: '{schema.SPLIT_ATTR}' must hold one code in {{0,1,2}} per "
                f"episode ({self.num_episodes}), got {len(split)} entries"
            )
        self.split_codes = split
        a_dim = f[schema.ACTION].shape[1]
        if len(self.meta.action_mean) != a_dim or len(self.meta.action_std) != a_dim:
            raise DatasetError(
                f"{self.path}: metadata action stats do not match action dim {a_dim}"
            )

    def _derive_meta(self) -> None:
        """Fill in metadata for a file without `lewm_meta` (e.g. written by the reference)."""
        f = self._file()
        action = f[schema.ACTION][()]
        self.split_codes = schema.make_split(self.num_episodes, DERIVED_SPLIT_SEED)
        train = np.flatnonzero(self.split_codes == schema.SPLIT_CODES["train"])
        mean, std = schema.action_stats(action, self.ep_len, self.ep_offset, train)
        finite = action[~np.isnan(action).any(axis=1)]
        low = finite.min(axis=0) if len(finite) else np.full(action.shape[1], -np.inf)
        high = finite.max(axis=0) if len(finite) else np.full(action.shape[1], np.inf)
        state_names: tuple[str, ...] = ()
        if schema.STATE in f:
            state_names = tuple(f"state_{i}" for i in range(int(np.prod(f["state"].shape[1:]))))
        self.meta = DatasetMeta(
            env_id=str(f.attrs.get("env_id", "unknown")),
            image_size=int(f[schema.PIXELS].shape[1]),
            action_dim=int(action.shape[1]),
            action_low=tuple(float(x) for x in low),
            action_high=tuple(float(x) for x in high),
            action_mean=tuple(float(x) for x in mean),
            action_std=tuple(float(x) for x in std),
            state_names=state_names,
            split_seed=DERIVED_SPLIT_SEED,
            num_episodes=self.num_episodes,
            num_steps=self.num_steps,
            source="derived",
        )
        logger.warning(
            "%s: no '%s' metadata (not written by lewm): derived a seeded %s train/val/test "
            "episode split (seed %d), action mean/std over the %d training episodes, and action "
            "bounds from the data range",
            self.path,
            schema.META_ATTR,
            "/".join(f"{x:g}" for x in schema.DEFAULT_SPLIT_FRACTIONS),
            DERIVED_SPLIT_SEED,
            len(train),
        )

    # ------------------------------------------------------------------------- access
    def _file(self) -> h5py.File:
        if self._h5 is None:
            self._h5 = _open_h5(self.path)
        return self._h5

    @property
    def action_mean(self) -> np.ndarray:
        return np.asarray(self.meta.action_mean, dtype=np.float32)

    @property
    def action_std(self) -> np.ndarray:
        return np.asarray(self.meta.action_std, dtype=np.float32)

    @property
    def image_size(self) -> int:
        return int(self.column_shape(schema.PIXELS)[1])

    @property
    def action_dim(self) -> int:
        return int(self.column_shape(schema.ACTION)[1])

    def episodes(self, split: str = "all") -> np.ndarray:
        """Episode indices (int64, ascending) of `split` ('train', 'val', 'test' or 'all')."""
        if split == "all":
            return np.arange(self.num_episodes, dtype=np.int64)
        if split not in schema.SPLIT_CODES:
            raise ValueError(f"split must be one of {schema.SPLITS} or 'all', got {split!r}")
        return np.flatnonzero(self.split_codes == schema.SPLIT_CODES[split]).astype(np.int64)

    def resolve(self, name: str) -> str:
        """Column name after aliases (episode_idx -> ep_idx); KeyError names what exists."""
        name = name if name in self.columns else schema.COLUMN_ALIASES.get(name, name)
        if name not in self.columns:
            raise KeyError(f"{self.path}: no column '{name}'; columns: {self.columns}")
        return name

    def has_column(self, name: str) -> bool:
        try:
            self.resolve(name)
        except KeyError:
            return False
        return True

    def column(self, name: str) -> Any:
        """A per-step column: a numpy array when loaded into memory, else an h5py Dataset."""
        name = self.resolve(name)
        if name in self._mem:
            return self._mem[name]
        return self._file()[name]

    def column_shape(self, name: str) -> tuple[int, ...]:
        name = self.resolve(name)
        if name in self._mem:
            return self._mem[name].shape
        return tuple(self._file()[name].shape)

    def in_memory(self, name: str) -> bool:
        return self.resolve(name) in self._mem

    def load_into_memory(self, columns: list[str] | tuple[str, ...] | None = None) -> None:
        """Read `columns` (default: all per-step columns) into RAM as numpy arrays."""
        names = self.columns if columns is None else [self.resolve(c) for c in columns]
        f = self._file()
        for name in names:
            if name in self._mem:
                continue
            try:
                self._mem[name] = f[name][()]
            except OSError as e:
                raise DatasetError(
                    f"{self.path}: cannot read column '{name}' (truncated or corrupt?): {e}"
                ) from e

    def episode(self, index: int, columns: list[str] | None = None) -> dict[str, np.ndarray]:
        """All steps of one episode as a dict of arrays (each (L, ...))."""
        if not 0 <= index < self.num_episodes:
            raise IndexError(f"episode {index} out of range [0, {self.num_episodes})")
        s = int(self.ep_offset[index])
        e = s + int(self.ep_len[index])
        names = self.columns if columns is None else [self.resolve(c) for c in columns]
        return {n: np.asarray(self.column(n)[s:e]) for n in names}

    def close(self) -> None:
        if self._h5 is not None:
            try:
                self._h5.close()
            finally:
                self._h5 = None

    def __enter__(self) -> EpisodeStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # h5py handles cannot be pickled (DataLoader workers): reopen lazily in the child.
        state = self.__dict__.copy()
        state["_h5"] = None
        return state

    def __repr__(self) -> str:
        return (
            f"EpisodeStore({str(self.path)!r}, episodes={self.num_episodes}, "
            f"steps={self.num_steps}, env={self.meta.env_id!r})"
        )
