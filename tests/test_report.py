"""`lewm report`: one valid, self-contained HTML page per run, and it renders in a real browser."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import TINY_MODEL, tiny_config

from lewm.cli import main
from lewm.evaluation.protocol import evaluate_run
from lewm.pipeline import run_pipeline
from lewm.report.html import build_compare_report, build_report
from lewm.train import train

VOID = {"meta", "img", "br", "hr", "input", "link", "source", "col", "area", "base", "wbr"}
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


@pytest.fixture(scope="module")
def tiny_run(tiny_dataset, tmp_path_factory):
    """A trained tiny run with an evaluation (and its episode GIFs), a probe and a surprise test;
    no straightness, imagine or t-SNE artefacts."""
    run = tmp_path_factory.mktemp("report") / "run"
    train(tiny_config(tiny_dataset, "train.max_steps=4"), run, progress=False)
    evaluate_run(run, video_dir=run / "videos", progress=False)
    assert main(["probe", str(run), "--max-episodes", "6", "--mlp-steps", "20"]) == 0
    assert main(["surprise", str(run), "--trajectories", "4", "--step", "3", "--frames", "5"]) == 0
    return run


class _Checker(HTMLParser):
    """Tracks nesting (every non-void tag closed in order) and collects attributes."""

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.attrs = [], [], []

    def handle_starttag(self, tag, attrs):
        self.attrs.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def _sections(text: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="(\w+)"><h2>.*?</h2>(.*?)</section>', text, re.S))


def _check_page(text: str) -> _Checker:
    """Valid nesting and no reference outside the file; every embedded image decodes."""
    from PIL import Image

    assert text.startswith("<!DOCTYPE html>")
    chk = _Checker()
    chk.feed(text)
    chk.close()
    assert not chk.errors and not chk.stack, (chk.errors, chk.stack)
    assert "http://" not in text and "https://" not in text
    for tag, attrs in chk.attrs:
        assert tag != "link", "external stylesheet"
        assert not (tag == "script" and "src" in attrs), "external script"
        if "href" in attrs:
            assert attrs["href"].startswith("#"), attrs["href"]
        if "src" in attrs:
            head, _, payload = attrs["src"].partition(";base64,")
            assert head in ("data:image/png", "data:image/gif"), head
            Image.open(io.BytesIO(base64.b64decode(payload))).verify()
    return chk


def test_report_holds_each_section_of_the_run(tiny_run):
    out = build_report(tiny_run)
    assert out == tiny_run / "report.html"
    text = out.read_text()
    _check_page(text)
    sec = _sections(text)
    assert list(sec) == [
        "run",
        "training",
        "evaluation",
        "probe",
        "surprise",
        "straightness",
        "imagine",
        "tsne",
    ]
    meta = json.loads((tiny_run / "checkpoint" / "meta.json").read_text())
    assert f"{meta['params']['total']:,}" in sec["run"]  # parameter count per part and total
    assert sec["training"].count("<img") == 1 and "pred_loss" in sec["training"]
    res = json.loads((tiny_run / "results.json").read_text())
    # The tiny run has one evaluation seed: no spread to estimate, so no "± 0.0".
    assert f"{100 * res['success_mean']:.1f}%</b> (one seed: no interval)" in sec["evaluation"]
    assert "± 0.0" not in sec["evaluation"]
    assert "random policy" in sec["evaluation"] and "87%" in sec["evaluation"]  # paper, SPEC §6
    gifs = sorted((tiny_run / "videos").rglob("*.gif"))
    assert len(gifs) == res["episodes_per_seed"]
    assert sec["evaluation"].count("data:image/gif") == len(gifs)
    probe = json.loads((tiny_run / "probe.json").read_text())
    assert f"{probe['groups']['agent']['linear']['r']:.4f}" in sec["probe"]
    assert "0.996" in sec["probe"]  # the paper's Two-Room number beside ours (SPEC §7)
    sur = json.loads((tiny_run / "surprise.json").read_text())
    assert sec["surprise"].count("<img") == 1 and "teleport" in sec["surprise"]
    assert f"{sur['tests']['teleport']['t']:.2f}" in sec["surprise"]
    for name in ("probe", "surprise", "evaluation", "training"):
        assert 'class="hint"' not in sec[name], name
    for name in ("straightness", "imagine", "tsne"):  # absent: the page names the command
        assert f"run <code>lewm {name} {tiny_run}</code>" in sec[name], name


def test_report_of_a_run_without_evaluation_names_the_commands(tiny_run, tmp_path):
    run = tmp_path / "bare"
    run.mkdir()
    for name in ("config.json", "metrics.jsonl"):
        shutil.copy(tiny_run / name, run / name)
    text = build_report(run, tmp_path / "page" / "r.html").read_text()
    _check_page(text)
    sec = _sections(text)
    assert sec["training"].count("<img") == 1
    assert f"run <code>lewm eval {run}</code>" in sec["evaluation"]
    assert f"--video {run}/videos" in sec["evaluation"]
    assert f"run <code>lewm probe {run}</code>" in sec["probe"]
    assert f"run <code>lewm surprise {run}</code>" in sec["surprise"]


def test_report_of_several_seeds_gives_the_interval(tiny_run, tmp_path):
    run = tmp_path / "two-seeds"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("*.h5", "videos"))
    res = json.loads((run / "results.json").read_text())
    res.update(seeds=[0, 1], per_seed=res["per_seed"] * 2, success_ci95=0.05)
    (run / "results.json").write_text(json.dumps(res))
    sec = _sections(build_report(run).read_text())
    want = f"{100 * res['success_mean']:.1f}% ± 5.0</b> (95% interval over seeds)"
    assert want in sec["evaluation"]


def test_report_cli_and_bad_input(tiny_run, tmp_path, capsys):
    out = tmp_path / "cli.html"
    assert main(["report", str(tiny_run), "--out", str(out), "--max-videos", "1"]) == 0
    assert str(out) in capsys.readouterr().out
    assert _sections(out.read_text())["evaluation"].count("data:image/gif") == 1
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken, ignore=shutil.ignore_patterns("*.h5", "videos"))
    (broken / "probe.json").write_text("{not json")
    assert main(["report", str(broken)]) == 2
    assert "probe.json: not valid JSON" in capsys.readouterr().err


def test_compare_report_overlays_runs(tiny_run, tmp_path):
    rows = [
        {
            "name": "lewm",
            "success_mean": 0.5,
            "success_ci": 0.1,
            "planning_time_s": 0.25,
            "tokens_per_frame": 1,
            "params": 12345,
            "train_minutes": 1.5,
        },
        {"name": "pldm <b>", "success_mean": 0.25, "params": 999, "random_success": 0.04},
    ]
    out = build_compare_report(rows, [tiny_run, tiny_run], tmp_path / "cmp.html")
    text = out.read_text()
    _check_page(text)
    sec = _sections(text)
    assert "50.0% ± 10.0" in sec["table"] and "12,345" in sec["table"]
    assert "pldm &lt;b&gt;" in sec["table"]  # names are escaped
    assert "random floor" in sec["table"] and "4.0%" in sec["table"]
    assert "<th>model</th>" not in sec["table"]  # no row has a kind
    assert sec["training"].count("<img") == 1
    with pytest.raises(ValueError, match="2 rows but 1 run"):
        build_compare_report(rows, [tiny_run], tmp_path / "x.html")


def test_pipeline_ends_with_the_report(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "pipe"
    out.mkdir()
    shutil.copy(tiny_dataset, out / "dataset.h5")  # reused: the pipeline skips collection
    overrides = [
        *TINY_MODEL,
        "train.max_steps=2",
        "train.batch_size=8",
        "train.val_every=2",
        "train.val_batches=1",
        "plan.num_samples=16",
        "plan.num_elites=4",
        "plan.iterations=1",
        "eval.episodes=2",
        "eval.seeds=[0]",
    ]
    run_pipeline(None, out, overrides=overrides)
    assert f"{out / 'report.html'}" in capsys.readouterr().out
    assert "planning success" in (out / "report.html").read_text()


def _chromium(page: Path, shot: Path, profile: Path) -> list[str]:
    """Screenshot ``page``; returns the console messages the page logged."""
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Console output (console.error, uncaught exceptions) is logged as "...:CONSOLE(line)] ...".
    return [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (setup.sh installs it)")
def test_report_renders_in_headless_chromium(tiny_run, tmp_path):
    from PIL import Image

    page = build_report(tiny_run, tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    console = _chromium(page, shot, tmp_path / "profile1")
    assert console == []
    img = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert img.shape == (2000, 1200)
    assert img.std() > 20  # header, tables and plots, not a blank page
    assert (img < 128).mean() > 0.02  # a real share of dark ink
    # The check can fail: a damaged embedded image is reported on the console.
    bad = tmp_path / "bad.html"
    bad.write_text(
        re.sub(
            r'src="data:image/png;base64,[^"]*"',
            'src="data:image/png;base64,AAAA"',
            page.read_text(),
            count=1,
        )
    )
    console = _chromium(bad, tmp_path / "bad.png", tmp_path / "profile2")
    assert any("did not decode" in ln for ln in console), console
