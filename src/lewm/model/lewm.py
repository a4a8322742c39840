"""LeWorldModel: encoder + projector, action encoder, causal AdaLN-zero predictor + pred_proj
(SPEC §1). Pure tensors in, tensors out: no I/O, logging or config parsing beyond reading sizes
from a :class:`~lewm.config.ModelConfig`.

Shapes: B batch, T time, S candidates, H horizon, D latent (``embed_dim``), K action block
(``frameskip * action_dim``), N predictor history.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lewm.config import ModelConfig
from lewm.model.action import ActionEncoder
from lewm.model.cnn import CNNEncoder
from lewm.model.heads import Projector
from lewm.model.predictor import Predictor
from lewm.model.vit import ViT

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_encoder(cfg: ModelConfig) -> nn.Module:
    """Frame encoder from the config: float (B, 3, H, W) normalised -> (B, enc_width)."""
    if cfg.encoder == "vit":
        return ViT(
            cfg.image_size,
            cfg.patch_size,
            cfg.enc_width,
            cfg.enc_depth,
            cfg.enc_heads,
            cfg.enc_mlp_ratio,
            ln_eps=cfg.enc_ln_eps,
        )
    if cfg.encoder == "cnn":
        return CNNEncoder(cfg.image_size, cfg.enc_width, depth=cfg.enc_depth)
    raise ValueError(f"model.encoder must be 'vit' or 'cnn', got {cfg.encoder!r}")


def sliding_windows(x: torch.Tensor, length: int) -> torch.Tensor:
    """All stride-1 windows along time: x (B, T, ...) -> (B * (T - length + 1), length, ...).

    Windows of one sample are contiguous in the output (sample-major order).
    """
    b, t = x.shape[:2]
    if t < length:
        raise ValueError(f"need T >= {length} steps to cut windows, got T={t}")
    w = x.unfold(1, length, 1)  # (B, W, ..., length)
    w = w.movedim(-1, 2)  # (B, W, length, ...)
    return w.reshape(b * (t - length + 1), length, *x.shape[2:])


class LeWM(nn.Module):
    """The LeWorldModel network built from a :class:`ModelConfig`.

    Submodules: ``encoder`` (ViT or CNN), ``projector``, ``action_encoder``, ``predictor``,
    ``pred_proj``. The paper preset (ViT-Tiny/14 at 224 px, 2-D actions, frameskip 5) has
    18,034,478 parameters, as released by the reference.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        self.encoder = build_encoder(cfg)
        self.projector = Projector(cfg.enc_width, cfg.proj_hidden, d)
        self.action_encoder = ActionEncoder(
            cfg.action_block_dim, d, cfg.action_small_dim, cfg.action_mlp_ratio
        )
        self.predictor = Predictor(
            d,
            cfg.history,
            cfg.pred_depth,
            cfg.pred_heads,
            cfg.pred_head_dim,
            cfg.pred_mlp,
            cfg.pred_dropout,
        )
        self.pred_proj = Projector(d, cfg.proj_hidden, d)
        # Non-persistent: constants, not weights (kept out of the checkpoint's state dict).
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    # ------------------------------------------------------------------------------- encoding
    def normalize_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) -> float (B*T, 3, H, W): [0, 1], then ImageNet mean/std."""
        if pixels.dtype != torch.uint8:
            raise TypeError(f"pixels must be uint8 (B,T,H,W,3), got dtype {pixels.dtype}")
        size = self.cfg.image_size
        if pixels.dim() != 5 or pixels.shape[-1] != 3 or pixels.shape[2:4] != (size, size):
            raise ValueError(
                f"pixels must be uint8 (B,T,{size},{size},3) (model.image_size={size}), "
                f"got shape {tuple(pixels.shape)}"
            )
        b, t, h, w, c = pixels.shape
        x = pixels.reshape(b * t, h, w, c).permute(0, 3, 1, 2).to(self.pixel_mean.dtype) / 255.0
        return (x - self.pixel_mean) / self.pixel_std

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Frame embeddings: uint8 (B, T, H, W, 3) -> (B, T, D) (encoder CLS -> projector)."""
        b, t = pixels.shape[:2]
        feats = self.encoder(self.normalize_pixels(pixels))  # (B*T, enc_width)
        return self.projector(feats).view(b, t, -1)

    def encode_actions(self, blocks: torch.Tensor) -> torch.Tensor:
        """Action embeddings: blocks (B, T, K) (any leading dims) -> (B, T, D). NaN reads as 0."""
        return self.action_encoder(blocks)

    # ----------------------------------------------------------------------------- prediction
    def predict(self, emb: torch.Tensor, act_emb: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next-embedding prediction.

        emb (B, T, D), act_emb (B, T, D) with T <= N -> (B, T, D); output t predicts frame t+1
        (frame t is conditioned on the action block leaving it).
        """
        return self.pred_proj(self.predictor(emb, act_emb))

    def predict_windows(
        self, emb: torch.Tensor, act_emb: torch.Tensor, window: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict every length-``window`` sub-window of a clip (stride 1, teacher forcing).

        emb (B, T, D), act_emb (B, T, D), window N' <= N (default N), T >= N' + 1
        -> (pred, target), each (B * (T - N'), N', D): window s reads frames/actions s..s+N'-1
        and its target is frames s+1..s+N'. With T = N + 1 this is exactly the paper's single
        window (frames 0..N-1 predict frames 1..N).
        """
        n = self.cfg.history if window is None else window
        t = emb.shape[1]
        if t < n + 1:
            raise ValueError(f"predict_windows needs T >= window + 1 = {n + 1}, got T={t}")
        frames = sliding_windows(emb, n + 1)  # (B*W, N'+1, D)
        acts = sliding_windows(act_emb[:, : t - 1], n)  # (B*W, N', D)
        return self.predict(frames[:, :n], acts), frames[:, 1:]

    def rollout(self, context_emb: torch.Tensor, action_blocks: torch.Tensor) -> torch.Tensor:
        """Autoregressive open-loop rollout for S candidate action sequences per batch item.

        context_emb (B, T, D): embeddings of the T context frames (shared by the S candidates).
        action_blocks (B, S, T-1+H, K): block i leaves frame i (the first T-1 lie between the
        context frames, the last H are the plan).
        Returns (B, S, T+H, D): the context followed by H predicted embeddings. Each step feeds the
        last <= N embeddings (and their action blocks) to the predictor and keeps only the last
        output, so the result equals :func:`autoregressive_rollout` with :meth:`predict` (in eval
        mode; in train mode pred_proj's BatchNorm would see only the last tokens). Differentiable;
        wrap in ``torch.no_grad()`` for sampling-based planners.

        Work saved against calling :meth:`predict` per step (same result to float round-off;
        ``benchmarks/reference_parity.py`` times it against the reference): each action block's
        AdaLN modulations are computed once, not once per window that reads it; while the window
        still grows (fewer than N frames known) the earlier tokens' keys/values are reused, so a
        step runs one new token; the last block and pred_proj run on the last token only.
        """
        b, s, t, d, steps, horizon = check_rollout_inputs(context_emb, action_blocks)
        n = self.cfg.history
        act = self.encode_actions(action_blocks.reshape(b * s, steps, -1))  # (BS, steps, D)
        mods = self.predictor.modulations(act)  # depth x (BS, steps, 6D)
        frames = list(context_emb.unsqueeze(1).expand(b, s, t, d).reshape(b * s, t, d).unbind(1))
        cache, cache_lo = None, -1  # keys/values of frames cache_lo .. known-2 (last step's window)
        for known in range(t, t + horizon):  # frames 0..known-1 are known; predict frame known
            lo = max(0, known - n)  # the window: frames lo..known-1, action blocks lo..known-1
            if lo != cache_lo:  # first step, or the window slid: positions changed, recompute
                cache, cache_lo = None, lo
            new = slice(lo if cache is None else known - 1, known)  # grown: only the last frame
            out, cache = self.predictor.extend(
                torch.stack(frames[new], dim=1), [m[:, new] for m in mods], cache, last_only=True
            )
            frames.append(self.pred_proj(out)[:, 0].to(context_emb.dtype))
        return torch.stack(frames, dim=1).view(b, s, t + horizon, d)

    # ---------------------------------------------------------------------------- bookkeeping
    def param_counts(self) -> dict[str, int]:
        """Trainable-parameter count per part and in total (buffers excluded)."""
        parts = ("encoder", "projector", "predictor", "pred_proj", "action_encoder")
        counts = {p: sum(x.numel() for x in getattr(self, p).parameters()) for p in parts}
        counts["total"] = sum(x.numel() for x in self.parameters())
        return counts


def autoregressive_rollout(
    context_emb: torch.Tensor,
    action_blocks: torch.Tensor,
    history: int,
    encode_actions: Callable[[torch.Tensor], torch.Tensor],
    predict_last: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """The plain rollout loop (SPEC §5 planning cost), used by models without an incremental
    predictor (DINO-WM); :meth:`LeWM.rollout` computes the same thing with caching.

    context_emb (B, T, D); action_blocks (B, S, T-1+H, K) (block i leaves frame i);
    ``encode_actions`` maps (B*S, T-1+H, K) -> (B*S, T-1+H, D'); ``predict_last(window
    (B*S, <=N, D), actions (B*S, <=N, D')) -> (B*S, 1, D)`` predicts the frame after the window.
    Returns (B, S, T+H, D): the context followed by H predictions, each step reading the last
    ``history`` embeddings. Cost: H predictor calls on (B*S, <=N).
    """
    b, s, t, d, steps, horizon = check_rollout_inputs(context_emb, action_blocks)
    act = encode_actions(action_blocks.reshape(b * s, steps, -1))
    emb = context_emb.unsqueeze(1).expand(b, s, t, d).reshape(b * s, t, d)
    window, outputs = emb[:, -history:], [emb]
    for h in range(horizon):
        cur = t + h  # frames known so far; the next action block is cur - 1
        nxt = predict_last(window, act[:, cur - window.shape[1] : cur]).to(emb.dtype)
        outputs.append(nxt)
        window = torch.cat([window, nxt], dim=1)[:, -history:]
    return torch.cat(outputs, dim=1).view(b, s, t + horizon, d)


def check_rollout_inputs(
    context_emb: torch.Tensor, action_blocks: torch.Tensor
) -> tuple[int, int, int, int, int, int]:
    """Validate rollout inputs; returns (B, S, T, D, T-1+H, H) (see autoregressive_rollout)."""
    if context_emb.dim() != 3:
        raise ValueError(f"context_emb must be (B, T, D), got {tuple(context_emb.shape)}")
    b, t, d = context_emb.shape
    if action_blocks.dim() != 4 or action_blocks.shape[0] != b:
        raise ValueError(
            f"action_blocks must be (B={b}, S, T-1+H, K), got {tuple(action_blocks.shape)}"
        )
    s, steps = action_blocks.shape[1], action_blocks.shape[2]
    horizon = steps - (t - 1)
    if horizon < 1:
        raise ValueError(f"need T-1+H >= T action blocks (H >= 1), got {steps} for T={t}")
    return b, s, t, d, steps, horizon
