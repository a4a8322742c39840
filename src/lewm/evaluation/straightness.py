"""Temporal straightening (SPEC §7): mean cosine similarity of consecutive latent velocities
v_t = z_{t+1} − z_t along trajectories. 1 for straight lines, ≈0 for a random walk; the paper
reports it rising during training (≈0.5–0.6 on Push-T) without any explicit term.

The measure itself is a pure function on latents in :mod:`lewm.metrics` (the trainer logs it on
validation batches too); this module runs it on a trained run's held-out episodes.

Shapes: B trajectories, T time, D latent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from lewm.evaluation.embeddings import (
    encode_frames,
    episode_rows,
    open_run,
    read_rows,
    subsample_episodes,
)
from lewm.metrics import straightness, trajectory_straightness


def run_straightness(
    run_dir: str | Path,
    data: str | None = None,
    split: str = "test",
    max_episodes: int | None = 200,
    seed: int = 0,
    device: str | None = None,
    progress: bool = False,
) -> dict:
    """`lewm straightness`: straightness over held-out episodes, frames every ``frameskip`` env
    steps (one latent step); writes ``RUN_DIR/straightness.json`` and returns it."""
    run = open_run(run_dir, data, device)
    fs = run.cfg.data.frameskip
    eps = subsample_episodes(run.store.episodes(split), max_episodes, seed)
    per_ep = episode_rows(run.store, eps, stride=fs, min_frames=3)
    if not per_ep:
        raise ValueError(
            f"{run.store.path}: no {split} episode has 3 frames {fs} steps apart to measure"
        )
    z = encode_frames(
        run.model,
        read_rows(run.store, "pixels", np.concatenate(per_ep)),
        run.device,
        progress=progress,
    )
    trajs = torch.split(z, [len(r) for r in per_ep])
    res = {
        "straightness": trajectory_straightness(list(trajs)),
        # Reference: the same measure on the physical state (its constant entries add nothing).
        "state_straightness": _state_straightness(run.store, per_ep),
        "per_episode": [straightness(t.unsqueeze(0)) for t in trajs],
        "episodes": len(per_ep),
        "split": split,
        "frameskip": fs,
        "run_dir": str(run.run_dir),
        "dataset": str(run.store.path),
        "step": run.meta.get("step"),
    }
    (run.run_dir / "straightness.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def _state_straightness(store, per_ep: list[np.ndarray]) -> float | None:
    """Straightness of the ``state`` column along the same frames (None without states)."""
    if not store.has_column("state"):
        return None
    st = torch.as_tensor(read_rows(store, "state", np.concatenate(per_ep)), dtype=torch.float64)
    return trajectory_straightness(list(torch.split(st, [len(r) for r in per_ep])))
