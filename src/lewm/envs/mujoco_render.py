"""Fast headless offscreen rendering for the MuJoCo envs (Reacher, Cube).

One `MujocoRenderer` owns an OpenGL context, an `MjrContext` (meshes and textures uploaded to
GL) and an `MjvScene`. Rendering cost on a CPU (Mesa software GL) is dominated by fragment work,
so everything the 64-224 px observations do not need is off: shadows, reflections, skybox,
haze and multi-sample anti-aliasing (`vis.quality.offsamples = 0`). On this 2-core machine that
took the OGBench cube from 7-10 to about 40 frames/s and Reacher from ~106 to ~650 frames/s
(MACHINE.md; `benchmarks/render_speed.py`).

Sharing. Uploading the cube scene (390k mesh vertices) to a GL context is slow and memory
hungry, and the evaluation keeps one env per start/goal pair alive at once (50 of them). Envs
built from the same model file therefore share one renderer per (key, size, camera) in a
process: `acquire()` hands out a reference-counted renderer and `release()` frees it with its
last user. Each render takes the *calling env's* `MjModel`/`MjData`, so per-env colours
(`set_color`) still apply — only the static GL assets are shared, and they are identical for
models compiled from the same file.

Backend. MuJoCo picks its GL backend from ``MUJOCO_GL`` when `mujoco` is first imported; this
module never sets it (the CLI sets ``MUJOCO_GL=egl`` in `cli.main`; tests in `conftest.py`).
Teardown: contexts still open at interpreter exit are freed by an `atexit` hook re-registered
after every context creation, so it runs before the `eglTerminate` hooks of MuJoCo and dm_control
(a context freed after `eglTerminate` prints "Exception ignored ... EGLError").
"""

from __future__ import annotations

import atexit
import os
import warnings
from typing import Any

import numpy as np

_SHARED: dict[tuple, MujocoRenderer] = {}
_OPEN: list[MujocoRenderer] = []

# Render flags turned off: none of them changes what the world model has to see.
_OFF_FLAGS = ("mjRND_SHADOW", "mjRND_REFLECTION", "mjRND_SKYBOX", "mjRND_HAZE", "mjRND_FOG")


class GLUnavailableError(RuntimeError):
    """No OpenGL context can be created (no EGL/OSMesa, or MUJOCO_GL unset without a display)."""


def gl_backend() -> str:
    """The backend MuJoCo will use ("egl", "osmesa", "glfw" when MUJOCO_GL is unset, ...)."""
    return os.environ.get("MUJOCO_GL", "").strip().lower() or "glfw"


def _gl_context(width: int, height: int) -> Any:
    import mujoco  # noqa: F401  (the import fixes the backend from MUJOCO_GL)
    from mujoco.rendering.classic import gl_context

    if gl_context.GLContext is None:
        raise GLUnavailableError(f"MuJoCo rendering is disabled (MUJOCO_GL={gl_backend()!r})")
    try:
        ctx = gl_context.GLContext(width, height)
    except Exception as e:  # noqa: BLE001 - EGL/OSMesa/GLFW raise unrelated types
        raise GLUnavailableError(
            f"cannot create an OpenGL context with MUJOCO_GL={gl_backend()!r}: {e}{_hint()}"
        ) from e
    return ctx


def _hint() -> str:
    if gl_backend() != "glfw":
        return ""
    return (
        " (MUJOCO_GL is unset, so MuJoCo tried GLFW, which needs a display: set "
        "MUJOCO_GL=egl, or MUJOCO_GL=osmesa after `apt-get install libosmesa6`, before "
        "importing mujoco)"
    )


def gl_available() -> tuple[bool, str]:
    """(True, "") if MuJoCo can render offscreen here (a real 8x8 frame), else (False, reason)."""
    try:
        import mujoco

        model = mujoco.MjModel.from_xml_string(
            '<mujoco><worldbody><camera name="c"/></worldbody></mujoco>'
        )
        renderer = MujocoRenderer(model, 8, 8, "c")
        renderer.render(model, mujoco.MjData(model))
        renderer.close()
    except Exception as e:  # noqa: BLE001 - any failure means "cannot render here"
        return False, str(e)
    return True, ""


