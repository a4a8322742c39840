"""Push-T (lewm/PushT-v0): replay of gym-pusht's physics, the tunnelling guard, state round
trips and conventions, the success test, the scripted experts, and the shared pipeline
(collection, clips, training, evaluation) on a tiny Push-T file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import tiny_config

from lewm.envs import make, make_policy
from lewm.envs.pusht import PushTEnv
from lewm.envs.pusht_geometry import (
    FREE_HI,
    FREE_LO,
    agent_block_gap,
    block_polygons,
    block_wall_overlap,
    pose_from_cog,
)
from lewm.metrics import trajectory_straightness

REFERENCE = Path(__file__).parent / "data" / "pusht_reference.npz"
# Reference trajectories that push the T into a wall and keep pushing, so the kinematic agent
# squeezes into it: the guard acts there (they replay exactly only with the guard off).
SQUEEZES = ("squeeze_left_wall", "squeeze_corner")
# Contacts are detected once per 100 Hz sub-step: a disc arriving at full speed (~400 px/s)
# overlaps the T by up to one sub-step of travel before the solver pushes it away.
TRAVEL = 5.0


@pytest.fixture
def env():
    e = make("pusht", image_size=64)
    e.reset(seed=0)
    return e


def _replay(env: PushTEnv, targets: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Replay gym-pusht's absolute targets (50, 2) from the recorded start; returns lewm's states
    (51, 5) in the file's order (agent x, y, block x, y, angle). Once a replay has left the
    reference (the guard acted), an action may leave [-1, 1] and is clipped."""
    s0 = states[0]
    # The file: agent xy, block xy, angle, agent v, block v, omega; ours adds a target pose.
    ours = [s0[0], s0[1], s0[5], s0[6], s0[2], s0[3], s0[4], s0[7], s0[8], s0[9], 256, 256, 0]
    env.reset(options={"state": np.array(ours)})
    out = [env.get_state()[[0, 1, 4, 5, 6]]]
    for target in targets:
        # gym-pusht's absolute target t is our relative action (t - agent) / 100.
        action = (target - env.get_state()[0:2]) / 100.0
        assert env.guard_hits or np.all(np.abs(action) <= 1.0)  # recorded inside our box
        out.append(env.step(action)[4]["state"][[0, 1, 4, 5, 6]])
    return np.array(out, np.float64)


