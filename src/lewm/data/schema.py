"""On-disk schema of an episode file: column names, metadata, splits, action statistics.

Layout (the stable-worldmodel HDF5 layout, `stable_worldmodel/data/formats/hdf5.py` in
galilai-group/stable-worldmodel): every root dataset except `ep_len` / `ep_offset` is a per-step
column concatenated over all episodes (first axis N = total steps):

    pixels    uint8   (N, H, W, 3)   frame t of each episode
    action    float32 (N, A)         action t *leaves* frame t; NaN at each episode's last step
    proprio   float32 (N, P)
    state     float32 (N, S)         full simulator state (names in `DatasetMeta.state_names`)
    ep_idx    int64   (N,)           episode index of the row (reference name; alias episode_idx)
    step_idx  int64   (N,)           step index of the row inside its episode
    ep_len    int32   (E,)           episode lengths (frames)
    ep_offset int64   (E,)           first row of each episode (running sum of ep_len)

The reference reader treats *every* other root dataset as a per-step column, so our extra
information lives in root attributes only: `lewm_meta` (a JSON string, :class:`DatasetMeta`)
and `lewm_split` (uint8 (E,) split code per episode: 0 train, 1 val, 2 test).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
META_ATTR = "lewm_meta"
SPLIT_ATTR = "lewm_split"

PIXELS = "pixels"
ACTION = "action"
PROPRIO = "proprio"
STATE = "state"
EP_IDX = "ep_idx"
STEP_IDX = "step_idx"
EP_LEN = "ep_len"
EP_OFFSET = "ep_offset"
INDEX_DATASETS = (EP_LEN, EP_OFFSET)
REQUIRED_COLUMNS = (PIXELS, ACTION)
# Alternative names accepted by `EpisodeStore.column` (the Lance reference format and our
# contract say `episode_idx`; the reference HDF5 files say `ep_idx`).
COLUMN_ALIASES = {"episode_idx": EP_IDX}

SPLITS = ("train", "val", "test")
SPLIT_CODES = {name: code for code, name in enumerate(SPLITS)}
DEFAULT_SPLIT_FRACTIONS = (0.90, 0.05, 0.05)
# Action std below this is treated as 1 (a constant action dimension carries no information
# and must not blow up the z-score).
MIN_ACTION_STD = 1e-6

# h5py file-format bounds: 'v108' enables dense attribute storage (the split attribute may exceed
# the 64 KiB compact-attribute limit); 'v110' keeps the files readable by HDF5 >= 1.10.
H5_LIBVER = ("v108", "v110")


class DatasetError(ValueError):
    """An episode file is unreadable or inconsistent; the message names the file and the problem."""


@dataclass(frozen=True)
class DatasetMeta:
    """Dataset-level metadata stored as JSON in the root attribute `lewm_meta`."""

    format_version: int = FORMAT_VERSION
    env_id: str = "unknown"
    env_version: int = -1
    image_size: int = 0
    frameskip: int = 5
    """Env steps per latent step the data is meant for (informational; clips choose their own)."""
    action_dim: int = 0
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()
    action_mean: tuple[float, ...] = ()
    """Per-dimension mean over the non-NaN actions of the training episodes."""
    action_std: tuple[float, ...] = ()
    state_names: tuple[str, ...] = ()
    policy: str = "unknown"
    seed: int | None = None
    workers: int | None = None
    min_length: int = 0
    max_steps: int | None = None
    split_seed: int = 0
    split_fractions: tuple[float, ...] = DEFAULT_SPLIT_FRACTIONS
    num_episodes: int = 0
    num_steps: int = 0
    source: str = "lewm"
    """'lewm' (written by `lewm collect`) or 'derived' (reference file; fields computed on read)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, path: str = "?") -> DatasetMeta:
        try:
            raw = json.loads(text)
        except (TypeError, ValueError) as e:
            raise DatasetError(f"{path}: attribute '{META_ATTR}' is not valid JSON ({e})") from e
        if not isinstance(raw, dict):
            raise DatasetError(f"{path}: attribute '{META_ATTR}' must be a JSON object")
        version = raw.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise DatasetError(f"{path}: '{META_ATTR}' has no valid format_version ({version!r})")
        if version > FORMAT_VERSION:
            raise DatasetError(
                f"{path}: format_version {version} is newer than this lewm ({FORMAT_VERSION}); "
                "upgrade lewm to read it"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            logger.warning("%s: ignoring unknown metadata fields %s", path, unknown)
        kwargs = {k: v for k, v in raw.items() if k in known}
        for k in (
            "action_low",
            "action_high",
            "action_mean",
            "action_std",
            "state_names",
            "split_fractions",
        ):
            if k in kwargs:
                kwargs[k] = tuple(kwargs[k])
        return cls(**kwargs)

    def replace(self, **changes: Any) -> DatasetMeta:
        return dataclasses.replace(self, **changes)


def make_split(
    num_episodes: int, seed: int, fractions: tuple[float, ...] = DEFAULT_SPLIT_FRACTIONS
) -> np.ndarray:
    """Episode-level split codes, uint8 (E,): 0 train, 1 val, 2 test.

    A seeded permutation of the episodes; val and test each get round(frac * E) episodes, at
    least one each when E >= 3 (evaluation needs held-out episodes), the rest is train.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1):
        raise ValueError(
            f"split fractions must be 3 non-negative numbers summing to 1: {fractions}"
        )
    codes = np.zeros(num_episodes, dtype=np.uint8)
    if num_episodes == 0:
        return codes
    n_val = int(round(fractions[1] * num_episodes))
    n_test = int(round(fractions[2] * num_episodes))
    if num_episodes >= 3:
        n_val = max(n_val, 1 if fractions[1] > 0 else 0)
        n_test = max(n_test, 1 if fractions[2] > 0 else 0)
    n_val = min(n_val, max(num_episodes - 1, 0))
    n_test = min(n_test, max(num_episodes - 1 - n_val, 0))
    perm = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5B117])).permutation(
        num_episodes
    )
    codes[perm[:n_val]] = SPLIT_CODES["val"]
    codes[perm[n_val : n_val + n_test]] = SPLIT_CODES["test"]
    return codes


def episode_rows(ep_len: np.ndarray, ep_offset: np.ndarray, episodes: np.ndarray) -> np.ndarray:
    """Global row indices of all steps of `episodes` (int64 (sum of lengths,))."""
    episodes = np.asarray(episodes, dtype=np.int64)
    lens = ep_len[episodes].astype(np.int64)
    if lens.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(ep_offset[episodes].astype(np.int64), lens)
    within = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
    return starts + within


def action_stats(
    action: np.ndarray, ep_len: np.ndarray, ep_offset: np.ndarray, episodes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std (float64 (A,)) over the non-NaN actions of `episodes`.

    Rows with any NaN entry (the episode-final actions) are excluded; a std below
    `MIN_ACTION_STD` becomes 1. With no usable rows: mean 0, std 1.
    """
    a = np.asarray(action)
    rows = episode_rows(ep_len, ep_offset, episodes)
    sel = a[rows].astype(np.float64).reshape(len(rows), -1)
    sel = sel[~np.isnan(sel).any(axis=1)]
    dim = a.shape[1] if a.ndim > 1 else 1
    if len(sel) == 0:
        return np.zeros(dim), np.ones(dim)
    mean = sel.mean(axis=0)
    std = sel.std(axis=0)
    std = np.where(std < MIN_ACTION_STD, 1.0, std)
    return mean, std


def check_index(ep_len: np.ndarray, ep_offset: np.ndarray, num_rows: int, path: str) -> None:
    """Raise `DatasetError` unless ep_len / ep_offset describe `num_rows` contiguous rows."""
    if ep_len.ndim != 1 or ep_offset.ndim != 1:
        raise DatasetError(
            f"{path}: ep_len and ep_offset must be 1-D, got shapes {ep_len.shape} and "
            f"{ep_offset.shape}"
        )
    if len(ep_len) != len(ep_offset):
        raise DatasetError(
            f"{path}: ep_len has {len(ep_len)} entries but ep_offset has {len(ep_offset)}"
        )
    if not (np.issubdtype(ep_len.dtype, np.integer) and np.issubdtype(ep_offset.dtype, np.integer)):
        raise DatasetError(
            f"{path}: ep_len/ep_offset must be integers, got {ep_len.dtype}/{ep_offset.dtype}"
        )
    if len(ep_len) == 0:
        raise DatasetError(f"{path}: the file holds no episodes (ep_len is empty)")
    if (ep_len < 1).any():
        bad = int(np.flatnonzero(ep_len < 1)[0])
        raise DatasetError(f"{path}: episode {bad} has length {int(ep_len[bad])} (must be >= 1)")
    expected = np.concatenate([[0], np.cumsum(ep_len.astype(np.int64))[:-1]])
    if not np.array_equal(ep_offset.astype(np.int64), expected):
        bad = int(np.flatnonzero(ep_offset.astype(np.int64) != expected)[0])
        raise DatasetError(
            f"{path}: ep_offset is not the running sum of ep_len: episode {bad} has offset "
            f"{int(ep_offset[bad])}, expected {int(expected[bad])}"
        )
    total = int(ep_len.astype(np.int64).sum())
    if total != num_rows:
        raise DatasetError(
            f"{path}: episodes cover {total} steps (sum of ep_len) but the columns hold "
            f"{num_rows} rows"
        )
