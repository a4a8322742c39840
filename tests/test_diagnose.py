"""`lewm diagnose`: the env's success distance, the planner ceiling, the four rows on a tiny run,
the latent checks on a perfect stand-in model, and clear errors for what it cannot diagnose."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch
from tests.conftest import tiny_config
from tests.test_evaluation import TrueDynamicsModel

from lewm.cli import main
from lewm.data.store import EpisodeStore
from lewm.envs import make, make_policy
from lewm.envs.tworoom import TwoRoomEnv
from lewm.evaluation.diagnose import diagnose_run, format_diagnosis
from lewm.evaluation.diagnose_latent import latent_checks
from lewm.evaluation.diagnose_rows import DiagnoseSettings
from lewm.evaluation.embeddings import Run
from lewm.evaluation.protocol import evaluate_run
from lewm.train import train

# Small enough for seconds: rows 1-2 simulate samples x iterations x 25 steps per solve.
QUICK = dict(sim_samples=32, sim_elites=4, sim_iterations=3, probe_mlp_steps=30, windows=16)


@pytest.fixture(scope="module")
def tiny_run(tiny_dataset, tmp_path_factory):
    run = tmp_path_factory.mktemp("diagnose") / "run"
    train(tiny_config(tiny_dataset, "train.max_steps=2"), run, progress=False)
    return run


@pytest.mark.parametrize("name", ["tworoom", "reacher", "cube"])
def test_success_distance_below_one_exactly_when_success(name):
    """On pairs of states along an expert trajectory (near and far goals alike), the pure
    success distance agrees with the env's own success test and leaves the env untouched."""
    env = make(name, image_size=16)
    env.reset(seed=3)
    policy = make_policy(name, "expert", env, 0)
    policy.reset()
    traj = [env.get_state()]
    for _ in range(60):
        env.step(policy.act(env))
        traj.append(env.get_state())
    outcomes = []
    for i in range(0, len(traj), 3):
        for j in range(0, len(traj), 3):
            env.set_state(traj[i])
            env.set_goal_state(traj[j])
            d = env.success_distance(traj[i], traj[j])
            assert d >= 0.0 and np.array_equal(env.get_state(), traj[i])
            assert (d < 1.0) == env.is_success(), (i, j, d)
            outcomes.append(d < 1.0)
    env.close()
    assert any(outcomes) and not all(outcomes)  # both sides of the threshold were exercised


def test_planner_ceiling_solves_tworoom(tiny_dataset, tiny_run, caplog):
    """Row 1 (true simulator, exact state cost) must reach >= 90% of Two-Room pairs. Without a
    progress bar the log still says how far it got (a line per tenth of the episodes)."""
    caplog.set_level(logging.INFO, logger="lewm.evaluation.diagnose")
    rec = diagnose_run(
        tiny_run,
        ["eval.episodes=20", "eval.seeds=[0]", "eval.protocol=paper"],
        settings=DiagnoseSettings(**QUICK, workers=1, rows=(1,)),
        progress=False,
    )
    (row,) = rec["rows"]
    assert row["row"] == 1 and row["success_mean"] >= 0.9, row["episodes"]
    assert all(e["sim_steps"] >= 32 * 3 * 25 for e in row["episodes"]["0"])
    assert "allow success" in " ".join(rec["verdict"])
    ticks = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rows 1-2:")]
    assert len(ticks) == 10 and ticks[-1].startswith("rows 1-2: 20/20 episodes"), ticks


def test_a_budget_too_small_for_any_model_is_called_out(tiny_run):
    """With 2 env steps no plan reaches goals 25 expert steps away: the ceiling says so."""
    rec = diagnose_run(
        tiny_run,
        ["eval.episodes=6", "eval.seeds=[0]", "eval.eval_budget=2", "plan.receding_horizon=1"],
        settings=DiagnoseSettings(**QUICK, workers=1, rows=(1,)),
        progress=False,
    )
    assert rec["rows"][0]["success_mean"] < 0.5
    assert "no world model can score high" in format_diagnosis(rec)


