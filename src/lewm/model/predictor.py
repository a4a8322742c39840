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


SMALL_ATTENTION_TOKENS = 4
"""Up to this many keys, attention is computed with broadcast products in the (B, T, heads,
head_dim) layout instead of ``F.scaled_dot_product_attention``: at the predictor's N = 3 tokens
SDPA's per-(batch, head) kernel overhead dominates (300 sequences x 3 tokens, 16 heads of 64, 2
CPU threads: 4.5 ms fp32 / 7.1 ms bf16 vs 1.8 / 2.1 ms; one query: 0.3 / 0.7 ms)."""

SMALL_ATTENTION_CHUNK = 1 << 21
"""Elements of the (B, Tq, Tk, heads, head_dim) product per chunk of sequences: beyond a few MB
the broadcast form is memory-bound (15,000 x 3 tokens in one piece: 408 ms vs SDPA 305 ms)."""


def small_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float = 0.0
) -> torch.Tensor:
    """Causal attention for a few tokens. q (B, Tq, H, dh), k and v (B, Tk, H, dh), Tq <= Tk
    -> (B, Tq, H, dh). The queries are the last Tq of the Tk positions (earlier keys are cached
    ones), so query i sees keys 0 .. Tk - Tq + i. Softmax in float32."""
    b, tq, heads, dh = q.shape
    tk = k.shape[1]
    masked = None  # a single (last) query sees every key
    if tq > 1:
        allowed = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(tk - tq)
        masked = ~allowed[None, :, :, None]
    rows = max(1, SMALL_ATTENTION_CHUNK // (tq * tk * heads * dh))
    outs = []
    for i in range(0, b, rows):
        qc, kc, vc = q[i : i + rows], k[i : i + rows], v[i : i + rows]
        scores = (qc.unsqueeze(2) * kc.unsqueeze(1)).sum(-1).float() * dh**-0.5  # (b, Tq, Tk, H)
        if masked is not None:
            scores = scores.masked_fill(masked, float("-inf"))
        probs = scores.softmax(dim=2)
        if dropout_p > 0:
            probs = F.dropout(probs, dropout_p)
        outs.append((probs.to(vc.dtype).unsqueeze(-1) * vc.unsqueeze(1)).sum(2))
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """Multi-head attention, q (B, Tq, H, dh), k and v (B, Tk, H, dh) -> (B, Tq, H, dh).

    Without ``mask`` it is causal with the queries at the last Tq positions (see
    :func:`small_attention`, used on a CPU up to SMALL_ATTENTION_TOKENS keys); ``mask`` (Tq, Tk)
    bool, True = may attend, replaces causality (e.g. DINO-WM's frame-causal mask over patches).
    """
    tq, tk = q.shape[1], k.shape[1]
    # The broadcast form is a CPU measurement; GPU SDPA kernels handle few tokens well.
    if mask is None and tk <= SMALL_ATTENTION_TOKENS and q.device.type == "cpu":
        return small_attention(q, k, v, dropout_p)
    if mask is None and tq != tk:
        mask = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(tk - tq)
    q, k, v = (z.transpose(1, 2) for z in (q, k, v))  # (B, H, T, dh)
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=mask is None
    )
    return out.transpose(1, 2)


KVCache = tuple[torch.Tensor, torch.Tensor]
"""Keys and values of the tokens seen so far, each (B, T0, heads, head_dim)."""


