"""The world models of `lewm diagnose` (issue 16 §1): three stand-ins for the learned planner,
each one piece more realistic, planned with the same CEM/MPC loop as `lewm eval`.

- :class:`SimCost` rows 1 and 2: the true simulator rolls every candidate out from the current
  state (`set_state`, then the candidate's env actions); the cost is the env's own
  `success_distance` to the goal state (row 1, the planner ceiling) or the latent distance of the
  rendered, encoded imagined frame to the encoded goal frame (row 2, the learned cost).
- :class:`StateProbe` + :class:`ProbeCost` row 3: the predictor rolls out as in `lewm eval`, a
  probe fitted on frozen latents of training frames decodes the predicted full state, and the
  cost is `success_distance` to the goal state (the learned dynamics under an oracle cost).

Costs follow ``plan.cost``: 'last' scores the state/frame after the last action block, 'all' sums
the scores after every block (SPEC §5 "Cost"). Shapes: B problems, S candidates, H blocks, K block
dim, D latent, Sd state entries (named ``state_names``), N frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from lewm.evaluation.embeddings import encode_frames
from lewm.evaluation.probe import fit_mlp, fit_ridge
from lewm.planning.mpc import blocks_to_env_actions


def latent_distance(pred: Tensor, goal: Tensor, distance: str) -> Tensor:
    """pred (..., D), goal broadcastable -> (...): squared L2 summed ('sum', LeWM) or averaged
    ('mean', DINO-WM's MSE over patch features) over D, as `planning.cost.goal_cost`."""
    sq = (pred.float() - goal.float()).pow(2)
    return sq.sum(-1) if distance == "sum" else sq.mean(-1)


def scored_blocks(horizon: int, mode: str) -> list[int]:
    """Indices of the action blocks whose end state is scored: the last ('last') or all."""
    return [horizon - 1] if mode == "last" else list(range(horizon))


@contextmanager
def frames_off(env) -> Iterator[Callable[[], np.ndarray]]:
    """Within the block, ``env.step`` skips its render (the env API renders every step; a
    candidate rollout needs at most the frames it scores, and rendering dominates the MuJoCo
    envs' step time); yields the real ``render``. Only for a private simulator copy."""
    render = env.render
    blank = np.zeros((env.image_size, env.image_size, 3), np.uint8)
    env.render = lambda: blank  # instance attribute shadows the method
    try:
        yield render
    finally:
        del env.render


@dataclass
class SimCost:
    """cost(actions (1, S, H, K)) -> (1, S) by rolling candidates out in the true simulator.

    ``sim`` is a private env (never the one MPC acts in); ``start()`` returns the state every
    candidate starts from (the acting env's current state). ``encode`` (frames uint8 (N, h, w, 3)
    -> (N, D)) and ``goal_emb`` (D,) switch from the state cost (row 1) to the latent cost (row 2).
    """

    sim: object
    start: Callable[[], np.ndarray]
    goal_state: np.ndarray
    frameskip: int
    action_mean: np.ndarray
    action_std: np.ndarray
    mode: str = "last"
    encode: Callable[[np.ndarray], Tensor] | None = None
    goal_emb: Tensor | None = None
    distance: str = "sum"

    def __post_init__(self) -> None:
        self.action_dim = int(np.asarray(self.action_mean).shape[-1])
        self.sim_steps = 0

    def rollout(self, actions: Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """actions (S, H, K) normalised -> states (S, H', Sd) after the scored blocks and, for
        the latent cost, their frames (S, H', h, w, 3); H' = 1 ('last') or H ('all')."""
        s, h, _ = actions.shape
        raw = blocks_to_env_actions(
            actions,
            self.frameskip,
            self.action_dim,
            self.action_mean,
            self.action_std,
            self.sim.action_space.low,
            self.sim.action_space.high,
        )  # (S, H*frameskip, A), clipped as MPC clips what it executes
        keep = {(b + 1) * self.frameskip for b in scored_blocks(h, self.mode)}
        start = self.start()
        states, frames = [], []
        with frames_off(self.sim) as render:
            for cand in raw:
                self.sim.set_state(start)
                for t, a in enumerate(cand, start=1):
                    self.sim.step(a)
                    if t in keep:
                        states.append(self.sim.get_state())
                        if self.encode is not None:
                            frames.append(render())
                self.sim_steps += len(cand)
        st = np.stack(states).reshape(s, len(keep), -1)
        fr = np.stack(frames).reshape(s, len(keep), *frames[0].shape) if frames else None
        return st, fr

    def __call__(self, actions: Tensor) -> Tensor:
        if actions.shape[0] != 1:
            raise ValueError(f"SimCost plans one episode at a time, got B={actions.shape[0]}")
        states, frames = self.rollout(actions[0])
        if self.encode is None:
            cost = [
                sum(self.sim.success_distance(st, self.goal_state) for st in cand)
                for cand in states
            ]
            return torch.tensor([cost], dtype=torch.float32)
        s, hk = frames.shape[:2]
        emb = self.encode(frames.reshape(s * hk, *frames.shape[2:])).reshape(s, hk, -1)
        cost = latent_distance(emb, self.goal_emb.to(emb.device), self.distance).sum(-1)
        return cost[None].float().cpu()


def periodic_entries(env, state: np.ndarray) -> list[int]:
    """State entries the env's success test reads modulo 2π (angles): adding 2π leaves
    `success_distance` unchanged while adding π changes it. Found from the env's own test, so
    no env is named here (Push-T's block angle, Reacher's joints; none in Two-Room or Cube)."""
    s = np.asarray(state, np.float64)
    out = []
    for j in range(len(s)):
        full, half = s.copy(), s.copy()
        full[j] += 2 * np.pi
        half[j] += np.pi
        if env.success_distance(full, s) < 1e-6 and env.success_distance(half, s) > 1e-3:
            out.append(j)
    return out


def _with_circle(y: np.ndarray, periodic: list[int]) -> np.ndarray:
    """states (N, Sd) -> targets (N, Sd + P): angles also as cos and sin (P = 2 per angle)."""
    ang = y[:, periodic]
    return np.concatenate([y, np.cos(ang), np.sin(ang)], axis=1)


@dataclass
class StateProbe:
    """Frozen latents -> full states: z (N, D) -> states (N, Sd), fitted on training frames.

    Inputs and targets are standardised with training statistics; a constant state entry (std 0,
    e.g. a fixed door) is predicted as its training mean. Angles (``periodic`` entries) are
    regressed as (cos, sin) and decoded with atan2, so the wrap at ±π is no discontinuity.
    """

    kind: str
    z_mean: Tensor
    z_std: Tensor
    y_mean: Tensor
    y_std: Tensor
    periodic: list[int]
    linear: tuple[Tensor, Tensor] | None = None
    mlp: nn.Module | None = None

    @torch.no_grad()
    def __call__(self, z: Tensor) -> np.ndarray:
        x = (z.float().cpu() - self.z_mean) / self.z_std
        y = x @ self.linear[0] + self.linear[1] if self.kind == "linear" else self.mlp(x)
        y = (y * self.y_std + self.y_mean).double().numpy()
        p = len(self.periodic)
        sd = y.shape[1] - 2 * p
        out = y[:, :sd].copy()
        out[:, self.periodic] = np.arctan2(y[:, sd + p :], y[:, sd : sd + p])
        return out


def fit_state_probe(
    z: Tensor,
    states: np.ndarray,
    kind: str = "mlp",
    mlp_steps: int = 1000,
    seed: int = 0,
    periodic: list[int] = (),
) -> StateProbe:
    """Fit `lewm probe`'s linear (closed-form ridge) or MLP probe on z (N, D) -> states (N, Sd);
    ``periodic`` entries are angles (see :class:`StateProbe`)."""
    if kind not in ("linear", "mlp"):
        raise ValueError(f"probe kind must be 'linear' or 'mlp', got {kind!r}")
    z = z.float().cpu()
    periodic = list(periodic)
    y = torch.as_tensor(_with_circle(np.asarray(states, np.float64), periodic), dtype=torch.float32)
    z_mean, z_std = z.mean(0), z.std(0).clamp_min(1e-6)
    y_mean, y_std = y.mean(0), y.std(0)
    y_std = torch.where(y_std > 1e-6 * (1 + y_mean.abs()), y_std, torch.ones_like(y_std))
    x, t = (z - z_mean) / z_std, (y - y_mean) / y_std
    probe = StateProbe(kind, z_mean, z_std, y_mean, y_std, periodic)
    if kind == "linear":
        probe.linear = fit_ridge(x, t)
    else:
        probe.mlp = fit_mlp(x, t, steps=mlp_steps, seed=seed)
    return probe


def probe_quality(probe: StateProbe, env, z: Tensor, states: np.ndarray, goals: np.ndarray):
    """How well the probe serves as an oracle on held-out frames: z (N, D), their true states
    (N, Sd) and goal states (N, Sd). Returns {decoded_error_median: median success distance of
    the decoded state to the true one (< 1: inside the success tolerance), within_tolerance:
    share of frames with that distance < 1, success_agreement: share of frames where the decoded
    and the true state agree on success against ``goals``}."""
    dec = probe(z)
    err = np.array([env.success_distance(d, s) for d, s in zip(dec, states)])
    ok_dec = np.array([env.success_distance(d, g) < 1 for d, g in zip(dec, goals)])
    ok_true = np.array([env.success_distance(s, g) < 1 for s, g in zip(states, goals)])
    return {
        "decoded_error_median": float(np.median(err)),
        "within_tolerance": float(np.mean(err < 1)),
        "success_agreement": float(np.mean(ok_dec == ok_true)),
        "frames": len(err),
    }


@dataclass
class ProbeCost:
    """cost(actions (B, S, H, K)) -> (B, S): the model's rollout from the current frames
    (``rollout``: actions -> (B, S, H, D) predicted embeddings), decoded by ``probe`` into
    states, scored with ``env.success_distance`` against ``goal_states`` (B, Sd)."""

    rollout: Callable[[Tensor], Tensor]
    probe: StateProbe
    env: object
    goal_states: np.ndarray
    mode: str = "last"

    def __call__(self, actions: Tensor) -> Tensor:
        b, s, h, _ = actions.shape
        keep = scored_blocks(h, self.mode)
        pred = self.rollout(actions)[:, :, keep]  # (B, S, H', D)
        dec = self.probe(pred.reshape(-1, pred.shape[-1])).reshape(b, s, len(keep), -1)
        sd = self.env.success_distance
        cost = [
            [sum(sd(st, self.goal_states[i]) for st in dec[i, j]) for j in range(s)]
            for i in range(b)
        ]
        return torch.tensor(cost, dtype=torch.float32, device=actions.device)


def frame_encoder(model: nn.Module, device: torch.device) -> Callable[[np.ndarray], Tensor]:
    """frames uint8 (N, h, w, 3) -> (N, D) float32 embeddings on the CPU (no gradients)."""

    def encode(frames: np.ndarray) -> Tensor:
        return encode_frames(model, frames, device)

    return encode
