"""Push-T (lewm/PushT-v0): contact physics, state round trips, success test, the scripted expert,
and the shared pipeline (collection, clips, training, evaluation) on a tiny Push-T file."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.conftest import tiny_config

from lewm.envs import make, make_policy
from lewm.envs.pusht import AGENT_RADIUS, WALL_HI, WALL_LO, WALL_RADIUS, PushTEnv, block_polygons

FREE_LO = WALL_LO + WALL_RADIUS + AGENT_RADIUS  # lowest free agent centre coordinate
FREE_HI = WALL_HI - WALL_RADIUS - AGENT_RADIUS
# Contacts are detected once per 100 Hz sub-step, so a disc arriving at full speed (~400 px/s)
# can overlap by up to one sub-step of travel before the solver pushes it back: < 5 px of 512,
# under a pixel at 64 px. Far from passing through anything (the agent is 30 px wide).
TRAVEL = 5.0


@pytest.fixture
def env():
    e = make("pusht", image_size=64)
    e.reset(seed=0)
    return e


def _agent_block_gap(env: PushTEnv) -> float:
    """Signed distance from the agent's rim to the T (negative = overlap)."""
    from lewm.envs.pusht import _point_polygon_distance

    s = env.get_state()
    d = min(_point_polygon_distance(s[0:2].astype(float), p) for p in block_polygons(*s[4:7]))
    return d - AGENT_RADIUS


def test_pushing_moves_the_block_and_the_agent_does_not_enter_it(env):
    env.reset(options=dict(agent_pos=(100, 256), block_pose=(256, 256, 0.0)))
    start = env.get_state()
    for _ in range(5):
        env.step([1.0, 0.0])
        assert _agent_block_gap(env) > -TRAVEL
    end = env.get_state()
    assert end[4] - start[4] > 30.0  # the block was pushed right
    assert end[0] - start[0] > 100.0


def test_block_pushed_into_a_wall_neither_overlaps_the_agent_nor_the_wall(env):
    env.reset(options=dict(agent_pos=(150, 256), block_pose=(300, 256, 0.0)))
    for _ in range(60):
        env.step([1.0, 0.0])
        s = env.get_state()
        assert _agent_block_gap(env) > -TRAVEL
        for poly in block_polygons(*s[4:7]):  # the T stays inside the walls (within slop)
            assert poly.max() < WALL_HI - WALL_RADIUS + TRAVEL
        assert s[0] <= FREE_HI + TRAVEL


def test_walls_hold_the_agent_under_random_pushes(env):
    rng = np.random.default_rng(0)
    for _ in range(300):
        env.step(rng.uniform(-1, 1, 2) * 3)  # out-of-range actions are clipped
        x, y = env.get_state()[0:2]
        assert FREE_LO - TRAVEL <= x <= FREE_HI + TRAVEL
        assert FREE_LO - TRAVEL <= y <= FREE_HI + TRAVEL
    for a in ([-1, -1], [1, 1]):  # driven hard into two corners
        for _ in range(30):
            env.step(a)
        assert np.all(np.abs(env.get_state()[0:2] - (FREE_LO if a[0] < 0 else FREE_HI)) < TRAVEL)


def test_state_round_trip_and_replay_are_deterministic(env):
    rng = np.random.default_rng(1)
    for _ in range(7):
        env.step(rng.uniform(-1, 1, 2))
    s = env.get_state()
    img = env.render()
    actions = rng.uniform(-1, 1, (15, 2))
    runs = []
    for _ in range(2):
        other = make("pusht", image_size=64)
        other.reset(seed=123)
        other.set_state(s)
        np.testing.assert_array_equal(other.get_state(), s)
        np.testing.assert_array_equal(other.render(), img)
        runs.append([other.step(a)[4]["state"] for a in actions])
    np.testing.assert_array_equal(np.array(runs[0]), np.array(runs[1]))


def test_reset_seed_is_deterministic_and_renders_any_size():
    a, b = make("pusht", image_size=96), make("pusht", image_size=96)
    oa, _ = a.reset(seed=7)
    ob, _ = b.reset(seed=7)
    np.testing.assert_array_equal(oa, ob)
    assert oa.shape == (96, 96, 3) and oa.dtype == np.uint8
    assert make("pusht", image_size=224).reset(seed=7)[0].shape == (224, 224, 3)
    assert a.is_free_configuration(a.get_state()[0:2], a.get_state()[4:7])


