"""Training loop: loss goes down, checkpoints round-trip, kill + resume is exact, NaN stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from tests.conftest import tiny_config

from lewm.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_state_strict,
    load_training_state,
)
from lewm.config import ConfigError, RunConfig
from lewm.evaluation.protocol import evaluate_run, load_model
from lewm.model import LeWM
from lewm.runtime import generator
from lewm.train import TrainingDiverged, lr_at, objective, open_datasets, train


def _fixed_batch(cfg):
    _, ds, _ = open_datasets(cfg)
    batch = ds.get_batch(list(range(0, 64, 4)))
    return batch["pixels"], batch["actions"]


def test_real_steps_lower_the_loss(tiny_dataset, tmp_path):
    cfg = tiny_config(
        tiny_dataset,
        "train.max_steps=40",
        "train.lr=3e-3",
        "train.warmup_frac=0",
        "train.val_every=20",
        "train.ckpt_every=40",
    )
    pixels, blocks = _fixed_batch(cfg)

    def loss_of(model):
        model.eval()
        with torch.no_grad():
            return float(objective(model, pixels, blocks, cfg, generator("cpu", 1))["loss"])

    torch.manual_seed(cfg.train.seed)
    before = loss_of(LeWM(cfg.model))
    train(cfg, tmp_path / "run", progress=False)
    after = loss_of(load_model(tmp_path / "run", torch.device("cpu"))[0])
    assert after < 0.9 * before, (before, after)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert {"loss", "pred_loss", "sigreg", "lr", "grad_norm"} <= set(records[0])
    assert any("val_loss" in r for r in records)


def test_save_load_gives_identical_outputs(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, "train.max_steps=3")
    train(cfg, tmp_path / "run", progress=False)
    model, loaded_cfg, meta = load_model(tmp_path / "run", torch.device("cpu"))
    assert loaded_cfg == cfg and meta["step"] == 3
    again, _, _ = load_model(tmp_path / "run", torch.device("cpu"))
    pixels, blocks = _fixed_batch(cfg)
    with torch.no_grad():
        a = model.predict(model.encode(pixels[:, :3]), model.encode_actions(blocks[:, :3]))
        b = again.predict(again.encode(pixels[:, :3]), again.encode_actions(blocks[:, :3]))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert len(meta["action_mean"]) == 2 and meta["format_version"] == 1


def test_mismatched_checkpoint_is_refused_with_key_names(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, "train.max_steps=1")
    train(cfg, tmp_path / "run", progress=False)
    ckpt = load_checkpoint(tmp_path / "run")
    other = LeWM(tiny_config(tiny_dataset, "model.embed_dim=24").model)
    with pytest.raises(CheckpointError, match="shape mismatch.*pred_proj"):
        load_state_strict(other, ckpt.state_dict, "ckpt")
    missing = dict(ckpt.state_dict)
    missing.pop(next(iter(missing)))
    with pytest.raises(CheckpointError, match="missing keys"):
        load_state_strict(LeWM(cfg.model), missing, "ckpt")


def test_no_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path)


def test_dataset_that_does_not_match_the_model_is_refused(tiny_dataset):
    cfg = tiny_config(tiny_dataset, "model.image_size=32")
    with pytest.raises(ValueError, match="image_size 16 vs model.image_size=32"):
        open_datasets(cfg)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tiny_dataset, tmp_path, monkeypatch):
    import lewm.train as train_mod

    real = train_mod.objective
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        out = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 5:  # the 5th training step (validation at step 3 also calls it)
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(train_mod, "objective", poisoned)
    cfg = tiny_config(tiny_dataset, "train.max_steps=6", "train.val_every=100")
    with pytest.raises(TrainingDiverged, match="non-finite loss at step 4"):
        train(cfg, tmp_path / "run", progress=False)
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt.meta["step"] == 3
    assert all(torch.isfinite(v).all() for v in ckpt.state_dict.values() if v.is_floating_point())


def test_schedule_warms_up_then_decays_to_zero():
    cfg = RunConfig.load(None, ["train.lr=1e-3", "train.warmup_frac=0.1"])
    lrs = [lr_at(s, cfg, 100) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] < 1e-5


def test_minutes_schedule_follows_the_clock_and_ends_at_zero():
    cfg = RunConfig.load(
        None,
        [
            "train.lr=1e-3",
            "train.warmup_frac=0.1",
            "train.schedule=minutes",
            "train.max_minutes=10",
        ],
    )
    # Early steps of a long step budget: the clock, not the step count, sets the rate.
    assert lr_at(5, cfg, 100_000, time_frac=0.05) == pytest.approx(0.5e-3)
    assert lr_at(5, cfg, 100_000, time_frac=0.1) == pytest.approx(1e-3)
    assert lr_at(5, cfg, 100_000, time_frac=0.55) == pytest.approx(0.5e-3)
    fracs = [i / 100 for i in range(10, 101)]
    lrs = [lr_at(50, cfg, 100_000, f) for f in fracs]
    assert all(a >= b for a, b in zip(lrs, lrs[1:])) and lrs[-1] == pytest.approx(0.0, abs=1e-12)
    # The steps running out first end the schedule too.
    assert lr_at(100, cfg, 100, time_frac=0.2) == pytest.approx(0.0, abs=1e-12)


def test_minutes_schedule_needs_a_time_budget():
    with pytest.raises(ConfigError, match="train.schedule"):
        RunConfig.load(None, ["train.schedule=minutes"])
    with pytest.raises(ConfigError, match="train.schedule"):
        RunConfig.load(None, ["train.schedule=hours", "train.max_minutes=1"])


def test_time_capped_run_anneals_under_the_minutes_schedule(tiny_dataset, tmp_path):
    """A step schedule cut by max_minutes stops at a high rate; 'minutes' ends near 0 and keeps
    the time it spent for a resume."""
    common = ["train.max_steps=100000", "train.max_minutes=0.05", "train.warmup_frac=0"]
    common += ["train.val_every=100000", "train.ckpt_every=100000", "train.log_every=1"]
    for schedule in ("steps", "minutes"):
        cfg = tiny_config(tiny_dataset, *common, f"train.schedule={schedule}")
        result = train(cfg, tmp_path / schedule, progress=False)
        assert 1 < result.step < 100000
        lrs = [json.loads(line)["lr"] for line in (tmp_path / schedule / "metrics.jsonl").open()]
        if schedule == "steps":
            assert lrs[-1] > 0.99 * cfg.train.lr
        else:
            assert lrs[-1] < 0.1 * cfg.train.lr and lrs[0] > 0.9 * cfg.train.lr
    state = load_training_state(tmp_path / "minutes")
    assert state["elapsed_s"] >= 0.05 * 60
    # A resume with twice the budget picks the clock up half-way: the rate starts near half.
    n_before = len(lrs)
    cfg = tiny_config(tiny_dataset, *common, "train.schedule=minutes", "train.max_minutes=0.1")
    train(cfg, tmp_path / "minutes", resume=True, progress=False)
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "minutes" / "metrics.jsonl").open()]
    assert 0.3 * cfg.train.lr < lrs[n_before] < 0.7 * cfg.train.lr
    assert lrs[-1] < 0.1 * cfg.train.lr


def _train_cmd(cfg_path, run_dir, resume=False):
    cmd = [
        sys.executable,
        "-m",
        "lewm",
        "train",
        "--config",
        str(cfg_path),
        "--run-dir",
        str(run_dir),
    ]
    return cmd + (["--resume"] if resume else [])


def test_killed_run_resumes_to_the_same_weights(tiny_dataset, tmp_path):
    """SIGKILL a real training process mid-run, resume it, compare with an uninterrupted run."""
    cfg = tiny_config(tiny_dataset, "train.max_steps=30", "train.ckpt_every=2", "train.val_every=7")
    cfg_path = tmp_path / "cfg.json"
    cfg.save(cfg_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    subprocess.run(
        _train_cmd(cfg_path, tmp_path / "full"), check=True, env=env, capture_output=True
    )

    proc = subprocess.Popen(
        _train_cmd(cfg_path, tmp_path / "killed"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    meta = tmp_path / "killed" / "checkpoint" / "meta.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if json.loads(meta.read_text())["step"] >= 6:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(tmp_path / "killed").meta["step"]
    assert 6 <= killed_at < 30, "the run should have been killed mid-way"

    subprocess.run(
        _train_cmd(cfg_path, tmp_path / "killed", resume=True),
        check=True,
        env=env,
        capture_output=True,
    )
    full, resumed = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "killed")
    assert resumed.meta["step"] == full.meta["step"] == 30
    for k, v in full.state_dict.items():
        torch.testing.assert_close(resumed.state_dict[k], v, rtol=0, atol=0, msg=k)


def test_keep_every_leaves_evaluable_snapshots_of_a_learning_curve(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, "train.max_steps=6", "train.ckpt_every=2", "train.keep_every=4")
    train(cfg, tmp_path / "run", progress=False)
    snaps = sorted(p.name for p in (tmp_path / "run" / "snapshots").iterdir())
    assert snaps == ["step_000004"]  # every 4th step's checkpoint, not the others
    snap = tmp_path / "run" / "snapshots" / "step_000004"
    early, last = load_checkpoint(snap), load_checkpoint(tmp_path / "run")
    assert early.meta["step"] == 4 and last.meta["step"] == 6 and early.config == cfg
    assert not (snap / "checkpoint" / "training_state.pt").exists()  # weights only
    assert any(not torch.equal(early.state_dict[k], last.state_dict[k]) for k in last.state_dict)
    results = evaluate_run(snap, progress=False)  # a snapshot is a run directory of its own
    assert results["step"] == 4 and (snap / "results.json").is_file()


def test_keep_every_must_be_a_multiple_of_ckpt_every():
    with pytest.raises(ValueError, match="train.keep_every.*multiple of train.ckpt_every"):
        RunConfig.load(None, ["train.ckpt_every=500", "train.keep_every=750"])
