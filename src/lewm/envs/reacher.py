"""Reacher (SPEC §4): DeepMind Control's two-joint planar arm, driven by 2-D torques.

The MuJoCo model is dm_control's `suite/reacher.xml` (loaded from the installed dm_control
package by path, so importing this module does not pull in dm_control's own renderer), simulated
with plain `mujoco`: timestep 0.02 s, one physics step per env step (dm_control's default control
rate), contacts off, motors with gear 0.05 and ctrl in [-1, 1]. Observations are rendered from
the model's top-down "fixed" camera with `lewm.envs.mujoco_render` (no shadows, reflections or
anti-aliasing).

Goal. The goal is a target *joint configuration*, not dm_control's target sphere: the state
carries it (`target_shoulder`, `target_wrist`), the sphere is hidden, and the goal image is the
arm rendered at the goal configuration — as in Two-Room, where the goal image is the agent at the
goal. `set_goal_state(state)` takes the goal from a state's joint angles (e.g. a dataset state 25
steps later). Success: every joint within 0.05 rad of the goal, angles compared modulo 2π.

State (float32, 6): shoulder, wrist (rad), their velocities (rad/s), target shoulder, target
wrist. After every step the shoulder angle (an unlimited hinge) is wrapped to [-π, π], the joint
state is rounded to float32 and the solver warm-start is cleared, so the dynamics depend on the
stored state alone: `set_state(get_state())` replays a trajectory bit for bit.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any, ClassVar

import gymnasium
import numpy as np

from lewm.envs import mujoco_render
from lewm.envs.base import LeWMEnv

SUCCESS_TOL = 0.05  # rad, per joint (SPEC §4)
WRIST_LIMIT = math.radians(160.0)  # reacher.xml: wrist range -160..160 degrees
LINK = 0.12  # m: shoulder->wrist and wrist->fingertip (reacher.xml body offsets)
CAMERA = "fixed"
ARM_GEOMS = ("arm", "hand")
# Default colours of the recolourable parts (reacher.xml materials "self" and "effector").
DEFAULT_RGB = {"arm": (178, 127, 76), "finger": (178, 102, 51)}


def wrap_angle(a: Any) -> np.ndarray:
    """Angle(s) wrapped to [-π, π)."""
    return (np.asarray(a, dtype=np.float64) + np.pi) % (2 * np.pi) - np.pi


def fingertip_xy(shoulder: float, wrist: float) -> np.ndarray:
    """Fingertip position (m) in the arena plane for the given joint angles, float64 (2,)."""
    a, b = float(shoulder), float(shoulder) + float(wrist)
    return LINK * np.array([math.cos(a) + math.cos(b), math.sin(a) + math.sin(b)])


def reacher_xml_path() -> Path:
    """Path of dm_control's reacher model (dm_control must be installed)."""
    spec = importlib.util.find_spec("dm_control")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("Reacher needs dm_control: pip install dm_control==1.0.50")
    path = Path(list(spec.submodule_search_locations)[0]) / "suite" / "reacher.xml"
    if not path.exists():
        raise FileNotFoundError(f"dm_control's reacher model not found at {path}")
    return path


