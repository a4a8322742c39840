"""The four rows of `lewm diagnose` (issue 16 §1), each one MPC run per evaluation seed on the
protocol's pairs; the world models behind them live in `diagnose_models`.

Row 1-2 episodes are planned one at a time (``sim_episode``, run on worker processes by
`diagnose`); row 3 plans all pairs of a seed in lock-step like `lewm eval` (``probe_row``); row 4
is `lewm eval` itself (``model_row``). Inputs are checked first (``open_diagnosis``,
``check_env``) so a run without its dataset or an env without `set_state`/`success_distance`
fails before any work with a message naming the problem.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lewm.baselines.registry import goal_distance
from lewm.config import PlanConfig, RunConfig
from lewm.data.store import EpisodeStore
from lewm.envs import check_recorded_env, make
from lewm.evaluation.diagnose_models import (
    ProbeCost,
    SimCost,
    fit_state_probe,
    frame_encoder,
    periodic_entries,
    probe_quality,
)
from lewm.evaluation.embeddings import Run, encode_frames, episode_rows, read_rows
from lewm.evaluation.embeddings import subsample_episodes as subsample
from lewm.evaluation.planner import LatentPlanner
from lewm.evaluation.protocol import Pair, _setup_envs, evaluate, load_model
from lewm.planning import make_solver
from lewm.planning.mpc import EpisodeResult, run_mpc
from lewm.runtime import autocast, generator, resolve_device

log = logging.getLogger(__name__)

ROW_NAMES = {
    1: "planner ceiling: true sim, state cost",
    2: "true dynamics, learned latent cost",
    3: "learned dynamics, oracle cost (probe)",
    4: "the model as it plans (= lewm eval)",
}


@dataclass(frozen=True)
class DiagnoseSettings:
    """What `lewm diagnose` runs beyond the run's own config (the CLI flags)."""

    sim_samples: int = 100
    """Rows 1-2: CEM candidates per iteration (each one is simulated)."""
    sim_elites: int = 10
    """Rows 1-2: CEM elites."""
    sim_iterations: int = 5
    """Rows 1-2: CEM iterations."""
    workers: int = 2
    """Worker processes for rows 1-2 (1: in this process)."""
    probe: str = "mlp"
    """Row 3 probe: 'mlp' (2 hidden layers) or 'linear' (ridge), as `lewm probe`."""
    probe_episodes: int = 300
    """Training episodes whose frames fit the row-3 probe (test episodes score it)."""
    probe_mlp_steps: int = 1000
    """Adam steps of the MLP probe."""
    windows: int = 256
    """Test windows of the latent checks."""
    sensitivity_states: int = 40
    """Test states of the latent sensitivity (each rendered twice per state column)."""
    rows: tuple[int, ...] = (1, 2, 3, 4)
    """Rows to run."""

    def __post_init__(self) -> None:
        if self.sim_samples < 2:
            raise ValueError(f"--sim-samples must be >= 2, got {self.sim_samples}")
        if not 1 <= self.sim_elites <= self.sim_samples:
            raise ValueError(
                f"--sim-elites must be in [1, --sim-samples={self.sim_samples}], got "
                f"{self.sim_elites}"
            )
        for name, v in (
            ("sim-iterations", self.sim_iterations),
            ("workers", self.workers),
            ("sensitivity-states", self.sensitivity_states),
        ):
            if v < 1:
                raise ValueError(f"--{name} must be >= 1, got {v}")
        if self.probe not in ("mlp", "linear"):
            raise ValueError(f"--probe must be 'mlp' or 'linear', got {self.probe!r}")
        if not self.rows or not set(self.rows) <= set(ROW_NAMES):
            raise ValueError(f"--rows must be a non-empty subset of 1,2,3,4, got {self.rows}")
        object.__setattr__(self, "rows", tuple(sorted(set(self.rows))))

    def sim_plan(self, plan: PlanConfig) -> PlanConfig:
        """The run's planner with the rows-1-2 CEM size (horizon, cost, receding horizon kept)."""
        return dataclasses.replace(
            plan,
            solver="cem",
            num_samples=self.sim_samples,
            num_elites=self.sim_elites,
            iterations=self.sim_iterations,
        )

    def sim_planner(self) -> str:
        return f"cem {self.sim_samples}x{self.sim_iterations}, {self.sim_elites} elites (rows 1-2)"