def _errors(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Largest position error (px, agent or block, any axis) and angle error (rad, mod 2 pi)."""
    pos = float(np.abs(ours[:, 0:4] - ref[:, 0:4]).max())
    ang = float(np.abs((ours[:, 4] - ref[:, 4] + math.pi) % (2 * math.pi) - math.pi).max())
    return pos, ang


def test_replays_gym_pusht_reference_trajectories_within_1px():
    """Trajectories recorded with gym-pusht 0.1.8 (scripts/make_pusht_reference.py): pushes,
    turns, wall contacts, squeezes. Without the guard every one replays within 1 px and
    0.01 rad over all 50 steps; with it (the default) every one the guard leaves alone does,
    and it leaves alone all but the squeezes, wall contacts included."""
    data = np.load(REFERENCE)
    names, targets, states = list(data["names"]), data["targets"], data["states"]
    assert len(names) >= 6 and targets.shape[1:] == (50, 2) and states.shape[1:] == (51, 10)
    exact, guarded = make("pusht", image_size=16, tunnel_guard=False), make("pusht", image_size=16)
    touched_wall = []
    for name, tg, st in zip(names, targets, states):
        ref = st[:, 0:5]
        pos, ang = _errors(_replay(exact, tg, st), ref)
        assert pos < 1.0 and ang < 0.01, (name, pos, ang)
        guarded.guard_hits = 0
        pos, ang = _errors(_replay(guarded, tg, st), ref)
        if name in SQUEEZES:
            assert guarded.guard_hits > 0, name
            continue
        assert guarded.guard_hits == 0 and pos < 1.0 and ang < 0.01, (name, pos, ang)
        # The recordings really push: contact, and (some) the T against a wall.
        assert min(agent_block_gap(s[0:2], s[2:5]) for s in st) < 0.5, name
        touched_wall.append(max(block_wall_overlap(s[2:5]) for s in st) > -0.5)
    assert sum(touched_wall) >= 2


def test_block_pose_convention_origin_at_the_bar_top(env):
    """Block position = middle of the bar's top edge; at angle 0 the stem hangs below (+y, down
    on the image); a positive angle turns the T clockwise on the image."""
    big = make("pusht", image_size=128)
    big.reset(options=dict(agent_pos=(60, 60), block_pose=(256, 256, 0.0)))
    img = big.render().astype(int)
    background = img[40, 100]

    def is_block(x: float, y: float) -> bool:  # x, y in the 512-px frame
        return bool(np.abs(img[int(y / 4), int(x / 4)] - background).sum() > 60)

    assert is_block(256, 262) and not is_block(256, 250)  # bar starts at y = 256
    assert is_block(256, 370) and not is_block(256, 382)  # stem ends at y = 376
    assert is_block(310, 270) and not is_block(310, 300)  # bar 120 wide, 30 tall
    big.set_state(np.array([60, 60, 0, 0, 256, 256, math.pi / 2, 0, 0, 0, 256, 256, 0]))
    img = big.render().astype(int)
    assert is_block(180, 256) and not is_block(330, 256)  # clockwise: the stem now points -x


def test_tunnelling_guard_keeps_a_pinned_block_out_of_the_walls():
    """Driving the T into a wall: gym-pusht's kinematic agent squeezes it deep into the wall and
    itself deep into the T; with the guard (default) both stay shallow (docs/pusht.md)."""
    results = {}
    for guard in (False, True):
        e = make("pusht", image_size=16, tunnel_guard=guard)
        worst_wall = worst_agent = 0.0
        for angle in (-2.62, -1.57, -1.05):  # the T's centre of gravity 103 px from the wall
            e.reset(options=dict(agent_pos=(260, 256), block_pose=pose_from_cog((110, 256), angle)))
            for _ in range(40):
                s = e.step([-1.0, 0.0])[4]["state"]
                worst_wall = max(worst_wall, block_wall_overlap(s[4:7]))
                worst_agent = max(worst_agent, -agent_block_gap(s[0:2], s[4:7]))
        results[guard] = (worst_wall, worst_agent)
    assert results[False][0] > 20.0 and results[False][1] >= 15.0  # agent centre inside the T
    assert results[True][0] < 12.0 and results[True][1] < 12.0, results[True]


def test_guard_keeps_the_agent_inside_the_walls(env):
    """gym-pusht's absolute targets stay in [0, 512]; our relative ones could walk a kinematic
    agent anywhere. The guard keeps the PD target in [22, 489]^2 (the disc touching a wall)."""
    rng = np.random.default_rng(0)
    free = make("pusht", image_size=16, tunnel_guard=False)
    free.reset(seed=0)
    escaped = 0.0
    for _ in range(300):
        a = rng.uniform(-1, 1, 2) * 3  # out-of-range actions are clipped
        x, y = env.step(a)[4]["state"][0:2]
        assert FREE_LO - TRAVEL <= x <= FREE_HI + TRAVEL
        assert FREE_LO - TRAVEL <= y <= FREE_HI + TRAVEL
        escaped = max(escaped, np.abs(free.step(a)[4]["state"][0:2] - 256).max() - 256)
    assert escaped > 50.0  # unguarded, the same random walk leaves the workspace
    env.reset(options=dict(agent_pos=(256, 256), block_pose=(100, 380, 0.0)))  # off the diagonal
    for a in ([-1, -1], [1, 1]):  # driven hard into two corners
        for _ in range(30):
            env.step(a)
        assert np.all(np.abs(env.get_state()[0:2] - (FREE_LO if a[0] < 0 else FREE_HI)) < 1.0)


def test_pushing_moves_the_block_and_the_agent_stays_out_of_it(env):
    env.reset(options=dict(agent_pos=(100, 271), block_pose=(256, 256, 0.0)))
    start = env.get_state()
    for _ in range(5):
        env.step([1.0, 0.0])
        assert agent_block_gap(env.get_state()[0:2], env.get_state()[4:7]) > -TRAVEL
    end = env.get_state()
    assert end[4] - start[4] > 30.0  # the block was pushed right
    assert end[0] - start[0] > 100.0


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
    for seed in range(20):  # sampled starts and targets keep the T inside the walls
        s = a.reset(seed=seed)[1]["state"]
        assert a.is_free_configuration(s[0:2], s[4:7]) and block_wall_overlap(s[10:13]) < 0


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


def test_success_distance_agrees_with_is_success_on_random_states(env):
    rng = np.random.default_rng(0)
    goal = env.get_state()
    env.set_goal_state(goal)
    agree = 0
    for i in range(300):
        s = goal.copy()
        scale = rng.choice([3.0, 10.0, 30.0])  # near and far from the tolerance
        s[[0, 1, 4, 5]] += rng.normal(0.0, scale, 4)
        s[6] += rng.normal(0.0, 0.3) + 2 * math.pi * rng.integers(-2, 3)
        s[[0, 1, 4, 5]] = np.clip(s[[0, 1, 4, 5]], 0, 512)
        before = env.get_state()
        d = env.success_distance(s, goal)
        np.testing.assert_array_equal(env.get_state(), before)  # pure: no state change
        env.set_state(s)
        assert d >= 0.0 and (d < 1.0) == env.is_success(), (i, d)
        agree += d < 1.0
    assert 30 < agree < 270  # both outcomes were exercised
    assert env.success_distance(goal, goal) == 0.0
    with pytest.raises(ValueError, match="shape"):
        env.success_distance(goal[:5], goal)


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


def test_expert_long_keeps_pushing_to_new_targets_after_success(env):
    pol = make_policy("pusht", "expert_long", env, 0)
    assert pol.ends_on_success is False and make_policy("pusht", "expert", env, 0).ends_on_success
    env.reset(seed=501)
    pol.reset()
    first, moved_after = None, 0.0
    for _ in range(300):
        s = env.step(pol.act(env))[4]["state"]
        if first is None and pol.targets_reached:
            first = s.copy()
        elif first is not None:
            moved_after = max(moved_after, float(np.hypot(*(s[4:6] - first[4:6]))))
    assert first is not None and pol.targets_reached >= 2, pol.targets_reached
    assert moved_after > 50.0  # it kept pushing the block after the first success


def test_expert_smooth_solves_with_straighter_agent_paths(env):
    """expert_smooth keeps the expert's success but its agent path, sampled once per latent
    step (5 env steps), turns less: the reason it exists (docs/pusht.md)."""

    def rollouts(name):
        paths, solved = [], 0
        for i in range(12):
            env.reset(seed=700 + i)
            pol = make_policy("pusht", name, env, i, noise_std=0.0, burst_prob=0.0)
            pol.reset()
            xy = [env.get_state()[:2]]
            for _ in range(300):
                info = env.step(pol.act(env))[4]
                xy.append(info["state"][:2])
                if info["success"]:
                    solved += 1
                    break
            if len(xy) >= 15:
                paths.append(torch.as_tensor(np.asarray(xy[::5], dtype=np.float64)))
        return trajectory_straightness(paths), solved

    smooth, smooth_solved = rollouts("expert_smooth")
    expert, _ = rollouts("expert")
    assert smooth_solved >= 11, smooth_solved
    assert smooth > expert + 0.15, (smooth, expert)
    with pytest.raises(ValueError, match="walk_speed"):
        make_policy("pusht", "expert_smooth", env, 0, walk_speed=0.0)
    with pytest.raises(ValueError, match="hold_width"):
        make_policy("pusht", "expert_smooth", env, 0, hold_width=-1.0)


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
        env.teleport("agent", block_polygons(*after[4:7])[1].mean(axis=0))  # onto the stem
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
