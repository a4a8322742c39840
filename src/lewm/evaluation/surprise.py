"""Violation of expectation (SPEC §7; `lewm surprise`).

For each trajectory the data policy (the run's dataset policy) is rolled from a fresh reset and its
actions recorded; the same actions are then replayed from the same reset twice more, once with a
*visual change* (the object is recoloured) and once with a *physical violation* (the object is
teleported to a random free position), both applied right after env step ``k * frameskip``, so the
first perturbed frame is latent frame k. Surprise of latent frame j (1 <= j < T) is the squared L2
error ||predict(z_{j-N..j-1}, a_{j-N..j-1})[-1] − z_j||² with N the model's history; index 0 is
undefined (no context). The jump of a trajectory is its surprise at frame k minus its mean surprise
over frames 1..k-1; perturbed and unperturbed surprise at frame k are compared with a paired t-test
over trajectories.

Shapes: B trajectories, T latent frames, L = (T-1)·frameskip env steps, A action dim, D latent.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from lewm.envs import make, make_policy, resolve_name
from lewm.planning.mpc import env_actions_to_blocks
from lewm.runtime import derive_seed

log = logging.getLogger(__name__)

CONDITIONS = ("unperturbed", "visual", "teleport")


def record_trajectories(
    env_name: str,
    policy: str,
    image_size: int,
    num: int,
    frames: int,
    step: int,
    frameskip: int,
    seed: int = 0,
    env_kwargs: dict | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Roll ``num`` trajectories of ``frames`` latent frames in the three conditions.

    Returns ({condition: uint8 (B, T, H, W, 3)}, raw actions float32 (B, L, A)); the perturbation
    (at latent frame ``step``) is applied after env step ``step * frameskip``.
    """
    short = resolve_name(env_name)
    if not 2 <= step < frames:
        raise ValueError(f"surprise: need 2 <= step < frames, got step={step}, frames={frames}")
    env = make(short, image_size=image_size, **(env_kwargs or {}))
    steps = (frames - 1) * frameskip
    out = {c: [] for c in CONDITIONS}
    actions = []
    for i in range(num):
        ep_seed = derive_seed(seed, "surprise", i) % (2**31)
        env.reset(seed=ep_seed)
        pol = make_policy(short, policy, env, np.random.default_rng(ep_seed))
        pol.reset()
        acts, px = [], [env.render()]
        for t in range(1, steps + 1):
            acts.append(np.asarray(pol.act(env), np.float32))
            env.step(acts[-1])
            if t % frameskip == 0:
                px.append(env.render())
        out["unperturbed"].append(np.stack(px))
        actions.append(np.stack(acts))
        pos_rng = np.random.default_rng(derive_seed(seed, "teleport", i))
        for cond in ("visual", "teleport"):
            env.reset(seed=ep_seed)
            px = [env.render()]
            for t in range(1, steps + 1):
                env.step(acts[t - 1])
                if t == step * frameskip:
                    if cond == "visual":
                        env.surprise_recolour()
                    else:
                        env.surprise_teleport(pos_rng)
                if t % frameskip == 0:
                    px.append(env.render())
            out[cond].append(np.stack(px))
    env.close()
    return {c: np.stack(v) for c, v in out.items()}, np.stack(actions)


@torch.no_grad()
def surprise_curves(
    model: Any,
    pixels: np.ndarray,
    blocks: torch.Tensor,
    history: int,
    device: torch.device,
    batch_size: int = 32,
) -> np.ndarray:
    """Surprise per latent frame: pixels uint8 (B, T, H, W, 3), blocks (B, T-1, K) normalised
    action blocks -> float64 (B, T); column 0 is NaN (nothing predicts the first frame)."""
    b, t = pixels.shape[:2]
    out = np.full((b, t), np.nan)
    for s in range(0, b, batch_size):
        px = torch.as_tensor(pixels[s : s + batch_size]).to(device)
        emb = model.encode(px).float()  # (b, T, D)
        act = model.encode_actions(blocks[s : s + batch_size].to(device)).float()  # (b, T-1, D)
        for j in range(1, t):
            lo = max(0, j - history)
            pred = model.predict(emb[:, lo:j], act[:, lo:j])[:, -1].float()
            out[s : s + len(px), j] = ((pred - emb[:, j]) ** 2).sum(-1).cpu().double().numpy()
    return out


