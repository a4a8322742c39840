"""Evaluation protocol: held-out pairs, the stub-model sanity check, results on disk."""

from __future__ import annotations

import json

import numpy as np
import torch
from tests.conftest import tiny_config
from torch import nn

from lewm.config import ModelConfig
from lewm.data.store import EpisodeStore
from lewm.envs import make
from lewm.evaluation.protocol import evaluate, evaluate_run, format_results, sample_pairs
from lewm.train import train


def test_heldout_pairs_never_come_from_training_episodes(tiny_dataset):
    store = EpisodeStore(tiny_dataset)
    test_eps = set(store.episodes("test").tolist())
    train_eps = set(store.episodes("train").tolist())
    for seed in range(5):
        pairs = sample_pairs(store, "heldout", 20, 25, seed)
        assert {p.episode for p in pairs} <= test_eps
        assert all(p.goal - p.start == 25 and p.goal < store.ep_len[p.episode] for p in pairs)
    paper = sample_pairs(store, "paper", 20, 25, 0)
    assert {p.episode for p in paper} <= train_eps


class TrueDynamicsModel(nn.Module):
    """A stand-in world model whose 'embedding' is the true agent position: encode() finds the
    agent's red pixels, rollout() steps a real Two-Room simulator. If the protocol, the planner
    glue and the MPC loop are right, planning with it must reach the goals."""

    def __init__(self, image_size: int, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.cfg = ModelConfig(image_size=image_size, embed_dim=2, action_dim=2, frameskip=5)
        self.mean, self.std = mean, std
        self.sim = make("tworoom", image_size=image_size)
        self.sim.reset(seed=0)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:  # (B,T,H,W,3) -> (B,T,2)
        px = pixels.numpy().astype(int)
        red = (px[..., 0] > 150) & (px[..., 1] < 100)
        ys, xs = np.mgrid[: px.shape[2], : px.shape[3]]
        scale = 224.0 / px.shape[2]
        n = red.sum((-1, -2)).clip(min=1)
        x = ((xs + 0.5) * red).sum((-1, -2)) / n * scale
        y = ((ys + 0.5) * red).sum((-1, -2)) / n * scale
        return torch.as_tensor(np.stack([x, y], -1), dtype=torch.float32)

    def rollout(self, context: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
        b, s, h, k = blocks.shape
        raw = blocks.numpy().reshape(b, s, h, 5, 2) * self.std + self.mean
        out = np.zeros((b, s, 1 + h, 2), np.float32)
        state = self.sim.get_state()
        for i in range(b):
            for j in range(s):
                state[:2] = context[i, 0].numpy()
                self.sim.set_state(state)
                out[i, j, 0] = state[:2]
                for t in range(h):
                    for a in raw[i, j, t]:
                        self.sim.step(a.astype(np.float32))
                    out[i, j, t + 1] = self.sim.get_state()[:2]
        return torch.as_tensor(out)


def test_planning_with_the_true_dynamics_reaches_the_goal(tmp_path):
    from lewm.data.collect import collect

    path = collect(
        "tworoom",
        tmp_path / "d64.h5",
        episodes=8,
        image_size=64,
        seed=1,
        progress=False,
        min_length=30,
    )
    store = EpisodeStore(path)
    cfg = tiny_config(
        path,
        "model.image_size=64",
        "eval.episodes=6",
        "plan.num_samples=48",
        "plan.iterations=3",
        "plan.num_elites=6",
        "eval.protocol=paper",
    )
    model = TrueDynamicsModel(64, store.action_mean, store.action_std)
    res = evaluate(
        model, cfg, store, store.action_mean, store.action_std, torch.device("cpu"), progress=False
    )
    assert res["success_mean"] >= 5 / 6, res["per_seed"]
    assert res["solved_at_start"] == 0.0


def test_eval_run_writes_results_with_floor_and_timings(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, "train.max_steps=2")
    train(cfg, tmp_path / "run", progress=False)
    res = evaluate_run(
        tmp_path / "run",
        overrides=["eval.seeds=[0,1]"],
        progress=False,
        video_dir=tmp_path / "videos",
    )
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["seeds"] == [0, 1] and len(on_disk["per_seed"]) == 2
    for key in (
        "success_mean",
        "success_ci95",
        "random_success_mean",
        "solved_at_start",
        "solve_seconds_median",
        "solve_seconds_p90",
        "env_steps_per_second",
    ):
        assert key in res
    assert 0.0 <= res["success_mean"] <= 1.0
    assert "random policy" in format_results(res) and "±" in format_results(res)
    one_seed = {**res, "per_seed": res["per_seed"][:1]}  # no spread to estimate from one seed
    assert "±" not in format_results(one_seed) and "no interval" in format_results(one_seed)
    gifs = sorted((tmp_path / "videos").glob("seed*/episode_*.gif"))
    assert len(gifs) == 2 * cfg.eval.episodes
    import imageio.v2 as imageio

    first = imageio.mimread(gifs[0])
    assert first[0].shape[1] > 2 * 16  # observation beside the goal
