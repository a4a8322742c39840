"""One function per report section: a run's artefacts (:class:`RunFiles`) -> inner HTML.

A section whose data is missing shows which `lewm` command produces it (issue 11). ``SECTIONS``
lists them in page order as (id, heading, function).
"""

from __future__ import annotations

import json

from lewm.report import curves
from lewm.report.page import Raw, data_uri, esc, figure, file_uri, hint, num, para, pct, table
from lewm.report.paper import (
    PAPER_PROBE,
    PAPER_PROBE_NOTES,
    PAPER_STRAIGHTNESS,
    PAPER_SUCCESS,
    PAPER_SURPRISE,
)
from lewm.report.runfiles import RunFiles

MODEL_KEYS = (
    "encoder",
    "image_size",
    "embed_dim",
    "history",
    "pred_depth",
    "pred_heads",
    "action_dim",
    "frameskip",
)
TRAIN_KEYS = ("batch_size", "lr", "max_steps", "sigreg_lambda", "sigreg_projections", "precision")


def _png(data: bytes | None, caption: str) -> str:
    return figure(data_uri(data, "image/png"), caption) if data else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def run_section(rf: RunFiles) -> str:
    """Config and model summary (parameters per part, from checkpoint/meta.json)."""
    if rf.config is None and rf.meta is None:
        return hint(
            "configuration or checkpoint", f"lewm train --config PRESET --run-dir {rf.run_dir}"
        )
    meta, cfg = rf.meta or {}, rf.config or {}
    summary = rf.get("summary") or {}
    rows = [
        ["environment", f"{cfg.get('env', '–')} ({meta.get('env_id', '–')})"],
        ["trained steps", num(meta.get("step"))],
        ["dataset", meta.get("dataset", cfg.get("data", {}).get("path", "–"))],
    ]
    if rf.train_rows:
        last = rf.train_rows[-1]
        # summary.json (pipeline) times the whole stage; else the span of the logged rows
        seconds = summary.get("train_seconds")
        if seconds is None and "time" in last:
            seconds = last["time"] - rf.train_rows[0]["time"]
        rows += [
            ["training time", _duration(seconds)],
            ["throughput", f"{num(last.get('clips_per_s'), 1)} clips/s"],
        ]
    rows.append(
        [
            "versions",
            f"lewm {meta.get('lewm_version', '–')}, torch "
            f"{meta.get('torch_version', '–')}, python {meta.get('python_version', '–')}",
        ]
    )
    cols = ["<div><h3>Run</h3>" + table(["", "value"], rows, numeric_from=None) + "</div>"]
    params = meta.get("params")
    if params:
        total = params.get("total") or sum(params.values())
        prow = [[k, num(v), pct(v / total)] for k, v in params.items() if k != "total"]
        prow.append([Raw("<b>total</b>"), num(total), "100%"])
        cols.append(
            "<div><h3>Parameters per part</h3>"
            + table(["part", "parameters", "share"], prow)
            + "</div>"
        )
    if cfg:
        keys = [("model", k) for k in MODEL_KEYS] + [("train", k) for k in TRAIN_KEYS]
        crow = [[f"{s}.{k}", cfg[s][k]] for s, k in keys if k in cfg.get(s, {})]
        cols.append("<div><h3>Key settings</h3>" + table(["setting", "value"], crow) + "</div>")
    out = "<div class='cols'>" + "".join(cols) + "</div>"
    if cfg:
        out += (
            "<details><summary>full config.json</summary><pre>"
            f"{esc(json.dumps(cfg, indent=2))}</pre></details>"
        )
    return out


def training_section(rf: RunFiles) -> str:
    """Loss terms and validation over training (metrics.jsonl)."""
    if not rf.train_rows and not rf.val_rows:
        return hint(
            "training metrics (metrics.jsonl)", f"lewm train --config PRESET --run-dir {rf.run_dir}"
        )
    png = curves.training_curves({"run": (rf.train_rows, rf.val_rows)})
    out = _png(png, "Training curves: train rows solid, validation dashed (log scale for losses).")
    rows = []
    for key in ("pred_loss", "sigreg", "loss"):
        first = next((r[key] for r in rf.train_rows if key in r), None)
        last = next((r[key] for r in reversed(rf.train_rows) if key in r), None)
        val = next((r.get(f"val_{key}") for r in reversed(rf.val_rows)), None)
        if first is not None:
            rows.append([key, num(first), num(last), num(val)])
    if rows:
        out += table(["term", "first logged", "last logged", "last validation"], rows)
    return out


