"""`lewm imagine`: decode an open-loop rollout under a test episode's recorded actions beside the
real frames (SPEC §7 "Decoder"). Writes ``imagine.png`` (rows: real frames, the decoder's
reconstruction of their embeddings, the decoded rollout), ``imagine.gif`` (the same side by side)
and ``imagine.json`` (per-step latent and pixel errors). The decoder is trained once on frozen
embeddings of training frames and cached as ``decoder.safetensors`` in the run directory.

Shapes: T latent frames (every frameskip env steps), C context frames, D latent, K action block.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from lewm.evaluation.decoder import (
    DecoderConfig,
    default_patch_size,
    load_decoder,
    save_decoder,
    to_unit,
    train_decoder,
)
from lewm.evaluation.embeddings import (
    Run,
    encode_frames,
    episode_rows,
    open_run,
    read_rows,
    subsample_episodes,
)
from lewm.planning.mpc import env_actions_to_blocks

log = logging.getLogger(__name__)


def decoder_for_run(
    run: Run,
    steps: int = 1000,
    max_frames: int = 5000,
    seed: int = 0,
    retrain: bool = False,
    progress: bool = False,
) -> tuple[torch.nn.Module, dict]:
    """Load ``decoder.safetensors`` if it was trained on this checkpoint step, else train one on
    up to ``max_frames`` training frames and save it. Returns (decoder, info)."""
    path = run.run_dir / "decoder.safetensors"
    step = run.meta.get("step")
    if path.exists() and not retrain:
        dec, info = load_decoder(path, run.device)
        if info.get("model_step") == step:
            log.info("imagine: loaded %s", path)
            return dec, {**info, "loaded": True}
        log.info(
            "imagine: %s was trained on step %s, not %s; retraining",
            path,
            info.get("model_step"),
            step,
        )
    eps = run.store.episodes("train")
    rows = np.concatenate(episode_rows(run.store, eps))
    if len(rows) > max_frames:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_frames, replace=False))
    frames = read_rows(run.store, "pixels", rows)
    z = encode_frames(run.model, frames, run.device, progress=progress)
    size = run.cfg.model.image_size
    cfg = DecoderConfig(run.cfg.model.embed_dim, size, default_patch_size(size))
    dec, losses = train_decoder(
        z, frames, cfg, steps=steps, seed=seed, device=run.device, progress=progress
    )
    tail = losses[-max(1, len(losses) // 20) :]
    info = {
        "model_step": step,
        "steps": steps,
        "frames": len(rows),
        "final_train_mse": float(np.mean(tail)),
        "first_train_mse": losses[0],
    }
    save_decoder(dec, path, info)
    return dec, {**info, "loaded": False}


def pick_episode(run: Run, frames: int, episode: int | None, seed: int) -> int:
    """The requested episode, else a seeded random test episode with >= ``frames`` latent frames
    (the longest test episode when none is long enough)."""
    if episode is not None:
        return int(episode)
    fs = run.cfg.data.frameskip
    eps = run.store.episodes("test")
    if len(eps) == 0:
        raise ValueError(f"{run.store.path}: no test episodes")
    n_frames = (run.store.ep_len[eps] - 1) // fs + 1
    long_enough = eps[n_frames >= frames]
    if len(long_enough):
        return int(subsample_episodes(long_enough, 1, seed)[0])
    return int(eps[np.argmax(n_frames)])


@torch.no_grad()
def open_loop(run: Run, episode: int, frames: int, context: int) -> dict[str, np.ndarray]:
    """Real frames (T, H, W, 3), their embeddings (T, D) and the rollout (T, D) whose first
    ``context`` entries are the real embeddings, under the episode's recorded actions."""
    fs = run.cfg.data.frameskip
    off, length = int(run.store.ep_offset[episode]), int(run.store.ep_len[episode])
    t = min(frames, (length - 1) // fs + 1)
    if t <= context:
        raise ValueError(f"episode {episode} has {t} latent frames; need more than {context}")
    px = read_rows(run.store, "pixels", off + np.arange(t) * fs)
    raw = np.asarray(run.store.column("action")[off : off + (t - 1) * fs], np.float32)
    blocks = env_actions_to_blocks(raw[None], fs, run.action_mean, run.action_std)  # (1,T-1,K)
    z = encode_frames(run.model, px, run.device)  # (T, D)
    roll = run.model.rollout(z[None, :context].to(run.device), blocks[:, None].to(run.device))
    return {"real": px, "z": z, "rollout": roll[0, 0].float().cpu()}


def run_imagine(
    run_dir: str | Path,
    data: str | None = None,
    decoder_steps: int = 1000,
    episode: int | None = None,
    frames: int = 16,
    context: int = 1,
    seed: int = 0,
    retrain: bool = False,
    device: str | None = None,
    progress: bool = False,
) -> dict:
    """`lewm imagine`: writes imagine.png / imagine.gif / imagine.json into the run directory."""
    from lewm.report.plots import image_grid, side_by_side_gif

    run = open_run(run_dir, data, device)
    dec, info = decoder_for_run(run, decoder_steps, seed=seed, retrain=retrain, progress=progress)
    ep = pick_episode(run, frames, episode, seed)
    out = open_loop(run, ep, frames, context)
    recon = dec.render(out["z"].to(run.device))
    imagined = dec.render(out["rollout"].to(run.device))
    real_f = to_unit(out["real"])
    res = {
        "episode": ep,
        "context": context,
        "frames": len(out["real"]),
        "frameskip": run.cfg.data.frameskip,
        "latent_error": ((out["rollout"] - out["z"]) ** 2).sum(-1).tolist(),
        "pixel_mse_imagined": ((to_unit(imagined) - real_f) ** 2).mean((1, 2, 3)).tolist(),
        "pixel_mse_reconstruction": ((to_unit(recon) - real_f) ** 2).mean((1, 2, 3)).tolist(),
        "decoder": info,
        "run_dir": str(run.run_dir),
        "step": run.meta.get("step"),
    }
    rows = {"real": out["real"], "decoded real": recon, "imagined": imagined}
    scale = max(1, 128 // run.cfg.model.image_size)
    image_grid(rows, run.run_dir / "imagine.png")
    side_by_side_gif(rows, run.run_dir / "imagine.gif", scale=scale)
    (run.run_dir / "imagine.json").write_text(json.dumps(res, indent=2) + "\n")
    return res
