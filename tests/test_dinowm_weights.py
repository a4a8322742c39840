"""Real DINOv2 weights for the DINO-WM-style baseline (docs/baselines.md "Pretrained weights"):
the file torch hub caches for ``dinov2_vits14`` loads through ``model.dino_weights`` as is."""

from __future__ import annotations

import logging

import pytest
import torch
from safetensors.torch import save_file
from tests.conftest import tiny_config
from tests.test_dinowm import TINY_DINO, public_dinov2_vits14_shapes

from lewm.baselines import build_model

# torch.hub.load("facebookresearch/dinov2", "dinov2_vits14") downloads this file into
# ~/.cache/torch/hub/checkpoints/ (a plain state dict with the names of lewm.model.dinov2).
HUB_FILE = "dinov2_vits14_pretrain.pth"


def _fake_pretrained(registers: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with the public checkpoint's names and shapes (not DINOv2's values)."""
    gen = torch.Generator().manual_seed(7)
    shapes = public_dinov2_vits14_shapes(registers)
    return {k: torch.randn(s, generator=gen) * 0.02 for k, s in shapes.items()}


def test_the_torch_hub_file_loads_through_model_dino_weights(tiny_dataset, tmp_path, caplog):
    state = _fake_pretrained()
    path = tmp_path / HUB_FILE
    torch.save(state, path)
    cfg = tiny_config(tiny_dataset, *TINY_DINO, f"model.dino_weights={path}")
    with caplog.at_level(logging.WARNING):
        model = build_model(cfg.model)
    assert "FIXED RANDOM" not in caplog.text  # the random-encoder warning is for no file only
    own = model.encoder.state_dict()
    assert set(own) == set(state) and all(torch.equal(own[k], state[k]) for k in state)
    random_model = build_model(tiny_config(tiny_dataset, *TINY_DINO).model)
    px = torch.randint(0, 255, (1, 2, 16, 16, 3), dtype=torch.uint8)
    assert not torch.allclose(model.encode(px), random_model.encode(px))  # the file is used
    # The same tensors as safetensors, and the registers variant (dinov2_vits14_reg4).
    st = tmp_path / "dinov2_vits14_pretrain.safetensors"
    save_file(state, str(st))
    enc = build_model(tiny_config(tiny_dataset, *TINY_DINO, f"model.dino_weights={st}").model)
    assert torch.equal(enc.encoder.state_dict()["pos_embed"], state["pos_embed"])
    reg = tmp_path / "dinov2_vits14_reg4_pretrain.pth"
    torch.save(_fake_pretrained(registers=4), reg)
    enc = build_model(tiny_config(tiny_dataset, *TINY_DINO, f"model.dino_weights={reg}").model)
    assert enc.encoder.state_dict()["register_tokens"].shape == (1, 4, 384)


def test_a_missing_weights_file_names_the_field(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, *TINY_DINO, f"model.dino_weights={tmp_path / HUB_FILE}")
    with pytest.raises(FileNotFoundError, match="model.dino_weights.*dinov2_vits14_pretrain"):
        build_model(cfg.model)
