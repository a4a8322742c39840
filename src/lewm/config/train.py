"""The `train.*` section: optimisation (SPEC §3), the SIGReg objective (§2) and PLDM's loss
weights (§8)."""

from __future__ import annotations

from dataclasses import dataclass

from lewm.config.errors import check


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 128
    """Clips per optimisation step (paper: 128)."""
    lr: float = 5e-5
    """AdamW peak learning rate (paper: 5e-5)."""
    weight_decay: float = 1e-3
    """AdamW weight decay (paper: 1e-3)."""
    warmup_frac: float = 0.01
    """Fraction of the schedule spent in linear warm-up (paper: 1%)."""
    epochs: float = 10.0
    """Passes over the training clips (paper: 10); ignored when max_steps > 0."""
    max_steps: int = 0
    """Total optimisation steps; 0 means derive from epochs."""
    max_minutes: float = 0.0
    """Wall-clock budget: stop (and checkpoint) after this many minutes of this invocation (of
    the whole run, resumes included, under schedule='minutes'); 0 disables."""
    schedule_steps: int = 0
    """Length of the cosine schedule in steps; 0 means the run length (the reference sized it
    for 100 epochs and stopped at 10)."""
    schedule: str = "steps"
    """What the warm-up and cosine run over: 'steps' (schedule_steps, else the run length) or
    'minutes' (the wall clock of max_minutes, summed over resumes, or the steps if they run out
    first): the learning rate then reaches 0 when the time budget ends on any machine, where a
    step schedule cut short by max_minutes stops at a high rate."""
    grad_clip: float = 1.0
    """Max global gradient norm (paper: 1.0); 0 disables."""
    sigreg_lambda: float = 0.09
    """Weight of SIGReg in L = L_pred + lambda * SIGReg (SPEC §2 decision: 0.09)."""
    sigreg_projections: int = 1024
    """Random directions M per SIGReg call."""
    sigreg_knots: int = 17
    """Trapezoid knots on [0, 3]."""
    pred_windows: str = "single"
    """How a clip feeds the predictor: 'single' (paper: frames 0..N-1 predict 1..N) or 'sliding'
    (every N-frame window of a longer clip predicts its next frames; amortises encoding)."""
    precision: str = "fp32"
    """'fp32' (default; bf16 NaNs reported late in training) or 'bf16' autocast."""
    pldm_var: float = 18.0
    """PLDM weight of the per-step variance hinge (SPEC §8: 18)."""
    pldm_cov: float = 12.0
    """PLDM weight of the per-step covariance term (SPEC §8: 12)."""
    pldm_time_sim: float = 0.2
    """PLDM weight of the temporal similarity ||z_{t+1} - z_t||^2 (SPEC §8: 0.2)."""
    pldm_time_var: float = 0.7
    """PLDM weight of the variance hinge across time within a clip (SPEC §8: 0.7)."""
    pldm_time_cov: float = 0.0
    """PLDM weight of the covariance across time within a clip (SPEC §8: 0)."""
    pldm_idm: float = 0.0
    """PLDM weight of the inverse-dynamics loss (SPEC §8: 0; > 0 needs model.idm_hidden > 0)."""
    seed: int = 3072
    """Run seed (paper: 3072): weights, data order and SIGReg directions derive from it."""
    device: str = "auto"
    """'auto' (an accelerator if present, else CPU) or an explicit torch device string."""
    threads: int = 0
    """torch CPU threads; 0 leaves torch's default."""
    val_every: int = 500
    """Steps between validation passes (and checkpoints)."""
    val_batches: int = 8
    """Validation batches per pass."""
    ckpt_every: int = 500
    """Steps between checkpoints."""
    keep_every: int = 0
    """Also keep every ``keep_every``-th step's checkpoint as ``RUN/snapshots/step_NNNNNN`` (a run
    directory `lewm eval` reads: success against training length); a multiple of ckpt_every; 0
    keeps none."""
    log_every: int = 20
    """Steps between metrics.jsonl records."""
    tensorboard: bool = False
    """Also log to TensorBoard (needs the `tensorboard` extra)."""

    def __post_init__(self) -> None:
        check(self.batch_size >= 2, "train.batch_size", "BatchNorm and SIGReg need >= 2")
        check(self.lr > 0, "train.lr", "must be > 0")
        check(self.weight_decay >= 0, "train.weight_decay", "must be >= 0")
        check(0 <= self.warmup_frac < 1, "train.warmup_frac", "must be in [0, 1)")
        check(self.epochs > 0 or self.max_steps > 0, "train.epochs", "epochs or max_steps > 0")
        check(self.max_steps >= 0, "train.max_steps", "must be >= 0")
        check(self.schedule_steps >= 0, "train.schedule_steps", "must be >= 0")
        check(self.max_minutes >= 0, "train.max_minutes", "must be >= 0")
        check(
            self.schedule in ("steps", "minutes"), "train.schedule", "must be 'steps' or 'minutes'"
        )
        check(
            self.schedule != "minutes" or self.max_minutes > 0,
            "train.schedule",
            "'minutes' needs train.max_minutes > 0",
        )
        check(self.grad_clip >= 0, "train.grad_clip", "must be >= 0")
        check(self.sigreg_lambda >= 0, "train.sigreg_lambda", "must be >= 0")
        check(self.sigreg_projections >= 1, "train.sigreg_projections", "must be >= 1")
        check(self.sigreg_knots >= 2, "train.sigreg_knots", "must be >= 2")
        check(
            self.pred_windows in ("single", "sliding"),
            "train.pred_windows",
            "must be 'single' or 'sliding'",
        )
        check(self.precision in ("fp32", "bf16"), "train.precision", "must be 'fp32' or 'bf16'")
        for name in ("val_every", "val_batches", "ckpt_every", "log_every"):
            check(getattr(self, name) >= 1, f"train.{name}", "must be >= 1")
        check(self.threads >= 0, "train.threads", "must be >= 0")
        check(
            self.keep_every >= 0 and self.keep_every % self.ckpt_every == 0,
            "train.keep_every",
            f"must be 0 or a multiple of train.ckpt_every ({self.ckpt_every})",
        )
        for name in ("var", "cov", "time_sim", "time_var", "time_cov", "idm"):
            check(getattr(self, f"pldm_{name}") >= 0, f"train.pldm_{name}", "must be >= 0")
