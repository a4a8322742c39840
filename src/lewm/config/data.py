"""The `data.*` and `collect.*` sections: the episode file, its clips, and how the pipeline
collects it (SPEC §1 frameskip, §3 clip stride, §4 reference data)."""

from __future__ import annotations

from dataclasses import dataclass

from lewm.config.errors import check


@dataclass(frozen=True)
class DataConfig:
    path: str = "datasets/tworoom.h5"
    """HDF5 episode file written by `lewm collect` (or the reference tools)."""
    num_frames: int = 4
    """Frames per training clip, spaced `frameskip` env steps apart (paper: 4)."""
    frameskip: int = 5
    """Env steps per latent step; the actions between two kept frames form one block (SPEC §1)."""
    clip_stride: int = 1
    """Raw-index stride between clip starts (paper: 1, every raw index)."""
    in_memory: bool = True
    """Hold the pixel array in RAM (fast); set false for files larger than memory."""
    num_workers: int = 0
    """DataLoader worker processes (0: load in the main process)."""

    def __post_init__(self) -> None:
        check(self.num_frames >= 2, "data.num_frames", "needs at least 2 frames")
        check(self.frameskip >= 1, "data.frameskip", "must be >= 1")
        check(self.clip_stride >= 1, "data.clip_stride", "must be >= 1")
        check(self.num_workers >= 0, "data.num_workers", "must be >= 0")


@dataclass(frozen=True)
class CollectConfig:
    episodes: int = 2000
    """Episodes the pipeline collects when its dataset does not exist yet."""
    policy: str = "expert"
    """Data policy (Two-Room: 'expert' noisy heuristic, or 'random')."""
    seed: int = 0
    """Collection seed (episode i is seeded from (seed, i))."""
    workers: int = 2
    """Collection worker processes."""

    def __post_init__(self) -> None:
        check(self.episodes >= 1, "collect.episodes", "must be >= 1")
        check(self.workers >= 1, "collect.workers", "must be >= 1")
