"""Causal transformer predictor with AdaLN-zero action conditioning (SPEC §1).

Input: up to N = ``history`` frame embeddings (B, T, D) and the action embeddings of the blocks that
leave those frames (B, T, D). Output t is the (pre-``pred_proj``) prediction of frame t+1.

Block layout (matches the reference module-for-module, so the released parameter count holds):

    mod = Linear(SiLU(c)) -> shift_a, scale_a, gate_a, shift_m, scale_m, gate_m   (zero-init)
    x = x + gate_a * Attn(LN0(x) * (1 + scale_a) + shift_a)
    x = x + gate_m * MLP(LN0(x) * (1 + scale_m) + shift_m)

where LN0 is a non-affine LayerNorm, and Attn / MLP each open with their own affine LayerNorm (the
reference's sub-modules do; kept for parity: 4 x 192 parameters per block). Attn is causal
multi-head attention with ``heads * head_dim`` inner width (qkv without bias), MLP is
``Linear -> GELU -> Dropout -> Linear -> Dropout``. Because the gates start at zero every block is
the identity at initialisation: the predictor starts action-blind and learns conditioning gradually.
A learned positional embedding of length N is added first; a final LayerNorm closes the stack.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """AdaLN modulation ``x * (1 + scale) + shift`` (all broadcastable (B, T, D))."""
    return x * (1 + scale) + shift


class CausalAttention(nn.Module):
    """LayerNorm -> causal multi-head attention (SDPA) -> output projection -> dropout."""

    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        inner = heads * head_dim
        self.heads, self.head_dim, self.dropout = heads, head_dim, dropout
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.out = nn.Linear(inner, dim)
        self.out_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D); token t attends to tokens <= t, or where ``mask`` (T, T)
        bool is True (True = may attend; e.g. DINO-WM's frame-causal mask over patches)."""
        b, t, _ = x.shape
        qkv = self.qkv(self.norm(x)).view(b, t, 3, self.heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, T, head_dim)
        drop = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=drop, is_causal=mask is None
        )
        return self.out_drop(self.out(out.transpose(1, 2).reshape(b, t, -1)))


class FeedForward(nn.Module):
    """LayerNorm -> Linear(D -> hidden) -> GELU -> Dropout -> Linear(hidden -> D) -> Dropout."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D)."""
        return self.net(x)


class AdaLNZeroBlock(nn.Module):
    """Transformer block conditioned per token through AdaLN-zero (see module docstring)."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = CausalAttention(dim, heads, head_dim, dropout)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = FeedForward(dim, mlp, dropout)
        self.adaln = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        # Zero init (the "-zero" of AdaLN-zero): gates are 0, so the block is the identity.
        nn.init.zeros_(self.adaln[-1].weight)
        nn.init.zeros_(self.adaln[-1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) frame tokens, c (B, T, D) per-token conditioning -> (B, T, D)."""
        sh_a, sc_a, g_a, sh_m, sc_m, g_m = self.adaln(c).chunk(6, dim=-1)
        x = x + g_a * self.attn(modulate(self.norm1(x), sh_a, sc_a))
        return x + g_m * self.mlp(modulate(self.norm2(x), sh_m, sc_m))


class Predictor(nn.Module):
    """Causal AdaLN-zero transformer over at most ``history`` tokens of width ``dim``.

    Args:
        dim: D, token width (= latent and action-embedding width).
        history: N, maximum number of tokens (length of the learned positional embedding).
        depth: blocks. heads, head_dim: attention heads and per-head width.
        mlp: MLP hidden width. dropout: dropout in attention output and MLP.
    """

    def __init__(
        self,
        dim: int,
        history: int,
        depth: int,
        heads: int,
        head_dim: int,
        mlp: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.history = history
        # Reference init: standard normal, the scale of the SIGReg-shaped latents it is added to.
        self.pos_embed = nn.Parameter(torch.randn(1, history, dim))
        self.blocks = nn.ModuleList(
            AdaLNZeroBlock(dim, heads, head_dim, mlp, dropout) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) frame embeddings, c (B, T, D) action embeddings, T <= history -> (B, T, D).

        Output t depends only on inputs 0..t (causal) and is the prediction of frame t+1.
        """
        t = x.shape[1]
        if t > self.history or t < 1:
            raise ValueError(f"predictor takes 1..{self.history} tokens (history N), got T={t}")
        if c.shape != x.shape:
            raise ValueError(
                f"action embeddings {tuple(c.shape)} must match frame embeddings {tuple(x.shape)}"
            )
        x = x + self.pos_embed[:, :t]
        for blk in self.blocks:
            x = blk(x, c)
        return self.norm(x)
