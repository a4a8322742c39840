"""Files of the reference format: read a released ``weights.pt`` (``torch.load(weights_only=True)``,
nothing unpickled) + ``config.json``, write them back, and the run-directory verbs
`lewm import-reference` / `lewm export-reference`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lewm.checkpoint import CheckpointError
from lewm.config import ModelConfig
from lewm.reference.configs import model_config_from_reference, reference_config
from lewm.reference.keys import export_state_dict, import_state_dict, unwrap_state


def import_reference(
    weights_pt: str | Path, config_json: str | Path, frameskip: int = 5
) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """Read a released ``weights.pt`` + ``config.json`` -> (our ModelConfig, our state dict).

    ``weights_pt`` is loaded with ``weights_only=True``; the state dict loads strictly into
    ``LeWM(cfg)``. Raises :class:`CheckpointError` on an unreadable file or any key mismatch.
    """
    weights_pt, config_json = Path(weights_pt), Path(config_json)
    try:
        ref_cfg = json.loads(config_json.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{config_json}: unreadable config ({exc})") from exc
    cfg = model_config_from_reference(ref_cfg, frameskip=frameskip)
    try:
        obj = torch.load(weights_pt, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad or pickled files
        raise CheckpointError(f"{weights_pt}: cannot load with weights_only=True ({exc})") from exc
    state = import_state_dict(unwrap_state(obj, str(weights_pt)), cfg, str(weights_pt))
    return cfg, state


def export_reference(model: nn.Module, naming: str = "old") -> dict[str, torch.Tensor]:
    """Our LeWM -> the reference state dict; see :func:`export_state_dict`."""
    return export_state_dict(model, naming)


def write_reference(
    model: nn.Module, out_dir: str | Path, naming: str = "old"
) -> tuple[Path, Path]:
    """Write ``out_dir/weights.pt`` (tensors only) and ``out_dir/config.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights, config = out_dir / "weights.pt", out_dir / "config.json"
    torch.save(export_state_dict(model, naming), weights)
    config.write_text(json.dumps(reference_config(model.cfg), indent=2) + "\n")
    return weights, config


def import_to_run_dir(
    weights_pt: str | Path,
    config_json: str | Path,
    out: str | Path,
    frameskip: int = 5,
    env: str | None = None,
    data: str | Path | None = None,
) -> Path:
    """`lewm import-reference`: write a run directory that `lewm eval` loads.

    The released files carry no action statistics; with ``data`` (an HDF5 episode file) its
    ``action_mean`` / ``action_std`` go into the checkpoint's meta, otherwise `lewm eval` takes
    them from the dataset it is given (``--data``). Returns the checkpoint directory.
    """
    from lewm.checkpoint import save_checkpoint
    from lewm.config import DataConfig, RunConfig
    from lewm.model import LeWM

    cfg, state = import_reference(weights_pt, config_json, frameskip=frameskip)
    model = LeWM(cfg)
    model.load_state_dict(state, strict=True)
    data_cfg = DataConfig(frameskip=frameskip, num_frames=max(4, cfg.history + 1))
    meta: dict[str, Any] = {
        "imported_from": {"weights": str(weights_pt), "config": str(config_json)},
    }
    if data is not None:
        from lewm.data.store import EpisodeStore

        store = EpisodeStore(data, in_memory=False)
        if len(store.action_mean) != cfg.action_dim:
            raise CheckpointError(
                f"{data}: action dim {len(store.action_mean)}, the checkpoint needs "
                f"{cfg.action_dim} (action_encoder.input_dim / frameskip {frameskip})"
            )
        meta["action_mean"] = store.action_mean.tolist()
        meta["action_std"] = store.action_std.tolist()
        data_cfg = DataConfig(path=str(data), frameskip=frameskip, num_frames=data_cfg.num_frames)
    run = RunConfig(data=data_cfg, model=cfg)
    if env is not None:
        run = run.replace(env=env)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run.save(out / "config.json")
    return save_checkpoint(out, model, run, step=0, extra_meta=meta)


def export_run_dir(run_dir: str | Path, out: str | Path, naming: str = "old") -> tuple[Path, Path]:
    """`lewm export-reference`: a run's checkpoint -> ``out/weights.pt`` + ``out/config.json``."""
    from lewm.checkpoint import load_checkpoint, load_state_strict
    from lewm.model import LeWM

    ckpt = load_checkpoint(run_dir)
    model = LeWM(ckpt.config.model)
    load_state_strict(model, ckpt.state_dict, str(ckpt.path / "model.safetensors"))
    return write_reference(model, out, naming=naming)
