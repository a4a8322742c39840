"""The LeWM training loop (SPEC §2–3), visible in one function: :func:`train`.

Reproducibility and resume. Everything random in a step is derived from ``(seed, step)``: the data
order (a permutation per epoch), dropout (the global RNG is re-seeded each step) and SIGReg's
directions (a generator per step, identical on every rank — SPEC §2 "Multi-device"). A run killed at
any moment and resumed with ``--resume`` therefore continues the same step counter, the same
schedule and the same batches, and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from lewm.baselines.registry import build_model, objective_for
from lewm.checkpoint import (
    load_checkpoint,
    load_state_strict,
    load_training_state,
    save_checkpoint,
    snapshot_checkpoint,
)
from lewm.config import RunConfig
from lewm.data.clips import ClipDataset
from lewm.data.store import EpisodeStore
from lewm.distributed import (
    all_reduce_mean,
    any_rank,
    barrier,
    convert_batchnorm,
    local_device,
    mean_across,
    rank,
    same_on_all_ranks,
    world_size,
    wrap_ddp,
)
from lewm.envs import check_recorded_env
from lewm.losses import ReduceMean
from lewm.metrics import straightness
from lewm.model import LeWM
from lewm.runtime import autocast, derive_seed, generator

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the last good checkpoint is kept untouched."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    seconds: float
    last_metrics: dict[str, float]
    model: LeWM | None = None
    """The trained (unwrapped) model, on this process's device."""


def objective(
    model: torch.nn.Module,
    pixels: torch.Tensor,
    blocks: torch.Tensor,
    cfg: RunConfig,
    gen: torch.Generator,
    reduce_mean: ReduceMean | None = None,
    global_batch: int | None = None,
) -> dict[str, torch.Tensor]:
    """The training loss of ``cfg.model.kind`` on one batch (LeWM:
    :func:`lewm.objective.lewm_objective`; the SPEC §8 baselines: :mod:`lewm.baselines`).
    Returns ``loss``, ``pred_loss`` and each other term of that objective (every key is logged
    to metrics.jsonl)."""
    fn = objective_for(cfg.model.kind)
    return fn(model, pixels, blocks, cfg, gen, reduce_mean, global_batch)


def lr_at(step: int, cfg: RunConfig, total_steps: int, time_frac: float = 0.0) -> float:
    """Linear warm-up over ``warmup_frac`` of the schedule, then cosine to 0 (SPEC §3).

    ``train.schedule='steps'``: the schedule is ``schedule_steps`` (else ``total_steps``) long.
    ``'minutes'``: it is the time budget; ``time_frac`` is the share of ``train.max_minutes``
    already spent, and the run is as far along as the larger of that and ``step/total_steps``
    (so the rate also reaches 0 if the steps run out first)."""
    tc = cfg.train
    if tc.schedule == "minutes":
        done = max(time_frac, step / total_steps)
        if done < tc.warmup_frac:
            return tc.lr * max(done, (step + 1) / total_steps) / tc.warmup_frac
        progress = min(1.0, (done - tc.warmup_frac) / (1.0 - tc.warmup_frac))
        return tc.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    length = tc.schedule_steps or total_steps
    warm = max(1, int(round(tc.warmup_frac * length)))
    if step < warm:
        return tc.lr * (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, length - warm))
    return tc.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def open_datasets(cfg: RunConfig) -> tuple[EpisodeStore, ClipDataset, ClipDataset | None]:
    """The store and its train/val clip datasets, after checking the file matches the model."""
    store = EpisodeStore(cfg.data.path, in_memory=cfg.data.in_memory)
    meta = store.meta
    problems = []
    if meta.action_dim != cfg.model.action_dim:
        problems.append(f"action_dim {meta.action_dim} vs model.action_dim={cfg.model.action_dim}")
    if meta.image_size != cfg.model.image_size:
        problems.append(f"image_size {meta.image_size} vs model.image_size={cfg.model.image_size}")
    if problems:
        raise ValueError(
            f"dataset {cfg.data.path} does not match the config: " + "; ".join(problems)
        )
    check_recorded_env(cfg.env, meta.env_id, meta.env_version, f"dataset {cfg.data.path}")
    kw = dict(
        num_frames=cfg.data.num_frames, frameskip=cfg.data.frameskip, stride=cfg.data.clip_stride
    )
    train_ds = ClipDataset(store, "train", **kw)
    if len(train_ds) < cfg.train.batch_size:
        raise ValueError(
            f"dataset {cfg.data.path}: {len(train_ds)} training clips < train.batch_size="
            f"{cfg.train.batch_size}; collect more episodes or lower the batch size"
        )
    val_ds = ClipDataset(store, "val", **kw) if len(store.episodes("val")) else None
    if val_ds is not None and len(val_ds) == 0:
        val_ds = None
    return store, train_ds, val_ds


