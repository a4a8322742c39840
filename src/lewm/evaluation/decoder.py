"""A small cross-attention decoder from frozen embeddings to pixels (SPEC §7 "Decoder").

For visualisation only: it never touches LeWM's training. The latent z (D,) is projected to a few
key/value tokens; learnable patch queries (plus a positional embedding) read them through a couple
of cross-attention + MLP blocks; a linear map turns each query into a pixel patch. Trained with MSE
to the frame in [0, 1]. Saved as ``decoder.safetensors`` with its config in the file's metadata.

Shapes: B batch, D latent, P = (image_size / patch_size)² patches, H/W image side.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecoderConfig:
    embed_dim: int
    """Latent dimension D of the frozen model."""
    image_size: int
    """Side of the square output frame in pixels."""
    patch_size: int = 8
    """Side of each predicted pixel patch; must divide image_size."""
    width: int = 128
    """Token width inside the decoder."""
    depth: int = 2
    """Cross-attention + MLP blocks."""
    heads: int = 4
    """Attention heads (must divide width)."""
    kv_tokens: int = 4
    """Key/value tokens the latent is projected to."""

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(
                f"decoder patch_size={self.patch_size} must divide image_size={self.image_size}"
            )
        if self.width % self.heads:
            raise ValueError(f"decoder heads={self.heads} must divide width={self.width}")


class CrossBlock(nn.Module):
    """Pre-norm cross-attention (queries attend to the latent tokens) followed by an MLP."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_mlp = (nn.LayerNorm(width) for _ in range(3))
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        """q (B, P, W), kv (B, M, W) -> (B, P, W)."""
        k = self.norm_kv(kv)
        q = q + self.attn(self.norm_q(q), k, k, need_weights=False)[0]
        return q + self.mlp(self.norm_mlp(q))


class LatentDecoder(nn.Module):
    """Frozen embedding -> frame; see the module docstring."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.grid = cfg.image_size // cfg.patch_size
        n_patches, w = self.grid**2, cfg.width
        self.to_kv = nn.Linear(cfg.embed_dim, cfg.kv_tokens * w)
        self.kv_pos = nn.Parameter(torch.randn(1, cfg.kv_tokens, w) * 0.02)
        self.queries = nn.Parameter(torch.randn(1, n_patches, w) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, n_patches, w) * 0.02)
        self.blocks = nn.ModuleList(CrossBlock(w, cfg.heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(w)
        self.to_patch = nn.Linear(w, cfg.patch_size**2 * 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D) -> frames float (B, H, W, 3), roughly in [0, 1] (not clamped)."""
        b = z.shape[0]
        kv = self.to_kv(z).view(b, self.cfg.kv_tokens, -1) + self.kv_pos
        q = (self.queries + self.pos).expand(b, -1, -1)
        for blk in self.blocks:
            q = blk(q, kv)
        p, g = self.cfg.patch_size, self.grid
        x = self.to_patch(self.norm(q)).view(b, g, g, p, p, 3)
        return x.permute(0, 1, 3, 2, 4, 5).reshape(b, g * p, g * p, 3)

    @torch.no_grad()
    def render(self, z: torch.Tensor) -> np.ndarray:
        """z (B, D) -> uint8 frames (B, H, W, 3) on the host."""
        return (self(z).clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def default_patch_size(image_size: int) -> int:
    """About 8x8 patches across the frame: 8 px at 64, 2 px at 16 (a divisor of image_size)."""
    target = max(1, image_size // 8)
    return max(d for d in range(1, target + 1) if image_size % d == 0)


def to_unit(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float32 in [0, 1]."""
    return torch.as_tensor(np.asarray(frames)).float() / 255.0


def train_decoder(
    z: torch.Tensor,
    frames: np.ndarray,
    cfg: DecoderConfig,
    steps: int = 1000,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> tuple[LatentDecoder, list[float]]:
    """Fit a decoder on (embedding, frame) pairs: z (N, D), frames uint8 (N, H, W, 3).

    Adam with a cosine learning-rate decay; initialisation and batches come from ``seed`` only.
    Returns the decoder (eval mode) and the training loss of every step.
    """
    device = torch.device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        dec = LatentDecoder(cfg)
    dec = dec.to(device).train()
    z = z.float().to(device)
    target = to_unit(frames).to(device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(dec.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    losses = []
    bar = tqdm(range(steps), desc="decoder", disable=not progress, leave=False)
    for _ in bar:
        idx = torch.randint(len(z), (min(batch_size, len(z)),), generator=gen).to(device)
        loss = nn.functional.mse_loss(dec(z[idx]), target[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(mse=f"{losses[-1]:.4f}")
    return dec.eval(), losses


def save_decoder(dec: LatentDecoder, path: str | Path, extra: dict | None = None) -> Path:
    """Write weights to ``path`` (safetensors); config and ``extra`` go into its metadata."""
    from safetensors.torch import save_file

    meta = {"decoder_config": json.dumps(dataclasses.asdict(dec.cfg))}
    meta.update({k: json.dumps(v) for k, v in (extra or {}).items()})
    state = {k: v.detach().cpu().contiguous() for k, v in dec.state_dict().items()}
    save_file(state, str(path), metadata=meta)
    return Path(path)


def load_decoder(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[LatentDecoder, dict]:
    """Read a decoder written by :func:`save_decoder` (strictly); returns (decoder, extra)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if "decoder_config" not in meta:
        raise ValueError(f"{path}: not a decoder file (no 'decoder_config' in its metadata)")
    cfg = DecoderConfig(**json.loads(meta.pop("decoder_config")))
    dec = LatentDecoder(cfg)
    dec.load_state_dict(load_file(str(path)), strict=True)
    return dec.to(device).eval(), {k: json.loads(v) for k, v in meta.items()}
