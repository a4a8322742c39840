"""Run configuration: presets, dotted overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lewm.baselines import build_model
from lewm.config import ConfigError, RunConfig
from lewm.model import LeWM

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_overrides_are_typed_and_nested():
    cfg = RunConfig.load(
        None,
        [
            "train.lr=1e-4",
            "eval.seeds=[3,4]",
            "model.encoder=cnn",
            "train.tensorboard=true",
            "train.max_steps=7",
        ],
    )
    assert cfg.train.lr == 1e-4 and cfg.eval.seeds == (3, 4) and cfg.model.encoder == "cnn"
    assert cfg.train.tensorboard is True and cfg.train.max_steps == 7


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lrr=1", "unknown config key.*train.lrr"),
        ("nosection.x=1", "unknown config key.*nosection"),
        ("train.batch_size=abc", "train.batch_size.*integer"),
        ("train.batch_size=1", "train.batch_size"),
        ("model.patch_size=7", "model.patch_size.*divide"),
        ("plan.num_elites=1000", "plan.num_elites"),
        ("train.precision=fp16", "train.precision"),
        ("model.history=4", "model.history"),
        ("novalue", "section.key=value"),
    ],
)
def test_bad_values_name_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.load(None, [override])


def test_round_trip_through_json(tmp_path):
    cfg = RunConfig.load(CONFIGS / "tworoom-cpu.yaml", ["train.seed=7"])
    cfg.save(tmp_path / "c.json")
    assert RunConfig.load(tmp_path / "c.json") == cfg


def test_missing_preset_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        RunConfig.load(tmp_path / "nope.yaml")


def test_paper_preset_has_the_reference_parameter_count():
    cfg = RunConfig.load(CONFIGS / "tworoom-paper.yaml")
    assert LeWM(cfg.model).param_counts()["total"] == 18_034_478


@pytest.mark.parametrize("preset", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_preset_loads_and_states_its_parameter_count(preset):
    text = (CONFIGS / preset).read_text()
    cfg = RunConfig.load(CONFIGS / preset)
    total = build_model(cfg.model).param_counts()["total"]
    assert f"{total:,}" in text, f"{preset} should state its parameter count ({total:,})"
