"""Probing frozen embeddings for physical quantities (SPEC §7 "Probing"; `lewm probe`).

Per run: encode frames of training and test episodes with the frozen model, standardise each
quantity of the dataset's ``state`` column with training statistics, fit a linear probe (closed-form
ridge) and a small MLP probe on training episodes, and report test MSE (on the standardised
targets, so 1.0 is the "predict the mean" floor) and Pearson r. Quantities named ``<obj>_x``,
``<obj>_y`` (``_z``) are also reported as a group (e.g. agent position), whose numbers are the mean
over its coordinates; the MLP is fitted once per group (multi-output). Constant quantities (e.g. a
fixed door) are skipped with a note.

Shapes: N frames, D latent, Q quantities.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lewm.evaluation.embeddings import (
    encode_frames,
    episode_rows,
    open_run,
    read_rows,
    subsample_episodes,
)

log = logging.getLogger(__name__)

_COORD = re.compile(r"^(.*)_([xyz])$")


def fit_ridge(x: torch.Tensor, y: torch.Tensor, alpha: float = 1e-3) -> tuple[torch.Tensor, ...]:
    """Closed-form ridge regression with intercept: x (N, D), y (N, Q) -> (W (D, Q), b (Q,)).

    Solves (XcᵀXc + alpha·N·I) W = XcᵀYc on centred data (float64), so ``alpha`` is relative to
    the per-sample scale and the intercept is not penalised.
    """
    x64, y64 = x.double(), y.double()
    xm, ym = x64.mean(0), y64.mean(0)
    xc, yc = x64 - xm, y64 - ym
    gram = xc.T @ xc + alpha * len(x64) * torch.eye(x64.shape[1], dtype=torch.float64)
    w = torch.linalg.solve(gram, xc.T @ yc)
    return w.float(), (ym - xm @ w).float()


def pearson(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per column: pred, target (N, Q) -> (Q,) (0 where a column is flat)."""
    p = pred.double() - pred.double().mean(0)
    t = target.double() - target.double().mean(0)
    denom = p.norm(dim=0) * t.norm(dim=0)
    r = (p * t).sum(0) / denom.clamp_min(1e-12)
    return torch.where(denom > 0, r, torch.zeros_like(r)).float()


def fit_mlp(
    x: torch.Tensor,
    y: torch.Tensor,
    hidden: int = 256,
    steps: int = 500,
    lr: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
) -> nn.Module:
    """A 2-hidden-layer GELU MLP probe fitted with Adam on MSE: x (N, D), y (N, Q).

    Initialisation and batches are drawn from ``seed`` only (reproducible, global RNG untouched).
    Returns the trained module (eval mode, on x's device).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mlp = nn.Sequential(
            nn.Linear(x.shape[1], hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, y.shape[1]),
        ).to(x.device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(mlp.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=gen).to(x.device)
        loss = nn.functional.mse_loss(mlp(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return mlp.eval()


def group_quantities(names: list[str]) -> dict[str, list[str]]:
    """Groups of coordinates sharing a prefix: ['agent_x', 'agent_y', 'door_y'] ->
    {'agent': ['agent_x', 'agent_y'], 'door_y': ['door_y']} (order of first appearance)."""
    groups: dict[str, list[str]] = {}
    for n in names:
        m = _COORD.match(n)
        key = m.group(1) if m else n
        groups.setdefault(key, []).append(n)
    # A lone coordinate keeps its full name (door_y stays door_y, not "door").
    return {(k if len(v) > 1 else v[0]): v for k, v in groups.items()}


def probe_quantities(
    z_train: torch.Tensor,
    y_train: np.ndarray,
    z_test: torch.Tensor,
    y_test: np.ndarray,
    names: list[str],
    alpha: float = 1e-3,
    mlp_steps: int = 500,
    seed: int = 0,
) -> dict:
    """Fit and score the probes.

    z_train (N, D), y_train (N, Q), z_test (M, D), y_test (M, Q); ``names`` (Q,) name the columns.
    Returns {"quantities": {name: {"linear": {mse, r}, "mlp": {mse, r}}}, "groups": {...},
    "skipped": {name: reason}}; MSE on targets standardised with training statistics.
    """
    y_train = np.asarray(y_train, np.float64)
    y_test = np.asarray(y_test, np.float64)
    mean, std = y_train.mean(0), y_train.std(0)
    flat = std <= 1e-6 * (1.0 + np.abs(mean))
    skipped = {
        n: f"constant in the training data ({mean[i]:.4g})" for i, n in enumerate(names) if flat[i]
    }
    keep = [i for i in range(len(names)) if not flat[i]]
    if not keep:
        raise ValueError(f"nothing to probe: every quantity is constant ({names})")
    kept = [names[i] for i in keep]
    ytr = torch.as_tensor((y_train[:, keep] - mean[keep]) / std[keep], dtype=torch.float32)
    yte = torch.as_tensor((y_test[:, keep] - mean[keep]) / std[keep], dtype=torch.float32)
    zm, zs = z_train.mean(0), z_train.std(0).clamp_min(1e-6)
    xtr, xte = (z_train - zm) / zs, (z_test - zm) / zs

    w, b = fit_ridge(xtr, ytr, alpha)
    lin = xte @ w + b
    mlp_pred = torch.empty_like(yte)
    groups = group_quantities(kept)
    for members in groups.values():
        cols = [kept.index(m) for m in members]
        mlp = fit_mlp(xtr, ytr[:, cols], steps=mlp_steps, seed=seed)
        with torch.no_grad():
            mlp_pred[:, cols] = mlp(xte)

    def scores(pred: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        return ((pred - yte) ** 2).mean(0).numpy(), pearson(pred, yte).numpy()

    per = {"linear": scores(lin), "mlp": scores(mlp_pred)}
    quantities = {
        n: {k: {"mse": float(v[0][j]), "r": float(v[1][j])} for k, v in per.items()}
        for j, n in enumerate(kept)
    }
    group_out = {
        g: {
            "members": members,
            **{
                k: {
                    "mse": float(np.mean([quantities[m][k]["mse"] for m in members])),
                    "r": float(np.mean([quantities[m][k]["r"] for m in members])),
                }
                for k in per
            },
        }
        for g, members in groups.items()
        if len(members) > 1
    }
    return {"quantities": quantities, "groups": group_out, "skipped": skipped}


def probe_data(run, split: str, max_episodes: int | None, stride: int, seed: int, progress=False):
    """Embeddings (N, D) and states (N, S) of every ``stride``-th frame of a split's episodes."""
    eps = subsample_episodes(run.store.episodes(split), max_episodes, seed)
    if len(eps) == 0:
        raise ValueError(f"{run.store.path}: no {split} episodes to probe")
    if not run.store.has_column("state"):
        raise ValueError(f"{run.store.path}: no 'state' column; probing needs physical states")
    rows = np.concatenate(episode_rows(run.store, eps, stride))
    z = encode_frames(
        run.model, read_rows(run.store, "pixels", rows), run.device, progress=progress
    )
    return z, np.asarray(read_rows(run.store, "state", rows), np.float64), len(eps)


