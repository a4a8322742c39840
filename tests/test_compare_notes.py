"""`lewm compare`'s closing notes: each run's lr and final loss terms, and whether a DINO-WM-style
run has pretrained features at all (docs/baselines.md)."""

from __future__ import annotations

import json

from lewm.config import RunConfig
from lewm.evaluation.compare import final_terms, format_compare, run_note


def _metrics(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_final_terms_prefer_the_last_validation_record(tmp_path):
    _metrics(
        tmp_path / "metrics.jsonl",
        [
            {"step": 10, "loss": 9.0, "var": 0.5},
            {"step": 10, "val_loss": 8.0, "val_var": 0.4, "val_cov": 0.1},
            {"step": 20, "loss": 7.0, "var": 0.3},
            {"step": 20, "val_loss": 6.0, "val_var": 0.2, "val_cov": 0.05},
        ],
    )
    assert final_terms(tmp_path) == {"loss": 6.0, "var": 0.2, "cov": 0.05}
    assert final_terms(tmp_path / "missing") == {}


def test_notes_name_the_pldm_terms_and_a_random_dinowm_encoder():
    pldm = RunConfig.load(None, ["model.kind=pldm", "train.lr=3e-3"])
    note = run_note(pldm, {"pred_loss": 0.01, "var": 0.123, "cov": 0.2, "sigreg": 5.0})
    assert note.startswith("lr 0.003") and "var 0.123" in note and "sigreg" not in note
    dino = RunConfig.load(None, ["model.kind=dinowm"])
    assert "without pretrained DINOv2 features" in run_note(dino, {})
    real = RunConfig.load(None, ["model.kind=dinowm", "model.dino_weights=/w/dinov2_vits14.pth"])
    assert "dinov2_vits14.pth" in run_note(real, {}) and "RANDOM" not in run_note(real, {})


def test_the_table_ends_with_the_notes():
    row = {
        "name": "pldm-lr3e-3",
        "kind": "pldm",
        "success_mean": 0.5,
        "success_ci": 0.1,
        "random_success": 0.04,
        "planning_time_s": 0.6,
        "plan_s_batch": 20.0,
        "tokens_per_frame": 1,
        "params": 2_900_000,
        "trainable_params": 2_900_000,
        "train_minutes": 8.0,
        "steps": 1800,
        "note": "lr 0.003; final terms (val): var 0.01",
        "source": "evaluated",
    }
    lines = format_compare([row]).splitlines()
    assert "1800" in lines[3]
    assert lines[-1] == "note pldm-lr3e-3: lr 0.003; final terms (val): var 0.01"
