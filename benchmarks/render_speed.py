"""Render and collection speed of the MuJoCo envs (Reacher, Cube), EGL vs OSMesa.

Prints two tables:

1. frames/s of `env.step` + render (the frame every step returns) at 64 and 224 px, per env and
   GL backend, for our renderer (shadows, reflections, skybox and anti-aliasing off, one GL
   context per process; Cube: meshes simplified for drawing, `render_mesh_cell`), for Cube also
   our renderer with the full meshes (`render_mesh_cell=None`, the renderer before the
   simplification) and — as the baseline — the library's own renderer (ogbench's
   `CubeEnv.render`, dm_control's `Physics.render` with its default look). MuJoCo fixes its
   backend when first imported, so every cell runs in a fresh subprocess with MUJOCO_GL set.
2. env steps/s of `lewm.data.collect.collect` (64 px, expert policy, wall time of the whole call
   including worker start-up and the HDF5 merge) with 1 and 2 workers, with the EGL backend;
   Cube with simplified and with full meshes.

    python benchmarks/render_speed.py [--seconds 6] [--backends egl,osmesa] [--no-collect]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table  # noqa: E402

ENVS = ("reacher", "cube")
SIZES = (64, 224)

_CELL = r"""
import json, sys, time
import numpy as np
env_name, size, mode, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
from lewm.envs import make
kwargs = {"render_mesh_cell": None} if mode == "full" else {}
env = make(env_name, image_size=size, **kwargs)
env.reset(seed=0)
rng = np.random.default_rng(0)
if mode in ("ours", "full"):  # env.step renders the observation it returns
    step = env.step
elif env_name == "cube":  # ogbench's own renderer (shadows, reflections, 4x MSAA)
    og = env._og
    def step(a):
        og.step(a)  # physics only (states mode)
        return og.render(camera="front_pixels")
else:  # dm_control's Physics.render with dm_control's default look
    from dm_control import mujoco as dmj
    from lewm.envs.reacher import reacher_xml_path
    phys = dmj.Physics.from_xml_path(str(reacher_xml_path()))
    def step(a):
        phys.set_control(a)
        phys.step()
        return phys.render(size, size, camera_id="fixed")
step(np.zeros(env.action_space.shape, np.float32))  # warm-up: GL context and asset upload
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < seconds:
    step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
    n += 1
dt = time.perf_counter() - t0
env.close()
print(json.dumps({"fps": n / dt}))
"""


def _cell(env: str, size: int, mode: str, backend: str, seconds: float) -> str:
    run_env = {**os.environ, "MUJOCO_GL": backend, "OMP_NUM_THREADS": "1"}
    if backend == "osmesa":
        run_env["PYOPENGL_PLATFORM"] = "osmesa"
    proc = subprocess.run(
        [sys.executable, "-c", _CELL, env, str(size), mode, str(seconds)],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"fails ({last[:60]})"
    fps = json.loads(proc.stdout.strip().splitlines()[-1])["fps"]
    return f"{fps:.0f}"


def _collect_speed(
    env: str, episodes: int, workers: int, max_steps: int, env_kwargs: dict | None = None
) -> str:
    code = (
        "import json, sys, time, tempfile\n"
        "from lewm.data.collect import collect\n"
        "env, eps, workers, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), "
        "int(sys.argv[4])\n"
        "out, kw = sys.argv[5], json.loads(sys.argv[6])\n"
        "t = time.perf_counter()\n"
        "collect(env, out, episodes=eps, image_size=64, policy='expert', workers=workers, "
        "max_steps=steps, progress=False, overwrite=True, env_kwargs=kw)\n"
        "print(json.dumps({'sps': eps * (steps + 1) / (time.perf_counter() - t)}))\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                env,
                str(episodes),
                str(workers),
                str(max_steps),
                str(Path(tmp) / "d.h5"),
                json.dumps(env_kwargs or {}),
            ],
            env={**os.environ, "MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"},
            capture_output=True,
            text=True,
            timeout=1200,
        )
    if proc.returncode != 0:
        return f"fails ({(proc.stderr.strip().splitlines() or ['?'])[-1][:60]})"
    return f"{json.loads(proc.stdout.strip().splitlines()[-1])['sps']:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="timed seconds per cell")
    ap.add_argument("--backends", default="egl,osmesa", help="comma-separated MUJOCO_GL values")
    ap.add_argument("--no-collect", action="store_true", help="skip the collection table")
    args = ap.parse_args()
    backends = args.backends.split(",")
    t0 = time.perf_counter()
    rows = []
    modes = {"ours": "ours", "ours, full meshes": "full", "library default": "lib"}
    for env in ENVS:
        for label, mode in modes.items():
            if mode == "full" and env != "cube":  # only Cube simplifies its meshes
                continue
            rows.append(
                [
                    env,
                    label,
                    *(_cell(env, s, mode, b, args.seconds) for s in SIZES for b in backends),
                ]
            )
    heads = ["env", "renderer", *[f"{s} px {b}" for s in SIZES for b in backends]]
    print(f"machine: {machine()}")
    print("\nstep + render, frames/s (one process, 1 thread)")
    print(table(heads, rows))
    if not args.no_collect:
        crow = []
        runs = (
            ("reacher", "", 20, 200, None),
            ("cube", "full meshes", 6, 200, {"render_mesh_cell": None}),
            ("cube", "simplified (default)", 20, 200, None),
        )
        for env, label, eps, steps, kw in runs:
            speeds = [_collect_speed(env, eps, w, steps, kw) for w in (1, 2)]
            crow.append([env, label, f"{eps} x {steps}", *speeds])
        print("\ncollect(), 64 px, expert policy, EGL: env steps/s (wall time of the whole call)")
        print(table(["env", "meshes", "episodes x steps", "1 worker", "2 workers"], crow))
    print(f"\n(benchmark wall time {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
