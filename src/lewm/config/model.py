"""The `model.*` section: LeWM's architecture (SPEC §1) and the SPEC §8 baselines' extras."""

from __future__ import annotations

from dataclasses import dataclass

from lewm.config.errors import check


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "lewm"
    """World model: 'lewm' (SPEC §1–2), or the SPEC §8 baselines 'pldm' (same network, VICReg-style
    loss, no SIGReg) and 'dinowm' (frozen DINOv2 ViT-S/14 patch encoder + patch-token predictor)."""
    encoder: str = "vit"
    """Frame encoder: 'vit' (paper, ViT-Tiny at 224) or 'cnn' (encoder-agnostic ablation)."""
    image_size: int = 64
    """Square input image size in pixels."""
    patch_size: int = 8
    """ViT patch size (paper: 14 at 224 px)."""
    enc_width: int = 192
    """Encoder width (ViT hidden size / CNN output width before the projector)."""
    enc_depth: int = 12
    """ViT blocks (or CNN stages)."""
    enc_heads: int = 3
    """ViT attention heads."""
    enc_mlp_ratio: float = 4.0
    """ViT MLP hidden = ratio * width."""
    enc_ln_eps: float = 1e-6
    """ViT LayerNorm epsilon. Checkpoints imported from the reference keep theirs (Hugging Face's
    ViT default 1e-12), so they compute exactly what the reference does."""
    embed_dim: int = 192
    """Latent dimension D of the frame embedding (projector output)."""
    proj_hidden: int = 2048
    """Hidden width of the projector and pred_proj MLPs (Linear -> BatchNorm -> GELU -> Linear)."""
    action_dim: int = 2
    """Raw env action dimension A."""
    frameskip: int = 5
    """Raw actions per action block (block dim K = frameskip * action_dim)."""
    action_small_dim: int = 10
    """Per-block linear embedding size before the action MLP (SPEC §1)."""
    action_mlp_ratio: int = 4
    """Action MLP hidden = ratio * embed_dim."""
    history: int = 3
    """Predictor history N (learned positional embedding of this length)."""
    pred_depth: int = 6
    """Predictor transformer blocks."""
    pred_heads: int = 16
    """Predictor attention heads."""
    pred_head_dim: int = 64
    """Predictor per-head dimension (inner attention width = heads * head_dim)."""
    pred_mlp: int = 2048
    """Predictor MLP hidden size."""
    pred_dropout: float = 0.1
    """Dropout in predictor attention and MLP (paper ablation: 0.1 best)."""
    idm_hidden: int = 0
    """PLDM inverse-dynamics head hidden width (action block from two latents); 0: no head."""
    dino_image_size: int = 56
    """dinowm: frames are resized to this side for the ViT-S/14 (multiple of 14; 56: 16 patches)."""
    dino_weights: str = ""
    """dinowm: local `dinov2_vits14` state dict (.pth/.safetensors); empty: fixed random init."""
    dino_action_dim: int = 10
    """dinowm: action-embedding width concatenated to every patch token's features."""

    def __post_init__(self) -> None:
        check(self.kind in ("lewm", "pldm", "dinowm"), "model.kind", "must be lewm, pldm or dinowm")
        check(self.idm_hidden >= 0, "model.idm_hidden", "must be >= 0")
        check(0 < self.enc_ln_eps < 1, "model.enc_ln_eps", "must be in (0, 1)")
        if self.kind == "dinowm":
            check(
                self.dino_image_size >= 14 and self.dino_image_size % 14 == 0,
                "model.dino_image_size",
                "must be a positive multiple of the ViT-S/14 patch size 14",
            )
            check(self.dino_action_dim >= 1, "model.dino_action_dim", "must be >= 1")
        check(self.encoder in ("vit", "cnn"), "model.encoder", "must be 'vit' or 'cnn'")
        check(self.image_size >= 8, "model.image_size", "must be >= 8")
        if self.encoder == "vit" and self.kind != "dinowm":  # dinowm has its own ViT-S/14
            check(
                self.image_size % self.patch_size == 0,
                "model.patch_size",
                f"must divide model.image_size={self.image_size}",
            )
            check(
                self.enc_width % self.enc_heads == 0,
                "model.enc_heads",
                f"must divide model.enc_width={self.enc_width}",
            )
        for name in (
            "enc_width",
            "enc_depth",
            "embed_dim",
            "proj_hidden",
            "action_dim",
            "frameskip",
            "history",
            "pred_depth",
            "pred_heads",
            "pred_head_dim",
            "pred_mlp",
            "action_small_dim",
            "action_mlp_ratio",
        ):
            check(getattr(self, name) >= 1, f"model.{name}", "must be >= 1")
        check(0.0 <= self.pred_dropout < 1.0, "model.pred_dropout", "must be in [0, 1)")

    @property
    def action_block_dim(self) -> int:
        """K: dimension of one normalised action block."""
        return self.frameskip * self.action_dim
