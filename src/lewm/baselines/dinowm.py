"""DINO-WM-style world model (SPEC §8): a frozen DINOv2 ViT-S/14 patch encoder and a causal
transformer predictor over history x patch tokens, trained by MSE to the next frame's frozen patch
features; planning cost = mean MSE over patch tokens.

Interface (the one the trainer and planner use for every model kind, see
:mod:`lewm.baselines.registry`): ``encode``, ``encode_actions``, ``predict``, ``rollout``,
``param_counts``, ``tokens_per_frame``. A frame's latent is its P patch tokens of width E=384,
flattened to D = P * E so every shape matches LeWM's ``(B, T, D)`` contract.

Predictor (our CPU-scale reading of DINO-WM): each patch token's frozen features (E) are
concatenated with the embedding of the action block leaving its frame (``dino_action_dim``), mapped
by a linear layer to the predictor width (``embed_dim``), given a learned positional embedding over
(time, patch), and passed through ``pred_depth`` pre-norm transformer blocks with a *frame-causal*
mask (every token of frame t sees all tokens of frames <= t). A final LayerNorm and a linear map
back to E give token (t, p) = the prediction of frame t+1's patch p.

The encoder is frozen: its parameters have ``requires_grad=False``, it stays in eval mode even when
the model is put in train mode, runs under ``no_grad`` and is left out of the optimiser (the
trainer only optimises parameters that require grad).

Shapes: B batch, T time, S candidates, H horizon, P patches per frame, E = 384 token width,
D = P * E, K action block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lewm.config import ModelConfig
from lewm.model.dinov2 import VITS14, DinoV2, build_dinov2
from lewm.model.lewm import IMAGENET_MEAN, IMAGENET_STD, autoregressive_rollout
from lewm.model.predictor import CausalAttention, FeedForward


class FrameCausalBlock(nn.Module):
    """Pre-norm transformer block ``x + attn(x, mask)``, then ``x + MLP(x)`` (the LeWM
    predictor's attention and MLP, without AdaLN: actions enter as token features)."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp: int, dropout: float) -> None:
        super().__init__()
        self.attn = CausalAttention(dim, heads, head_dim, dropout)
        self.mlp = FeedForward(dim, mlp, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, L, dim), mask (L, L) bool (True = may attend) -> (B, L, dim)."""
        x = x + self.attn(x, mask)
        return x + self.mlp(x)


class PatchPredictor(nn.Module):
    """Frame-causal transformer over (T <= N frames) x (P patches) tokens (module docstring)."""

    def __init__(self, cfg: ModelConfig, patches: int, token_dim: int) -> None:
        super().__init__()
        w = cfg.embed_dim
        self.history, self.patches = cfg.history, patches
        self.inp = nn.Linear(token_dim + cfg.dino_action_dim, w)
        self.pos_embed = nn.Parameter(torch.randn(1, cfg.history * patches, w) * 0.02)
        self.blocks = nn.ModuleList(
            FrameCausalBlock(w, cfg.pred_heads, cfg.pred_head_dim, cfg.pred_mlp, cfg.pred_dropout)
            for _ in range(cfg.pred_depth)
        )
        self.norm = nn.LayerNorm(w)
        self.outp = nn.Linear(w, token_dim)

    def forward(self, tokens: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """tokens (B, T, P, E), act (B, T, A_e), T <= N -> (B, T, P, E): (t, p) predicts t+1."""
        b, t, p, _ = tokens.shape
        if not 1 <= t <= self.history:
            raise ValueError(f"predictor takes 1..{self.history} frames (history N), got T={t}")
        a = act[:, :, None, :].expand(b, t, p, act.shape[-1])
        x = self.inp(torch.cat([tokens, a.to(tokens.dtype)], dim=-1)).reshape(b, t * p, -1)
        x = x + self.pos_embed[:, : t * p]
        frame = torch.arange(t, device=x.device).repeat_interleave(p)
        mask = frame[None, :] <= frame[:, None]  # query frame >= key frame
        for blk in self.blocks:
            x = blk(x, mask)
        return self.outp(self.norm(x)).view(b, t, p, -1)


class DinoWM(nn.Module):
    """DINO-WM-style model built from a :class:`ModelConfig` with ``kind='dinowm'``.

    ``encoder``: the frozen :class:`~lewm.model.dinov2.DinoV2` (pass one in, e.g. from a
    checkpoint; by default it is built from ``cfg.dino_weights`` or the fixed random init).
    """

    def __init__(self, cfg: ModelConfig, encoder: DinoV2 | None = None) -> None:
        super().__init__()
        if cfg.kind != "dinowm":
            raise ValueError(f"DinoWM needs model.kind='dinowm', got {cfg.kind!r}")
        self.cfg = cfg
        self.encoder = encoder if encoder is not None else build_dinov2(cfg.dino_weights)
        self.encoder.requires_grad_(False)
        self.encoder.eval()
        self.token_dim = VITS14["width"]
        self.grid = cfg.dino_image_size // VITS14["patch_size"]
        self.action_encoder = nn.Linear(cfg.action_block_dim, cfg.dino_action_dim)
        self.predictor = PatchPredictor(cfg, self.tokens_per_frame, self.token_dim)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    @property
    def tokens_per_frame(self) -> int:
        """P: patch tokens per frame ((dino_image_size / 14) ** 2)."""
        return self.grid * self.grid

    def train(self, mode: bool = True) -> DinoWM:
        """Train mode for the predictor only; the frozen encoder always stays in eval mode."""
        super().train(mode)
        self.encoder.eval()
        return self

    # ------------------------------------------------------------------------------- encoding
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) -> (B, T, D = P * E) frozen patch features (no gradient)."""
        size = self.cfg.image_size
        if pixels.dtype != torch.uint8 or pixels.dim() != 5 or pixels.shape[2:] != (size, size, 3):
            raise ValueError(
                f"pixels must be uint8 (B,T,{size},{size},3) (model.image_size={size}), "
                f"got {pixels.dtype} {tuple(pixels.shape)}"
            )
        b, t = pixels.shape[:2]
        x = pixels.reshape(b * t, size, size, 3).permute(0, 3, 1, 2).float() / 255.0
        side = self.cfg.dino_image_size
        if side != size:
            x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True)
        x = (x - self.pixel_mean) / self.pixel_std
        with torch.no_grad():
            feats = self.encoder(x)  # (B*T, P, E)
        return feats.reshape(b, t, -1)

    def encode_actions(self, blocks: torch.Tensor) -> torch.Tensor:
        """(B, T, K) z-scored action blocks (NaN reads as 0) -> (B, T, dino_action_dim)."""
        return self.action_encoder(torch.nan_to_num(blocks, nan=0.0))

    # ----------------------------------------------------------------------------- prediction
    def _tokens(self, emb: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, P, E)."""
        return emb.view(*emb.shape[:2], self.tokens_per_frame, self.token_dim)

    def predict(self, emb: torch.Tensor, act_emb: torch.Tensor) -> torch.Tensor:
        """emb (B, T, D), act_emb (B, T, A_e), T <= N -> (B, T, D); output t predicts frame t+1."""
        return self.predictor(self._tokens(emb), act_emb).flatten(2)

    def rollout(self, context_emb: torch.Tensor, action_blocks: torch.Tensor) -> torch.Tensor:
        """Open-loop rollout, same contract as :meth:`lewm.model.LeWM.rollout`.

        context_emb (B, T, D), action_blocks (B, S, T-1+H, K) -> (B, S, T+H, D). Each step feeds
        the last <= N frames (all their patch tokens) and keeps the last frame's prediction.
        """
        return autoregressive_rollout(
            context_emb,
            action_blocks,
            self.cfg.history,
            self.encode_actions,
            lambda window, act: self.predict(window, act)[:, -1:],
        )

    # ---------------------------------------------------------------------------- bookkeeping
    def param_counts(self) -> dict[str, int]:
        """Parameters per part, in total and trainable (the frozen encoder is not trained)."""
        counts = {
            p: sum(x.numel() for x in getattr(self, p).parameters())
            for p in ("encoder", "predictor", "action_encoder")
        }
        counts["total"] = sum(x.numel() for x in self.parameters())
        counts["trainable"] = sum(x.numel() for x in self.parameters() if x.requires_grad)
        return counts


def dinowm_objective(model: DinoWM, pixels: torch.Tensor, blocks: torch.Tensor, cfg, gen, *_):
    """MSE between predicted and frozen next-frame patch features (SPEC §8).

    pixels uint8 (B, T, H, W, 3), blocks (B, T, K): frames 0..N-1 predict frames 1..N (teacher
    forcing, like LeWM's 'single' windows; 'sliding' uses every N-window). Returns loss, pred_loss.
    """
    n = cfg.model.history
    emb = model.encode(pixels)  # (B, T, D), no gradient
    act = model.encode_actions(blocks)
    if cfg.train.pred_windows == "single":
        pred, target = model.predict(emb[:, :n], act[:, :n]), emb[:, 1 : n + 1]
    else:
        from lewm.model.lewm import sliding_windows

        t = emb.shape[1]
        frames, acts = sliding_windows(emb, n + 1), sliding_windows(act[:, : t - 1], n)
        pred, target = model.predict(frames[:, :n], acts), frames[:, 1:]
    loss = (pred.float() - target.float()).pow(2).mean()
    return {"loss": loss, "pred_loss": loss}
