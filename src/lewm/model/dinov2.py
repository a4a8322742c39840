"""Our own DINOv2 ViT-S/14 (the frozen encoder of the DINO-WM baseline, SPEC §8).

The parameter names and shapes are those of the public ``dinov2_vits14`` checkpoint (torch hub
state dict), so a user who has that file can load it as is:

    cls_token (1,1,384)  pos_embed (1,1+37*37,384)  mask_token (1,384)  [register_tokens (1,R,384)]
    patch_embed.proj.{weight (384,3,14,14), bias}
    blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2, ls2.gamma}.*
    norm.{weight, bias}

Block: ``x + ls1 * attn(norm1(x))`` then ``x + ls2 * mlp(norm2(x))`` (LayerScale, GELU MLP 4x,
LayerNorm eps 1e-6). The checkpoint's positional embedding covers a 37x37 grid (518 px); it is
interpolated (bicubic) to the grid of the actual image, as DINOv2 does. ``mask_token`` is only
used by DINOv2's masked pre-training; it is kept so that the key set matches.

Weights: :func:`load_dinov2_weights` reads a local file (``torch.load(weights_only=True)`` — no
arbitrary unpickling — or safetensors). Without a file, :func:`random_dinov2` gives a fixed, seeded
random initialisation (the same on every machine) and logs a warning saying so: a random frozen
encoder is *not* DINOv2 and planning results with it say nothing about pretrained features.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

VITS14 = dict(width=384, depth=12, heads=6, mlp_ratio=4.0, patch_size=14, pretrain_grid=37)
"""ViT-S/14 as released by DINOv2 (img_size 518 -> a 37x37 positional grid)."""
RANDOM_INIT_SEED = 14
"""Seed of the fixed random initialisation used when no weights file is given."""


class Attention(nn.Module):
    """Multi-head self-attention with fused qkv (with bias) and output projection ``proj``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, W) -> (B, L, W)."""
        b, n, w = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, w))


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2 (DINOv2's names)."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):
    """Per-channel residual scale ``gamma`` (DINOv2 init 1e-5)."""

    def __init__(self, width: int, init: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((width,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm block with LayerScale on both residual branches."""

    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = Attention(width, heads)
        self.ls1 = LayerScale(width)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = Mlp(width, int(width * mlp_ratio))
        self.ls2 = LayerScale(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Non-overlapping patches by a strided conv ``proj``: (B,3,H,W) -> (B, H/p * W/p, W)."""

    def __init__(self, patch_size: int, width: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoV2(nn.Module):
    """DINOv2 ViT returning the final-normed patch tokens (DINOv2's ``x_norm_patchtokens``).

    Args:
        width, depth, heads, mlp_ratio, patch_size: the architecture (defaults: ViT-S/14).
        pretrain_grid: side of the stored positional grid (37 for the released 518-px models).
        num_registers: register tokens (0 for ``dinov2_vits14``, 4 for ``dinov2_vits14_reg``).
    """

    def __init__(
        self,
        width: int = 384,
        depth: int = 12,
        heads: int = 6,
        mlp_ratio: float = 4.0,
        patch_size: int = 14,
        pretrain_grid: int = 37,
        num_registers: int = 0,
    ) -> None:
        super().__init__()
        self.patch_size, self.width, self.num_registers = patch_size, width, num_registers
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + pretrain_grid**2, width))
        self.mask_token = nn.Parameter(torch.zeros(1, width))
        if num_registers:
            self.register_tokens = nn.Parameter(torch.zeros(1, num_registers, width))
        self.patch_embed = PatchEmbed(patch_size, width)
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self._pos_cache: dict[tuple, torch.Tensor] = {}

    def interpolate_pos_embed(self, grid_h: int, grid_w: int) -> torch.Tensor:
        """Positional embedding for a (grid_h, grid_w) patch grid: (1, 1 + grid_h*grid_w, W).

        The stored square grid is resized bicubically (DINOv2's ``interpolate_pos_encoding``).
        Cached while the encoder is frozen (no grad), since it then never changes.
        """
        n = self.pos_embed.shape[1] - 1
        side = int(math.isqrt(n))
        if side * side != n:
            raise ValueError(f"pos_embed has {n} patch positions, not a square grid")
        key = (grid_h, grid_w, self.pos_embed.dtype, self.pos_embed.device)
        frozen = not self.pos_embed.requires_grad
        if frozen and key in self._pos_cache:
            return self._pos_cache[key]
        cls, patches = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        if (grid_h, grid_w) != (side, side):
            grid = patches.reshape(1, side, side, -1).permute(0, 3, 1, 2).float()
            grid = F.interpolate(grid, size=(grid_h, grid_w), mode="bicubic", align_corners=False)
            patches = grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1).to(cls.dtype)
        out = torch.cat([cls, patches], dim=1)
        if frozen:
            self._pos_cache = {key: out.detach()}
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x float (B, 3, H, W) normalised, H and W multiples of the patch -> (B, P, W) tokens."""
        h, w = x.shape[-2:]
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(f"DinoV2 input {h}x{w} must be a multiple of the patch size {p}")
        tokens = self.patch_embed(x)  # (B, P, W)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], dim=1) + self.interpolate_pos_embed(h // p, w // p)
        if self.num_registers:  # registers go after CLS, without positional embedding (DINOv2)
            regs = self.register_tokens.expand(x.shape[0], -1, -1)
            tokens = torch.cat([tokens[:, :1], regs, tokens[:, 1:]], dim=1)
        for blk in self.blocks:
            tokens = blk(tokens)
        return self.norm(tokens)[:, 1 + self.num_registers :]


def random_dinov2(seed: int = RANDOM_INIT_SEED, num_registers: int = 0) -> DinoV2:
    """ViT-S/14 with a fixed seeded initialisation (truncated normal 0.02, LayerScale 1e-5).

    Independent of the global RNG: the same weights on every machine and in every run.
    """
    model = DinoV2(**VITS14, num_registers=num_registers)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, prm in model.named_parameters():
            if name.endswith(".gamma"):
                prm.fill_(1e-5)
            elif name.endswith("weight") and "norm" in name.rsplit(".", 2)[-2]:
                prm.fill_(1.0)
            elif name.endswith("bias") or name == "mask_token":
                prm.zero_()
            else:  # weights, cls/pos/register tokens
                prm.copy_((torch.randn(prm.shape, generator=gen) * 0.02).clamp_(-0.04, 0.04))
    return model


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a local ``.safetensors`` file or a torch file (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.dino_weights: no such file {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # some training checkpoints nest the weights
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(state)}")
    return state


def load_dinov2_weights(path: str | Path) -> DinoV2:
    """ViT-S/14 with the weights of a local ``dinov2_vits14`` (or ``_reg``) state dict; strict."""
    from lewm.checkpoint import load_state_strict

    state = read_state_dict(path)
    regs = state["register_tokens"].shape[1] if "register_tokens" in state else 0
    model = DinoV2(**VITS14, num_registers=regs)
    load_state_strict(model, state, str(path))
    return model


def build_dinov2(weights: str | Path | None) -> DinoV2:
    """The frozen encoder: loaded from ``weights`` or, if empty, the fixed random init (warned)."""
    if weights:
        return load_dinov2_weights(weights)
    log.warning(
        "DINO-WM encoder: no model.dino_weights file given, using a FIXED RANDOM ViT-S/14 "
        "(seed %d), not pretrained DINOv2 features",
        RANDOM_INIT_SEED,
    )
    return random_dinov2()