class ReacherEnv(LeWMEnv):
    """dm_control Reacher with pixel observations and joint-configuration goals.

    Args:
        image_size: side of the square observation in pixels (64 CPU default, 224 reference).
        max_episode_steps: `truncated` becomes True at this many steps (paper data: 200).
        render_mode: only "rgb_array".
    """

    env_id: ClassVar[str] = "lewm/Reacher-v0"
    env_version: ClassVar[int] = 0
    max_episode_steps: int = 200
    state_names: ClassVar[tuple[str, ...]] = (
        "shoulder",
        "wrist",
        "shoulder_vel",
        "wrist_vel",
        "target_shoulder",
        "target_wrist",
    )
    success_tol: ClassVar[float] = SUCCESS_TOL
    success_tolerances: ClassVar[dict[str, float]] = {"shoulder": SUCCESS_TOL, "wrist": SUCCESS_TOL}
    surprise_object: ClassVar[str] = "arm"
    surprise_colour: ClassVar[tuple[int, int, int]] = (0, 0, 255)

    def __init__(
        self,
        image_size: int = 64,
        max_episode_steps: int = 200,
        render_mode: str | None = "rgb_array",
    ) -> None:
        super().__init__(image_size, render_mode, max_episode_steps)
        import mujoco

        self._mj = mujoco
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self.model = mujoco.MjModel.from_xml_path(str(reacher_xml_path()))
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._geom = {
            n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n)
            for n in (*ARM_GEOMS, "finger", "target")
        }
        # The target sphere is not drawn: the goal is a joint configuration (module docstring).
        m.geom_matid[self._geom["target"]] = -1
        m.geom_rgba[self._geom["target"]] = 0.0
        self._default_matid = m.geom_matid.copy()
        self._default_rgba = m.geom_rgba.copy()
        self._target = np.zeros(2)
        self._steps = 0
        self._renderer: mujoco_render.MujocoRenderer | None = None
        self._set_joints(np.zeros(2), np.zeros(2))  # valid kinematics before the first reset

    # --------------------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode. Options: `qpos` (shoulder, wrist), `target_qpos`; what is not given
        is sampled uniformly (shoulder in [-π, π), wrist within its ±160° limits); velocities 0."""
        super().reset(seed=seed)
        opts = dict(options or {})
        unknown = set(opts) - {"qpos", "target_qpos"}
        if unknown:
            raise ValueError(f"ReacherEnv.reset: unknown options {sorted(unknown)}")
        qpos = self._option_angles(opts, "qpos")
        target = self._option_angles(opts, "target_qpos")
        qpos = self._sample_angles() if qpos is None else qpos
        target = self._sample_angles() if target is None else target
        self._reset_colors()
        self._target = target
        self._set_joints(qpos, np.zeros(2))
        self._steps = 0
        self._goal_state = None
        return self.render(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply torques clip(action, -1, 1) (times the motors' gear 0.05) for one 0.02 s step."""
        a = self._validated_action(action)
        self.data.ctrl[:] = a
        self._mj.mj_step(self.model, self.data)
        self._set_joints(self.data.qpos.copy(), self.data.qvel.copy())
        self._steps += 1
        info = self._info()
        truncated = self._steps >= self.max_episode_steps
        return self.render(), float(info["success"]), False, truncated, info

    def render(self) -> np.ndarray:
        if self._renderer is None or self._renderer.closed:
            self._renderer = mujoco_render.acquire(
                type(self).__name__, self.model, self.image_size, self.image_size, CAMERA
            )
        return self._renderer.render(self.model, self.data)

    def close(self) -> None:
        """Release the (shared) renderer; the env can still render afterwards (re-acquired)."""
        mujoco_render.release(self._renderer)
        self._renderer = None

    # ------------------------------------------------------------------------ state hooks
    def get_state(self) -> np.ndarray:
        d = self.data
        return np.array([*d.qpos[:2], *d.qvel[:2], *self._target], dtype=np.float32)

    def set_state(self, state: np.ndarray) -> None:
        s = self._validated_state(state, "state").astype(np.float64)
        for what, angles in (("joint angles", s[0:2]), ("target", s[4:6])):
            if abs(angles[1]) > WRIST_LIMIT + 1e-4:
                raise ValueError(
                    f"set_state: {what} wrist angle {angles[1]:.4f} rad is outside the joint "
                    f"limits ±{WRIST_LIMIT:.4f} ({s=})"
                )
        self._target = s[4:6].copy()
        self._set_joints(s[0:2], s[2:4])

    def proprio(self) -> np.ndarray:
        """Joint angles and velocities (shoulder, wrist, shoulder_vel, wrist_vel), float32 (4,)."""
        return self.get_state()[:4].copy()

    def physical_state(self) -> dict[str, np.ndarray]:
        goal = self.goal_state()
        return {
            "joint_angles": self.get_state()[0:2].copy(),
            "joint_velocities": self.get_state()[2:4].copy(),
            "fingertip_pos": self.data.geom_xpos[self._geom["finger"], :2].astype(np.float32),
            "goal_joint_angles": goal[0:2].copy(),
            "goal_fingertip_pos": fingertip_xy(goal[0], goal[1]).astype(np.float32),
        }

    def default_goal_state(self) -> np.ndarray:
        """Without `set_goal_state`, the goal is the episode's target, arm at rest on it."""
        s = self.get_state()
        s[0:2] = s[4:6]
        s[2:4] = 0.0
        return s

    def goal_angles(self) -> np.ndarray:
        """Joint configuration the arm must reach, float64 (2,)."""
        return self.goal_state()[0:2].astype(np.float64)

    def joint_errors(self) -> np.ndarray:
        """|current - goal| per joint, modulo 2π, float64 (2,)."""
        return np.abs(wrap_angle(self.data.qpos[:2] - self.goal_angles()))

    def is_success(self) -> bool:
        """Every joint within 0.05 rad of the goal configuration (SPEC §4)."""
        return bool(np.all(self.joint_errors() <= SUCCESS_TOL))

    def success_distance(self, state: np.ndarray, goal: np.ndarray) -> float:
        """Largest joint error (mod 2π) / 0.05 rad: < 1 exactly when `is_success()` would hold."""
        s, g = np.asarray(state, np.float64), np.asarray(goal, np.float64)
        err = float(np.max(np.abs(wrap_angle(s[0:2] - g[0:2]))))
        return self._ratio_below_one_iff(err, SUCCESS_TOL)

    # --------------------------------------------------------------------- surprise hooks
    def set_color(self, obj: str, rgb: Any) -> None:
        """Recolour "arm" (both links) or "finger"; lasts until the next reset."""
        if obj not in DEFAULT_RGB:
            raise ValueError(f"set_color: unknown object {obj!r}; valid: {sorted(DEFAULT_RGB)}")
        c = self._validated_rgb(rgb).astype(np.float32) / 255.0
        for name in ARM_GEOMS if obj == "arm" else ("finger",):
            g = self._geom[name]
            self.model.geom_matid[g] = -1  # a material's colour would override geom_rgba
            self.model.geom_rgba[g] = (*c, 1.0)

    def teleport(self, obj: str, position: Any) -> None:
        """Jump "arm" to joint angles `position` (shoulder, wrist) in rad, keeping velocities;
        or move the "target" configuration."""
        if obj not in ("arm", "target"):
            raise ValueError(f"teleport: unknown object {obj!r}; valid: ['arm', 'target']")
        angles = self._option_angles({obj: position}, obj)
        if obj == "arm":
            self._set_joints(angles, self.data.qvel[:2].copy())
        else:
            self._target = angles

    def surprise_teleport(self, rng: np.random.Generator, min_dist: float = 1.5) -> None:
        """Jump the arm to random joint angles whose fingertip lies at least `min_dist` x the
        link length (0.18 m by default) away from where it is now."""
        here = fingertip_xy(*self.data.qpos[:2])
        for _ in range(10_000):
            cand = np.array([rng.uniform(-np.pi, np.pi), rng.uniform(-WRIST_LIMIT, WRIST_LIMIT)])
            if np.hypot(*(fingertip_xy(*cand) - here)) >= min_dist * LINK:
                self.teleport("arm", cand)
                return
        raise RuntimeError("could not find a teleport configuration")

    # ---------------------------------------------------------------------------- helpers
    def _set_joints(self, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Set wrapped, float32-rounded joint state and recompute kinematics (see docstring)."""
        q = np.asarray(qpos, dtype=np.float64).copy()
        if abs(q[0]) > np.pi + 1e-6:  # only when outside: float32(π) itself must round-trip
            q[0] = wrap_angle(q[0])
        d = self.data
        d.qpos[:2] = np.asarray(q, dtype=np.float32)
        d.qvel[:2] = np.asarray(qvel, dtype=np.float32)
        d.qacc_warmstart[:] = 0.0
        d.time = 0.0
        self._mj.mj_forward(self.model, d)

    def _sample_angles(self) -> np.ndarray:
        rng = self.np_random
        q = np.array([rng.uniform(-np.pi, np.pi), rng.uniform(-WRIST_LIMIT, WRIST_LIMIT)])
        return q.astype(np.float32).astype(np.float64)

    def _option_angles(self, opts: dict[str, Any], key: str) -> np.ndarray | None:
        if key not in opts:
            return None
        q = np.asarray(opts[key], dtype=np.float32).reshape(-1).astype(np.float64)
        if q.shape != (2,) or not np.all(np.isfinite(q)):
            raise ValueError(f"{key} must be 2 finite joint angles (shoulder, wrist), got {q!r}")
        if abs(q[1]) > WRIST_LIMIT:
            raise ValueError(
                f"{key}: wrist angle {q[1]:.4f} rad is outside its limits ±{WRIST_LIMIT:.4f}"
            )
        if abs(q[0]) > np.pi + 1e-6:
            q[0] = float(np.float32(wrap_angle(q[0])))
        return q

    def _info(self) -> dict[str, Any]:
        return {"success": self.is_success(), "state": self.get_state(), "step": self._steps}

    def _reset_colors(self) -> None:
        self.model.geom_matid[:] = self._default_matid
        self.model.geom_rgba[:] = self._default_rgba
