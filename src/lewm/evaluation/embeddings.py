"""Frozen-model helpers shared by the physical-understanding tools (SPEC §7): open a run with its
dataset, encode frames in batches without gradients, and pick frames of episodes.

Shapes: N frames, H/W image side, D latent, E episodes, S state entries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lewm.config import RunConfig
from lewm.data.store import EpisodeStore
from lewm.runtime import resolve_device

log = logging.getLogger(__name__)


@dataclass
class Run:
    """A trained run opened for analysis: its model (eval mode), config, meta, dataset, device."""

    run_dir: Path
    model: torch.nn.Module
    cfg: RunConfig
    meta: dict
    store: EpisodeStore
    device: torch.device

    @property
    def action_mean(self) -> np.ndarray:
        """(A,) action mean the model was trained with (the checkpoint's, else the dataset's)."""
        return np.asarray(self.meta.get("action_mean", self.store.action_mean), np.float32)

    @property
    def action_std(self) -> np.ndarray:
        """(A,) action std the model was trained with (the checkpoint's, else the dataset's)."""
        return np.asarray(self.meta.get("action_std", self.store.action_std), np.float32)


def open_run(run_dir: str | Path, data: str | None = None, device: str | None = None) -> Run:
    """Load a run's model strictly and open its dataset (``data`` overrides the run's path)."""
    from lewm.evaluation.protocol import load_model

    run_dir = Path(run_dir)
    dev = resolve_device(device or "auto")
    model, cfg, meta = load_model(run_dir, dev)
    store = EpisodeStore(data or cfg.data.path, in_memory=False)
    if store.meta.image_size != cfg.model.image_size:
        raise ValueError(
            f"{store.path}: frames are {store.meta.image_size} px but the model of {run_dir} "
            f"expects model.image_size={cfg.model.image_size}; pass --data with a matching file"
        )
    return Run(run_dir, model, cfg, meta, store, dev)


@torch.no_grad()
def encode_frames(
    model: torch.nn.Module,
    frames: np.ndarray,
    device: torch.device,
    batch_size: int = 256,
    progress: bool = False,
) -> torch.Tensor:
    """Embeddings of independent frames: uint8 (N, H, W, 3) -> float32 (N, D) on the CPU."""
    out = []
    for i in tqdm(
        range(0, len(frames), batch_size), desc="encode", disable=not progress, leave=False
    ):
        px = torch.as_tensor(np.ascontiguousarray(frames[i : i + batch_size])).to(device)
        out.append(model.encode(px.unsqueeze(1))[:, 0].float().cpu())
    if not out:
        raise ValueError("encode_frames: no frames to encode")
    return torch.cat(out)


def episode_rows(
    store: EpisodeStore, episodes: np.ndarray, stride: int = 1, min_frames: int = 1
) -> list[np.ndarray]:
    """Global row indices of every ``stride``-th frame of each episode (episodes with fewer than
    ``min_frames`` kept frames are left out): a list of int64 arrays, one per episode."""
    rows = []
    for ep in np.asarray(episodes, dtype=np.int64):
        r = store.ep_offset[ep] + np.arange(0, store.ep_len[ep], stride, dtype=np.int64)
        if len(r) >= min_frames:
            rows.append(r)
    return rows


def read_rows(store: EpisodeStore, name: str, rows: np.ndarray) -> np.ndarray:
    """Column ``name`` at ascending global ``rows`` (N,) -> (N, ...), read in contiguous runs."""
    col = store.column(name)
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(col, np.ndarray):
        return col[rows]
    if len(rows) == 0:
        return np.asarray(col[0:0])
    # Contiguous reads of runs of nearby rows, then a gather (h5py fancy reads are slow).
    breaks = np.flatnonzero(np.diff(rows) > 64) + 1
    parts = []
    for seg in np.split(rows, breaks):
        lo, hi = int(seg[0]), int(seg[-1]) + 1
        parts.append(np.asarray(col[lo:hi])[seg - lo])
    return np.concatenate(parts)


def subsample_episodes(episodes: np.ndarray, max_episodes: int | None, seed: int) -> np.ndarray:
    """At most ``max_episodes`` of ``episodes`` (a seeded random subset, ascending)."""
    episodes = np.asarray(episodes, dtype=np.int64)
    if max_episodes is None or len(episodes) <= max_episodes:
        return episodes
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(episodes, size=max_episodes, replace=False))
