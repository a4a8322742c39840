"""Save and load a run's checkpoint: a directory you can trust.

Contract (DESIGN.md "Checkpoints"). A run directory ``RUN/`` holds ``config.json`` (the resolved
:class:`~lewm.config.RunConfig`), ``metrics.jsonl`` and ``checkpoint/``, which contains:

- ``model.safetensors`` — the unwrapped module's state dict (no pickles);
- ``config.json``       — the RunConfig the weights belong to (our dataclasses, never import paths);
- ``meta.json``         — format version, step, package/torch versions, dataset action statistics
  (so a planner can un-normalise actions without the dataset) and free-form extras;
- ``training_state.pt`` — optimiser/scheduler state for ``--resume`` only, loaded with
  ``weights_only=True`` (tensors and plain containers; nothing arbitrary is unpickled).

Saving is crash-safe: files go to ``checkpoint.tmp/`` first; the previous checkpoint is renamed to
``checkpoint.old/`` and removed only after the new one is in place, so a kill at any moment leaves
at least one complete checkpoint, which :func:`checkpoint_dir` finds.
"""

from __future__ import annotations

import json
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

import lewm
from lewm.config import RunConfig

FORMAT_VERSION = 1
CKPT = "checkpoint"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, or does not match the model it is loaded into."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns."""

    config: RunConfig
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path


def checkpoint_dir(run_dir: str | Path) -> Path:
    """The complete checkpoint directory of a run (falls back to ``checkpoint.old`` after a crash
    between the two renames of a save)."""
    run_dir = Path(run_dir)
    for name in (CKPT, CKPT + ".old"):
        d = run_dir / name
        if (d / "model.safetensors").is_file() and (d / "meta.json").is_file():
            return d
    raise CheckpointError(
        f"no checkpoint in {run_dir} (expected {run_dir / CKPT}/model.safetensors)"
    )


def save_checkpoint(
    run_dir: str | Path,
    model: torch.nn.Module,
    config: RunConfig,
    step: int,
    extra_meta: dict[str, Any] | None = None,
    training_state: dict[str, Any] | None = None,
) -> Path:
    """Write ``run_dir/checkpoint`` atomically (see module docstring). Returns its path."""
    run_dir = Path(run_dir)
    tmp, final, old = run_dir / (CKPT + ".tmp"), run_dir / CKPT, run_dir / (CKPT + ".old")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    state = {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"))
    config.save(tmp / "config.json")
    meta = {
        "format_version": FORMAT_VERSION,
        "step": int(step),
        "lewm_version": lewm.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        **(extra_meta or {}),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    if training_state is not None:
        torch.save(training_state, tmp / "training_state.pt")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)
    return final


SNAPSHOTS = "snapshots"


def snapshot_checkpoint(run_dir: str | Path, step: int) -> Path:
    """Copy the run's current checkpoint (without its optimiser state) to
    ``run_dir/snapshots/step_NNNNNN/checkpoint`` and return that snapshot's directory, itself a
    run directory (``lewm eval RUN/snapshots/step_003000``): the points of a learning curve.

    Written to a temporary name first, so a kill never leaves a half snapshot under the final name.
    """
    run_dir = Path(run_dir)
    src = checkpoint_dir(run_dir)
    dst = run_dir / SNAPSHOTS / f"step_{int(step):06d}"
    tmp = dst.with_name(dst.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp / CKPT, ignore=shutil.ignore_patterns("training_state.pt"))
    shutil.copy2(tmp / CKPT / "config.json", tmp / "config.json")
    if dst.exists():
        shutil.rmtree(dst)
    tmp.rename(dst)
    return dst


def load_checkpoint(run_dir: str | Path) -> Checkpoint:
    """Read a run's checkpoint (weights, config, meta) without building a model."""
    d = checkpoint_dir(run_dir)
    meta = json.loads((d / "meta.json").read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{d}/meta.json: format_version {meta.get('format_version')!r}, "
            f"this lewm reads {FORMAT_VERSION}"
        )
    config = RunConfig.load(d / "config.json")
    try:
        state = load_file(str(d / "model.safetensors"))
    except Exception as exc:  # safetensors raises several types for a damaged file
        raise CheckpointError(f"{d}/model.safetensors is unreadable: {exc}") from exc
    return Checkpoint(config=config, state_dict=state, meta=meta, path=d)


def load_training_state(run_dir: str | Path) -> dict[str, Any] | None:
    """The resumable optimiser/scheduler state, or None when the checkpoint has none."""
    p = checkpoint_dir(run_dir) / "training_state.pt"
    if not p.is_file():
        return None
    return torch.load(p, map_location="cpu", weights_only=True)


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``load_state_dict(strict=True)`` with an error that names the mismatched keys and shapes."""
    own = unwrap(model).state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if own[k].shape != state[k].shape
    ]
    if missing or unexpected or shapes:
        problems = mismatch_report(missing=missing, unexpected=unexpected, shapes=shapes)
        raise CheckpointError(f"{source} does not match the model: {problems}")
    unwrap(model).load_state_dict(state, strict=True)


def mismatch_report(limit: int = 5, **problems: list[str]) -> str:
    """One line listing key problems, e.g. ``missing=[...]``, ``shapes=["k: a vs b"]``; each list
    is cut to ``limit`` entries. Shared by strict loading and the reference importer."""
    parts = []
    for kind, items in problems.items():
        if not items:
            continue
        more = " …" if len(items) > limit else ""
        if kind == "shapes":
            parts.append("shape mismatch " + "; ".join(items[:limit]) + more)
        else:
            parts.append(f"{kind} keys {items[:limit]}{more}")
    return "; ".join(parts)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare module under DistributedDataParallel / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model
