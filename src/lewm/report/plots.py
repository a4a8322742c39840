"""Figures of the physical-understanding tools (SPEC §7), each written to a file.

matplotlib is imported and switched to the non-interactive Agg backend inside each function, never
at import (DESIGN.md "No side effects at import").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_surprise(curves: dict[str, np.ndarray], step: int, path: str | Path) -> Path:
    """Mean ± std surprise per latent frame for each condition; curves {name: (B, T)}."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, s in curves.items():
        t = np.arange(1, s.shape[1])
        m, sd = s[:, 1:].mean(0), s[:, 1:].std(0)
        ax.plot(t, m, label=name)
        ax.fill_between(t, m - sd, m + sd, alpha=0.2)
    ax.axvline(step, color="k", linestyle="--", linewidth=1, label=f"perturbation (frame {step})")
    ax.set_xlabel("latent frame j (target of the prediction)")
    ax.set_ylabel("surprise ||pred - z_j||²")
    ax.set_title(f"Violation of expectation ({next(iter(curves.values())).shape[0]} trajectories)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_embedding_2d(
    points: np.ndarray, colours: dict[str, np.ndarray], path: str | Path, title: str = "t-SNE"
) -> Path:
    """Scatter of 2-D points (N, 2), one panel per colouring {label: (N,)}."""
    plt = _pyplot()
    n = len(colours)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.2), squeeze=False)
    for ax, (label, c) in zip(axes[0], colours.items()):
        sc = ax.scatter(points[:, 0], points[:, 1], c=c, s=6, cmap="viridis")
        fig.colorbar(sc, ax=ax, label=label)
        ax.set_title(f"{title}, coloured by {label}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def upscale(frames: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of uint8 frames (..., H, W, 3) by an integer factor."""
    return frames.repeat(factor, axis=-3).repeat(factor, axis=-2)


def image_grid(rows: dict[str, np.ndarray], path: str | Path, scale: int = 2) -> Path:
    """PNG grid: one labelled row per entry of ``rows`` {label: uint8 (T, H, W, 3)}."""
    plt = _pyplot()
    labels = list(rows)
    t = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(
        len(labels),
        t,
        figsize=(1.1 * t * scale / 2 + 1, 1.2 * len(labels) * scale / 2),
        squeeze=False,
    )
    for i, label in enumerate(labels):
        for j in range(t):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(rows[label]):
                ax.imshow(rows[label][j], interpolation="nearest")
            else:
                ax.axis("off")
            if j == 0:
                ax.set_ylabel(label, fontsize=8)
            if i == 0:
                ax.set_title(f"t={j}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def side_by_side_gif(
    rows: dict[str, np.ndarray], path: str | Path, scale: int = 4, fps: int = 4
) -> Path:
    """GIF whose frame t shows rows[label][t] for every label side by side (white separators)."""
    import imageio.v2 as imageio

    t = min(len(v) for v in rows.values())
    frames = []
    for j in range(t):
        tiles = [upscale(v[j], scale) for v in rows.values()]
        sep = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
        parts = [x for tile in tiles for x in (tile, sep)][:-1]
        frames.append(np.concatenate(parts, axis=1))
    imageio.mimsave(path, frames, duration=1.0 / fps, loop=0)
    return Path(path)
