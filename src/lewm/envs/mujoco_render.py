"""Fast headless offscreen rendering for the MuJoCo envs (Reacher, Cube).

One `MujocoRenderer` owns an OpenGL context, an `MjrContext` (meshes and textures uploaded to
GL) and an `MjvScene`. Rendering cost on a CPU (Mesa software GL) is dominated by fragment work,
so everything the 64-224 px observations do not need is off: shadows, reflections, skybox,
haze and multi-sample anti-aliasing (`vis.quality.offsamples = 0`). On this 2-core machine that
took the OGBench cube from 7-10 to about 40 frames/s and Reacher from ~106 to ~650 frames/s
(MACHINE.md; `benchmarks/render_speed.py`).

Simplified meshes (Cube). Software GL pays per triangle, and the OGBench cube scene's UR5e and
Robotiq visual meshes have ~185k faces, far more than a 64-224 px frame can show (a link is
~10 px wide at 64 px). With `mesh_cell` set, the renderer uploads a *drawing-only* copy of the
model whose meshes are re-sampled by vertex clustering on a grid of that many metres
(`simplify_meshes`): vertices in one grid cell merge into their mean, collapsed faces drop out,
normals are recomputed. Physics, collisions and the env's own `MjModel` never see the copy; the
scene (poses, colours, transparency) still comes from the env's model and data every frame.
At 1 cm the cube scene keeps ~8k faces and a frame looks the same to the eye
(docs/mujoco-envs.md has the picture and the speed table).

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
import copy
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


def _cluster_mesh(
    verts: np.ndarray, faces: np.ndarray, cell: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertex clustering of one triangle mesh on a grid of side `cell`.

    Args:
        verts: float (V, 3) vertex positions; faces: int (F, 3) vertex indices.
    Returns:
        (verts' float (V', 3), faces' int (F', 3), smooth vertex normals float (V', 3)); V' <= V,
        F' <= F. Faces keep their winding (so their facing); degenerate and duplicate faces drop.
    """
    keys = np.floor(verts / cell).astype(np.int64)
    _, cluster = np.unique(keys, axis=0, return_inverse=True)
    cluster = cluster.reshape(-1)
    n = int(cluster.max()) + 1
    count = np.bincount(cluster, minlength=n).astype(np.float64)
    merged = np.stack(
        [np.bincount(cluster, weights=verts[:, k], minlength=n) for k in range(3)], axis=1
    )
    merged /= count[:, None]
    f = cluster[faces]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    _, first = np.unique(np.sort(f, axis=1), axis=0, return_index=True)
    f = f[np.sort(first)]
    used = np.zeros(n, dtype=bool)
    used[f.ravel()] = True
    merged, f = merged[used], (np.cumsum(used) - 1)[f]
    # Area-weighted face normals summed at each vertex (smooth shading, as MuJoCo's own).
    face_n = np.cross(merged[f[:, 1]] - merged[f[:, 0]], merged[f[:, 2]] - merged[f[:, 0]])
    normals = np.zeros_like(merged)
    for k in range(3):
        np.add.at(normals, f[:, k], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 0, normals / np.maximum(length, 1e-30), (0.0, 0.0, 1.0))
    return merged, f, normals


def simplify_meshes(model: Any, cell: float, min_faces: int = 200) -> Any:
    """A copy of `model` for drawing only, its meshes vertex-clustered on a `cell`-metre grid.

    Meshes with fewer than `min_faces` faces or with texture coordinates are kept as they are.
    The copy's mesh arrays keep their sizes; each simplified mesh is written at the start of its
    own slots and its vertex/face/normal counts shrink (the GL upload reads only those).
    """
    if not cell > 0:
        raise ValueError(f"simplify_meshes: cell must be > 0 metres, got {cell!r}")
    m = copy.deepcopy(model)
    for i in range(m.nmesh):
        va, nv = int(m.mesh_vertadr[i]), int(m.mesh_vertnum[i])
        fa, nf = int(m.mesh_faceadr[i]), int(m.mesh_facenum[i])
        na, nn = int(m.mesh_normaladr[i]), int(m.mesh_normalnum[i])
        if nf < min_faces or m.mesh_texcoordnum[i] > 0:
            continue
        verts = np.asarray(m.mesh_vert[va : va + nv], dtype=np.float64)
        v, f, n = _cluster_mesh(verts, np.asarray(m.mesh_face[fa : fa + nf]), cell)
        if len(f) == 0 or len(v) > nn:  # nothing left to draw, or no room for the normals
            continue
        m.mesh_vert[va : va + len(v)] = v
        m.mesh_vertnum[i] = len(v)
        m.mesh_face[fa : fa + len(f)] = f
        m.mesh_facenum[i] = len(f)
        m.mesh_normal[na : na + len(v)] = n
        m.mesh_normalnum[i] = len(v)
        m.mesh_facenormal[fa : fa + len(f)] = f  # normal k belongs to vertex k
    return m


class MujocoRenderer:
    """Offscreen RGB renderer for models of one structure, from one fixed camera.

    Args:
        model: an `MjModel` (its assets are uploaded; later models passed to `render` must be
            compiled from the same file).
        width, height: image size in pixels.
        camera: camera name in the model.
        max_geom: scene capacity.
        mesh_cell: if set, draw meshes simplified on a grid of this many metres
            (`simplify_meshes`); None draws the model's meshes as they are.
    """

    def __init__(
        self,
        model: Any,
        width: int,
        height: int,
        camera: str,
        max_geom: int = 2000,
        mesh_cell: float | None = None,
    ) -> None:
        import mujoco

        self._mj = mujoco
        prepare_model(model, width, height)
        self.mesh_cell = mesh_cell
        gl_model = model if mesh_cell is None else simplify_meshes(model, mesh_cell)
        self.width, self.height = int(width), int(height)
        self._gl = _gl_context(self.width, self.height)
        # atexit runs hooks in reverse order of registration, and both MuJoCo (at its first EGL
        # context) and dm_control (when imported, e.g. by ogbench) register eglTerminate. So
        # (re-)register our hook after every context creation: it then runs before them.
        atexit.unregister(close_all)
        atexit.register(close_all)
        try:
            self._gl.make_current()
            self._ctx = mujoco.MjrContext(gl_model, mujoco.mjtFontScale.mjFONTSCALE_50)
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


def acquire(
    key: str, model: Any, width: int, height: int, camera: str, mesh_cell: float | None = None
) -> MujocoRenderer:
    """Shared renderer for models compiled from `key` (e.g. the env class); pair with `release`.

    Renderers with different `mesh_cell` (see `MujocoRenderer`) are never shared."""
    k = (key, int(width), int(height), camera, mesh_cell)
    r = _SHARED.get(k)
    if r is None or r.closed:
        r = MujocoRenderer(model, width, height, camera, mesh_cell=mesh_cell)
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