def evaluation_section(rf: RunFiles) -> str:
    """Planning success (SPEC §5) with its floor and timing, plus a few episode videos."""
    r = rf.get("results")
    if r is None:
        out = hint("planning evaluation (results.json)", f"lewm eval {rf.run_dir}")
    else:
        plan = r.get("plan", {})
        paper = PAPER_SUCCESS.get(rf.env or "")
        one_seed = len(r.get("per_seed", [])) == 1  # no spread to estimate: no "± 0.0"
        success = (
            f"<b>{pct(r['success_mean'])}</b> (one seed: no interval)"
            if one_seed
            else f"<b>{pct(r['success_mean'], r['success_ci95'])}</b> (95% interval over seeds)"
        )
        floor = pct(r["random_success_mean"], None if one_seed else r.get("random_success_ci95"))
        rows = [
            [
                "protocol",
                f"{r['protocol']}, {r['episodes_per_seed']} start/goal pairs × seeds {r['seeds']}",
            ],
            [Raw("<b>planning success</b>"), Raw(success)],
            ["per seed", ", ".join(pct(s["success"]) for s in r.get("per_seed", []))],
            ["random policy (floor)", floor],
            ["starts already solved", pct(r["solved_at_start"])],
            ["paper, LeWM (SPEC §6)", f"{paper:.0f}%" if paper is not None else "not reported"],
            [
                "planning time per solve",
                f"median {num(r['solve_seconds_median'], 2)} s, p90 "
                f"{num(r.get('solve_seconds_p90'), 2)} s (one batched solve plans every active "
                "episode of a seed at once)",
            ],
            [
                "time per episode",
                f"{num(r.get('seconds_per_episode'), 2)} s "
                f"({num(r.get('env_steps_per_second'), 1)} env steps/s)",
            ],
            [
                "planner",
                f"{plan.get('solver', '?')}: {plan.get('num_samples')} samples, "
                f"{plan.get('iterations')} iterations, horizon {plan.get('horizon')}",
            ],
        ]
        out = table(["", "value"], rows, numeric_from=None)
    if rf.videos:
        out += "<h3>Episodes: observation (left) beside goal (right)</h3><div class='cols'>"
        for p in rf.videos:
            ok = p.stem.endswith("_success")
            caption = f"{p.parent.name}/{p.stem}: " + (
                "reached (green bar)" if ok else "not reached"
            )
            ep = rf.video_episodes.get(p)
            if ep:
                caption += (
                    f"; dataset episode {ep['episode']}, start step {ep['start']} → goal step "
                    f"{ep['goal']}, {ep['steps']} env steps"
                )
            out += figure(file_uri(p), caption, width=232, pixelated=True)
        out += "</div>"
    else:
        out += hint(
            "episode videos",
            f"lewm eval {rf.run_dir} --episodes 3 --seeds 0 --video "
            f"{rf.run_dir}/videos --out {rf.run_dir}/videos/results.json",
        )
    return out


def probe_section(rf: RunFiles) -> str:
    """Linear / MLP probe table beside the paper's numbers (SPEC §7)."""
    p = rf.get("probe")
    if p is None:
        return hint("probe results (probe.json)", f"lewm probe {rf.run_dir}")
    paper = PAPER_PROBE.get(rf.env or "", {})
    rows = []
    named = [(f"{g} (position)", g, rec) for g, rec in p.get("groups", {}).items()]
    named += [(q, q, rec) for q, rec in p.get("quantities", {}).items()]
    for label, key, rec in named:
        ref = paper.get(key, {})
        rows.append(
            [
                label,
                num(rec["linear"]["mse"]),
                num(rec["linear"]["r"]),
                num(rec["mlp"]["mse"]),
                num(rec["mlp"]["r"]),
                num(ref.get("linear_mse"), 3),
                num(ref.get("linear_r"), 3),
            ]
        )
    shown = {k for _, k, _ in named}
    for key, ref in paper.items():
        if key not in shown:
            rows.append(
                [
                    f"{ref['label']} (paper only)",
                    "–",
                    "–",
                    "–",
                    "–",
                    num(ref["linear_mse"], 3),
                    num(ref["linear_r"], 3),
                ]
            )
    out = table(
        [
            "quantity",
            "linear MSE",
            "linear r",
            "MLP MSE",
            "MLP r",
            "paper linear MSE",
            "paper linear r",
        ],
        rows,
    )
    notes = [f"skipped {n}: {why}" for n, why in p.get("skipped", {}).items()]
    notes.append(
        f"Test MSE on z-scored targets (1.0 = predicting the mean); "
        f"{p.get('test_frames')} test frames of {p.get('test_episodes')} episodes, trained "
        f"on {p.get('train_frames')} frames of {p.get('train_episodes')} episodes."
    )
    if rf.env in PAPER_PROBE_NOTES:
        notes.append("Paper: " + PAPER_PROBE_NOTES[rf.env])
    if not paper:
        notes.append(f"The paper reports no probe for env {rf.env!r}.")
    return out + "".join(para(n) for n in notes)