def test_success_test_including_the_wrapped_angle(env):
    goal = np.array([200, 300, 0, 0, 256, 256, 3.0, 0, 0, 0, 256, 256, 3.0], np.float32)
    env.set_goal_state(goal)
    here = goal.copy()
    env.set_state(here)
    assert env.is_success()
    here[0] += 12.0
    here[4] += 12.0  # 4-vector error 16.97 < 20
    env.set_state(here)
    assert env.is_success()
    here[5] += 12.0  # now sqrt(3) * 12 = 20.8
    env.set_state(here)
    assert not env.is_success()
    # Angle compared modulo 2 pi: 3.0 vs -3.0 + ... is 0.28 rad apart across the wrap.
    wrapped = goal.copy()
    wrapped[6] = 3.0 + 0.3 - 2 * math.pi
    env.set_state(wrapped)
    assert env.is_success()
    wrapped[6] = 3.0 - math.pi / 9 - 0.02
    env.set_state(wrapped)
    assert not env.is_success()
    wrapped[6] = 3.0 + math.pi  # upside down T: the T is not symmetric under a half turn
    env.set_state(wrapped)
    assert not env.is_success()


def test_goal_image_is_the_render_of_the_goal_pose(env):
    goal = env.get_state()
    goal[4:7] = (300.0, 200.0, 1.0)
    goal[0:2] = (100.0, 100.0)
    env.set_goal_state(goal)
    before = env.get_state()
    img = env.goal_image()
    np.testing.assert_array_equal(env.get_state(), before)  # state restored
    env.set_state(goal)
    np.testing.assert_array_equal(env.render(), img)
    overlay = make("pusht", image_size=64, goal_overlay=True)
    overlay.reset(seed=0)
    overlay.set_goal_state(goal)
    assert (overlay.render() != env.render()).any()  # overlay drawn only when asked


def test_expert_solves_its_own_goals(env):
    successes = 0
    for i in range(20):
        env.reset(seed=500 + i)
        pol = make_policy("pusht", "expert", env, i)
        pol.reset()
        for _ in range(300):
            if env.step(pol.act(env))[4]["success"]:
                successes += 1
                break
    assert successes >= 18, successes


def test_surprise_hooks_and_bad_input(env):
    before = env.get_state()
    env.surprise_teleport(np.random.default_rng(0))
    after = env.get_state()
    assert np.hypot(*(after[4:6] - before[4:6])) >= 100.0
    assert env.is_free_configuration(after[0:2], after[4:7])
    img = env.render()
    env.surprise_recolour()
    assert (env.render() != img).any()
    with pytest.raises(ValueError, match="overlaps"):
        env.teleport("agent", after[4:6])  # onto the block
    with pytest.raises(ValueError, match="non-finite"):
        env.step([np.nan, 0.0])
    with pytest.raises(ValueError, match="shape"):
        env.set_state(np.zeros(5))
    with pytest.raises(ValueError, match="unknown options"):
        env.reset(options={"door_y": 3})


def test_tiny_pusht_file_collects_trains_and_evaluates(tmp_path):
    from lewm.data.clips import ClipDataset
    from lewm.data.collect import collect
    from lewm.evaluation.protocol import evaluate_run
    from lewm.train import train

    path = collect(
        "pusht",
        tmp_path / "pt16.h5",
        episodes=12,
        image_size=16,
        seed=3,
        progress=False,
        min_length=30,
    )
    clips = ClipDataset(path, "train", num_frames=4, frameskip=5, with_state=True)
    item = clips[0]
    assert item["pixels"].shape == (4, 16, 16, 3) and item["actions"].shape == (4, 10)
    assert item["state"].shape == (4, 13)
    cfg = tiny_config(path, "env=pusht", "train.max_steps=2", "plan.iterations=1")
    train(cfg, tmp_path / "run", progress=False)
    res = evaluate_run(tmp_path / "run", overrides=["eval.episodes=2"], progress=False)
    assert 0.0 <= res["success_mean"] <= 1.0 and "random_success_mean" in res
