"""Our own Vision Transformer encoder (SPEC §1: ViT-Tiny, patch 14 at 224 px, trained from scratch).

Layout follows the standard pre-norm ViT (and, parameter for parameter, the HuggingFace ViT the
reference instantiates without its pooler): conv patch embedding, a CLS token, a learned positional
embedding over CLS + patches, ``depth`` blocks ``x + MHA(LN(x))`` then ``x + MLP(LN(x))`` (GELU,
hidden = ``mlp_ratio * width``), a final LayerNorm. The frame feature is the final CLS token.

At width 192 / depth 12 / heads 3 / patch 14 / 224 px this has 5,501,376 parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    """Bidirectional multi-head self-attention with a fused qkv projection (with bias)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads != 0:
            raise ValueError(f"width {width} must be divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, W) -> (B, L, W)."""
        b, n, w = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, L, W/heads)
        return self.proj(out.transpose(1, 2).reshape(b, n, w))


class ViTBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, ln_eps: float = 1e-6) -> None:
        super().__init__()
        hidden = int(round(width * mlp_ratio))
        self.norm1 = nn.LayerNorm(width, eps=ln_eps)
        self.attn = SelfAttention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=ln_eps)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, W) -> (B, L, W)."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """ViT returning the last-layer CLS token.

    Args:
        image_size: square input side in pixels (must be divisible by ``patch_size``).
        patch_size: patch side in pixels.
        width: token width W. depth: number of blocks. heads: attention heads.
        mlp_ratio: MLP hidden = ``mlp_ratio * width``.
        in_channels: input channels (3 for RGB).
        ln_eps: LayerNorm epsilon (Hugging Face's ViT uses 1e-12; imported checkpoints keep it).
    """

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        width: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
        in_channels: int = 3,
        ln_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"image_size {image_size} not divisible by patch_size {patch_size}")
        self.image_size = image_size
        self.width = width
        num_patches = (image_size // patch_size) ** 2
        self.patch_embed = nn.Conv2d(in_channels, width, kernel_size=patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, width))
        self.blocks = nn.ModuleList(ViTBlock(width, heads, mlp_ratio, ln_eps) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=ln_eps)
        self._init_weights()

    def _init_weights(self) -> None:
        # ViT/HF-ViT convention: truncated normal(0.02) weights, zero biases, unit LayerNorms.
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Conv2d):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x float (B, C, image_size, image_size), already normalised -> CLS token (B, width)."""
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"ViT expects {self.image_size}x{self.image_size} images, got {tuple(x.shape[-2:])}"
            )
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B, P, W)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)[:, 0]