def open_diagnosis(
    run_dir: str | Path, overrides: list[str] | dict, data: str | None, device: str | None
) -> Run:
    """The run's model (eval mode), its config with ``overrides`` (plan.* / eval.* like `lewm
    eval`; a dict is a whole resolved config) and its dataset, checked for what diagnose needs."""
    run_dir = Path(run_dir)
    dev = resolve_device(device or "auto")
    model, ckpt_cfg, meta = load_model(run_dir, dev)
    if isinstance(overrides, dict):
        cfg = RunConfig.from_dict(overrides)
    else:
        cfg = ckpt_cfg.with_overrides(overrides)
    path = Path(data or cfg.data.path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{run_dir}: its dataset {path} does not exist; `lewm diagnose` plans on pairs of "
            "that file and fits its probe there: pass --data with the episodes the run was "
            "trained on"
        )
    store = EpisodeStore(path, in_memory=False)
    if not store.has_column("state"):
        raise ValueError(f"{path}: no 'state' column; `lewm diagnose` needs physical states")
    if store.meta.image_size != cfg.model.image_size:
        raise ValueError(
            f"{path}: frames are {store.meta.image_size} px but the model of {run_dir} expects "
            f"model.image_size={cfg.model.image_size}; pass --data with a matching file"
        )
    check_recorded_env(cfg.env, store.meta.env_id, store.meta.env_version, str(path))
    if cfg.plan.solver == "grad":
        raise ValueError(
            "plan.solver=grad cannot plan on row 3's oracle cost (not differentiable); "
            "diagnose with plan.solver=cem or mppi"
        )
    return Run(run_dir, model, cfg, meta, store, dev)


def check_env(run: Run):
    """A fresh env of the run, after checking that it has `set_state` and `success_distance`
    (rows 1-3 need them) on a state of the dataset."""
    env = make(run.cfg.env, image_size=run.store.meta.image_size)
    env.reset(seed=0)
    state = np.asarray(run.store.column("state")[0])
    for what, call in (
        ("set_state(state)", lambda: env.set_state(state)),
        ("success_distance(state, goal)", lambda: env.success_distance(state, state)),
    ):
        try:
            call()
        except NotImplementedError as exc:
            env.close()
            raise ValueError(
                f"env {run.cfg.env!r} ({type(env).__name__}) has no {what}; `lewm diagnose` "
                f"needs it to roll candidates out in the simulator and to score states ({exc})"
            ) from exc
    return env


def _episode_record(
    index: int, pair: Pair, res: EpisodeResult, solve_s: list[float], closest: float
) -> dict:
    return {
        "index": index,
        "episode": pair.episode,
        "start": pair.start,
        "goal": pair.goal,
        "success": bool(res.success),
        "steps": res.steps,
        "solves": res.num_solves,
        "solve_seconds": float(np.median(solve_s)) if solve_s else 0.0,
        "closest": closest,
    }


def _mpc(run: Run, envs: list, plan_fn) -> tuple[list[EpisodeResult], list[float]]:
    """`run_mpc` with the run's protocol; also returns each episode's closest approach (the
    smallest `success_distance` to its goal over its steps: below 1 is a success, a little
    above is a near miss)."""
    cfg = run.cfg
    closest = {id(e): float("inf") for e in envs}

    def is_success(env) -> bool:
        d = env.success_distance(env.get_state(), env.goal_state())
        closest[id(env)] = min(closest[id(env)], float(d))
        return bool(env.is_success())

    res = run_mpc(
        envs,
        plan_fn,
        frameskip=cfg.data.frameskip,
        receding_horizon=cfg.plan.receding_horizon,
        budget=cfg.eval.eval_budget,
        action_mean=run.action_mean,
        action_std=run.action_std,
        action_low=envs[0].action_space.low,
        action_high=envs[0].action_space.high,
        is_success=is_success,
    )
    return res, [closest[id(e)] for e in envs]


def sim_episode(run: Run, settings: DiagnoseSettings, row: int, seed: int, index: int, pair: Pair):
    """Rows 1 (state cost) and 2 (latent cost of rendered frames): one MPC episode whose planner
    rolls candidates out in a private copy of the true simulator. Returns the episode record
    with ``row``, ``seed`` and ``sim_steps`` (simulated candidate steps) added."""
    cfg = run.cfg
    envs, goal_frames, _ = _setup_envs(cfg, run.store, [pair])
    env = envs[0]
    sim = make(cfg.env, image_size=run.store.meta.image_size)
    sim.reset(seed=0)
    plan = settings.sim_plan(cfg.plan)
    solver = make_solver(plan)
    cpu = torch.device("cpu")
    gen = generator(cpu, cfg.plan.seed, "diagnose", row, seed, index)
    encode = goal_emb = None
    if row == 2:
        encode = frame_encoder(run.model, run.device)
        goal_emb = encode(goal_frames)[0]
    cost = SimCost(
        sim,
        env.get_state,
        env.goal_state(),
        cfg.data.frameskip,
        run.action_mean,
        run.action_std,
        cfg.plan.cost,
        encode,
        goal_emb,
        goal_distance(cfg.model),
    )
    times: list[float] = []
    t_start = time.perf_counter()

    def plan_fn(obs, init_mean, active):
        t0 = time.perf_counter()
        with torch.inference_mode():
            res = solver.solve(cost, 1, plan.horizon, cfg.model.action_block_dim, gen, init_mean)
        times.append(time.perf_counter() - t0)
        return res.actions

    (res,), (closest,) = _mpc(run, [env], plan_fn)
    env.close()
    sim.close()
    return {
        **_episode_record(index, pair, res, times, closest),
        "row": row,
        "seed": seed,
        "sim_steps": cost.sim_steps,
        "seconds": time.perf_counter() - t_start,
    }


