"""Figures the report draws from a run's numbers (training curves, rollout and surprise errors).

Each function returns PNG bytes (or ``None`` when there is nothing to draw) so the page can embed
them as data URIs. matplotlib is switched to Agg inside :func:`_pyplot`, never at import
(DESIGN.md "No side effects at import").
"""

from __future__ import annotations

import io
import math

# Train-row keys that are not loss terms (train.py's metrics rows).
NOT_LOSSES = {"step", "time", "lr", "grad_norm", "epoch", "clips_per_s"}
# (panel title, train key, validation key); other numeric train keys get an extra panel.
PANELS = (
    ("prediction loss", "pred_loss", "val_pred_loss"),
    ("SIGReg", "sigreg", "val_sigreg"),
    ("total loss", "loss", "val_loss"),
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    # No "Software" text chunk: the page should carry no URL, not even inside image metadata.
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _series(rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
    pts = [(s, v) for s, v in pts if math.isfinite(v)]
    return [p[0] for p in pts], [p[1] for p in pts]


def _panels(runs: dict[str, tuple[list[dict], list[dict]]]) -> list[tuple[str, str, str | None]]:
    """The panels with data in any run: the fixed loss panels, extra loss terms, straightness."""
    train_keys: set[str] = set()
    val_keys: set[str] = set()
    for tr, va in runs.values():
        for r in tr:
            train_keys |= {k for k, v in r.items() if isinstance(v, (int, float))}
        for r in va:
            val_keys |= set(r)
    panels = [p for p in PANELS if p[1] in train_keys or p[2] in val_keys]
    known = NOT_LOSSES | {p[1] for p in PANELS}
    panels += [(k, k, f"val_{k}") for k in sorted(train_keys - known)]
    if "val_straightness" in val_keys:
        panels.append(("latent straightness (validation)", "", "val_straightness"))
    return panels


def training_curves(runs: dict[str, tuple[list[dict], list[dict]]]) -> bytes | None:
    """Loss terms over training steps, one panel per term, train solid and validation dashed;
    with several runs, one colour per run. runs: {name: (train rows, validation rows)}."""
    panels = _panels(runs)
    if not panels:
        return None
    plt = _pyplot()
    cols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(6.2 * cols, 3.4 * nrows), squeeze=False)
    single = len(runs) == 1
    for ax, (title, tkey, vkey) in zip(axes.flat, panels):
        positive = True
        for i, (name, (tr, va)) in enumerate(runs.items()):
            colour = f"C{i % 10}"
            for rows, key, style, what in ((tr, tkey, "-", "train"), (va, vkey, "--", "val")):
                xs, ys = _series(rows, key) if key else ([], [])
                if xs:
                    label = what if single else (name if what == "train" else f"{name} ({what})")
                    ax.plot(
                        xs,
                        ys,
                        style,
                        color=colour,
                        label=label,
                        marker="." if what == "val" else None,
                    )
                    positive &= min(ys) > 0
        if positive and "straightness" not in title:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def imagine_errors(rec: dict) -> bytes:
    """Per-frame errors of ``imagine.json``: latent error of the open-loop rollout, and pixel MSE
    of the decoded rollout vs the decoder's reconstruction of the real frames."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
    t = list(range(len(rec["latent_error"])))
    a.plot(t, rec["latent_error"], marker=".")
    a.axvline(rec.get("context", 1) - 0.5, color="k", linestyle=":", label="end of real context")
    a.set_title("latent error ||ẑ_t − z_t||² of the open-loop rollout")
    a.set_xlabel("latent frame t")
    a.legend(fontsize=8)
    b.plot(t, rec["pixel_mse_imagined"], marker=".", label="decoded rollout")
    b.plot(t, rec["pixel_mse_reconstruction"], marker=".", label="decoded real embedding")
    b.set_title("pixel MSE vs the real frame")
    b.set_xlabel("latent frame t")
    b.legend(fontsize=8)
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def surprise_curves(rec: dict) -> bytes:
    """Mean ± std surprise per latent frame and condition from ``surprise.json`` (used when the
    run has no ``surprise.png``)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, c in rec["conditions"].items():
        m, sd = c["mean"][1:], c["std"][1:]
        t = list(range(1, len(c["mean"])))
        ax.plot(t, m, label=name)
        ax.fill_between(
            t, [x - s for x, s in zip(m, sd)], [x + s for x, s in zip(m, sd)], alpha=0.2
        )
    ax.axvline(rec["step"], color="k", linestyle="--", linewidth=1, label="perturbation")
    ax.set_yscale("symlog")
    ax.set_xlabel("latent frame j")
    ax.set_ylabel("surprise")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)
