"""Data recorded by another env, or another version of it, is refused before it is used.

A Push-T file collected before the physics became gym-pusht's (env version 0) holds another
task: training on it, or planning from its states, must fail with a message that says so.
"""

from __future__ import annotations

import json
import shutil

import h5py
import pytest
from tests.conftest import tiny_config

from lewm.data.schema import META_ATTR
from lewm.envs import check_recorded_env
from lewm.evaluation.protocol import evaluate_run
from lewm.train import train


def _with_meta(src, dst, **fields):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        meta = json.loads(f.attrs[META_ATTR])
        meta.update(fields)
        f.attrs[META_ATTR] = json.dumps(meta)
    return dst


def test_check_recorded_env_accepts_own_and_unknown_and_names_mismatches():
    check_recorded_env("pusht", "lewm/PushT-v0", 1, "d.h5")
    check_recorded_env("pusht", "unknown", -1, "reference.h5")  # reference files know no env
    with pytest.raises(
        ValueError,
        match=r"d\.h5 was collected with lewm/PushT-v0 version 0.*"
        r"installed env is version 1.*lewm collect pusht",
    ):
        check_recorded_env("pusht", "lewm/PushT-v0", 0, "d.h5")
    with pytest.raises(ValueError, match=r"'lewm/Reacher-v0', not with the run's env 'lewm/Cube"):
        check_recorded_env("cube", "lewm/Reacher-v0", 0, "d.h5")


def test_training_refuses_a_dataset_of_another_env_version(tiny_dataset, tmp_path):
    stale = _with_meta(tiny_dataset, tmp_path / "stale.h5", env_version=7)
    with pytest.raises(ValueError, match="version 7.*installed env is version 0"):
        train(tiny_config(stale), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_evaluation_refuses_states_of_another_env(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(tiny_dataset, "train.max_steps=2"), run, progress=False)
    other = _with_meta(tiny_dataset, tmp_path / "other.h5", env_id="lewm/PushT-v0", env_version=1)
    with pytest.raises(ValueError, match="collected with 'lewm/PushT-v0', not with the run's env"):
        evaluate_run(run, data_path=str(other), progress=False)
    assert not (run / "results.json").exists()
