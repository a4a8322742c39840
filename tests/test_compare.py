"""`lewm compare`: two tiny runs of different kinds side by side on the same pairs."""

from __future__ import annotations

import json

import pytest
from tests.conftest import tiny_config

from lewm.cli import main
from lewm.evaluation.compare import COMPARE_RESULTS, compare_runs, format_compare, train_minutes
from lewm.evaluation.protocol import evaluate_run
from lewm.train import train


@pytest.fixture(scope="module")
def two_runs(tiny_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    lewm_run, dino_run = root / "tiny-lewm", root / "tiny-dinowm"
    train(tiny_config(tiny_dataset), lewm_run, progress=False)
    dino = ["model.kind=dinowm", "model.dino_image_size=28", "model.dino_action_dim=4"]
    train(tiny_config(tiny_dataset, *dino), dino_run, progress=False)
    evaluate_run(lewm_run, progress=False)  # 3 pairs x seed 0 -> results.json
    return lewm_run, dino_run


def test_compare_reuses_matching_results_and_evaluates_the_rest(two_runs):
    lewm_run, dino_run = two_runs
    before = (lewm_run / "results.json").read_text()
    rows = compare_runs([lewm_run, dino_run], timing_solves=1, progress=False)
    assert [r["source"] for r in rows] == ["reused results.json", "evaluated"]
    assert (lewm_run / "results.json").read_text() == before  # never rewritten
    evaluated = json.loads((dino_run / "results.json").read_text())
    pairs = [[(e["episode"], e["start"]) for e in s["episodes"]] for s in evaluated["per_seed"]]
    ref = json.loads(before)
    assert pairs == [[(e["episode"], e["start"]) for e in s["episodes"]] for s in ref["per_seed"]]
    assert [r["tokens_per_frame"] for r in rows] == [1, 4]
    assert rows[1]["trainable_params"] < rows[1]["params"]  # the frozen encoder is not trained
    assert all(r["planning_time_s"] > 0 and r["train_minutes"] > 0 for r in rows)
    table = format_compare(rows)
    assert "tiny-lewm" in table and "tiny-dinowm" in table and "1.0x" in table

    # Other pairs: the existing results.json does not match, so compare evaluates again,
    # into a separate file, and leaves results.json alone.
    rows = compare_runs([lewm_run, dino_run], seeds=[0, 1], timing_solves=1, progress=False)
    assert [r["source"] for r in rows] == ["evaluated", "evaluated"]
    assert (lewm_run / "results.json").read_text() == before
    two = json.loads((lewm_run / COMPARE_RESULTS).read_text())
    assert two["seeds"] == [0, 1]
    # A file with more seeds serves a subset: seed 1 alone is reused, its numbers recomputed.
    rows = compare_runs([lewm_run], seeds=[1], timing_solves=1, progress=False)
    assert rows[0]["source"] == f"reused {COMPARE_RESULTS}"
    assert rows[0]["success_mean"] == two["per_seed"][1]["success"] and rows[0]["success_ci"] == 0


def test_cli_prints_the_table_and_writes_json_and_html(two_runs, tmp_path, capsys):
    lewm_run, dino_run = two_runs
    out_json, out_html = tmp_path / "rows.json", tmp_path / "compare.html"
    rc = main(
        [
            "compare",
            str(lewm_run),
            str(dino_run),
            "--timing-solves",
            "1",
            "--json",
            str(out_json),
            "--html",
            str(out_html),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "success %" in text and "tok/frame" in text and "tiny-dinowm" in text
    rows = json.loads(out_json.read_text())
    keys = {"name", "success_mean", "success_ci", "planning_time_s", "tokens_per_frame", "params"}
    assert all(keys | {"train_minutes"} <= set(r) for r in rows)
    assert out_html.is_file() and "tiny-dinowm" in out_html.read_text()


def test_train_minutes_from_metrics_timestamps(tmp_path):
    lines = [{"step": 20, "time": 100.0, "loss": 1.0}, {"step": 120, "time": 160.0, "loss": 0.5}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert train_minutes(tmp_path) == pytest.approx(60 * 120 / 100 / 60)
    assert train_minutes(tmp_path / "missing") is None


def test_compare_holds_every_run_to_unsolved_starts_when_asked(two_runs):
    lewm_run, _ = two_runs
    rows = compare_runs([lewm_run], exclude_solved=True, timing_solves=1, progress=False)
    # results.json was made on the standard pairs: it must not be reused for unsolved ones.
    assert rows[0]["source"] == "evaluated" and rows[0]["requested"]["exclude_solved"] is True
    got = json.loads((lewm_run / COMPARE_RESULTS).read_text())
    assert got["exclude_solved"] is True and got["solved_at_start"] == 0.0
    assert got["per_seed"][0]["solved_draws_rejected"] is not None
    again = compare_runs([lewm_run], exclude_solved=True, timing_solves=1, progress=False)
    assert again[0]["source"] == f"reused {COMPARE_RESULTS}"
    # ...and the standard request still reuses the standard file.
    standard = compare_runs([lewm_run], timing_solves=1, progress=False)
    assert standard[0]["source"] == "reused results.json"