def test_cli_prints_four_rows_on_the_eval_pairs(tiny_run, capsys):
    """`lewm diagnose` prints the four rows and writes diagnose.json; rows 1-2 run on 2 worker
    processes; every row plans on `lewm eval`'s pairs and row 4 is eval's number."""
    evaluate_run(tiny_run, ["eval.episodes=3", "eval.seeds=[0,1]"], progress=False)
    results = json.loads((tiny_run / "results.json").read_text())
    argv = ["diagnose", str(tiny_run), "--episodes", "3", "--seeds", "0,1", "--workers", "2"]
    argv += ["--sim-samples", "8", "--sim-elites", "2", "--sim-iterations", "1"]
    assert main([*argv, "--probe", "linear", "--windows", "8"]) == 0
    out = capsys.readouterr().out
    for name in ("planner ceiling", "learned latent cost", "oracle cost", "as it plans"):
        assert name in out
    assert "cem 8x1, 2 elites" in out and "rho(enc cost)" in out
    rec = json.loads((tiny_run / "diagnose.json").read_text())
    assert [r["row"] for r in rec["rows"]] == [1, 2, 3, 4]
    eval_pairs = {
        str(s["seed"]): [(e["episode"], e["start"], e["goal"]) for e in s["episodes"]]
        for s in results["per_seed"]
    }
    for row in rec["rows"]:
        got = {
            s: [(e["episode"], e["start"], e["goal"]) for e in eps]
            for s, eps in row["episodes"].items()
        }
        assert got == eval_pairs, row["row"]
    assert rec["rows"][3]["source"] == "reused results.json"
    assert rec["rows"][3]["success_mean"] == pytest.approx(results["success_mean"])
    steps = rec["latent_checks"]["steps"]
    assert len(steps) == 6 and steps[0]["pred_error"] == 0.0 and steps[0]["copy_error"] == 0.0
    assert rec["probe"]["kind"] == "linear" and 0.0 <= rec["probe"]["within_tolerance"] <= 1.0
    assert "latent sensitivity at the success tolerance" in out
    sens = rec["latent_sensitivity"]["columns"]
    assert [c["column"] for c in sens] == ["agent_x", "agent_y"]
    assert all(c["n"] > 0 and c["latent_median"] >= 0.0 for c in sens)


def test_latent_checks_see_a_perfect_model_as_perfect(tmp_path):
    """Embedding = the agent position and rollout = the true simulator: open-loop error far
    below the no-change floor, and the latent cost ranks states as the true distance does."""
    from lewm.data.collect import collect

    path = collect(
        "tworoom",
        tmp_path / "d64.h5",
        episodes=24,
        image_size=64,
        seed=2,
        progress=False,
        min_length=40,
    )
    store = EpisodeStore(path)
    cfg = tiny_config(path, "model.image_size=64")
    model = TrueDynamicsModel(64, store.action_mean, store.action_std)
    run = Run(tmp_path, model, cfg, {}, store, torch.device("cpu"))
    env = make("tworoom", image_size=64)
    res = latent_checks(run, env, windows=48, seed=0)
    for s in res["steps"][2:5]:
        assert s["pred_error"] < 0.1 * s["copy_error"], s
        assert s["rho_encoder"] > 0.95 and s["rho_model"] > 0.95, s


class MaskEncoder(torch.nn.Module):
    """A stand-in encoder whose 'embedding' is the flattened mask of pixels within 10 of one
    colour (or the whole image when ``rgb`` is None): it sees that object and nothing else."""

    def __init__(self, image_size: int, rgb: tuple[int, int, int] | None):
        super().__init__()
        self.cfg = tiny_config("unused.h5", f"model.image_size={image_size}").model
        self.rgb = rgb

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:  # (B,T,H,W,3) -> (B,T,H*W*c)
        px = pixels.float()
        if self.rgb is not None:
            px = ((px - torch.tensor(self.rgb, dtype=torch.float32)).abs().amax(-1) <= 10).float()
        return px.flatten(2)


def test_latent_sensitivity_finds_what_the_encoder_ignores(tmp_path):
    """On Push-T, an encoder that sees only the agent weighs the agent columns and gives the
    block's position and angle zero weight at their tolerances, and the verdict names the
    imbalance; an encoder that sees the whole image weighs every column; the env is restored."""
    from lewm.data.collect import collect
    from lewm.envs.pusht_render import AGENT_BLUE
    from lewm.evaluation.diagnose_sensitivity import (
        format_sensitivity,
        latent_sensitivity,
        sensitivity_verdict,
    )

    path = collect("pusht", tmp_path / "p.h5", episodes=20, image_size=64, seed=1, progress=False)
    store = EpisodeStore(path)
    cfg = tiny_config(path, "env=pusht", "model.image_size=64")
    env = make("pusht", image_size=64)
    env.reset(seed=0)
    before = env.get_state()
    agent_only = Run(tmp_path, MaskEncoder(64, AGENT_BLUE), cfg, {}, store, torch.device("cpu"))
    res = latent_sensitivity(agent_only, env, states=12, seed=0)
    assert np.array_equal(env.get_state(), before)
    lat = {c["column"]: c["latent_median"] for c in res["columns"]}
    assert set(lat) == set(env.success_tolerances)
    assert lat["agent_x"] > 0 and lat["agent_y"] > 0, lat
    assert lat["block_x"] == lat["block_y"] == lat["block_angle"] == 0.0, lat
    for c in res["columns"]:
        assert c["n"] + c["skipped"] == 12 and c["n"] > 0
        assert c["success_distance_median"] == pytest.approx(1.0, abs=1e-6)
    line = sensitivity_verdict(res)
    assert line and "agent_" in line and "infinitely more than block_" in line, line
    assert "block_angle" in format_sensitivity(res)
    whole = Run(tmp_path, MaskEncoder(64, None), cfg, {}, store, torch.device("cpu"))
    res = latent_sensitivity(whole, env, states=12, seed=0)
    assert all(c["latent_median"] > 0 for c in res["columns"]), res["columns"]
    assert latent_sensitivity(whole, env, tolerances={}) is None
    # A column the success test ignores (the target pose) is measured but never blamed.
    res = latent_sensitivity(
        agent_only, env, states=6, tolerances={"agent_x": 20.0, "target_x": 50.0}
    )
    assert {c["column"]: c["success_distance_median"] for c in res["columns"]}["target_x"] == 0
    assert sensitivity_verdict(res) is None
    with pytest.raises(ValueError, match="unknown state columns"):
        latent_sensitivity(whole, env, tolerances={"nope": 1.0})


