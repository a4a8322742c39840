"""Training clips cut from an episode file (SPEC §1 frameskip, §2 clips of 4 frames).

A clip starting at raw step t of an episode holds `num_frames` (T) frames t, t+f, ..., t+(T-1)f
(f = frameskip) and T action blocks; block k concatenates the f raw actions leaving frame k,
i.e. raw actions t+kf ... t+kf+f-1, each z-scored per dimension with the dataset statistics
(`EpisodeStore.action_mean/std`), NaN replaced by 0, flattened to K = f*A values.

Valid starts: t + T*f <= L (L = episode length in frames), so every action block lies inside
the episode; the episode's final action (NaN by convention) becomes 0. Starts are taken every
`stride` raw steps. Clips never cross episode boundaries.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lewm.data import schema
from lewm.data.schema import DatasetError
from lewm.data.store import EpisodeStore


def clip_starts(
    ep_len: np.ndarray, ep_offset: np.ndarray, episodes: np.ndarray, span: int, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised valid clip starts: (episode index (C,), start step within episode (C,)).

    `span` = num_frames * frameskip raw steps; start t is valid when t + span <= ep_len.
    """
    episodes = np.asarray(episodes, dtype=np.int64)
    n_starts = np.maximum(ep_len[episodes].astype(np.int64) - span, -1) // stride + 1
    n_starts = np.maximum(n_starts, 0)
    ep = np.repeat(episodes, n_starts)
    first = np.repeat(np.cumsum(n_starts) - n_starts, n_starts)
    t = (np.arange(int(n_starts.sum()), dtype=np.int64) - first) * stride
    return ep, t


