"""The `lewm` command line: verbs run end to end on tiny data; bad input exits with a message."""

from __future__ import annotations

import json

import pytest
from tests.conftest import TINY_MODEL

from lewm.cli import main


def test_info_prints_the_summary(tiny_dataset, capsys):
    assert main(["info", str(tiny_dataset)]) == 0
    out = capsys.readouterr().out
    assert "episodes" in out and "40" in out and "16x16x3" in out


def test_collect_train_eval_from_the_command_line(tmp_path, capsys):
    data = tmp_path / "d.h5"
    assert (
        main(
            [
                "collect",
                "tworoom",
                "--episodes",
                "12",
                "--image-size",
                "16",
                "--out",
                str(data),
                "--seed",
                "3",
            ]
        )
        == 0
    )
    run = tmp_path / "run"
    overrides = [
        f"data.path={data}",
        *TINY_MODEL,
        "train.batch_size=4",
        "train.max_steps=2",
        "train.sigreg_projections=16",
    ]
    assert main(["train", "--run-dir", str(run), *overrides]) == 0
    assert (run / "checkpoint" / "model.safetensors").is_file()
    assert (
        main(
            [
                "eval",
                str(run),
                "--episodes",
                "2",
                "--seeds",
                "0",
                "plan.num_samples=8",
                "plan.num_elites=2",
                "plan.iterations=1",
                "eval.goal_offset=5",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "planning success" in out and "random policy" in out
    assert json.loads((run / "results.json").read_text())["episodes_per_seed"] == 2


def test_unknown_override_exits_with_a_message(tiny_dataset, tmp_path, capsys):
    code = main(
        ["train", "--run-dir", str(tmp_path / "r"), f"data.path={tiny_dataset}", "train.nope=1"]
    )
    assert code == 2
    assert "unknown config key" in capsys.readouterr().err


def test_corrupt_dataset_exits_with_a_message(tmp_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file at all")
    assert main(["info", str(bad)]) == 2
    assert "bad.h5" in capsys.readouterr().err


def test_resume_without_run_dir_is_refused():
    with pytest.raises(SystemExit):
        main(["train", "--resume"])
