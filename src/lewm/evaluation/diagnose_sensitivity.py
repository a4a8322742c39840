"""Latent sensitivity of `lewm diagnose`: how far each part of the success test moves the
embedding, measured at the success tolerance.

Row 2 of the decomposition (true dynamics, latent cost) says *whether* the latent distance is a
usable cost; the rank correlation of the latent checks says whether it orders states on average.
Neither says *what the distance weighs*. A CEM that minimises d(z, z_goal) (SPEC §5) trades an
error in one state component against another by how far each moves the embedding, while the
success test asks for all of them at once: if the latent weighs the agent ten times the block at
the tolerance, the planner places the agent and leaves the block.

For test-episode states of the run's dataset, one state column at a time is moved by
``scale × tolerance`` (the env's ``success_tolerances``; a random sign per state), both states are
rendered by the true simulator (``set_state`` + ``render``) and encoded, and the median latent
distance (the planner's, ``baselines.registry.goal_distance``) is reported, beside the median
distance from a test frame to its goal ``eval.goal_offset`` steps later (the scale CEM works at).
"""

from __future__ import annotations

import numpy as np
import torch

from lewm.baselines.registry import goal_distance
from lewm.evaluation.diagnose_latent import sample_windows
from lewm.evaluation.diagnose_models import latent_distance
from lewm.evaluation.embeddings import Run, encode_frames, read_rows

# Below this ratio of the lightest to the heaviest column the verdict calls the latent lopsided.
LOPSIDED = 0.25


def _encode(run: Run, frames: list[np.ndarray]) -> torch.Tensor:
    """uint8 frames -> (N, D') embeddings, patch tokens (DINO-WM) flattened."""
    z = encode_frames(run.model, np.stack(frames), run.device)
    return z.reshape(len(frames), -1)


@torch.no_grad()
def latent_sensitivity(
    run: Run,
    env,
    states: int = 40,
    seed: int = 0,
    scales: tuple[float, ...] = (1.0,),
    tolerances: dict[str, float] | None = None,
) -> dict | None:
    """{"states", "distance", "goal_median", "goal_p10", "goal_p90", "columns": [{column,
    tolerance, scale, moved_by, n, skipped, success_distance_median, latent_median}, ...]};
    None when the env defines no ``success_tolerances`` (and none are given).

    States that the env refuses after the move (``set_state`` raising ValueError, e.g. a Push-T
    agent moved into the block) are skipped and counted. The env's state is restored."""
    tol = dict(env.success_tolerances if tolerances is None else tolerances)
    if not tol:
        return None
    cfg, store = run.cfg, run.store
    names = list(store.meta.state_names)
    unknown = sorted(set(tol) - set(names))
    if unknown:
        raise ValueError(f"success tolerances name unknown state columns {unknown}: {names}")
    win = sample_windows(run, states, seed)
    base = store.ep_offset[win[:, 0]] + win[:, 1]
    goal_rows = base + cfg.eval.goal_offset
    rows = np.concatenate([base, goal_rows])
    uniq, inv = np.unique(rows, return_inverse=True)
    z_all = encode_frames(run.model, read_rows(store, "pixels", uniq), run.device)[inv]
    z_all = z_all.reshape(len(rows), -1)
    dist = goal_distance(cfg.model)
    goal_d = latent_distance(z_all[: len(base)], z_all[len(base) :], dist).numpy()
    start_states = np.asarray(read_rows(store, "state", uniq), np.float64)[inv][: len(base)]
    rng = np.random.default_rng(seed)
    out = []
    saved = env.get_state()
    try:
        # The unmoved frames are rendered and encoded once, shared by every column and scale.
        unmoved = []
        for s in start_states:
            env.set_state(s.astype(np.float32))
            unmoved.append(env.render())
        z_unmoved = _encode(run, unmoved)
        for col, t in tol.items():
            j = names.index(col)
            for scale in scales:
                keep, after, sd, skipped = [], [], [], 0
                for i, s in enumerate(start_states):
                    moved = s.copy()
                    moved[j] += rng.choice([-1.0, 1.0]) * scale * t
                    try:
                        env.set_state(moved.astype(np.float32))
                    except ValueError:
                        skipped += 1
                        continue
                    keep.append(i)
                    after.append(env.render())
                    sd.append(env.success_distance(moved, s))
                lat = (
                    latent_distance(_encode(run, after), z_unmoved[keep], dist).numpy()
                    if keep
                    else np.array([np.nan])
                )
                out.append(
                    {
                        "column": col,
                        "tolerance": float(t),
                        "scale": float(scale),
                        "moved_by": float(scale * t),
                        "n": len(keep),
                        "skipped": skipped,
                        "success_distance_median": float(np.median(sd)) if sd else None,
                        "latent_median": float(np.median(lat)),
                    }
                )
    finally:
        env.set_state(saved)
    return {
        "states": len(base),
        "seed": seed,
        "distance": dist,
        "goal_offset": cfg.eval.goal_offset,
        "goal_median": float(np.median(goal_d)),
        "goal_p10": float(np.percentile(goal_d, 10)),
        "goal_p90": float(np.percentile(goal_d, 90)),
        "columns": out,
    }


