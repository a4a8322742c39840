"""Two-Room simulator: walls, door, success, rendering, state round trips, hooks, registry."""

import gymnasium
import numpy as np
import pytest

from lewm.envs import make, make_policy
from lewm.envs.tworoom import DOOR_Y, TwoRoomEnv

CONTACT = 112.0 - 5.0 - 7.0  # agent centre x at contact with the middle wall's left face
TOL = 1e-3


@pytest.fixture
def env():
    return make("tworoom", image_size=64)


def _push(env, action, steps=40):
    xs = []
    for _ in range(steps):
        env.step(np.asarray(action, dtype=np.float32))
        xs.append(env.get_state()[:2].copy())
    return np.array(xs)


def test_middle_wall_blocks_and_agent_slides(env):
    env.reset(seed=0, options={"agent_pos": (60.0, 150.0), "target_pos": (160.0, 150.0)})
    path = _push(env, (1.0, 0.0))
    assert path[:, 0].max() <= CONTACT + TOL
    assert path[-1, 0] == pytest.approx(CONTACT, abs=0.05)  # reaches contact, does not stall early
    # Diagonal push into the wall (away from the door): x stays blocked, y still slides.
    path = _push(env, (1.0, 1.0), steps=5)
    assert path[:, 0].max() <= CONTACT + TOL
    assert path[-1, 1] == pytest.approx(175.0, abs=1e-3)


def test_wall_never_crossed_under_random_pushes(env):
    rng = np.random.default_rng(0)
    env.reset(seed=1, options={"agent_pos": (90.0, 180.0)})
    for _ in range(300):
        a = np.array([1.0, rng.uniform(-1, 1)], dtype=np.float32)
        env.step(a)
        x, y = env.get_state()[:2]
        if not DOOR_Y - 14 <= y <= DOOR_Y + 14:
            assert x <= CONTACT + TOL or x >= 112 + 12 - TOL
    # the disc may only be beyond the wall's left face when it is inside the door's span
    assert env.is_free(*env.get_state()[:2])


def test_door_lets_agent_through(env):
    env.reset(seed=0, options={"agent_pos": (60.0, DOOR_Y), "target_pos": (180.0, DOOR_Y)})
    path = _push(env, (1.0, 0.0), steps=30)
    assert path[-1, 0] > 112 + 12
    assert abs(path[-1, 1] - DOOR_Y) < 1e-4


def test_door_corner_slides_into_doorway(env):
    # Slightly above the opening: the corner stops x, a diagonal push still gets through.
    env.reset(seed=0, options={"agent_pos": (95.0, DOOR_Y - 12.0)})
    path = _push(env, (1.0, 0.3), steps=20)
    assert path[-1, 0] > 112 + 12


def test_border_blocks(env):
    env.reset(seed=0, options={"agent_pos": (30.0, 30.0)})
    path = _push(env, (-1.0, -1.0), steps=10)
    assert path.min() >= 14 + 7 - TOL
    assert path[-1] == pytest.approx([21.0, 21.0], abs=0.05)
    env.reset(seed=0, options={"agent_pos": (190.0, 190.0)})
    path = _push(env, (1.0, 1.0), steps=10)
    assert path.max() <= 224 - 14 - 7 + TOL


def test_action_scaling_and_clipping(env):
    env.reset(seed=0, options={"agent_pos": (50.0, 150.0)})
    env.step(np.array([1.0, -1.0], dtype=np.float32))
    assert env.get_state()[:2] == pytest.approx([55.0, 145.0])
    env.step(np.array([3.0, 0.5], dtype=np.float32))  # clipped to (1, 0.5)
    assert env.get_state()[:2] == pytest.approx([60.0, 147.5])
    with pytest.raises(ValueError):
        env.step(np.array([np.nan, 0.0]))


def test_expert_reaches_target(env):
    policy = make_policy("tworoom", "expert", env, np.random.default_rng(0))
    successes = 0
    for ep in range(30):
        env.reset(seed=100 + ep)
        policy.reset()
        for _ in range(env.max_episode_steps):
            _, reward, terminated, truncated, info = env.step(policy.act(env))
            assert not terminated
            if info["success"]:
                assert reward == 1.0
                successes += 1
                break
    assert successes >= 24


def test_success_radius(env):
    env.reset(seed=0, options={"agent_pos": (60.0, 150.0), "target_pos": (60.0, 166.0)})
    assert env.is_success()
    env.reset(seed=0, options={"agent_pos": (60.0, 150.0), "target_pos": (60.0, 170.0)})
    assert not env.is_success()
    goal = env.get_state()
    goal[:2] = (76.0, 150.0)  # goal from a state: its agent position counts, not its target
    env.set_goal_state(goal)
    assert env.is_success()
    goal[:2] = (80.0, 150.0)
    env.set_goal_state(goal)
    assert not env.is_success()
    _, reward, *_, info = env.step(np.zeros(2, dtype=np.float32))
    assert reward == 0.0 and info["success"] is False


