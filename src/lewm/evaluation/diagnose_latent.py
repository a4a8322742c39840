"""Latent checks of `lewm diagnose` (issue 16 §1): per latent step of the planning horizon, how
far the open-loop prediction drifts from the encodings of the true frames, and whether the latent
goal distance ranks states as the true state distance does.

Windows come from **test** episodes: a random start frame, the dataset's own actions for H action
blocks (H = ``plan.horizon``), and the goal frame ``eval.goal_offset`` env steps after the start
(the protocol's goal, SPEC §5). Per step h = 1..H:

- ``pred_error``: latent distance between the rollout's ẑ_h (context = the start frame only, as
  the planner) and the encoding z_h of the true frame h·frameskip steps later;
- ``copy_error``: the same distance for "nothing moves" (z_0 in place of ẑ_h), the floor a useful
  predictor must beat;
- ``rho_encoder`` / ``rho_model``: Spearman rank correlation, over the windows, between the
  latent cost to the goal (d(z_h, z_goal) of the true frame / d(ẑ_h, z_goal) of the prediction)
  and the env's true ``success_distance(state_h, goal_state)``. Near 1: the latent cost orders
  states as the task does; near 0: CEM ranks candidates by noise.

Distances are the planner's (`baselines.registry.goal_distance`). Shapes: W windows, H horizon,
D latent, K action block, Sd state entries.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from lewm.baselines.registry import goal_distance
from lewm.evaluation.diagnose_models import latent_distance
from lewm.evaluation.embeddings import Run, encode_frames, read_rows
from lewm.planning.mpc import env_actions_to_blocks


def sample_windows(run: Run, n: int, seed: int) -> np.ndarray:
    """(W, 2) int64 rows: (episode, start step) of up to ``n`` test windows long enough for the
    horizon and the goal offset."""
    cfg, store = run.cfg, run.store
    span = max(cfg.plan.horizon * cfg.data.frameskip, cfg.eval.goal_offset)
    eps = np.asarray(store.episodes("test"))
    eps = eps[store.ep_len[eps] > span]
    if len(eps) == 0:
        raise ValueError(
            f"{store.path}: no test episode is longer than {span} steps (plan.horizon x "
            "frameskip, eval.goal_offset); the latent checks need some"
        )
    rng = np.random.default_rng(seed)
    ep = rng.choice(eps, size=n)
    start = (rng.random(n) * (store.ep_len[ep] - span)).astype(np.int64)
    return np.stack([ep, start], 1)


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rho of two (W,) arrays; None where either is constant."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(stats.spearmanr(a, b).statistic)


@torch.no_grad()
def latent_checks(run: Run, env, windows: int = 256, seed: int = 0, chunk: int = 64) -> dict:
    """The per-step table described in the module docstring: {"windows": W, "steps": [{h,
    pred_error, copy_error, rho_encoder, rho_model}, ...]} with step 0 the start frame itself."""
    cfg, store = run.cfg, run.store
    fs, h = cfg.data.frameskip, cfg.plan.horizon
    win = sample_windows(run, windows, seed)
    base = store.ep_offset[win[:, 0]] + win[:, 1]  # (W,) global row of each start
    frame_rows = base[:, None] + np.arange(h + 1) * fs  # (W, H+1)
    goal_rows = base + cfg.eval.goal_offset  # (W,)
    rows = np.concatenate([frame_rows.reshape(-1), goal_rows])
    uniq, inv = np.unique(rows, return_inverse=True)
    z_all = encode_frames(run.model, read_rows(store, "pixels", uniq), run.device)[inv]
    s_all = np.asarray(read_rows(store, "state", uniq), np.float64)[inv]
    w = len(win)
    z = z_all[: w * (h + 1)].reshape(w, h + 1, -1)  # (W, H+1, D)
    z_goal = z_all[w * (h + 1) :]  # (W, D)
    states = s_all[: w * (h + 1)].reshape(w, h + 1, -1)
    goals = s_all[w * (h + 1) :]
    actions = store.column("action")
    raw = np.stack([np.asarray(actions[b : b + h * fs], np.float32) for b in base])
    blocks = env_actions_to_blocks(np.nan_to_num(raw), fs, run.action_mean, run.action_std)
    preds = []
    for i in range(0, w, chunk):  # (chunk, 1, H, K) -> (chunk, 1, 1+H, D)
        ctx = z[i : i + chunk, :1].to(run.device)
        out = run.model.rollout(ctx, blocks[i : i + chunk, None].to(run.device))
        preds.append(out[:, 0].float().cpu())
    pred = torch.cat(preds)  # (W, 1+H, D); entry 0 is the context
    dist = goal_distance(cfg.model)
    true_d = np.array([[env.success_distance(s, g) for s in st] for st, g in zip(states, goals)])
    enc_cost = latent_distance(z, z_goal[:, None], dist).numpy()  # (W, H+1)
    mod_cost = latent_distance(pred, z_goal[:, None], dist).numpy()
    pred_err = latent_distance(pred, z, dist).mean(0).numpy()
    copy_err = latent_distance(z[:, :1], z, dist).mean(0).numpy()
    steps = [
        {
            "h": k,
            "env_steps": k * fs,
            "pred_error": float(pred_err[k]),
            "copy_error": float(copy_err[k]),
            "rho_encoder": _spearman(enc_cost[:, k], true_d[:, k]),
            "rho_model": _spearman(mod_cost[:, k], true_d[:, k]),
        }
        for k in range(h + 1)
    ]
    return {"windows": w, "seed": seed, "distance": dist, "steps": steps}


def format_latent_checks(res: dict) -> str:
    """The per-step table of :func:`latent_checks` as text."""

    def rho(v: float | None) -> str:
        return "-" if v is None else f"{v:+.3f}"

    head = (
        f"{'step':>4}{'env steps':>10}{'pred error':>12}{'copy error':>12}"
        f"{'rho(enc cost)':>15}{'rho(model cost)':>17}"
    )
    lines = [head]
    for s in res["steps"]:
        lines.append(
            f"{s['h']:>4}{s['env_steps']:>10}{s['pred_error']:>12.4g}{s['copy_error']:>12.4g}"
            f"{rho(s['rho_encoder']):>15}{rho(s['rho_model']):>17}"
        )
    lines.append(
        f"({res['windows']} windows of test episodes; error = {res['distance']} squared latent "
        "distance to the true frame's encoding; rho = Spearman rank correlation of the latent "
        "goal cost with the true success distance)"
    )
    return "\n".join(lines)
