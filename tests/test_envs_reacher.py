"""Reacher (dm_control): state round trips, goal images, success, determinism, collect-train-eval.

Needs an offscreen GL context (CI: MUJOCO_GL=egl from conftest.py); skipped with the reason
only where none can be created.
"""

from __future__ import annotations

import json

import gymnasium
import numpy as np
import pytest
from tests.conftest import tiny_config

from lewm.envs import make, make_policy
from lewm.envs.mujoco_render import gl_available

_GL_OK, _GL_WHY = gl_available()
pytestmark = pytest.mark.skipif(not _GL_OK, reason=f"no MuJoCo GL backend here: {_GL_WHY}")


@pytest.fixture
def env():
    e = make("reacher", image_size=32)
    yield e
    e.close()


def _random_walk(env, steps, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        env.step(rng.uniform(-1, 1, 2).astype(np.float32))


def test_reset_set_state_round_trip(env):
    obs, info = env.reset(seed=3)
    assert obs.shape == (32, 32, 3) and obs.dtype == np.uint8
    assert info["state"].shape == (6,) and len(env.state_names) == 6
    _random_walk(env, 15)
    s = env.get_state()
    assert np.any(s[2:4] != 0)  # moving: the velocities are part of the state
    frame = env.render()
    a = np.array([0.7, -0.4], dtype=np.float32)
    after = [env.step(a)[0] for _ in range(5)]
    end = env.get_state()
    # Another env, elsewhere, put into the saved state renders and moves identically.
    other = make("reacher", image_size=32)
    other.reset(seed=99)
    other.set_state(s)
    assert np.array_equal(other.get_state(), s)
    assert np.array_equal(other.render(), frame)
    assert all(np.array_equal(other.step(a)[0], f) for f in after)
    assert np.array_equal(other.get_state(), end)
    other.close()
    np.testing.assert_array_equal(env.proprio(), end[:4])
    with pytest.raises(ValueError, match="shape"):
        env.set_state(np.zeros(5))
    with pytest.raises(ValueError, match="limits"):
        env.set_state(np.array([0, 3.0, 0, 0, 0, 0]))


def test_goal_image_is_the_arm_at_the_target_configuration(env):
    env.reset(seed=0, options={"qpos": (0.3, -1.0), "target_qpos": (2.5, 1.2)})
    state = env.get_state()
    img = env.goal_image()  # default goal: the episode's target configuration
    assert np.array_equal(env.get_state(), state)  # rendering the goal leaves the state alone
    assert not np.array_equal(img, env.render())
    env.teleport("arm", (2.5, 1.2))
    assert np.array_equal(img, env.render())
    # A goal taken from a state: its joint angles count, not its target fields.
    goal = state.copy()
    goal[0:2] = (-1.5, 0.4)
    env.set_goal_state(goal)
    img = env.goal_image()
    env.teleport("arm", (-1.5, 0.4))
    assert np.array_equal(img, env.render())
    phys = env.physical_state()
    np.testing.assert_allclose(phys["fingertip_pos"], phys["goal_fingertip_pos"], atol=1e-5)


def test_success_per_joint_with_wrap_around(env):
    env.reset(seed=0, options={"qpos": (3.12, 0.5), "target_qpos": (-3.12, 0.54)})
    assert env.is_success()  # 0.043 rad apart across ±π, wrist 0.04 apart
    env.reset(seed=0, options={"qpos": (3.12, 0.5), "target_qpos": (-3.12, 0.56)})
    assert not env.is_success()  # wrist 0.06 rad off
    env.reset(seed=0, options={"qpos": (1.0, 0.5), "target_qpos": (1.06, 0.5)})
    assert not env.is_success()  # shoulder 0.06 rad off
    _, reward, terminated, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert reward == 0.0 and info["success"] is False and not terminated


def test_dynamics_torques_and_truncation():
    env = make("reacher", image_size=16, max_episode_steps=30)
    env.reset(seed=0, options={"qpos": (0.0, 0.0), "target_qpos": (1.0, 1.0)})
    for t in range(30):
        *_, truncated, _ = env.step(np.array([1.0, 0.0], dtype=np.float32))
        assert truncated == (t == 29)
    s = env.get_state()
    assert s[2] > 1.0 and s[0] > 0.5  # positive shoulder torque turns the shoulder forward
    assert -np.pi - 1e-6 <= s[0] <= np.pi + 1e-6
    with pytest.raises(ValueError, match="non-finite"):
        env.step(np.array([np.nan, 0.0]))
    env.close()


def test_deterministic_for_a_seed():
    runs = []
    for _ in range(2):
        env = make("reacher", image_size=16)
        policy = make_policy("reacher", "expert", env, 7)
        obs, _ = env.reset(seed=11)
        frames, states = [obs], [env.get_state()]
        for _ in range(20):
            obs, *_ = env.step(policy.act(env))
            frames.append(obs)
            states.append(env.get_state())
        runs.append((np.stack(frames), np.stack(states)))
        env.close()
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    other_seed = make("reacher", image_size=16)
    assert not np.array_equal(other_seed.reset(seed=12)[1]["state"], runs[0][1][0])
    other_seed.close()


def test_expert_reaches_joint_targets():
    env = make("reacher", image_size=16)
    policy = make_policy("reacher", "expert", env, 0)
    hits = 0
    for ep in range(10):
        env.reset(seed=ep)
        policy.reset()
        for _ in range(80):
            env.step(policy.act(env))
            if env.is_success():
                hits += 1
                break
    env.close()
    assert hits >= 7  # the random policy reaches the episode target within 80 steps ~never


def test_surprise_hooks(env):
    obs, _ = env.reset(seed=0, options={"qpos": (0.5, 0.5)})
    env.surprise_recolour()
    blue = env.render()
    assert not np.array_equal(blue, obs)
    assert ((blue[..., 2] > 150) & (blue[..., 0] < 60) & (blue[..., 1] < 60)).any()
    before = env.physical_state()["fingertip_pos"]
    env.surprise_teleport(np.random.default_rng(0))
    assert np.linalg.norm(env.physical_state()["fingertip_pos"] - before) >= 0.18 - 1e-6
    with pytest.raises(ValueError, match="unknown object"):
        env.set_color("ghost", (1, 2, 3))
    obs2, _ = env.reset(seed=0, options={"qpos": (0.5, 0.5)})
    assert np.array_equal(obs2, obs)  # colours back to default after reset


def test_registry():
    env = gymnasium.make("lewm/Reacher-v0", image_size=16).unwrapped
    assert type(env).__name__ == "ReacherEnv" and env.env_version == 0
    env.close()


def test_tiny_collection_trains_and_evaluates(tmp_path):
    from lewm.data.collect import collect
    from lewm.evaluation.protocol import evaluate_run
    from lewm.train import train

    data = tmp_path / "reacher16.h5"
    collect(
        "reacher",
        data,
        episodes=6,
        image_size=16,
        policy="expert",
        seed=1,
        progress=False,
        max_steps=40,
    )
    cfg = tiny_config(
        data, "env=reacher", "eval.goal_offset=5", "eval.eval_budget=10", "eval.episodes=2"
    )
    train(cfg, tmp_path / "run", progress=False)
    res = evaluate_run(tmp_path / "run", progress=False)
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["per_seed"][0]["seed"] == 0
    assert 0.0 <= res["success_mean"] <= 1.0 and 0.0 <= res["random_success_mean"] <= 1.0
    assert 0.0 <= res["solved_at_start"] <= 1.0


def _policy_states(policy, episodes, steps=200):
    """Joint states (episodes * (steps + 1), 4) and actions (episodes * steps, 2) of `policy`."""
    env = make("reacher", image_size=16, max_episode_steps=steps)
    states, actions = [], []
    for ep in range(episodes):
        env.reset(seed=100 + ep)
        pol = make_policy("reacher", policy, env, ep)
        pol.reset()
        states.append(env.get_state()[:4])
        for _ in range(steps):
            actions.append(pol.act(env))
            env.step(actions[-1])
            states.append(env.get_state()[:4])
    env.close()
    return np.stack(states), np.stack(actions)


def test_mixed_policy_covers_the_torus_and_the_torque_square():
    """The mixed policy travels the (shoulder, wrist) torus like a reaching policy while its
    torques cover the torque square like random ones (benchmarks/reacher_coverage.py)."""
    from lewm.envs.reacher import WRIST_LIMIT

    lims = [(-np.pi, np.pi), (-WRIST_LIMIT, WRIST_LIMIT)]
    torus, inner = {}, {}
    for policy in ("expert", "random", "mixed"):
        s, a = _policy_states(policy, episodes=12)
        hist, *_ = np.histogram2d(s[:, 0], s[:, 1], bins=20, range=lims)
        torus[policy] = np.mean(hist > 0)
        inner[policy] = np.mean(np.all(np.abs(a) < 0.5, axis=1))  # unsaturated torques
        assert np.all(np.abs(a) <= 1.0)
        assert np.abs(s[:, 2:4]).max() < 12.0  # the speed guard brakes (joint damping 0.01)
    # Uniform random torques barely move the arm; the mixed policy's reaches travel.
    assert torus["mixed"] > torus["random"] + 0.1
    # The PD expert's torques sit mostly at the ±1 limits: few are inside the square.
    assert inner["mixed"] > 1.8 * inner["expert"]


def test_mixed_policy_deterministic_and_checked():
    from lewm.envs.reacher_policies import MixedPolicy

    a = _policy_states("mixed", episodes=1, steps=60)
    b = _policy_states("mixed", episodes=1, steps=60)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="mix"):
        MixedPolicy(np.random.default_rng(0), mix=(1.0, -1.0, 0.0))
    with pytest.raises(ValueError, match="segment_steps"):
        MixedPolicy(np.random.default_rng(0), segment_steps=(5, 2))