class ClipDataset(Dataset):
    """Clips of `num_frames` frames `frameskip` steps apart, with z-scored action blocks.

    Args:
        store_or_path: an `EpisodeStore` or a path to an episode file.
        split: 'train', 'val', 'test' or 'all' (episode-level split stored in the file).
        num_frames: T frames per clip.
        frameskip: f raw env steps between kept frames (= raw actions per block).
        stride: raw-step stride between clip starts (1: every raw index).
        with_state: also return the full state `state` (T, S) of each kept frame.
        in_memory: load the needed columns (pixels, optionally state) into RAM (fast). With
            False, frames are read from the HDF5 file on access. Default (None): True for a
            path; for a store, whatever the store already holds (so `EpisodeStore(path,
            in_memory=False)` stays lazy). Actions are always held in RAM, z-scored once.

    Item (`__getitem__`): dict `pixels` uint8 (T,H,W,3), `actions` float32 (T,K), optionally
    `state` float32 (T,S). `get_batch(indices)` returns the same keys stacked to (B, ...).
    """

    def __init__(
        self,
        store_or_path: EpisodeStore | str | os.PathLike,
        split: str = "train",
        num_frames: int = 4,
        frameskip: int = 5,
        stride: int = 1,
        with_state: bool = False,
        in_memory: bool | None = None,
    ) -> None:
        if num_frames < 1 or frameskip < 1 or stride < 1:
            raise ValueError(
                f"need num_frames, frameskip, stride >= 1; got {num_frames}, {frameskip}, {stride}"
            )
        store = (
            store_or_path
            if isinstance(store_or_path, EpisodeStore)
            else EpisodeStore(store_or_path)
        )
        self.store = store
        self.split = split
        self.num_frames = num_frames
        self.frameskip = frameskip
        self.stride = stride
        self.with_state = with_state
        self.span = num_frames * frameskip
        if with_state and not store.has_column(schema.STATE):
            raise DatasetError(
                f"{store.path}: with_state=True but the file has no 'state' "
                f"column (columns: {store.columns})"
            )
        self.episode_ids = store.episodes(split)
        self.clip_episode, self.clip_t = clip_starts(
            store.ep_len, store.ep_offset, self.episode_ids, self.span, stride
        )
        self.clip_row = store.ep_offset[self.clip_episode] + self.clip_t  # global first row
        self.action_dim = store.action_dim
        self.block_dim = frameskip * self.action_dim
        self._frame_off = np.arange(num_frames, dtype=np.int64) * frameskip
        self._action_off = np.arange(self.span, dtype=np.int64)
        self._mean = store.action_mean
        self._std = store.action_std
        if in_memory is None:
            in_memory = not isinstance(store_or_path, EpisodeStore) or store.in_memory(
                schema.PIXELS
            )
        if in_memory:
            store.load_into_memory([schema.PIXELS] + ([schema.STATE] if with_state else []))
        # (N, A) floats: small enough to always hold, normalised once.
        self._norm_actions = self._normalise(np.asarray(store.column(schema.ACTION)[()]))

    def _normalise(self, raw: np.ndarray) -> np.ndarray:
        a = (raw.astype(np.float32) - self._mean) / self._std
        # Only the episode-final NaN is left (EpisodeStore refuses any other non-finite action):
        # it becomes 0, the reference's convention (SPEC §1).
        return np.where(np.isnan(a), np.float32(0.0), a).astype(np.float32, copy=False)

    def __len__(self) -> int:
        return len(self.clip_row)

    def clip_info(self, index: int) -> tuple[int, int]:
        """(episode index, start step within the episode) of clip `index`."""
        return int(self.clip_episode[index]), int(self.clip_t[index])

    def rows(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global frame rows (B,T) and action rows (B,T*f) of clips `indices`."""
        start = self.clip_row[np.asarray(indices, dtype=np.int64)]
        return start[:, None] + self._frame_off, start[:, None] + self._action_off

    def _check_index(self, index: int) -> int:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"clip index {index} out of range for {n} clips")
        return index % n

    def _rows(self, name: str, frames: slice) -> np.ndarray:
        col = self.store.column(name)
        if isinstance(col, np.ndarray):
            return col[frames]
        # h5py strided reads are ~70x slower than reading the contiguous block and subsampling.
        return col[frames.start : frames.stop][:: frames.step]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = self._check_index(int(index))
        start = int(self.clip_row[index])
        frames = slice(start, start + self.span, self.frameskip)
        px = self._rows(schema.PIXELS, frames)
        act = self._norm_actions[start : start + self.span]
        item = {
            "pixels": torch.from_numpy(np.ascontiguousarray(px)),
            "actions": torch.from_numpy(act.reshape(self.num_frames, self.block_dim).copy()),
        }
        if self.with_state:
            st = np.asarray(self._rows(schema.STATE, frames), dtype=np.float32)
            item["state"] = torch.from_numpy(st.reshape(self.num_frames, -1))
        return item

    def get_batch(self, indices: Any) -> dict[str, torch.Tensor]:
        """Stacked clips for `indices` (B,): pixels (B,T,H,W,3) uint8, actions (B,T,K) float32,
        optionally state (B,T,S). One fancy-indexing gather per column when in memory."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(idx) and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"clip indices out of range for {len(self)} clips")
        idx = idx % max(len(self), 1)
        in_mem = self.store.in_memory(schema.PIXELS) and (
            not self.with_state or self.store.in_memory(schema.STATE)
        )
        if not in_mem:
            items = [self[int(i)] for i in idx]
            return {k: torch.stack([it[k] for it in items]) for k in items[0]} if items else {}
        f_rows, a_rows = self.rows(idx)
        b = len(idx)
        out = {
            "pixels": torch.from_numpy(self.store.column(schema.PIXELS)[f_rows]),
            "actions": torch.from_numpy(
                self._norm_actions[a_rows].reshape(b, self.num_frames, self.block_dim)
            ),
        }
        if self.with_state:
            st = np.asarray(self.store.column(schema.STATE)[f_rows], dtype=np.float32)
            out["state"] = torch.from_numpy(st.reshape(b, self.num_frames, -1))
        return out

    def __repr__(self) -> str:
        return (
            f"ClipDataset({self.store.path.name!r}, split={self.split!r}, clips={len(self)}, "
            f"T={self.num_frames}, frameskip={self.frameskip}, stride={self.stride})"
        )