def fit_oracle_probe(run: Run, env, settings: DiagnoseSettings, progress: bool = False):
    """Row 3's probe: fitted on frames of up to ``probe_episodes`` training episodes -> full
    states, scored on test frames (goal = the state ``goal_offset`` steps later, where there is
    one). Returns (probe, info)."""
    store, seed = run.store, 0
    eps = subsample(store.episodes("train"), settings.probe_episodes, seed)
    if len(eps) == 0:
        raise ValueError(f"{store.path}: no training episodes to fit the row-3 probe on")
    rows = np.concatenate(episode_rows(store, eps))
    z = encode_frames(run.model, read_rows(store, "pixels", rows), run.device, progress=progress)
    states = read_rows(store, "state", rows)
    periodic = periodic_entries(env, states[0])
    probe = fit_state_probe(z, states, settings.probe, settings.probe_mlp_steps, seed, periodic)
    off = run.cfg.eval.goal_offset
    test = [
        r[:-off]
        for r in episode_rows(store, subsample(store.episodes("test"), 100, seed))
        if len(r) > off
    ]
    names = run.store.meta.state_names
    info = {
        "kind": settings.probe,
        "train_frames": len(rows),
        "train_episodes": len(eps),
        "angles_as_cos_sin": [names[j] if j < len(names) else j for j in periodic],
    }
    if not test:
        return probe, {
            **info,
            "frames": 0,
            "within_tolerance": float("nan"),
            "decoded_error_median": float("nan"),
            "success_agreement": float("nan"),
        }
    t_rows = np.concatenate(test)
    z_t = encode_frames(run.model, read_rows(store, "pixels", t_rows), run.device)
    quality = probe_quality(
        probe, env, z_t, read_rows(store, "state", t_rows), read_rows(store, "state", t_rows + off)
    )
    return probe, {**info, **quality}


def probe_row(run: Run, probe, env, seed: int, pairs: list[Pair], progress: bool) -> list[dict]:
    """Row 3 for one seed: the run's planner and predictor, cost = success distance of the probe's
    decoded prediction; all pairs in lock-step as `lewm eval`. Returns the episode records."""
    cfg, dev = run.cfg, run.device
    envs, _, _ = _setup_envs(cfg, run.store, pairs)
    goals = np.stack([e.goal_state() for e in envs])
    planner = LatentPlanner(run.model, cfg.plan, dev, generator(dev, cfg.plan.seed, "diag3", seed))
    times: list[float] = []
    bar = tqdm(total=len(pairs), desc=f"diagnose row 3 (seed {seed})", disable=not progress)

    def plan_fn(obs, init_mean, active):
        bar.n = len(pairs) - len(active)
        bar.refresh()
        t0 = time.perf_counter()
        context = planner.encode(obs)[:, None]  # (B, 1, D)

        def rollout(actions):  # (B, S, H, K) -> (B, S, H, D)
            with autocast(dev, cfg.plan.precision):
                return run.model.rollout(context, actions)[:, :, 1:].float()

        cost = ProbeCost(rollout, probe, env, goals[active], cfg.plan.cost)
        with torch.inference_mode():
            res = planner.solver.solve(
                cost,
                len(active),
                cfg.plan.horizon,
                cfg.model.action_block_dim,
                planner.generator,
                None if init_mean is None else init_mean.to(dev),
            )
        times.append(time.perf_counter() - t0)
        return res.actions.float()

    with bar:
        outcome, closest = _mpc(run, envs, plan_fn)
        bar.n = len(pairs)
    for e in envs:
        e.close()
    return [
        _episode_record(i, p, r, times, c)
        for i, (p, r, c) in enumerate(zip(pairs, outcome, closest))
    ]


def model_row(run: Run, settings: DiagnoseSettings, progress: bool) -> tuple[dict, str]:
    """Row 4: the run's `results.json` when it holds these pairs, seeds, planner and checkpoint
    step (`compare.matching_seeds`), else `lewm eval` now (not written to results.json).
    Returns (results record, 'reused results.json' | 'evaluated now')."""
    from lewm.evaluation.compare import matching_seeds, requested_eval

    cfg = run.cfg
    path = run.run_dir / "results.json"
    if path.is_file():
        res = json.loads(path.read_text())
        same = res.get("plan") == cfg.to_dict()["plan"] and res.get("step") == run.meta.get("step")
        req = requested_eval(cfg, None, None, None)
        got = matching_seeds(res, run.store, req, cfg) if same else None
        if got is not None:
            return got, "reused results.json"
    res = evaluate(
        run.model, cfg, run.store, run.action_mean, run.action_std, run.device, progress=progress
    )
    return res, "evaluated now"
