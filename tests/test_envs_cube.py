"""OGBench-Cube: state round trips, goal images, success, determinism, collect-train-eval.

Needs an offscreen GL context (CI: MUJOCO_GL=egl from conftest.py); skipped with the reason
only where none can be created. Cube frames cost ~25 ms, so these tests keep episodes short.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from tests.conftest import tiny_config

from lewm.envs import make, make_policy
from lewm.envs.cube import CUBE_HALF, SUCCESS_RADIUS
from lewm.envs.mujoco_render import gl_available

_GL_OK, _GL_WHY = gl_available()
pytestmark = pytest.mark.skipif(not _GL_OK, reason=f"no MuJoCo GL backend here: {_GL_WHY}")


@pytest.fixture(scope="module")
def env():
    e = make("cube", image_size=32)
    yield e
    e.close()


def _cube(env):
    return env.physical_state()["cube_pos"].astype(np.float64)


def test_reset_set_state_round_trip(env):
    obs, info = env.reset(seed=3)
    assert obs.shape == (32, 32, 3) and obs.dtype == np.uint8
    assert info["state"].shape == (len(env.state_names),) == (45,)
    rng = np.random.default_rng(0)
    for _ in range(6):
        env.step(rng.uniform(-1, 1, 5).astype(np.float32))
    s = env.get_state()
    env.set_state(s)
    frame = env.render()
    env.step(np.array([1, 0, 0, 0, -1], dtype=np.float32))
    assert not np.array_equal(env.get_state(), s)
    other = make("cube", image_size=32)  # a second env (sharing the GL context) agrees
    other.reset(seed=99)
    for e in (env, other):
        e.set_state(s)
        assert np.array_equal(e.get_state(), s)
        assert np.array_equal(e.render(), frame)  # set_state then render is deterministic
    other.close()
    # Stepping from the restored state matches a second restore (replay is deterministic).
    a = np.array([0.5, -0.5, 0.2, 0.1, 1.0], dtype=np.float32)
    first = env.step(a)[0]
    env.set_state(s)
    assert np.array_equal(env.step(a)[0], first)
    with pytest.raises(ValueError, match="shape"):
        env.set_state(np.zeros(10))


def test_goal_image_is_the_scene_at_the_goal(env):
    env.reset(seed=0, options={"cube_pos": (0.35, -0.2), "target_pos": (0.5, 0.2)})
    state = env.get_state()
    img = env.goal_image()  # default goal: the cube resting on the episode's target
    assert np.array_equal(env.get_state(), state)  # rendering the goal leaves the state alone
    assert not np.array_equal(img, env.render())
    goal = env.goal_state()
    env.set_state(goal)
    assert np.array_equal(img, env.render())
    assert env.is_success()
    np.testing.assert_allclose(goal[14:17], (0.5, 0.2, CUBE_HALF), atol=1e-6)


def test_success_radius(env):
    env.reset(seed=0, options={"cube_pos": (0.4, 0.0), "target_pos": (0.4 + 0.035, 0.0)})
    assert env.is_success()
    env.reset(seed=0, options={"cube_pos": (0.4, 0.0), "target_pos": (0.4 + 0.045, 0.0)})
    assert not env.is_success()
    # A goal taken from a state: its cube position counts, not its target fields.
    goal = env.get_state()
    goal[14:17] = (0.4, 0.0 + SUCCESS_RADIUS - 0.005, CUBE_HALF)
    env.set_goal_state(goal)
    assert env.is_success()
    goal[15] = 0.0 + SUCCESS_RADIUS + 0.005
    env.set_goal_state(goal)
    assert not env.is_success()


def test_deterministic_for_a_seed(env):
    runs = []
    for _ in range(2):
        policy = make_policy("cube", "expert", env, 7)
        obs, _ = env.reset(seed=11)
        frames, states = [obs], [env.get_state()]
        for _ in range(8):
            obs, *_ = env.step(policy.act(env))
            frames.append(obs)
            states.append(env.get_state())
        runs.append((np.stack(frames), np.stack(states)))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(env.reset(seed=12)[1]["state"], runs[0][1][0])


def test_expert_picks_and_places():
    env = make("cube", image_size=16)
    policy = make_policy("cube", "expert", env, 0)
    hits = 0
    for ep in range(3):
        env.reset(seed=ep)
        policy.reset()
        start = _cube(env)
        for _ in range(110):
            env.step(policy.act(env))
            if env.is_success():
                hits += 1
                break
        assert np.linalg.norm(_cube(env) - start) > 0.02  # it moved the cube
    env.close()
    assert hits >= 2


def test_surprise_hooks(env):
    obs, _ = env.reset(seed=0, options={"cube_pos": (0.45, 0.0)})
    env.surprise_recolour()
    blue = env.render()
    assert not np.array_equal(blue, obs)
    env.step(np.zeros(5, dtype=np.float32))  # the colour survives a step
    blue = env.render()
    assert ((blue[..., 2] > 120) & (blue[..., 0] < 60)).any()
    before = _cube(env)
    env.surprise_teleport(np.random.default_rng(0))
    assert np.linalg.norm(_cube(env)[:2] - before[:2]) >= 0.15 - 1e-6
    with pytest.raises(ValueError, match="off the table"):
        env.teleport("cube", (2.0, 0.0, 0.02))
    with pytest.raises(ValueError, match="unknown object"):
        env.set_color("ghost", (1, 2, 3))
    obs2, _ = env.reset(seed=0, options={"cube_pos": (0.45, 0.0)})
    assert np.array_equal(obs2, obs)  # colours back to default after reset


def test_registry_and_physical_state(env):
    e = gymnasium.make("lewm/Cube-v0", image_size=16).unwrapped
    assert type(e).__name__ == "CubeEnv" and e.action_space.shape == (5,)
    e.close()
    phys = env.physical_state()
    shapes = {k: v.shape for k, v in phys.items()}
    assert shapes["joint_pos"] == (6,) and shapes["effector_pos"] == (3,)
    assert shapes["cube_pos"] == (3,) and shapes["cube_quat"] == (4,)
    assert env.proprio().shape == (18,)


def test_tiny_collection_trains_and_evaluates(tmp_path):
    from lewm.data.collect import collect
    from lewm.evaluation.protocol import evaluate_run
    from lewm.train import train

    data = tmp_path / "cube16.h5"
    collect(
        "cube",
        data,
        episodes=4,
        image_size=16,
        policy="expert",
        seed=1,
        progress=False,
        max_steps=24,
    )
    cfg = tiny_config(
        data,
        "env=cube",
        "model.action_dim=5",
        "eval.goal_offset=5",
        "eval.eval_budget=5",
        "eval.episodes=2",
    )
    train(cfg, tmp_path / "run", progress=False)
    res = evaluate_run(tmp_path / "run", progress=False)
    assert 0.0 <= res["success_mean"] <= 1.0 and 0.0 <= res["random_success_mean"] <= 1.0
    assert 0.0 <= res["solved_at_start"] <= 1.0


# ------------------------------------------------------------------ simplified rendering
def _uv_sphere_xml(radius: float = 0.05, n: int = 60) -> str:
    """An MJCF with one finely tessellated sphere mesh (about 2n^2 faces)."""
    th, ph = np.meshgrid(np.linspace(0, np.pi, n + 1)[1:-1], np.linspace(0, 2 * np.pi, n + 1)[:-1])
    ring = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1)
    verts = np.concatenate([[[0, 0, 1]], ring.transpose(1, 0, 2).reshape(-1, 3), [[0, 0, -1]]])
    idx = 1 + np.arange((n - 1) * n).reshape(n - 1, n)
    faces = []
    for j in range(n):
        k = (j + 1) % n
        faces += [(0, idx[0, j], idx[0, k]), (len(verts) - 1, idx[-1, k], idx[-1, j])]
        for i in range(n - 2):
            faces += [
                (idx[i, j], idx[i + 1, j], idx[i + 1, k]),
                (idx[i, j], idx[i + 1, k], idx[i, k]),
            ]
    v = " ".join(f"{x:.6f}" for x in (radius * verts).ravel())
    f = " ".join(str(int(x)) for x in np.asarray(faces).ravel())
    return (
        f'<mujoco><asset><mesh name="s" vertex="{v}" face="{f}"/></asset><worldbody>'
        '<geom type="mesh" mesh="s"/><camera name="c" pos="0 0 0.5"/></worldbody></mujoco>'
    )


def test_simplify_meshes_keeps_the_surface_with_fewer_faces():
    import mujoco

    from lewm.envs.mujoco_render import simplify_meshes

    model = mujoco.MjModel.from_xml_string(_uv_sphere_xml())
    faces_before = model.mesh_face.copy()
    simple = simplify_meshes(model, 0.01)
    assert np.array_equal(model.mesh_face, faces_before)  # the physics model is untouched
    nf, nv = int(simple.mesh_facenum[0]), int(simple.mesh_vertnum[0])
    assert 50 < nf < model.mesh_facenum[0] / 5
    v = simple.mesh_vert[:nv].astype(np.float64)
    r = np.linalg.norm(v, axis=1)
    assert np.all(np.abs(r - 0.05) < 0.01)  # vertices stay on the surface (within a cell)
    f = simple.mesh_face[:nf]
    face_n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    assert np.mean(np.sum(face_n * v[f].mean(1), axis=1) > 0) > 0.95  # winding kept: outward
    normals = simple.mesh_normal[:nv]
    assert np.mean(np.sum(normals * v / r[:, None], axis=1) > 0.8) > 0.95  # smooth, outward
    with pytest.raises(ValueError, match="cell"):
        simplify_meshes(model, 0.0)


def _arm_and_cube(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (H, W) of the purple (translucent) gripper and the red cube."""
    r, g, b = (frame[..., k].astype(int) for k in range(3))
    return (b > g + 30) & (r > g + 10), (r > g + 60) & (r > b + 40)