def prepare_model(model: Any, width: int, height: int) -> None:
    """Make `model` renderable offscreen at width x height without anti-aliasing (in place)."""
    model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), int(width))
    model.vis.global_.offheight = max(int(model.vis.global_.offheight), int(height))
    model.vis.quality.offsamples = 0  # MSAA costs ~2x on software GL; 64 px frames do not need it


class MujocoRenderer:
    """Offscreen RGB renderer for models of one structure, from one fixed camera.

    Args:
        model: an `MjModel` (its assets are uploaded; later models passed to `render` must be
            compiled from the same file).
        width, height: image size in pixels.
        camera: camera name in the model.
        max_geom: scene capacity.
    """

    def __init__(
        self, model: Any, width: int, height: int, camera: str, max_geom: int = 2000
    ) -> None:
        import mujoco

        self._mj = mujoco
        prepare_model(model, width, height)
        self.width, self.height = int(width), int(height)
        self._gl = _gl_context(self.width, self.height)
        # atexit runs hooks in reverse order of registration, and both MuJoCo (at its first EGL
        # context) and dm_control (when imported, e.g. by ogbench) register eglTerminate. So
        # (re-)register our hook after every context creation: it then runs before them.
        atexit.unregister(close_all)
        atexit.register(close_all)
        try:
            self._gl.make_current()
            self._ctx = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_50)
        except Exception as e:  # noqa: BLE001 - e.g. GLFW "created" no context without display
            self._gl.free()
            raise GLUnavailableError(
                f"cannot render with MUJOCO_GL={gl_backend()!r}: {e}{_hint()}"
            ) from e
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._ctx)
        self._scene = mujoco.MjvScene(model, maxgeom=max_geom)
        for name in _OFF_FLAGS:
            self._scene.flags[getattr(mujoco.mjtRndFlag, name)] = 0
        self._opt = mujoco.MjvOption()
        self._cam = mujoco.MjvCamera()
        cam_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        if cam_id < 0:
            raise ValueError(f"camera {camera!r} not found in the model")
        self._cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._cam.fixedcamid = cam_id
        self._rect = mujoco.MjrRect(0, 0, self.width, self.height)
        self._buf = np.empty((self.height, self.width, 3), dtype=np.uint8)
        self.refs = 0
        _OPEN.append(self)

    @property
    def closed(self) -> bool:
        return self._gl is None

    def render(self, model: Any, data: Any) -> np.ndarray:
        """RGB frame of `data` (with `model`'s colours), uint8 (height, width, 3), a new array."""
        if self._gl is None:
            raise RuntimeError("render() on a closed MujocoRenderer")
        mj = self._mj
        self._gl.make_current()
        mj.mjv_updateScene(
            model, data, self._opt, None, self._cam, mj.mjtCatBit.mjCAT_ALL, self._scene
        )
        mj.mjr_render(self._rect, self._scene, self._ctx)
        mj.mjr_readPixels(self._buf, None, self._rect, self._ctx)
        return np.flipud(self._buf).copy()  # GL rows run bottom-up

    def close(self) -> None:
        """Free the GL resources (idempotent)."""
        if self._gl is None:
            return
        gl, ctx = self._gl, self._ctx
        self._gl = self._ctx = None
        if self in _OPEN:
            _OPEN.remove(self)
        try:
            gl.make_current()
            ctx.free()
        finally:
            gl.free()
        for key, r in list(_SHARED.items()):
            if r is self:
                del _SHARED[key]


def acquire(key: str, model: Any, width: int, height: int, camera: str) -> MujocoRenderer:
    """Shared renderer for models compiled from `key` (e.g. the env class); pair with `release`."""
    k = (key, int(width), int(height), camera)
    r = _SHARED.get(k)
    if r is None or r.closed:
        r = MujocoRenderer(model, width, height, camera)
        _SHARED[k] = r
    else:
        prepare_model(model, width, height)
    r.refs += 1
    return r


def release(renderer: MujocoRenderer | None) -> None:
    """Drop one reference; the last one frees the GL context."""
    if renderer is None or renderer.closed:
        return
    renderer.refs -= 1
    if renderer.refs <= 0:
        renderer.close()


def close_all() -> None:
    """Free every renderer still open (atexit hook; also handy in tests)."""
    for r in list(_OPEN):
        try:
            r.close()
        except Exception as e:  # noqa: BLE001 - at exit, a torn-down display only costs a warning
            warnings.warn(f"could not free a MuJoCo GL context: {e}", stacklevel=1)