def test_truncation(env):
    env.reset(seed=0)
    for t in range(env.max_episode_steps):
        *_, truncated, _ = env.step(np.zeros(2, dtype=np.float32))
        assert truncated == (t == env.max_episode_steps - 1)


@pytest.mark.parametrize("size", [64, 224])
def test_render_size_and_determinism(size):
    env = make("tworoom", image_size=size)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (size, size, 3) and obs.dtype == np.uint8
    state = env.get_state()
    env.action_space.seed(3)
    for _ in range(5):
        env.step(env.action_space.sample())
    other = make("tworoom", image_size=size)
    other.reset(seed=99)
    other.set_state(state)
    assert np.array_equal(other.render(), obs)
    red = (obs[..., 0] == 255) & (obs[..., 1] == 0)
    assert red.sum() > 0.5 * np.pi * (7 * size / 224) ** 2  # agent visible, roughly a disc
    assert (obs == 0).all(-1)[:, 0].all()  # black border column


def test_state_round_trip(env):
    env.reset(seed=5)
    env.action_space.seed(5)
    for _ in range(7):
        env.step(env.action_space.sample())
    s = env.get_state()
    assert s.dtype == np.float32 and s.shape == (len(env.state_names),)
    a = np.array([0.3, -0.8], dtype=np.float32)
    obs1 = env.step(a)[0]
    env.set_state(s)
    assert np.array_equal(env.get_state(), s)
    np.testing.assert_array_equal(env.proprio(), s[:2])
    assert np.array_equal(env.step(a)[0], obs1)
    phys = env.physical_state()
    assert phys["door_y"].shape == (1,) and phys["target_pos"].shape == (2,)


def test_randomized_door_in_state():
    env = make("tworoom", randomize_door=True)
    doors = {float(env.reset(seed=i)[1]["state"][4]) for i in range(5)}
    assert len(doors) == 5
    env.reset(seed=0, options={"door_y": 150.0, "agent_pos": (60.0, 150.0)})
    path = _push(env, (1.0, 0.0), steps=30)
    assert path[-1, 0] > 124


def test_goal_image_is_render_at_goal(env):
    env.reset(seed=0, options={"agent_pos": (60.0, 150.0), "target_pos": (170.0, 60.0)})
    state = env.get_state()
    goal = state.copy()
    goal[:2] = (150.0, 180.0)
    env.set_goal_state(goal)
    img = env.goal_image()
    assert np.array_equal(env.get_state(), state)  # rendering the goal leaves the state alone
    env.teleport("agent", (150.0, 180.0))
    assert np.array_equal(img, env.render())
    # Without set_goal_state (after reset) the goal is the episode's target.
    env.reset(seed=0, options={"agent_pos": (60.0, 150.0), "target_pos": (170.0, 60.0)})
    img = env.goal_image()
    env.teleport("agent", (170.0, 60.0))
    assert np.array_equal(img, env.render())


def test_teleport_and_recolour(env):
    obs, _ = env.reset(seed=0, options={"agent_pos": (60.0, 150.0)})
    env.set_color("agent", (0, 0, 255))
    blue = env.render()
    assert not np.array_equal(blue, obs)
    assert ((blue[..., 2] == 255) & (blue[..., 0] == 0)).any()
    env.teleport("agent", (180.0, 40.0))
    assert env.get_state()[:2] == pytest.approx([180.0, 40.0])
    assert not np.array_equal(env.render(), blue)
    with pytest.raises(ValueError, match="overlaps a wall"):
        env.teleport("agent", (112.0, 150.0))
    with pytest.raises(ValueError, match="unknown object"):
        env.set_color("ghost", (1, 2, 3))
    obs2, _ = env.reset(seed=0, options={"agent_pos": (60.0, 150.0)})
    assert np.array_equal(obs2, obs)  # colours back to default after reset


def test_make_and_registry():
    env = make("tworoom", image_size=32)
    assert isinstance(env, TwoRoomEnv) and env.image_size == 32
    env2 = make("lewm/TwoRoom-v0", randomize_door=True)
    assert isinstance(env2, TwoRoomEnv) and env2.randomize_door
    assert isinstance(gymnasium.make("lewm/TwoRoom-v0").unwrapped, TwoRoomEnv)
    with pytest.raises(ValueError, match="tworoom"):
        make("nosuchenv")
    with pytest.raises(ValueError, match="expert"):
        make_policy("tworoom", "nosuchpolicy", env, 0)
    policy = make_policy("tworoom", "random", env, 0)
    env.reset(seed=0)
    a = policy.act(env)
    assert a.shape == (2,) and a.dtype == np.float32 and np.all(np.abs(a) <= 1)


def test_reset_sampling(env):
    cross = 0
    for i in range(200):
        _, info = env.reset(seed=i)
        ax, ay, tx, ty, door = info["state"]
        assert env.is_free(ax, ay) and env.is_free(tx, ty) and door == DOOR_Y
        assert not info["success"]
        cross += (ax < 112) != (tx < 112)
    assert 0.35 < cross / 200 < 0.65
    with pytest.raises(ValueError, match="unknown options"):
        env.reset(options={"agent_position": (1, 2)})