class CausalAttention(nn.Module):
    """LayerNorm -> causal multi-head attention -> output projection -> dropout."""

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
        q, k, v = self.qkv(self.norm(x)).view(b, t, 3, self.heads, self.head_dim).unbind(2)
        out = attention(q, k, v, mask, self.dropout if self.training else 0.0)
        return self.out_drop(self.out(out.reshape(b, t, -1)))

    def extend(
        self, x: torch.Tensor, past: KVCache | None = None, last_only: bool = False
    ) -> tuple[torch.Tensor, KVCache]:
        """Attention for new tokens after cached ones (incremental decoding).

        x (B, Tn, D): the new tokens; past: keys/values of the T0 tokens before them, or None.
        New token i sees the T0 cached tokens and new tokens <= i. Returns the output (B, Tn, D),
        or (B, 1, D) for the last new token only when ``last_only`` (its query alone is computed),
        and the keys/values of all T0 + Tn tokens. Same result as :meth:`forward` on the whole
        sequence, for the new rows.
        """
        b, t, _ = x.shape
        inner = self.heads * self.head_dim
        h = self.norm(x)
        w = self.qkv.weight  # rows: queries | keys | values
        k, v = F.linear(h, w[inner:]).view(b, t, 2, self.heads, self.head_dim).unbind(2)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=1), torch.cat([past[1], v], dim=1)
        if last_only:
            h, t = h[:, -1:], 1
        q = F.linear(h, w[:inner]).view(b, t, self.heads, self.head_dim)
        out = attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out_drop(self.out(out.reshape(b, t, -1))), (k, v)


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
        return self.extend(x, self.adaln(c))[0]

    def extend(
        self,
        x: torch.Tensor,
        mod: torch.Tensor,
        past: KVCache | None = None,
        last_only: bool = False,
    ) -> tuple[torch.Tensor, KVCache]:
        """The block on new tokens after cached ones (see :meth:`CausalAttention.extend`).

        x (B, Tn, D), mod (B, Tn, 6D) = ``self.adaln(c)`` for the new tokens (a token's
        modulation depends only on its own action, so a rollout computes it once per action
        block). Returns (B, Tn, D) — (B, 1, D) with ``last_only`` — and the attention cache.
        """
        sh_a, sc_a, g_a, sh_m, sc_m, g_m = mod.chunk(6, dim=-1)
        a, kv = self.attn.extend(modulate(self.norm1(x), sh_a, sc_a), past, last_only)
        if last_only:
            x, g_a, sh_m, sc_m, g_m = (z[:, -1:] for z in (x, g_a, sh_m, sc_m, g_m))
        x = x + g_a * a
        return x + g_m * self.mlp(modulate(self.norm2(x), sh_m, sc_m)), kv


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
        if c.shape != x.shape:
            raise ValueError(
                f"action embeddings {tuple(c.shape)} must match frame embeddings {tuple(x.shape)}"
            )
        return self.extend(x, self.modulations(c))[0]

    def modulations(self, c: torch.Tensor) -> list[torch.Tensor]:
        """Per-block AdaLN modulations of action embeddings c (..., D) -> depth x (..., 6D)."""
        return [blk.adaln(c) for blk in self.blocks]

    def extend(
        self,
        x: torch.Tensor,
        mods: list[torch.Tensor],
        past: list[KVCache] | None = None,
        last_only: bool = False,
    ) -> tuple[torch.Tensor, list[KVCache]]:
        """Run Tn new tokens after T0 cached ones (incremental decoding, used by rollouts).

        x (B, Tn, D) frame embeddings at positions T0 .. T0+Tn-1 (T0+Tn <= history); mods: the
        :meth:`modulations` of their action embeddings, each (B, Tn, 6D); past: per-block caches
        from the call that ran the first T0 tokens, or None (T0 = 0). With ``last_only`` the
        last block computes only the last token (all a rollout reads). Returns the outputs
        (B, Tn, D) or (B, 1, D) and the per-block caches of all T0 + Tn tokens.
        """
        t0 = 0 if past is None else past[0][0].shape[1]
        t = t0 + x.shape[1]
        if t > self.history or x.shape[1] < 1:
            raise ValueError(
                f"predictor takes 1..{self.history} tokens (history N), got T={t} "
                f"({x.shape[1]} new after {t0} cached)"
            )
        x = x + self.pos_embed[:, t0:t]
        caches = []
        for i, blk in enumerate(self.blocks):
            last = last_only and i == len(self.blocks) - 1
            x, kv = blk.extend(x, mods[i], None if past is None else past[i], last)
            caches.append(kv)
        return self.norm(x), caches
