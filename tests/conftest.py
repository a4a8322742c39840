"""Shared fixtures: a tiny real Two-Room dataset and a tiny model config (CPU, seconds)."""

from __future__ import annotations

import os

# MuJoCo picks its GL backend when first imported; headless CI renders with EGL (the CLI does
# the same in cli.main). Library modules never set it.
os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402

from lewm.config import RunConfig

TINY_MODEL = [
    "model.encoder=cnn",
    "model.image_size=16",
    "model.enc_width=32",
    "model.enc_depth=2",
    "model.embed_dim=16",
    "model.proj_hidden=32",
    "model.pred_depth=1",
    "model.pred_heads=2",
    "model.pred_head_dim=8",
    "model.pred_mlp=32",
    "model.action_mlp_ratio=2",
]


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """40 expert Two-Room episodes rendered at 16 px (split 90/5/5 by episode)."""
    from lewm.data.collect import collect

    path = tmp_path_factory.mktemp("data") / "tworoom16.h5"
    collect(
        "tworoom",
        path,
        episodes=40,
        image_size=16,
        policy="expert",
        seed=5,
        workers=1,
        progress=False,
        min_length=30,
    )
    return path


def tiny_config(data_path, *overrides: str) -> RunConfig:
    """A model small enough to train a few steps in about a second."""
    base = [
        f"data.path={data_path}",
        *TINY_MODEL,
        "train.batch_size=8",
        "train.lr=1e-3",
        "train.max_steps=6",
        "train.log_every=1",
        "train.val_every=3",
        "train.val_batches=1",
        "train.ckpt_every=3",
        "train.sigreg_projections=64",
        "plan.num_samples=32",
        "plan.num_elites=4",
        "plan.iterations=2",
        "eval.episodes=3",
        "eval.seeds=[0]",
    ]
    return RunConfig.load(None, [*base, *overrides])
