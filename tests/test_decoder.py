"""The visualisation decoder overfits a handful of frames and round-trips through its file."""

from __future__ import annotations

import numpy as np
import torch

from lewm.envs import make
from lewm.evaluation.decoder import (
    DecoderConfig,
    default_patch_size,
    load_decoder,
    save_decoder,
    train_decoder,
)


def test_decoder_overfits_a_handful_of_frames_and_reloads(tmp_path):
    env = make("tworoom", image_size=16)
    frames = []
    for seed in range(6):
        env.reset(seed=seed)
        frames.append(env.render())
    frames = np.stack(frames)
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
    cfg = DecoderConfig(embed_dim=8, image_size=16, patch_size=default_patch_size(16), width=32)
    dec, losses = train_decoder(z, frames, cfg, steps=150, batch_size=6, lr=3e-3, seed=0)
    assert np.mean(losses[-10:]) < losses[0] / 5, (losses[0], losses[-10:])
    assert dec.render(z).shape == (6, 16, 16, 3) and dec.render(z).dtype == np.uint8
    save_decoder(dec, tmp_path / "decoder.safetensors", {"model_step": 7})
    dec2, extra = load_decoder(tmp_path / "decoder.safetensors")
    assert extra == {"model_step": 7} and dec2.cfg == cfg
    with torch.no_grad():
        assert torch.equal(dec(z), dec2(z))
    assert default_patch_size(64) == 8 and default_patch_size(224) == 28
