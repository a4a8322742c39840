"""`lewm probe / surprise / straightness / imagine / tsne` end to end on a tiny trained run."""

from __future__ import annotations

import json

import pytest
from tests.conftest import tiny_config

from lewm.cli import main
from lewm.train import train


@pytest.fixture(scope="module")
def tiny_run(tiny_dataset, tmp_path_factory):
    run = tmp_path_factory.mktemp("physics") / "run"
    train(tiny_config(tiny_dataset, "train.max_steps=2"), run, progress=False)
    return run


def test_training_logs_validation_straightness(tiny_run):
    rows = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    vals = [r["val_straightness"] for r in rows if "val_straightness" in r]
    assert vals and all(-1.0 <= v <= 1.0 for v in vals)


def test_physics_commands_write_their_files(tiny_run, capsys):
    run = str(tiny_run)
    assert main(["probe", run, "--max-episodes", "6", "--mlp-steps", "20"]) == 0
    probe = json.loads((tiny_run / "probe.json").read_text())
    assert "agent" in probe["groups"] and "door_y" in probe["skipped"]
    assert "agent (pos)" in capsys.readouterr().out

    assert main(["surprise", run, "--trajectories", "4", "--step", "3", "--frames", "5"]) == 0
    sur = json.loads((tiny_run / "surprise.json").read_text())
    assert set(sur["conditions"]) == {"unperturbed", "visual", "teleport"}
    assert 0.0 <= sur["tests"]["teleport"]["p"] <= 1.0
    assert (tiny_run / "surprise.png").stat().st_size > 0

    assert main(["straightness", run]) == 0
    st = json.loads((tiny_run / "straightness.json").read_text())
    assert -1.0 <= st["straightness"] <= 1.0 and st["episodes"] >= 1

    assert main(["imagine", run, "--decoder-steps", "5", "--frames", "5"]) == 0
    im = json.loads((tiny_run / "imagine.json").read_text())
    assert len(im["latent_error"]) == im["frames"] and im["latent_error"][0] == 0.0
    assert not im["decoder"]["loaded"]
    for name in ("imagine.png", "imagine.gif", "decoder.safetensors"):
        assert (tiny_run / name).stat().st_size > 0
    assert main(["imagine", run, "--frames", "5"]) == 0  # reuses the saved decoder
    assert json.loads((tiny_run / "imagine.json").read_text())["decoder"]["loaded"]

    assert main(["tsne", run, "--max-points", "40", "--iterations", "30"]) == 0
    ts = json.loads((tiny_run / "tsne.json").read_text())
    assert ts["colour_by"] == ["agent_x", "agent_y"] and len(ts["tsne"]) == ts["points"]
    assert (tiny_run / "tsne.png").stat().st_size > 0
