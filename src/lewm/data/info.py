"""Human-readable summary of an episode file (`lewm info PATH`)."""

from __future__ import annotations

import os

import numpy as np

from lewm.data.store import EpisodeStore


def _fmt(values: tuple[float, ...] | np.ndarray) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in values) + "]"


def summarize(path: str | os.PathLike) -> str:
    """Multi-line summary: episodes, steps, episode lengths, image size, splits, action
    statistics, env, policy, format version. Raises `DatasetError` for a bad file."""
    with EpisodeStore(path) as s:
        m = s.meta
        lens = s.ep_len
        splits = {name: len(s.episodes(name)) for name in ("train", "val", "test")}
        px = s.column_shape("pixels")
        size_mb = os.path.getsize(s.path) / 2**20
        lines = [
            f"file            {s.path} ({size_mb:.1f} MiB)",
            f"format          lewm v{m.format_version}"
            if m.source == "lewm"
            else "format          reference layout (no lewm metadata; stats/split derived)",
            f"env             {m.env_id} (version {m.env_version})",
            f"policy          {m.policy} (seed {m.seed}, workers {m.workers})",
            f"episodes        {s.num_episodes}",
            f"steps           {s.num_steps}",
            f"episode length  mean {lens.mean():.1f}, min {lens.min()}, max {lens.max()}",
            f"image           {px[1]}x{px[2]}x{px[3]} uint8",
            f"split           train {splits['train']}, val {splits['val']}, test {splits['test']}"
            f" (episodes; seed {m.split_seed})",
            f"action dim      {s.action_dim} (bounds {_fmt(m.action_low)} .. "
            f"{_fmt(m.action_high)})",
            f"action mean     {_fmt(m.action_mean)} (train episodes, non-NaN)",
            f"action std      {_fmt(m.action_std)}",
            f"frameskip       {m.frameskip} (intended)",
            f"columns         {', '.join(f'{c} {s.column_shape(c)[1:]}' for c in s.columns)}",
        ]
        if m.state_names:
            lines.append(f"state names     {', '.join(m.state_names)}")
    return "\n".join(lines)
