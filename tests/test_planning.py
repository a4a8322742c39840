"""Planning: solvers on quadratics, action (un)normalisation, and the MPC loop on a stub env."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lewm.config import PlanConfig
from lewm.planning import CEM, MPPI, GradientPlanner, goal_cost, make_solver
from lewm.planning.mpc import (
    blocks_to_env_actions,
    env_actions_to_blocks,
    normalize_actions,
    run_mpc,
    unnormalize_actions,
    warm_start,
)

B, H, K = 4, 5, 10


def quadratic(target: torch.Tensor):
    """cost(actions (B,S,H,K)) = ||actions - target_b||^2, minimum 0 at target (B,H,K)."""

    def cost(actions: torch.Tensor) -> torch.Tensor:
        return (actions - target[:, None]).pow(2).sum(dim=(-1, -2))

    return cost


def targets(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, H, K, generator=g)  # different minimum per problem


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------------------- solvers
def test_cem_minimises_quadratic_per_problem():
    t = targets()
    res = CEM(iterations=30).solve(quadratic(t), B, H, K, gen(1))
    assert res.actions.shape == (B, H, K) and res.cost.shape == (B,)
    assert res.history.shape == (30, B)
    start = quadratic(t)(torch.zeros(B, 1, H, K))[:, 0]
    assert (res.cost < 0.01 * start).all()
    assert torch.allclose(res.actions, t, atol=0.1)
    assert torch.allclose(res.cost, quadratic(t)(res.actions[:, None])[:, 0])


def test_cem_deterministic_for_a_generator_seed():
    t = targets()
    solver = CEM(iterations=5)
    a = solver.solve(quadratic(t), B, H, K, gen(7)).actions
    b = solver.solve(quadratic(t), B, H, K, gen(7)).actions
    c = solver.solve(quadratic(t), B, H, K, gen(8)).actions
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_cem_mean_is_a_candidate():
    # A cost minimised exactly at the initial (warm-start) mean: with one elite, the best candidate
    # is the mean itself every iteration, so CEM must return it exactly.
    init = targets(3)
    res = CEM(num_samples=50, num_elites=1, iterations=5).solve(
        quadratic(init), B, H, K, gen(0), init_mean=init
    )
    assert torch.equal(res.actions, init)
    assert (res.cost == 0).all()
    # Away from the minimum, the mean being a candidate makes the best cost never increase.
    res = CEM(num_samples=50, num_elites=1, iterations=20).solve(quadratic(init), B, H, K, gen(0))
    assert (res.history[1:] <= res.history[:-1]).all()


def test_cem_warm_start_shorter_than_horizon_is_zero_padded():
    seen = []

    def cost(actions):
        seen.append(actions[:, 0].clone())  # candidate 0 = mean
        return actions.pow(2).sum(dim=(-1, -2))

    init = torch.ones(B, 2, K)
    CEM(num_samples=10, num_elites=2, iterations=1).solve(cost, B, H, K, gen(0), init_mean=init)
    assert torch.equal(seen[0][:, :2], init) and (seen[0][:, 2:] == 0).all()


def test_cem_chunked_evaluation_matches_unchunked():
    t = targets()
    calls = []

    def cost(actions):
        calls.append(actions.shape[1])
        return quadratic(t)(actions)

    a = CEM(iterations=3).solve(cost, B, H, K, gen(2)).actions
    n_full = len(calls)
    b = CEM(iterations=3, max_batch=B * 64).solve(cost, B, H, K, gen(2)).actions
    assert torch.allclose(a, b)
    assert max(calls[n_full:]) <= 64


def test_mppi_and_gradient_lower_the_cost():
    t = targets()
    start = quadratic(t)(torch.zeros(B, 1, H, K))[:, 0]
    for solver in (MPPI(iterations=20), GradientPlanner(num_samples=8, iterations=30, lr=0.1)):
        res = solver.solve(quadratic(t), B, H, K, gen(0))
        assert res.actions.shape == (B, H, K)
        assert (res.cost < 0.1 * start).all(), (type(solver).__name__, res.cost, start)


def test_gradient_planner_needs_differentiable_cost():
    t = targets()

    def cost(actions):
        return quadratic(t)(actions).detach()

    with pytest.raises(ValueError, match="differentiable"):
        GradientPlanner(iterations=2).solve(cost, B, H, K, gen(0))


def test_make_solver_from_config():
    assert isinstance(make_solver(PlanConfig(solver="cem")), CEM)
    assert isinstance(make_solver(PlanConfig(solver="mppi")), MPPI)
    grad = make_solver(PlanConfig(solver="grad", grad_lr=0.3))
    assert isinstance(grad, GradientPlanner) and grad.lr == 0.3
    cem = make_solver(PlanConfig(num_samples=40, num_elites=4, iterations=2))
    res = cem.solve(quadratic(targets()), B, H, K, gen(0))
    assert res.history.shape == (2, B)


def test_bad_cost_shape_is_reported():
    with pytest.raises(ValueError, match=r"expected \(B, S\)"):
        CEM(iterations=1).solve(lambda a: a.sum(), B, H, K, gen(0))


# ------------------------------------------------------------------------------------------ cost
def test_goal_cost_last_and_all():
    g = torch.Generator().manual_seed(0)
    goal = torch.randn(2, 3, generator=g)
    preds = torch.randn(2, 4, H, 3, generator=g)

    def rollout(actions):
        return preds[:, : actions.shape[1]]

    actions = torch.zeros(2, 4, H, 6)
    last = goal_cost(rollout, goal, "last")(actions)
    every = goal_cost(rollout, goal, "all")(actions)
    ref = (preds - goal[:, None, None]).pow(2).sum(-1)  # (2, 4, H)
    assert torch.allclose(last, ref[..., -1]) and torch.allclose(every, ref.sum(-1))
    # bf16 autocast path still returns float32 costs
    c = goal_cost(rollout, goal, "last", autocast_dtype=torch.bfloat16)(actions)
    assert c.dtype == torch.float32


def test_cem_plans_through_goal_cost():
    # A linear "latent dynamics": embedding = sum of actions; CEM drives it to the goal.
    goal = torch.tensor([[1.0, -2.0], [0.5, 0.5]])

    def rollout(actions):  # (B,S,H,2) -> (B,S,H,2)
        return actions.cumsum(dim=2)

    res = CEM(iterations=15).solve(goal_cost(rollout, goal), 2, 3, 2, gen(0))
    assert torch.allclose(res.actions.sum(1), goal, atol=0.05)


# ------------------------------------------------------------------------------------ actions
def test_normalize_roundtrip_and_blocks_roundtrip():
    rng = np.random.default_rng(0)
    mean, std = np.array([0.3, -1.0], np.float32), np.array([2.0, 0.5], np.float32)
    raw = rng.normal(size=(3, 20, 2)).astype(np.float32)
    back = unnormalize_actions(normalize_actions(raw, mean, std), mean, std)
    np.testing.assert_allclose(back, raw, rtol=1e-6, atol=1e-6)
    rt = torch.from_numpy(raw)
    assert torch.allclose(
        unnormalize_actions(
            normalize_actions(rt, torch.tensor(mean), torch.tensor(std)),
            torch.tensor(mean),
            torch.tensor(std),
        ),
        rt,
        atol=1e-6,
    )
    blocks = env_actions_to_blocks(raw, 5, mean, std)  # (3, 4, 10)
    assert blocks.shape == (3, 4, 10)
    # block h holds steps 5h..5h+4, step-major: element [step*A + dim]
    np.testing.assert_allclose(blocks[0, 1, 2:4].numpy(), (raw[0, 6] - mean) / std, rtol=1e-6)
    np.testing.assert_allclose(blocks_to_env_actions(blocks, 5, 2, mean, std), raw, atol=1e-5)
    clipped = blocks_to_env_actions(blocks, 5, 2, mean, std, low=-0.5, high=0.5)
    assert clipped.min() >= -0.5 and clipped.max() <= 0.5


def test_warm_start_shifts_tail():
    plan = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)
    ws = warm_start(plan, 2)
    assert torch.equal(ws[:, :3], plan[:, 2:]) and (ws[:, 3:] == 0).all()
    assert (warm_start(plan, 5) == 0).all()


# ------------------------------------------------------------------------------------------- MPC
class PointMass:
    """2-D point in [0, 1]^2: pos += 0.05 * clip(action, -1, 1); counts its steps."""

    def __init__(self, start, goal, tol=0.04):
        self.pos = np.asarray(start, np.float64)
        self.goal = np.asarray(goal, np.float64)
        self.tol = tol
        self.steps = 0

    def step(self, action):
        assert action.shape == (2,) and action.dtype == np.float32
        self.pos = np.clip(self.pos + 0.05 * np.clip(action, -1, 1), 0.0, 1.0)
        self.steps += 1
        return self.render(), 0.0, False, False, {"success": self.is_success()}

    def render(self):
        img = np.zeros((4, 4, 3), np.uint8)  # position encoded in channels 0 and 1
        img[..., 0], img[..., 1] = np.round(self.pos * 255).astype(np.uint8)
        return img

    def is_success(self):
        return bool(np.linalg.norm(self.pos - self.goal) < self.tol)


MEAN, STD = np.zeros(2, np.float32), np.full(2, 0.5, np.float32)


@pytest.mark.parametrize("frameskip,receding,horizon,budget", [(2, 3, 4, 23), (5, 5, 5, 50)])
def test_mpc_executes_exact_chunks_and_respects_budget(frameskip, receding, horizon, budget):
    envs = [PointMass([0.5, 0.5], [2.0, 2.0]) for _ in range(3)]  # unreachable goal
    calls = []

    def plan_fn(obs, init, idx):
        calls.append(([envs[i].steps for i in idx], None if init is None else init.clone()))
        r = len(calls)
        plan = torch.zeros(len(idx), horizon, frameskip * 2)
        plan[:] = (r * 10 + torch.arange(horizon, dtype=torch.float32))[None, :, None] * 1e-3
        return plan

    res = run_mpc(envs, plan_fn, frameskip, receding, budget, MEAN, STD)
    chunk = frameskip * receding
    n_solves = -(-budget // chunk)
    assert len(calls) == n_solves
    for r, (steps, init) in enumerate(calls):
        assert steps == [r * chunk] * 3  # exactly frameskip * receding actions per solve
        if r == 0:
            assert init is None
        else:  # previous plan's unexecuted tail, zero-filled (all zeros when receding == H)
            prev = ((r * 10 + torch.arange(horizon, dtype=torch.float32)) * 1e-3)[:, None]
            expect = torch.zeros(horizon, frameskip * 2)
            expect[: horizon - receding] = prev[receding:]
            assert torch.allclose(init, expect.expand(3, -1, -1))
    for env, r in zip(envs, res):
        assert env.steps == budget and r.steps == budget
        assert r.num_solves == n_solves and len(r.solve_times) == n_solves
        assert not r.success and not r.solved_at_start


def test_mpc_with_true_dynamics_reaches_goal_and_flags_solved_at_start():
    starts = [[0.2, 0.2], [0.8, 0.3], [0.5, 0.5], [0.4, 0.9]]
    goals = [[0.6, 0.5], [0.4, 0.7], [0.5, 0.5], [0.2, 0.6]]  # episode 2 starts solved
    envs = [PointMass(s, g) for s, g in zip(starts, goals)]
    fs, horizon = 5, 5
    goal_t = torch.tensor(goals, dtype=torch.float32)
    solver = CEM(num_samples=100, num_elites=10, iterations=10)
    g = torch.Generator().manual_seed(0)

    def plan_fn(obs, init, idx):
        pos = torch.from_numpy(obs[:, 0, 0, :2].astype(np.float32) / 255)  # (B, 2)
        goal = goal_t[idx]

        def cost(blocks):  # true dynamics in normalised space: raw = 0.5 * norm
            b, s = blocks.shape[:2]
            raw = (blocks.reshape(b, s, -1, 2) * 0.5).clamp(-1, 1)
            final = (pos[:, None] + 0.05 * raw.sum(2)).clamp(0, 1)
            return (final - goal[:, None]).pow(2).sum(-1)

        return solver.solve(cost, len(idx), horizon, fs * 2, g, init_mean=init).actions

    res = run_mpc(envs, plan_fn, fs, 5, 50, MEAN, STD, -1.0, 1.0, record_frames=True)
    assert res[2].solved_at_start and res[2].success and res[2].steps == 0
    assert res[2].num_solves == 0
    for i in (0, 1, 3):
        assert res[i].success and not res[i].solved_at_start, i
        assert 0 < res[i].steps <= 50 and res[i].success_step == res[i].steps
        assert envs[i].is_success() and envs[i].steps == res[i].steps
        assert len(res[i].frames) == res[i].steps + 1


def test_plan_max_batch_per_model_kind_and_device():
    """CPU planning chunks one-token models into cache-sized calls (~2k predictor tokens); a GPU
    takes all candidates at once; DINO-WM's patch tokens are always chunked (memory)."""
    from lewm.baselines.registry import plan_max_batch
    from lewm.config import ModelConfig

    cpu, gpu = torch.device("cpu"), torch.device("meta")  # any non-CPU device (type only)
    lewm = ModelConfig(history=3)
    assert plan_max_batch(lewm, cpu) == 2048 // 3
    assert plan_max_batch(lewm, gpu) is None
    dino = ModelConfig(kind="dinowm", history=3, dino_image_size=56)
    assert plan_max_batch(dino, cpu) == plan_max_batch(dino, gpu) == 8192 // (16 * 3)
