"""Episode videos for `lewm eval --video DIR`: the observed frames beside the goal image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lewm.planning.mpc import EpisodeResult


def side_by_side(frame: np.ndarray, goal: np.ndarray, success: bool, gap: int = 2) -> np.ndarray:
    """uint8 (H,W,3) observation and goal -> uint8 (H+4, 2W+gap, 3) with a green (reached) or grey
    (not yet) bar under the observation."""
    h, w, _ = frame.shape
    out = np.full((h + 4, 2 * w + gap, 3), 255, np.uint8)
    out[:h, :w] = frame
    out[:h, w + gap :] = goal
    out[h:, :w] = (40, 180, 60) if success else (160, 160, 160)
    return out


def write_episode_videos(
    out_dir: str | Path, results: list[EpisodeResult], goal_frames: np.ndarray, fps: int = 10
) -> list[Path]:
    """One GIF per episode (``episode_XXX_success.gif`` / ``_fail.gif``); frames must have been
    recorded (``run_mpc(record_frames=True)``). goal_frames: uint8 (B,H,W,3). Returns the paths."""
    import imageio.v2 as imageio

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (res, goal) in enumerate(zip(results, goal_frames)):
        if not res.frames:
            raise ValueError("episode frames were not recorded; run_mpc(record_frames=True)")
        hit = res.success_step if res.success else None
        frames = [
            side_by_side(f, goal, hit is not None and t >= hit) for t, f in enumerate(res.frames)
        ]
        path = out_dir / f"episode_{i:03d}_{'success' if res.success else 'fail'}.gif"
        imageio.mimsave(path, frames, duration=1.0 / fps, loop=0)
        paths.append(path)
    return paths