def paired_test(a: np.ndarray, b: np.ndarray) -> dict:
    """Two-sided paired t-test of a vs b (B,): {t, p, mean_diff}; identical differences give
    p = 1 when they are all zero (no effect) and 0 otherwise (a deterministic shift)."""
    diff = a - b
    if np.allclose(diff, diff[0], rtol=0, atol=1e-12):
        return {"t": None, "p": 1.0 if abs(diff[0]) <= 1e-12 else 0.0, "mean_diff": float(diff[0])}
    res = stats.ttest_rel(a, b)
    return {"t": float(res.statistic), "p": float(res.pvalue), "mean_diff": float(diff.mean())}


def summarize_surprise(curves: dict[str, np.ndarray], step: int) -> dict:
    """Per-condition mean/std curves and jumps at ``step``, plus the paired tests (see module)."""
    res: dict[str, Any] = {"step": step, "conditions": {}, "tests": {}}
    for cond, s in curves.items():
        jump = s[:, step] - s[:, 1:step].mean(1)
        res["conditions"][cond] = {
            "mean": np.nan_to_num(s.mean(0)).tolist(),
            "std": np.nan_to_num(s.std(0)).tolist(),
            "at_step_mean": float(s[:, step].mean()),
            "before_mean": float(s[:, 1:step].mean()),
            "jump_mean": float(jump.mean()),
            "jump_std": float(jump.std()),
        }
    for cond in ("visual", "teleport"):
        res["tests"][cond] = paired_test(curves[cond][:, step], curves["unperturbed"][:, step])
    return res


def surprise_experiment(
    model: Any,
    env_name: str,
    policy: str,
    image_size: int,
    frameskip: int,
    history: int,
    action_mean: np.ndarray,
    action_std: np.ndarray,
    num: int = 32,
    step: int = 10,
    frames: int | None = None,
    seed: int = 0,
    env_kwargs: dict | None = None,
    device: torch.device | str = "cpu",
) -> tuple[dict, dict[str, np.ndarray]]:
    """Record, score and summarise; returns (summary dict, {condition: surprise (B, T)})."""
    frames = frames or step + 8
    px, raw = record_trajectories(
        env_name, policy, image_size, num, frames, step, frameskip, seed, env_kwargs
    )
    blocks = env_actions_to_blocks(raw, frameskip, action_mean, action_std)
    device = torch.device(device)
    curves = {c: surprise_curves(model, px[c], blocks, history, device) for c in CONDITIONS}
    res = summarize_surprise(curves, step)
    res.update(
        trajectories=num,
        frames=frames,
        frameskip=frameskip,
        history=history,
        policy=policy,
        env=env_name,
        seed=seed,
        surprise="||predict(z_{j-N..j-1}, a)[-1] - z_j||^2 per latent frame j",
    )
    return res, curves


def run_surprise(
    run_dir: str | Path,
    data: str | None = None,
    trajectories: int = 32,
    step: int = 10,
    frames: int | None = None,
    policy: str | None = None,
    seed: int = 0,
    device: str | None = None,
) -> dict:
    """`lewm surprise`: writes ``surprise.json`` and ``surprise.png`` into the run directory."""
    from lewm.evaluation.embeddings import open_run
    from lewm.report.plots import plot_surprise

    run = open_run(run_dir, data, device)
    meta = run.store.meta
    policy = policy or (meta.policy if meta.policy != "unknown" else "expert")
    env_kwargs = meta.extra.get("collection", {}).get("env_kwargs", {}) if meta.extra else {}
    res, curves = surprise_experiment(
        run.model,
        run.cfg.env,
        policy,
        run.cfg.model.image_size,
        run.cfg.data.frameskip,
        run.cfg.model.history,
        run.action_mean,
        run.action_std,
        trajectories,
        step,
        frames,
        seed,
        env_kwargs,
        run.device,
    )
    res.update(run_dir=str(run.run_dir), step_trained=run.meta.get("step"))
    plot_surprise(curves, step, run.run_dir / "surprise.png")
    (run.run_dir / "surprise.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def format_surprise(res: dict) -> str:
    """Short table: surprise before/at the perturbation, jump, paired-test p-value."""
    lines = [f"{'condition':<13}{'before':>10}{'at k':>10}{'jump':>10}{'p (vs unpert.)':>16}"]
    for cond, c in res["conditions"].items():
        p = res["tests"].get(cond, {}).get("p")
        ptxt = "" if p is None else f"{p:.2e}"
        lines.append(
            f"{cond:<13}{c['before_mean']:>10.4f}{c['at_step_mean']:>10.4f}"
            f"{c['jump_mean']:>10.4f}{ptxt:>16}"
        )
    lines.append(f"{res['trajectories']} trajectories, perturbation at latent frame {res['step']}")
    return "\n".join(lines)