def _to_device(batch: dict[str, Any], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = torch.as_tensor(batch["pixels"]).to(device, non_blocking=True)
    blocks = torch.as_tensor(batch["actions"]).to(device, dtype=torch.float32, non_blocking=True)
    return pixels, blocks


@torch.no_grad()
def validate(
    model: LeWM, ds: ClipDataset, cfg: RunConfig, device: torch.device
) -> dict[str, float]:
    """Mean loss terms (and latent straightness) over a fixed set of validation batches (same
    batches every call)."""
    model.eval()
    b = min(cfg.train.batch_size, len(ds))
    order = torch.randperm(len(ds), generator=generator("cpu", cfg.train.seed, "val"))
    sums: dict[str, float] = {}
    n = 0
    for i in range(min(cfg.train.val_batches, max(1, len(ds) // b))):
        pixels, blocks = _to_device(ds.get_batch(order[i * b : (i + 1) * b].numpy()), device)
        with autocast(device, cfg.train.precision):
            terms = objective(
                model, pixels, blocks, cfg, generator(device, cfg.train.seed, "val", i)
            )
            if pixels.shape[1] >= 3:  # SPEC §7 temporal straightening of the clips' latents
                terms["straightness"] = straightness(model.encode(pixels))
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        n += 1
    model.train()
    return {f"val_{k}": v / n for k, v in sums.items()}


def train(
    cfg: RunConfig, run_dir: str | Path, resume: bool = False, progress: bool = True
) -> TrainResult:
    """Train LeWM on ``cfg.data.path`` into ``run_dir`` (see module docstring for resume)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tc = cfg.train
    device = local_device(tc.device)  # this rank's device under torchrun (lewm.distributed)
    rank_, world = rank(), world_size()
    if tc.batch_size % world:
        raise ValueError(
            f"train.batch_size={tc.batch_size} (the global batch) must be divisible by the "
            f"number of processes ({world})"
        )
    local_batch = tc.batch_size // world
    if tc.threads:
        torch.set_num_threads(tc.threads)
    store, train_ds, val_ds = open_datasets(cfg)

    # ---------------------------------------------------------------- model, optimiser, schedule
    torch.manual_seed(tc.seed)
    model = build_model(cfg.model).to(device)
    if world > 1:  # projector BatchNorm over the global batch, like one device (lewm.distributed)
        convert_batchnorm(model)
    # Only trainable parameters: a frozen encoder (DINO-WM, SPEC §8) is left out of the optimiser.
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=tc.lr, weight_decay=tc.weight_decay)
    steps_per_epoch = len(train_ds) // tc.batch_size
    total_steps = tc.max_steps or max(1, math.ceil(tc.epochs * steps_per_epoch))
    step = 0
    spent_before = 0.0  # training seconds of earlier invocations (kept in training_state.pt)
    if resume:
        ckpt = load_checkpoint(run_dir)
        if ckpt.config.model != cfg.model:
            raise ValueError(f"--resume: {run_dir} was trained with a different model config")
        load_state_strict(model, ckpt.state_dict, str(ckpt.path))
        ts = load_training_state(run_dir)
        if ts is None:
            raise ValueError(f"--resume: {ckpt.path} has no training_state.pt")
        opt.load_state_dict(ts["optimizer"])
        step = int(ts["step"])
        spent_before = float(ts.get("elapsed_s", 0.0))  # absent in checkpoints before it was kept
        log.info("resuming %s at step %d/%d", run_dir, step, total_steps)
    ddp = None
    if world > 1:
        fn = partial(objective, cfg=cfg, reduce_mean=all_reduce_mean, global_batch=tc.batch_size)
        ddp = wrap_ddp(model, fn, device)
    if rank_ == 0:
        cfg.save(run_dir / "config.json")
    extra_meta = {
        "action_mean": store.action_mean.tolist(),
        "action_std": store.action_std.tolist(),
        "dataset": str(cfg.data.path),
        "env_id": store.meta.env_id,
        "params": model.param_counts(),
    }

    def checkpoint(at_step: int) -> None:
        save_checkpoint(
            run_dir,
            model,
            cfg,
            at_step,
            extra_meta,
            {"optimizer": opt.state_dict(), "step": at_step, "elapsed_s": spent()},
        )
        if tc.keep_every and at_step % tc.keep_every == 0:
            snapshot_checkpoint(run_dir, at_step)

    # Logging, progress, metrics and checkpoints from rank 0 only.
    tb = _tensorboard(run_dir) if tc.tensorboard and rank_ == 0 else None
    metrics_file = (run_dir / "metrics.jsonl").open("a") if rank_ == 0 else None
    bar = tqdm(
        total=total_steps,
        initial=step,
        desc="train",
        disable=not progress or rank_ != 0,
        dynamic_ncols=True,
    )
    perm_epoch, perm = -1, None
    t_start = time.monotonic()
    by_minutes = tc.schedule == "minutes"

    def spent() -> float:
        """Seconds of training of this run, over all its invocations."""
        return spent_before + time.monotonic() - t_start

    def budget_clock() -> float:
        """Seconds that count against max_minutes: the run's under 'minutes' (its schedule spans
        resumes), this invocation's under 'steps'."""
        return spent() if by_minutes else time.monotonic() - t_start

    # Share of the time budget spent (a resumed 'minutes' run starts where it stopped).
    time_frac = spent_before / (60 * tc.max_minutes) if by_minutes else 0.0
    t_log, clips_since = time.monotonic(), 0
    last: dict[str, float] = {}
    model.train()
    try:
        while step < total_steps:
            # ------------------------------------------------------------------- batch for `step`
            epoch, i = divmod(step, steps_per_epoch)
            if epoch != perm_epoch:
                perm = torch.randperm(
                    len(train_ds), generator=generator("cpu", tc.seed, "epoch", epoch)
                )
                perm_epoch = epoch
            idx = perm[i * tc.batch_size : (i + 1) * tc.batch_size].numpy()
            # This rank's disjoint slice of the global batch (all of it on one process).
            local = idx[rank_ * local_batch : (rank_ + 1) * local_batch]
            pixels, blocks = _to_device(train_ds.get_batch(local), device)

            # --------------------------------------------------------------------- one update
            torch.manual_seed(derive_seed(tc.seed, "dropout", step, *([rank_] if ddp else [])))
            lr = lr_at(step, cfg, total_steps, time_frac)
            for group in opt.param_groups:
                group["lr"] = lr
            with autocast(device, tc.precision):
                gen = generator(device, tc.seed, "sigreg", step)
                if ddp is not None:
                    terms = ddp(pixels, blocks, gen=gen)
                else:
                    terms = objective(model, pixels, blocks, cfg, gen)
            if any_rank(not torch.isfinite(terms["loss"]), device):
                parts = ", ".join(f"{k} {float(v.detach()):.4g}" for k, v in terms.items())
                raise TrainingDiverged(
                    f"non-finite loss at step {step} ({parts}); the last good checkpoint in "
                    f"{run_dir} is kept. Try train.precision=fp32 or a lower train.lr."
                )
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            gnorm = torch.nn.utils.clip_grad_norm_(trainable, tc.grad_clip or float("inf"))
            opt.step()
            step += 1
            clips_since += len(idx)
            bar.update(1)

            # ------------------------------------------------------------- logging / checkpoints
            if step % tc.log_every == 0 or step == total_steps:
                now = time.monotonic()
                last = mean_across(terms)  # global-batch values (a collective)
                last.update(
                    lr=lr,
                    grad_norm=float(gnorm),
                    epoch=step / steps_per_epoch,
                    clips_per_s=clips_since / max(now - t_log, 1e-9),
                )
                t_log, clips_since = now, 0
                if rank_ == 0:
                    _write_metrics(metrics_file, tb, step, last)
                bar.set_postfix(pred=f"{last['pred_loss']:.4f}", loss=f"{last['loss']:.3f}")
            if (
                rank_ == 0
                and val_ds is not None
                and (step % tc.val_every == 0 or step == total_steps)
            ):
                _write_metrics(metrics_file, tb, step, validate(model, val_ds, cfg, device))
            if tc.max_minutes:
                # One clock for all ranks (rank 0's), so they agree on the rate and on stopping.
                time_frac = same_on_all_ranks(budget_clock() / (60 * tc.max_minutes), device)
            out_of_time = time_frac > 1.0
            if step % tc.ckpt_every == 0 or step == total_steps or out_of_time:
                if rank_ == 0:
                    checkpoint(step)
                barrier()  # the other ranks go on only once the checkpoint is complete
            if out_of_time:
                log.info("train.max_minutes=%s reached at step %d; stopping", tc.max_minutes, step)
                break
    finally:
        bar.close()
        if metrics_file is not None:
            metrics_file.close()
        if tb is not None:
            tb.close()
    return TrainResult(run_dir, step, time.monotonic() - t_start, last, model)


def _write_metrics(fh, tb, step: int, values: dict[str, float]) -> None:
    fh.write(json.dumps({"step": step, "time": time.time(), **values}) + "\n")
    fh.flush()
    if tb is not None:
        for k, v in values.items():
            tb.add_scalar(k, v, step)


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise RuntimeError(
            "train.tensorboard=true needs TensorBoard: pip install 'lewm[tensorboard]'"
        ) from exc
    return SummaryWriter(str(run_dir / "tensorboard"))