def sensitivity_verdict(res: dict | None) -> str | None:
    """One line when, at scale 1, the lightest column of the success test moves the latent less
    than ``LOPSIDED`` times the heaviest; None otherwise."""
    if not res:
        return None
    # Only columns the success test reads (a moved arm joint of Cube has success distance 0).
    at_tol = [
        c
        for c in res["columns"]
        if c["scale"] == 1.0
        and np.isfinite(c["latent_median"])
        and (c["success_distance_median"] or 0.0) > 0.0
    ]
    if len(at_tol) < 2:
        return None
    heavy = max(at_tol, key=lambda c: c["latent_median"])
    light = min(at_tol, key=lambda c: c["latent_median"])
    if heavy["latent_median"] <= 0 or light["latent_median"] >= LOPSIDED * heavy["latent_median"]:
        return None
    ratio = (
        "infinitely"
        if light["latent_median"] == 0
        else f"{heavy['latent_median'] / light['latent_median']:.0f}x"
    )
    return (
        f"Latent sensitivity: at the success tolerance {heavy['column']} moves the latent "
        f"{ratio} more than {light['column']}, so a latent-cost planner settles "
        f"{heavy['column']} first and trades {light['column']} error for it."
    )


def format_sensitivity(res: dict | None) -> str:
    """The sensitivity table as text."""
    if res is None:
        return "latent sensitivity: skipped (the env defines no success_tolerances)"
    heavy: dict[float, float] = {}  # scale -> heaviest column's latent distance at that scale
    for c in res["columns"]:
        if np.isfinite(c["latent_median"]):
            heavy[c["scale"]] = max(heavy.get(c["scale"], 0.0), c["latent_median"])
    lines = [
        f"{'column':<16}{'moved by':>10}{'n':>5}{'success dist':>14}{'latent dist':>13}"
        f"{'/ goal':>9}{'/ heaviest':>12}"
    ]
    for c in res["columns"]:
        lat = c["latent_median"]
        sd = "-" if c["success_distance_median"] is None else f"{c['success_distance_median']:.2f}"
        top = heavy.get(c["scale"], 0.0)
        rel = f"{lat / top:.3f}" if top > 0 and np.isfinite(lat) else "-"
        lines.append(
            f"{c['column']:<16}{c['moved_by']:>10.4g}{c['n']:>5}{sd:>14}{lat:>13.4g}"
            f"{lat / res['goal_median'] if res['goal_median'] > 0 else float('nan'):>9.4f}"
            f"{rel:>12}"
        )
    lines.append(
        f"({res['states']} test states, one column moved at a time and rendered by the true "
        f"simulator; latent dist = median squared latent distance ({res['distance']} over dims) "
        f"to the unmoved frame; / goal: divided by the median distance to the goal "
        f"{res['goal_offset']} steps later, {res['goal_median']:.4g}; / heaviest: divided by "
        "the heaviest column's at the same scale)"
    )
    return "\n".join(lines)
