"""Glue between a trained world model and a cost-only solver (SPEC §5 "Cost").

The solver never sees the model: this module turns (model, current frames, goal embeddings) into a
``cost(actions (B,S,H,K)) -> (B,S)`` closure and hands it to the solver.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from lewm.baselines.registry import goal_distance, plan_max_batch
from lewm.config import PlanConfig
from lewm.model import LeWM
from lewm.planning import make_solver
from lewm.planning.cost import goal_cost
from lewm.runtime import autocast


@dataclass
class LatentPlanner:
    """Plans H action blocks for B episodes at once with a trained LeWM.

    ``plan(obs, goal_emb, init_mean)`` encodes the current frames, rolls the predictor out over
    the candidates (context = the current frame only; the context grows with imagined embeddings up
    to the model's history) and minimises the goal distance of the predicted latent.
    """

    model: LeWM
    cfg: PlanConfig
    device: torch.device
    generator: torch.Generator
    solve_seconds: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Candidates are evaluated in chunks sized for the device (cache on CPU, memory for
        # DINO-WM's patch tokens).
        self.solver = make_solver(self.cfg, max_batch=plan_max_batch(self.model.cfg, self.device))
        self.model.eval()

    @torch.no_grad()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (B,H,W,3) -> (B,D) float32 embeddings."""
        pixels = torch.as_tensor(np.ascontiguousarray(frames), device=self.device)[:, None]
        with autocast(self.device, self.cfg.precision):
            return self.model.encode(pixels)[:, 0].float()

    def plan(self, obs: np.ndarray, goal_emb: torch.Tensor, init_mean: torch.Tensor | None = None):
        """obs uint8 (B,H,W,3), goal_emb (B,D), init_mean (B,H,K) or None -> plan (B,H,K) float32
        in normalised action space."""
        t0 = time.perf_counter()
        context = self.encode(obs)[:, None]  # (B,1,D)

        def rollout(actions: torch.Tensor) -> torch.Tensor:  # (B,S,H,K) -> (B,S,H,D)
            with autocast(self.device, self.cfg.precision):
                return self.model.rollout(context, actions)[:, :, 1:].float()

        cost = goal_cost(
            rollout, goal_emb, mode=self.cfg.cost, distance=goal_distance(self.model.cfg)
        )
        grad = self.cfg.solver == "grad"
        with torch.set_grad_enabled(grad), torch.inference_mode(not grad):
            result = self.solver.solve(
                cost,
                batch_size=obs.shape[0],
                horizon=self.cfg.horizon,
                action_dim=self.model.cfg.action_block_dim,
                generator=self.generator,
                init_mean=None if init_mean is None else init_mean.to(self.device),
            )
        self.solve_seconds.append(time.perf_counter() - t0)
        return result.actions.detach().float()