def test_run_without_its_dataset_is_refused(tiny_dataset, tmp_path):
    data = tmp_path / "copy.h5"
    shutil.copy(tiny_dataset, data)
    train(tiny_config(data, "train.max_steps=1"), tmp_path / "run", progress=False)
    data.unlink()
    with pytest.raises(FileNotFoundError, match="dataset .*copy.h5 does not exist"):
        diagnose_run(tmp_path / "run", settings=DiagnoseSettings(workers=1), progress=False)
    assert main(["diagnose", str(tmp_path / "run")]) == 2


@pytest.mark.parametrize("hook", ["success_distance", "set_state"])
def test_env_without_a_needed_hook_is_refused(tiny_run, monkeypatch, hook):
    def missing(self, *args):
        raise NotImplementedError(f"{type(self).__name__} has no {hook}")

    monkeypatch.setattr(TwoRoomEnv, hook, missing)
    with pytest.raises(ValueError, match=f"env 'tworoom' .* has no {hook}"):
        diagnose_run(tiny_run, settings=DiagnoseSettings(workers=1), progress=False)


def test_base_env_default_names_the_env():
    env = make("tworoom", image_size=16)
    from lewm.envs.base import LeWMEnv

    with pytest.raises(NotImplementedError, match="TwoRoomEnv .*success_distance"):
        LeWMEnv.success_distance(env, env.get_state(), env.get_state())


def test_bad_settings_name_the_flag():
    with pytest.raises(ValueError, match="--sim-elites"):
        DiagnoseSettings(sim_samples=4, sim_elites=5)
    with pytest.raises(ValueError, match="--rows"):
        DiagnoseSettings(rows=(5,))


def test_sim_cost_scores_the_frames_and_states_after_each_block():
    """SimCost's rollout equals stepping the env by hand (frames included, though its steps skip
    rendering), its state cost is success_distance, and the sim renders normally afterwards."""
    from lewm.evaluation.diagnose_models import SimCost

    sim, ref = make("tworoom", image_size=16), make("tworoom", image_size=16)
    sim.reset(seed=0)
    ref.reset(seed=0)
    start, goal = sim.get_state(), sim.default_goal_state()
    mean, std = np.zeros(2, np.float32), np.full(2, 0.5, np.float32)
    actions = torch.randn(3, 2, 10, generator=torch.Generator().manual_seed(0))  # S=3, H=2, K=10
    cost = SimCost(sim, lambda: start, goal, 5, mean, std, mode="all")
    states, frames = cost.rollout(actions)
    assert frames is None and states.shape == (3, 2, 5)
    cost.encode = lambda fr: torch.as_tensor(fr.reshape(len(fr), -1), dtype=torch.float32)
    cost.goal_emb = torch.zeros(16 * 16 * 3)
    _, frames = cost.rollout(actions)
    raw = np.clip(actions.numpy().reshape(3, 10, 2) * std + mean, -1, 1)
    for s in range(3):
        ref.set_state(start)
        for t in range(10):
            obs = ref.step(raw[s, t])[0]
            if (t + 1) % 5 == 0:
                np.testing.assert_array_equal(states[s, t // 5], ref.get_state())
                np.testing.assert_array_equal(frames[s, t // 5], obs)
    cost.encode = None
    expected = [sum(sim.success_distance(st, goal) for st in cand) for cand in states]
    np.testing.assert_allclose(cost(actions[None])[0].numpy(), expected, rtol=1e-6)
    assert cost.sim_steps == 3 * 3 * 10 and sim.render().any()


def test_probe_decodes_angles_across_the_wrap():
    """An angle the success test reads modulo 2π is found from the env's own test and decoded
    through (cos, sin): a linear probe then recovers it on both sides of ±π, raw regression
    does not."""
    from lewm.evaluation.diagnose_models import fit_state_probe, periodic_entries

    env = make("reacher", image_size=16)
    env.reset(seed=0)
    assert periodic_entries(env, env.get_state()) == [0, 1]  # shoulder, wrist
    env.close()
    rng = np.random.default_rng(0)
    theta = rng.uniform(-np.pi, np.pi, 2000)
    mix = rng.normal(size=(2, 16))
    z = torch.tensor(np.stack([np.cos(theta), np.sin(theta)], 1) @ mix, dtype=torch.float32)
    states = np.stack([theta, rng.normal(size=2000)], 1)
    near_wrap = np.abs(theta) > 2.8

    def wrapped_error(probe) -> float:
        err = np.abs(np.angle(np.exp(1j * (probe(z)[:, 0] - theta))))
        return float(np.median(err[near_wrap]))

    assert wrapped_error(fit_state_probe(z, states, "linear", periodic=[0])) < 0.05
    assert wrapped_error(fit_state_probe(z, states, "linear")) > 0.5