def run_probe(
    run_dir: str | Path,
    data: str | None = None,
    max_episodes: int | None = 300,
    stride: int = 1,
    alpha: float = 1e-3,
    mlp_steps: int = 500,
    seed: int = 0,
    device: str | None = None,
    progress: bool = False,
) -> dict:
    """`lewm probe`: probe a run on its dataset; writes ``RUN_DIR/probe.json`` and returns it."""
    run = open_run(run_dir, data, device)
    names = list(run.store.meta.state_names)
    z_tr, y_tr, n_tr = probe_data(run, "train", max_episodes, stride, seed, progress)
    z_te, y_te, n_te = probe_data(run, "test", max_episodes, stride, seed, progress)
    if len(names) != y_tr.shape[1]:
        names = [f"state_{i}" for i in range(y_tr.shape[1])]
    res = probe_quantities(z_tr, y_tr, z_te, y_te, names, alpha, mlp_steps, seed)
    for name, why in res["skipped"].items():
        log.info("probe: skipping %s (%s)", name, why)
    res.update(
        run_dir=str(run.run_dir),
        dataset=str(run.store.path),
        step=run.meta.get("step"),
        train_episodes=n_tr,
        test_episodes=n_te,
        train_frames=len(z_tr),
        test_frames=len(z_te),
        stride=stride,
        ridge_alpha=alpha,
        mlp_steps=mlp_steps,
        seed=seed,
        target_scaling="z-scored with training statistics (MSE 1.0 = predicting the mean)",
    )
    (run.run_dir / "probe.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def format_probe_table(res: dict) -> str:
    """Human-readable table of a :func:`run_probe` record."""
    head = f"{'quantity':<16}{'linear MSE':>11}{'linear r':>10}{'MLP MSE':>10}{'MLP r':>8}"
    lines = [head, "-" * len(head)]

    def row(name: str, rec: dict) -> str:
        li, ml = rec["linear"], rec["mlp"]
        return f"{name:<16}{li['mse']:>11.4f}{li['r']:>10.4f}{ml['mse']:>10.4f}{ml['r']:>8.4f}"

    lines += [row(n, rec) for n, rec in res["quantities"].items()]
    if res["groups"]:
        lines.append("-" * len(head))
        lines += [row(g + " (pos)", rec) for g, rec in res["groups"].items()]
    lines += [f"skipped {n}: {why}" for n, why in res["skipped"].items()]
    lines.append(
        f"test: {res['test_frames']} frames of {res['test_episodes']} episodes; train: "
        f"{res['train_frames']} frames of {res['train_episodes']} episodes; targets z-scored"
    )
    return "\n".join(lines)
