"""OGBench-Cube (SPEC §4): UR5e arm + Robotiq gripper moving one cube, 5-D relative actions.

Wraps ogbench's single-cube manipulation env, built with
``gymnasium.make("visual-cube-single-v0", width=..., height=..., mode="data_collection")``
(never `ogbench.make_env_and_datasets`, which downloads datasets). ogbench supplies the model,
physics (0.002 s physics steps, 25 per 0.05 s control step), its IK-based relative end-effector
control and the episode sampling (random arm pose, random cube pose, random target position).

Action (5-D, each in [-1, 1], ogbench's normalisation): end-effector translation x, y, z
(x 0.05 m), yaw (x 0.3 rad), gripper opening change (+1 closes, -1 opens).

Rendering. ogbench's own renderer (shadows, reflections, 4x anti-aliasing) manages 7-10 frames/s
here; we build the model with ogbench's pixel-observation look (purple gripper, translucent arm)
but run it in its cheap "states" observation mode and render frames ourselves from its
``front_pixels`` camera with `lewm.envs.mujoco_render` (all three off, one GL context shared by
every cube env of the process). That alone gave ~38 frames/s: software GL was drawing the arm's
185k mesh faces. By default the renderer now draws the meshes simplified on a 1 cm grid
(`render_mesh_cell`, ~8k faces, drawing only: physics keeps the full model), the same look to
the eye, several times faster (docs/mujoco-envs.md has the picture and table); the arm stays
translucent as in OGBench, so the cube shows through it. The target cube is never drawn; the
goal image is the render of the goal state (the cube at its goal position).

State (float32, 45): qpos (21: 6 arm joints, 8 gripper joints, cube position and quaternion
w, x, y, z), qvel (20), target position (3) and target yaw (1). `set_goal_state(state)` takes the
goal from a state's *cube position* (e.g. a dataset state 25 steps later); without it the goal
is the episode's target. Success: cube within 0.04 m of the goal position (ogbench's test).

Determinism: the same reset seed and actions give the same trajectory and frames, and
`set_state` then render is deterministic. `set_state` restores qpos/qvel to float32 precision
and clears the contact solver's warm start, so a trajectory replayed from a stored state agrees
with the original to solver tolerance, not bit for bit.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np

from lewm.envs import mujoco_render
from lewm.envs.base import LeWMEnv

SUCCESS_RADIUS = 0.04  # m (SPEC §4, ogbench's own cube test)
CAMERA = "front_pixels"
CUBE_HALF = 0.02  # m: the cube's half side; resting cube centre height
# Drawing-only mesh simplification grid (m): 185k -> ~8k arm faces, same look at 64-224 px.
RENDER_MESH_CELL = 0.01
# Cube positions allowed by `teleport` / drawn by `surprise_teleport` (ogbench's sampling box).
CUBE_XY_BOUNDS = np.array([[0.3, -0.3], [0.55, 0.3]])
ARM_JOINTS = ("shoulder_pan", "shoulder_lift", "elbow", "wrist_1", "wrist_2", "wrist_3")
GRIPPER_JOINTS = tuple(
    f"{side}_{j}" for side in ("right", "left") for j in ("driver", "coupler", "spring", "follower")
)
_QPOS = (*ARM_JOINTS, *GRIPPER_JOINTS, "cube_x", "cube_y", "cube_z")
_QPOS += ("cube_qw", "cube_qx", "cube_qy", "cube_qz")
_QVEL = tuple(f"{j}_vel" for j in (*ARM_JOINTS, *GRIPPER_JOINTS))
_QVEL += ("cube_vx", "cube_vy", "cube_vz", "cube_wx", "cube_wy", "cube_wz")
NQ, NV = len(_QPOS), len(_QVEL)  # 21, 20
CUBE_QPOS = slice(14, 21)  # object_joint_0 (free joint) in qpos: x, y, z, qw, qx, qy, qz
CUBE_QVEL = slice(NV - 6, NV)
TARGET = slice(NQ + NV, NQ + NV + 3)
TARGET_YAW = NQ + NV + 3


def yaw_quat(yaw: float) -> np.ndarray:
    """Quaternion (w, x, y, z) of a rotation by `yaw` about z."""
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def quat_yaw(q: np.ndarray) -> float:
    """Yaw (rotation about z, rad) of a quaternion (w, x, y, z)."""
    w, x, y, z = (float(v) for v in q)
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


class CubeEnv(LeWMEnv):
    """OGBench single-cube pick-and-place with pixel observations and cube-position goals.

    Args:
        image_size: side of the square observation in pixels (64 CPU default, 224 reference).
        max_episode_steps: `truncated` becomes True at this many steps (paper data: 200).
        render_mode: only "rgb_array".
        render_mesh_cell: grid side (m) on which the arm's meshes are simplified for drawing
            (`mujoco_render.simplify_meshes`); None draws the full meshes (env version 0's look).
    """

    env_id: ClassVar[str] = "lewm/Cube-v0"
    # 1: frames drawn with simplified meshes (render_mesh_cell); datasets of version 0 were drawn
    # with the full meshes, so a model trained on one sees slightly different pixels on the other.
    env_version: ClassVar[int] = 1
    max_episode_steps: int = 200
    state_names: ClassVar[tuple[str, ...]] = (
        *_QPOS,
        *_QVEL,
        "target_x",
        "target_y",
        "target_z",
        "target_yaw",
    )
    success_radius: ClassVar[float] = SUCCESS_RADIUS
    success_tolerances: ClassVar[dict[str, float]] = {
        "cube_x": SUCCESS_RADIUS,
        "cube_y": SUCCESS_RADIUS,
        "cube_z": SUCCESS_RADIUS,
    }
    surprise_object: ClassVar[str] = "cube"
    surprise_colour: ClassVar[tuple[int, int, int]] = (0, 0, 255)

    def __init__(
        self,
        image_size: int = 64,
        max_episode_steps: int = 200,
        render_mode: str | None = "rgb_array",
        render_mesh_cell: float | None = RENDER_MESH_CELL,
    ) -> None:
        super().__init__(image_size, render_mode, max_episode_steps)
        if render_mesh_cell is not None and not 0 < render_mesh_cell <= 0.05:
            raise ValueError(
                f"render_mesh_cell must be None or in (0, 0.05] m, got {render_mesh_cell!r}"
            )
        self.render_mesh_cell = render_mesh_cell
        import mujoco
        import ogbench  # noqa: F401  (registers the ogbench gym ids)

        self._mj = mujoco
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (5,), dtype=np.float32)
        outer = gymnasium.make(
            "visual-cube-single-v0",
            width=self.image_size,
            height=self.image_size,
            mode="data_collection",
            terminate_at_goal=False,
            disable_env_checker=True,
        )
        self._og = outer.unwrapped
        og = self._og
        # Build the MJCF with the pixel look (colours, translucent arm), then switch ogbench to
        # its states observations so its step/reset never render (we render; module docstring).
        og._mjcf_model = og.build_mjcf_model()
        og._ob_type = "states"
        og.compile_model_and_data()
        og._never_compiled = False
        if (og.model.nq, og.model.nv) != (NQ, NV):
            raise RuntimeError(
                f"unexpected ogbench cube model: nq={og.model.nq}, nv={og.model.nv} "
                f"(expected {NQ}, {NV}); ogbench==1.2.2 is required"
            )
        self._cube_geoms = list(og._cube_geom_ids_list[0])
        self._target_mocap = int(og._cube_target_mocap_ids[0])
        self._overrides: dict[int, np.ndarray] = {}
        self._steps = 0
        self._renderer: mujoco_render.MujocoRenderer | None = None
        self.reset(seed=0)

    @property
    def model(self) -> Any:
        return self._og.model

    @property
    def data(self) -> Any:
        return self._og.data

    # --------------------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode with ogbench's data-collection sampling (arm pose, cube pose, target
        position and yaw), seeded from this env's generator. Options: `cube_pos` (x, y),
        `target_pos` (x, y) override the sampled positions."""
        super().reset(seed=seed)
        opts = dict(options or {})
        unknown = set(opts) - {"cube_pos", "target_pos"}
        if unknown:
            raise ValueError(f"CubeEnv.reset: unknown options {sorted(unknown)}")
        self._og.reset(seed=int(self.np_random.integers(2**31 - 1)))
        if "cube_pos" in opts:
            self.teleport("cube", (*self._option_xy(opts, "cube_pos"), CUBE_HALF))
        if "target_pos" in opts:
            self.data.mocap_pos[self._target_mocap] = (
                *self._option_xy(opts, "target_pos"),
                CUBE_HALF,
            )
        self._overrides = {}
        self._steps = 0
        self._goal_state = None
        self._forward()
        return self.render(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One 0.05 s control step of ogbench's relative end-effector controller."""
        a = self._validated_action(action)
        self._og.step(a)
        self._steps += 1
        info = self._info()
        truncated = self._steps >= self.max_episode_steps
        return self.render(), float(info["success"]), False, truncated, info

    def render(self) -> np.ndarray:
        if self._renderer is None or self._renderer.closed:
            self._renderer = mujoco_render.acquire(
                type(self).__name__,
                self.model,
                self.image_size,
                self.image_size,
                CAMERA,
                mesh_cell=self.render_mesh_cell,
            )
        for gid, rgba in self._overrides.items():  # ogbench resets cube colours every step
            self.model.geom_rgba[gid] = rgba
        return self._renderer.render(self.model, self.data)

    def close(self) -> None:
        """Release the (shared) renderer; the env can still render afterwards (re-acquired)."""
        mujoco_render.release(self._renderer)
        self._renderer = None

    # ------------------------------------------------------------------------ state hooks
    def get_state(self) -> np.ndarray:
        d = self.data
        target = d.mocap_pos[self._target_mocap]
        yaw = quat_yaw(d.mocap_quat[self._target_mocap])
        return np.concatenate([d.qpos, d.qvel, target, [yaw]]).astype(np.float32)

    def set_state(self, state: np.ndarray) -> None:
        s = self._validated_state(state, "state").astype(np.float64)
        q = s[:NQ].copy()
        quat = q[17:21]
        norm = np.linalg.norm(quat)
        if not 0.5 < norm < 1.5:
            raise ValueError(f"set_state: cube quaternion {quat} is not a unit quaternion")
        q[17:21] = quat / norm
        d = self.data
        d.qpos[:] = q
        d.qvel[:] = s[NQ : NQ + NV]
        d.mocap_pos[self._target_mocap] = s[TARGET]
        d.mocap_quat[self._target_mocap] = yaw_quat(s[TARGET_YAW])
        self._forward()

    def proprio(self) -> np.ndarray:
        """Arm joint positions (6) and velocities (6), effector position (3), cos/sin of the
        effector yaw (2), gripper opening (1): float32 (18,)."""
        p = self.physical_state()
        yaw = float(p["effector_yaw"][0])
        return np.concatenate(
            [
                p["joint_pos"],
                p["joint_vel"],
                p["effector_pos"],
                [np.cos(yaw), np.sin(yaw)],
                p["gripper_opening"],
            ]
        ).astype(np.float32)

    def physical_state(self) -> dict[str, np.ndarray]:
        info = self._og.compute_ob_info()
        f32 = np.float32
        return {
            "joint_pos": info["proprio/joint_pos"].astype(f32),
            "joint_vel": info["proprio/joint_vel"].astype(f32),
            "effector_pos": info["proprio/effector_pos"].astype(f32),
            "effector_yaw": info["proprio/effector_yaw"].astype(f32),
            "gripper_opening": info["proprio/gripper_opening"].astype(f32),
            "gripper_contact": info["proprio/gripper_contact"].astype(f32),
            "cube_pos": info["privileged/block_0_pos"].astype(f32),
            "cube_quat": info["privileged/block_0_quat"].astype(f32),
            "cube_yaw": info["privileged/block_0_yaw"].astype(f32),
            "goal_cube_pos": self.goal_position().astype(f32),
        }

    def default_goal_state(self) -> np.ndarray:
        """Without `set_goal_state`, the goal is the episode's target: the cube resting on the
        target position with the target yaw (arm as it is now)."""
        s = self.get_state()
        s[14:17] = s[TARGET]
        s[17:21] = yaw_quat(float(s[TARGET_YAW]))
        s[NQ:] = np.concatenate([np.zeros(NV), s[TARGET], [s[TARGET_YAW]]])
        return s

    def goal_position(self) -> np.ndarray:
        """Cube position the goal asks for, float64 (3,)."""
        return self.goal_state()[14:17].astype(np.float64)

    def cube_position(self) -> np.ndarray:
        return self.data.qpos[14:17].copy()

    def is_success(self) -> bool:
        """Cube centre within 0.04 m of the goal state's cube position (SPEC §4)."""
        return bool(np.linalg.norm(self.cube_position() - self.goal_position()) <= SUCCESS_RADIUS)

    def success_distance(self, state: np.ndarray, goal: np.ndarray) -> float:
        """Cube-to-goal-cube distance / 0.04 m: < 1 exactly when `is_success()` would hold."""
        s, g = np.asarray(state, np.float64), np.asarray(goal, np.float64)
        err = float(np.linalg.norm(s[14:17] - g[14:17]))
        return self._ratio_below_one_iff(err, SUCCESS_RADIUS)

    # --------------------------------------------------------------------- surprise hooks
    def set_color(self, obj: str, rgb: Any) -> None:
        """Recolour the "cube"; lasts until the next reset."""
        if obj != "cube":
            raise ValueError(f"set_color: unknown object {obj!r}; valid: ['cube']")
        c = self._validated_rgb(rgb).astype(np.float32) / 255.0
        for gid in self._cube_geoms:
            self._overrides[gid] = np.array([*c, 1.0], dtype=np.float32)

    def teleport(self, obj: str, position: Any) -> None:
        """Move the "cube" to `position` (x, y, z) in m, at rest, keeping its orientation."""
        if obj != "cube":
            raise ValueError(f"teleport: unknown object {obj!r}; valid: ['cube']")
        p = np.asarray(position, dtype=np.float64).reshape(-1)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ValueError(f"teleport: position must be 3 finite numbers (x, y, z), got {p}")
        lo, hi = CUBE_XY_BOUNDS
        if not (np.all(p[:2] >= lo - 0.05) and np.all(p[:2] <= hi + 0.05) and p[2] >= CUBE_HALF):
            raise ValueError(
                f"teleport: {p.tolist()} is off the table area (x, y within 5 cm of "
                f"{lo.tolist()}..{hi.tolist()}, z >= {CUBE_HALF})"
            )
        self.data.qpos[14:17] = p
        self.data.qvel[CUBE_QVEL] = 0.0
        self._forward()

    def surprise_teleport(self, rng: np.random.Generator, min_dist: float = 0.15) -> None:
        """Teleport the cube to a random table position at least `min_dist` m away, on the
        table (z = its half side)."""
        here = self.cube_position()
        for _ in range(10_000):
            xy = rng.uniform(*CUBE_XY_BOUNDS)
            if np.hypot(*(xy - here[:2])) >= min_dist:
                self.teleport("cube", (*xy, CUBE_HALF))
                return
        raise RuntimeError("could not find a teleport position")

    # ---------------------------------------------------------------------------- helpers
    def _forward(self) -> None:
        self.data.qacc_warmstart[:] = 0.0
        self._mj.mj_forward(self.model, self.data)
        self._og.post_step()  # ogbench's success flag and cube colours

    def _option_xy(self, opts: dict[str, Any], key: str) -> np.ndarray:
        p = np.asarray(opts[key], dtype=np.float64).reshape(-1)
        lo, hi = CUBE_XY_BOUNDS
        if p.shape != (2,) or not (np.all(p >= lo) and np.all(p <= hi)):
            raise ValueError(f"{key} must be (x, y) within {lo.tolist()}..{hi.tolist()}, got {p}")
        return p

    def _info(self) -> dict[str, Any]:
        return {"success": self.is_success(), "state": self.get_state(), "step": self._steps}