def surprise_section(rf: RunFiles) -> str:
    """Violation-of-expectation curves with the paired t-test p-values."""
    s = rf.get("surprise")
    if s is None:
        return hint("surprise test (surprise.json)", f"lewm surprise {rf.run_dir}")
    cap = (
        f"Surprise per latent frame, mean ± std over {s.get('trajectories')} trajectories; "
        f"perturbation at latent frame {s['step']}."
    )
    img = rf.images.get("surprise.png")
    out = figure(file_uri(img), cap) if img else _png(curves.surprise_curves(s), cap)
    rows = []
    for name, c in s["conditions"].items():
        t = s.get("tests", {}).get(name, {})
        rows.append(
            [
                name,
                num(c["before_mean"]),
                num(c["at_step_mean"]),
                f"{num(c['jump_mean'])} ± {num(c['jump_std'])}",
                num(t.get("t"), 2),
                num(t.get("p"), 3),
            ]
        )
    out += table(
        [
            "condition",
            "mean before",
            "at the step",
            "jump (mean ± std)",
            "paired t vs unperturbed",
            "p",
        ],
        rows,
    )
    p = s.get("tests", {}).get("teleport", {}).get("p")
    if p is not None:
        cls, verdict = ("ok", "significant") if p < 0.01 else ("bad", "not significant")
        out += (
            f"<p>Teleport spike: <span class='{cls}'>{verdict} at p &lt; 0.01</span> "
            f"(p = {num(p, 3)}).</p>"
        )
    return out + para("Paper: " + PAPER_SURPRISE)


def straightness_section(rf: RunFiles) -> str:
    """Temporal straightening: final value on test episodes and its course over training."""
    st = rf.get("straightness")
    vals = [(r["step"], r["val_straightness"]) for r in rf.val_rows if "val_straightness" in r]
    out = ""
    if st is not None:
        rows = [
            ["latent (mean cos of consecutive velocities)", num(st["straightness"])],
            ["physical state, same episodes", num(st.get("state_straightness"))],
            ["episodes", f"{st.get('episodes')} {st.get('split', '')}"],
        ]
        out += table(["", "value"], rows, numeric_from=None)
    if vals:
        out += para(
            f"Validation straightness over training: {num(vals[0][1])} at step "
            f"{vals[0][0]} → {num(vals[-1][1])} at step {vals[-1][0]} (curve in the "
            "training section)."
        )
    out += para("Paper: " + PAPER_STRAIGHTNESS)
    if st is None:
        out = (
            hint(
                "straightness on test episodes (straightness.json)",
                f"lewm straightness {rf.run_dir}",
            )
            + out
        )
    return out


def imagine_section(rf: RunFiles) -> str:
    """Decoded open-loop rollouts beside the real frames (SPEC §7 "Decoder")."""
    im = rf.get("imagine")
    if im is None:
        return hint("decoded rollout (imagine.json)", f"lewm imagine {rf.run_dir}")
    out = ""
    if "imagine.png" in rf.images:
        out += figure(
            file_uri(rf.images["imagine.png"]),
            f"Episode {im['episode']}: real frames, decoded real embeddings, decoded "
            f"open-loop rollout from {im['context']} real frame(s) under the recorded "
            "actions.",
        )
    if "imagine.gif" in rf.images:
        out += figure(
            file_uri(rf.images["imagine.gif"]),
            "The same rows side by side, animated.",
            pixelated=True,
        )
    out += _png(curves.imagine_errors(im), "Per-frame errors of the rollout.")
    dec = im.get("decoder", {})
    out += para(
        f"Decoder (visualisation only, never used in training): {dec.get('steps')} steps "
        f"on {dec.get('frames')} frames, train MSE {num(dec.get('first_train_mse'))} → "
        f"{num(dec.get('final_train_mse'))}."
    )
    return out


def tsne_section(rf: RunFiles) -> str:
    """t-SNE of embeddings and how well it keeps physical neighbourhoods."""
    ts = rf.get("tsne")
    if ts is None:
        return hint("t-SNE (tsne.json)", f"lewm tsne {rf.run_dir}")
    out = ""
    if "tsne.png" in rf.images:
        out += figure(
            file_uri(rf.images["tsne.png"]),
            f"t-SNE of {ts['points']} {ts.get('split', '')} frames, coloured by "
            f"{' / '.join(ts['colour_by'])}.",
        )
    k = ts.get("knn_k")
    rows = [
        [f"{k}-NN overlap: t-SNE map vs physical", num(ts.get("knn_overlap_tsne_vs_physical"), 3)],
        [f"{k}-NN overlap: latent vs physical", num(ts.get("knn_overlap_latent_vs_physical"), 3)],
        ["chance", num(ts.get("knn_chance"), 3)],
    ]
    return out + table(["neighbourhoods", "value"], rows)


SECTIONS = (
    ("run", "Run and model", run_section),
    ("training", "Training curves", training_section),
    ("evaluation", "Planning evaluation", evaluation_section),
    ("probe", "Probing physical quantities", probe_section),
    ("surprise", "Violation of expectation (surprise)", surprise_section),
    ("straightness", "Temporal straightening", straightness_section),
    ("imagine", "Decoded open-loop rollouts", imagine_section),
    ("tsne", "t-SNE of embeddings", tsne_section),
)