def _covered(mask: np.ndarray, ref: np.ndarray) -> float:
    """Share of `mask`'s pixels within one pixel (8-neighbourhood) of a pixel of `ref`."""
    p = np.pad(ref, 1)
    h, w = ref.shape
    near = np.any(
        [p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], 0
    )
    return float((mask & near).sum() / max(1, mask.sum()))


def _centroid(mask: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).mean(0)


def test_simplified_meshes_show_the_arm_and_cube_like_the_full_ones():
    fast, full = make("cube", image_size=64), make("cube", image_size=64, render_mesh_cell=None)
    assert fast.render_mesh_cell == 0.01 and full.render_mesh_cell is None
    try:
        rng = np.random.default_rng(0)
        for seed, cube in ((0, (0.35, -0.2)), (1, (0.45, 0.1)), (2, (0.5, 0.25))):
            fast.reset(seed=seed, options={"cube_pos": cube})
            for _ in range(4):
                fast.step(rng.uniform(-1, 1, 5).astype(np.float32))
            full.set_state(fast.get_state())
            a, b = fast.render(), full.render()
            (pa, ra), (pb, rb) = _arm_and_cube(a), _arm_and_cube(b)
            assert pa.sum() > 30 and ra.sum() > 10, (pa.sum(), ra.sum())  # arm and cube in view
            # The same gripper silhouette (to a pixel) and the cube on the same pixels.
            assert min(_covered(pa, pb), _covered(pb, pa)) > 0.9
            assert np.abs(_centroid(ra) - _centroid(rb)).max() < 0.5
            assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0  # of 255
            # The red pixels are the cube: moving it (mirrored on the table) moves them.
            fast.teleport("cube", (0.85 - cube[0], -cube[1], CUBE_HALF))
            moved = _centroid(_arm_and_cube(fast.render())[1]) - _centroid(ra)
            assert np.abs(moved).max() > 3, moved
    finally:
        fast.close()
        full.close()


def test_simplified_rendering_is_deterministic_and_leaves_physics_alone():
    fast, full = make("cube", image_size=32), make("cube", image_size=32, render_mesh_cell=None)
    try:
        traj = []
        for e in (fast, full):
            e.reset(seed=4)
            acts = np.random.default_rng(1).uniform(-1, 1, (6, 5)).astype(np.float32)
            traj.append(np.stack([e.step(a)[-1]["state"] for a in acts]))
        assert np.array_equal(traj[0], traj[1])  # drawing meshes are not the physics meshes
        frame = fast.render()
        fast.close()  # a fresh renderer simplifies the meshes again: the same frame
        assert np.array_equal(fast.render(), frame)
    finally:
        fast.close()
        full.close()
    with pytest.raises(ValueError, match="render_mesh_cell"):
        make("cube", image_size=16, render_mesh_cell=-1.0)
