"""Pure measures on latent trajectories, below both the trainer (which logs them on validation
batches) and :mod:`lewm.evaluation` (which runs them on a trained run's episodes).

Temporal straightening (SPEC §7): the mean cosine similarity of consecutive latent velocities
v_t = z_{t+1} − z_t. 1 for straight lines, ≈0 for a random walk; the paper reports it rising
during training (≈0.5–0.6 on Push-T) without any explicit term.

Shapes: B trajectories, T time, D latent.
"""

from __future__ import annotations

import torch


def velocity_cosines(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Cosine similarity of consecutive velocities: z (B, T, D) with T >= 3 -> (B, T-2)."""
    if z.dim() != 3 or z.shape[1] < 3:
        raise ValueError(f"need z of shape (B, T>=3, D), got {tuple(z.shape)}")
    v = z[:, 1:] - z[:, :-1]  # (B, T-1, D)
    return torch.nn.functional.cosine_similarity(v[:, 1:], v[:, :-1], dim=-1, eps=eps)


def straightness(z: torch.Tensor) -> float:
    """Mean cosine similarity of consecutive latent velocities over all pairs: z (B, T, D)."""
    return float(velocity_cosines(z.float()).mean())


def trajectory_straightness(trajectories: list[torch.Tensor]) -> float:
    """Mean over all velocity pairs of variable-length trajectories, each (T_i, D), T_i >= 3."""
    cos = [velocity_cosines(z.float().unsqueeze(0)).flatten() for z in trajectories]
    if not cos:
        raise ValueError("no trajectory with at least 3 frames")
    return float(torch.cat(cos).mean())
