"""Parity and speed of our LeWM against the reference implementation (stable-worldmodel 0.1.1).

    python benchmarks/reference_parity.py [--refvenv /tmp/refvenv] [--paper] [--speed] [--train]
                                          [--dataset] [--episodes 1,50] [--contexts 3,1]
                                          [--json out.json]

The run reported in issue 10, ``--paper --speed --train --dataset``, took 9 minutes on 2
CPU cores.

What it does, in one run:

1. **Reference environment.** The reference package is never installed into our venv nor copied
   into this repository. The script uses (and on first use creates) a separate virtual env
   (``--refvenv``, default ``/tmp/refvenv``): ``pip install torch==2.13.0`` (the CPU wheel), then
   ``pip install --no-deps stable-worldmodel==0.1.1`` plus its light dependencies and
   ``transformers`` (the reference encoder is a Hugging Face ``ViTModel``) and ``loguru`` (its
   solvers log with it). The reference's package imports a few heavy optional modules at import
   time (torchvision, cv2, imageio, lancedb, pyarrow) that its world-model and solver code never
   call; the script writes empty stand-in modules for them into a temporary directory that only
   the reference subprocess sees. ``transformers`` is imported *before* the stand-ins go on
   ``sys.path``, so it does not mistake the stand-in torchvision for the real one.
2. **Reference model, random weights.** A driver script (written into a temp dir and run with the
   reference venv's python) builds the reference ``LeWM`` (HF ``ViTModel`` encoder without pooler,
   ``Predictor``, ``Embedder``, two BatchNorm ``MLP`` heads) from a config in the released
   ``config.json`` format, randomises the zero-initialised AdaLN layers and the BatchNorm running
   statistics (so every parameter matters), and saves ``weights.pt`` + ``config.json``.
3. **Import** with :func:`lewm.reference.import_reference` (transformers 5 writes the "new" key
   naming; the "old" naming is covered by the CI tests). The import carries the config's ViT
   LayerNorm eps (HF default 1e-12) into ``model.enc_ln_eps``; what our default 1e-6 would have
   changed is printed as its own row.
4. **Parity** on the same inputs: frame embeddings, one-step predictions, 5-step rollouts
   (3 context frames), CEM costs of 300 candidates; max abs differences are printed. Then the
   reverse: our weights exported with :func:`lewm.reference.export_state_dict` load strictly into
   the reference model and reproduce our embeddings.
5. **Planning speed** (``--speed``): seconds per CEM solve, 300 samples x 30 iterations x
   horizon 5, history 3, the reference's ``CEMSolver`` + ``LeWM.get_cost`` / ``rollout`` (which
   encode the start and goal once per solve and cache them) in fp32 vs ours (``lewm.planning.CEM``
   + ``LeWM.rollout``, all episodes in one solve, candidates chunked as `lewm eval` does; fp32
   and bf16 autocast). Both use the reference's semantics: with C context frames, the first C of
   the 5 candidate blocks leave the context frames, so 6 - C embeddings are predicted and the
   last is compared with the goal. ``--contexts 3,1``: 3 frames (the window slides at every
   step) and 1 frame (SPEC §5's evaluation: the window grows 1, 2, 3, then slides). The
   reference solver is run with its default ``batch_size=1`` (one episode at a time: reading its
   ``criterion``, the goal embedding (B, 1, D) is broadcast against (B, S, T, D), which only
   works for B = 1), so its many-episode time is measured on ``--ref-episodes`` episodes and
   scaled; solves of more than ``--full-episodes`` episodes time ``--short-iterations``
   iterations and scale to 30 (every iteration does the same work). The note column says which.
6. **Training speed** (``--train``): seconds per optimisation step at batch 32 (encode history + 1
   frames, predict, MSE + 0.09 SIGReg with 1024 projections, backward, clip, AdamW), the
   reference's modules and its ``SIGReg`` vs our ``lewm.train.objective``, fp32 and bf16.
7. **Dataset** (``--dataset``): a small HDF5 file written by the reference package's own
   ``HDF5Writer`` is read by :class:`lewm.data.store.EpisodeStore`, compared column by column,
   cut into clips by :class:`lewm.data.clips.ClipDataset` and trained on for 3 steps (a tiny CNN
   model; the random pixels belong to no environment, so nothing is evaluated on it).

Timings are one run each on whatever else the machine is doing; ratios are measured side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import train_step_seconds  # noqa: E402

from lewm.baselines.registry import plan_max_batch  # noqa: E402
from lewm.config import RunConfig  # noqa: E402
from lewm.model import LeWM  # noqa: E402
from lewm.planning.cem import CEM  # noqa: E402
from lewm.planning.cost import goal_cost  # noqa: E402
from lewm.reference import export_state_dict, import_reference, vit_layer_norm_eps  # noqa: E402

REF_PACKAGES = [
    "numpy",
    "gymnasium",
    "einops",
    "tabulate",
    "tqdm",
    "typer",
    "rich",
    "hydra-core",
    "h5py",
    "hdf5plugin",
    "pillow",
    "transformers",
    "loguru",
]
STUBS = {
    "torchvision/__init__.py": "tv_tensors = None\n",
    "torchvision/transforms/__init__.py": "",
    "cv2/__init__.py": "",
    "imageio/__init__.py": "",
    "imageio/v3/__init__.py": "",
    "lancedb/__init__.py": "",
    "lancedb/permutation.py": "class Permutation:\n    pass\n",
    "pyarrow/__init__.py": "",
}

SMALL = {
    "encoder": {"size": "tiny", "patch_size": 8, "image_size": 64, "num_hidden_layers": 6},
    "predictor": {"num_frames": 3, "input_dim": 192, "hidden_dim": 192, "output_dim": 192,
                  "depth": 6, "heads": 16, "mlp_dim": 2048, "dim_head": 64, "dropout": 0.1,
                  "emb_dropout": 0.0},
    "action_encoder": {"input_dim": 10, "emb_dim": 192},
    "projector": {"input_dim": 192, "output_dim": 192, "hidden_dim": 2048},
    "pred_proj": {"input_dim": 192, "output_dim": 192, "hidden_dim": 2048},
}  # fmt: skip
PAPER = {
    **SMALL,
    "encoder": {"size": "tiny", "patch_size": 14, "image_size": 224},
}

DRIVER = r"""
import importlib, json, sys, time, types
import torch
from transformers import ViTConfig, ViTModel  # before the stand-ins go on sys.path
sys.path.insert(0, sys.argv[1])
mod = importlib.import_module("stable_worldmodel.wm.lewm.module")
lewm_mod = importlib.import_module("stable_worldmodel.wm.lewm.lewm")
torch.set_num_threads(int(sys.argv[2]))
SIZES = {"tiny": (192, 12, 3), "small": (384, 12, 6), "base": (768, 12, 12)}
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def build(cfg):
    skip = ("_target_", "pretrained", "use_mask_token")
    enc = {k: v for k, v in cfg["encoder"].items() if k not in skip}
    w, d, h = SIZES[enc.pop("size", "tiny")]
    params = dict(hidden_size=w, num_hidden_layers=d, num_attention_heads=h)
    params.update(enc)
    params.setdefault("intermediate_size", 4 * params["hidden_size"])
    encoder = ViTModel(ViTConfig(**params), add_pooling_layer=False, use_mask_token=False)
    plain = lambda k: {a: b for a, b in cfg[k].items() if a not in ("_target_", "norm_fn")}
    heads = [mod.MLP(**plain(k), norm_fn=torch.nn.BatchNorm1d) for k in ("projector", "pred_proj")]
    return lewm_mod.LeWM(encoder, mod.Predictor(**plain("predictor")),
                         mod.Embedder(**plain("action_encoder")), heads[0], heads[1])


def norm(p):  # uint8 (B, T, H, W, 3) -> float (B, T, 3, H, W), the same ops as lewm.LeWM
    b, t, hh, ww, c = p.shape
    x = p.reshape(b * t, hh, ww, c).permute(0, 3, 1, 2).float() / 255.0
    return ((x - MEAN) / STD).reshape(b, t, c, hh, ww)


def cmd_build(cfg_path, out_dir, seed):
    cfg = json.load(open(cfg_path))
    torch.manual_seed(int(seed))
    m = build(cfg)
    with torch.no_grad():  # AdaLN-zero and fresh BatchNorm would hide half the mapping
        for blk in m.predictor.transformer.layers:
            blk.adaLN_modulation[-1].weight.normal_(0, 0.05)
            blk.adaLN_modulation[-1].bias.normal_(0, 0.2)
        for head in (m.projector, m.pred_proj):
            bn = head.net[1]
            bn.running_mean.normal_(0, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.normal_(1, 0.1)
            bn.bias.normal_(0, 0.1)
            bn.num_batches_tracked.fill_(7)
    torch.save(m.state_dict(), f"{out_dir}/weights.pt")
    json.dump(cfg, open(f"{out_dir}/config.json", "w"), indent=2)


def load(cfg_path, weights):
    m = build(json.load(open(cfg_path)))
    m.load_state_dict(torch.load(weights, weights_only=True), strict=True)
    return m.eval()


@torch.inference_mode()
def cmd_eval(cfg_path, weights, inputs, out):
    m = load(cfg_path, weights)
    x = torch.load(inputs, weights_only=True)
    pix, goal, blocks = norm(x["pixels"]), norm(x["goal"]), x["blocks"]
    b, t = pix.shape[:2]
    s = blocks.shape[1]
    emb = m.encode({"pixels": pix})["emb"]
    act = m.action_encoder(blocks[:, 0, :t])
    pred = m.predict(emb, act)
    info = {"pixels": pix[:, None].expand(b, s, *pix.shape[1:])}
    roll = m.rollout(info, blocks)["predicted_emb"]
    costs = []
    for i in range(b):  # the reference's criterion broadcasts goal (B,1,D) against (B,S,..)
        info = {"pixels": pix[i:i + 1, None].expand(1, s, *pix.shape[1:]),
                "goal": goal[i:i + 1, None].expand(1, s, *goal.shape[1:]),
                "action": torch.zeros(1, s, t, blocks.shape[-1])}
        costs.append(m.get_cost(info, blocks[i:i + 1]))
    torch.save({"emb": emb, "pred": pred, "rollout": roll, "cost": torch.cat(costs)}, out)


def cmd_time(cfg_path, weights, inputs, out, episodes, horizon, iters, context):
    from gymnasium.spaces import Box
    from stable_worldmodel.solver import CEMSolver
    m = load(cfg_path, weights)
    x = torch.load(inputs, weights_only=True)
    e = int(episodes)
    pix, goal = norm(x["pixels"][:e, -int(context):]), norm(x["goal"][:e])
    k = x["blocks"].shape[-1]
    a = int(x["action_dim"])
    solver = CEMSolver(m, batch_size=1, num_samples=300, var_scale=1.0, n_steps=int(iters),
                       topk=30, device="cpu", seed=0)
    cfg = types.SimpleNamespace(action_block=k // a, horizon=int(horizon))
    solver.configure(action_space=Box(-1, 1, shape=(e, a)), n_envs=e, config=cfg)
    info = {"pixels": pix, "goal": goal, "action": torch.zeros(e, pix.shape[1], k)}
    t0 = time.perf_counter()
    res = solver.solve(info)
    dt = time.perf_counter() - t0
    torch.save({"seconds": dt, "actions": res["actions"]}, out)


def cmd_train(cfg_path, weights, out, batch, steps, precision):
    # Seconds per optimisation step: encode N+1 frames, predict N, MSE + 0.09 SIGReg, AdamW.
    import torch.nn.functional as F
    loss_mod = importlib.import_module("stable_worldmodel.wm.loss")
    cfg = json.load(open(cfg_path))
    m = load(cfg_path, weights).train()
    sigreg = loss_mod.SIGReg(knots=17, num_proj=1024)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=1e-3)
    size, k = cfg["encoder"]["image_size"], cfg["action_encoder"]["input_dim"]
    n = cfg["predictor"]["num_frames"]
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (int(batch), n + 1, size, size, 3), generator=g,
                           dtype=torch.uint8)
    actions = torch.randn(int(batch), n + 1, k, generator=g)
    times = []
    for i in range(int(steps) + 1):  # the first step is warm-up
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            info = m.encode({"pixels": norm(pixels), "action": actions})
            emb = info["emb"]
            pred = m.predict(emb[:, :n], info["act_emb"][:, :n])
            loss = F.mse_loss(pred.float(), emb[:, 1:].float())
            loss = loss + 0.09 * sigreg(emb.float().transpose(0, 1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    torch.save({"seconds": sum(times[1:]) / int(steps)}, out)


def cmd_h5(out):
    import numpy as np
    from stable_worldmodel.data.formats.hdf5 import HDF5Writer
    rng = np.random.default_rng(0)
    eps = []
    for i, n in enumerate([23, 17, 31, 26, 19, 40, 22, 28, 35, 21]):
        act = rng.uniform(-1, 1, (n, 2)).astype("float32")
        act[-1] = np.nan  # the reference collector leaves the last action of an episode NaN
        eps.append({"pixels": rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8),
                    "action": act,
                    "proprio": rng.standard_normal((n, 4)).astype("float32"),
                    "state": rng.standard_normal((n, 5)).astype("float32"),
                    "ep_idx": np.full(n, i, dtype=np.int64),
                    "step_idx": np.arange(n, dtype=np.int64)})
    with HDF5Writer(out, mode="overwrite") as w:
        w.write_episodes(eps)
    torch.save({k: torch.from_numpy(np.concatenate([e[k] for e in eps])) for k in eps[0]},
               out + ".pt")


cmd = sys.argv[3]
{"build": cmd_build, "eval": cmd_eval, "time": cmd_time, "train": cmd_train,
 "h5": cmd_h5}[cmd](*sys.argv[4:])
"""


# ------------------------------------------------------------------------------ reference venv
def ensure_refvenv(venv: Path) -> Path:
    """The reference venv's python, creating the venv on first use (see module docstring)."""
    py = venv / "bin" / "python"
    ok = py.exists() and (
        subprocess.run(
            [str(py), "-c", "import transformers, loguru, einops, h5py"], capture_output=True
        ).returncode
        == 0  # fmt: skip
        and (venv / "lib").exists()
        and any(venv.glob("lib/python*/site-packages/stable_worldmodel"))
    )
    if ok:
        return py
    print(f"creating the reference venv {venv} (a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(py), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "--no-deps", "stable-worldmodel==0.1.1"], check=True)
    subprocess.run([*pip, *REF_PACKAGES], check=True)
    return py


def write_stubs(root: Path) -> Path:
    stubs = root / "stubs"
    for rel, text in STUBS.items():
        p = stubs / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return stubs


class Ref:
    """Runs driver commands in the reference venv."""

    def __init__(self, py: Path, work: Path, threads: int) -> None:
        self.py, self.work, self.threads = py, work, threads
        self.driver = work / "driver.py"
        self.driver.write_text(textwrap.dedent(DRIVER))
        self.stubs = write_stubs(work)

    def __call__(self, *args: str) -> None:
        cmd = [str(self.py), "-W", "ignore", str(self.driver), str(self.stubs), str(self.threads)]
        env = {**os.environ, "PYTHONPATH": "", "OMP_NUM_THREADS": str(self.threads)}
        r = subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"reference driver {args[0]} failed:\n{r.stderr[-4000:]}")


# ------------------------------------------------------------------------------------ our side
def make_inputs(cfg, b: int, s: int, steps: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    size = cfg.image_size
    return {
        "pixels": torch.randint(0, 256, (b, 3, size, size, 3), generator=g, dtype=torch.uint8),
        "goal": torch.randint(0, 256, (b, 1, size, size, 3), generator=g, dtype=torch.uint8),
        "blocks": torch.randn(b, s, steps, cfg.action_block_dim, generator=g),
        "action_dim": torch.tensor(cfg.action_dim),
    }


@torch.inference_mode()
def our_outputs(model: LeWM, x: dict) -> dict:
    pix, goal, blocks = x["pixels"], x["goal"], x["blocks"]
    t = pix.shape[1]
    emb = model.encode(pix)
    pred = model.predict(emb, model.encode_actions(blocks[:, 0, :t]))
    roll = model.rollout(emb, blocks)
    cost = goal_cost(lambda a: model.rollout(emb, a)[:, :, t:], model.encode(goal)[:, 0])(blocks)
    return {"emb": emb, "pred": pred, "rollout": roll, "cost": cost}


def our_solve_seconds(model: LeWM, x: dict, episodes: int, horizon: int, iters: int,
                      bf16: bool, context: int) -> float:  # fmt: skip
    """One CEM solve of all episodes at once, as `lewm eval` runs it (same candidate chunking)."""
    pix, goal = x["pixels"][:episodes, -context:], x["goal"][:episodes]
    t = pix.shape[1]
    cem = CEM(num_samples=300, num_elites=30, iterations=iters, init_std=1.0,
              max_batch=plan_max_batch(model.cfg, torch.device("cpu")))  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    with torch.inference_mode():
        ctx = model.encode(pix)
        goal_emb = model.encode(goal)[:, 0]

        def rollout(a):  # the reference's semantics: the first T blocks leave the context
            return model.rollout(ctx, a)[:, :, t:]

        cost = goal_cost(rollout, goal_emb, autocast_dtype=torch.bfloat16 if bf16 else None)
        cem.solve(cost, episodes, horizon, model.cfg.action_block_dim, gen)
    return time.perf_counter() - t0


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


# ---------------------------------------------------------------------------------------- main
def parity(ref: Ref, name: str, ref_cfg: dict, work: Path, rows: list) -> tuple[LeWM, Path]:
    d = work / name
    d.mkdir()
    (d / "in.json").write_text(json.dumps(ref_cfg))
    ref("build", d / "in.json", d, 0)
    cfg, state = import_reference(d / "weights.pt", d / "config.json")
    model = LeWM(cfg)
    model.load_state_dict(state, strict=True)
    model.eval()
    x = make_inputs(cfg, b=2, s=300, steps=5, seed=1)
    torch.save(x, d / "inputs.pt")
    ref("eval", d / "config.json", d / "weights.pt", d / "inputs.pt", d / "ref_out.pt")
    theirs = torch.load(d / "ref_out.pt", weights_only=True)
    eps = vit_layer_norm_eps(ref_cfg)
    assert model.cfg.enc_ln_eps == eps, "import must carry the reference's LayerNorm eps"
    ours = our_outputs(model, x)
    labels = {"emb": "embeddings (B=2, T=3)", "pred": "one-step predictions",
              "rollout": "5-step rollouts (S=300)", "cost": "CEM costs (S=300)"}  # fmt: skip
    for key, label in labels.items():
        scale = theirs[key].abs().max().item()
        rows.append((name, label, max_diff(ours[key], theirs[key]), scale))
    default = LeWM(dataclasses.replace(cfg, enc_ln_eps=1e-6)).eval()
    default.load_state_dict(state, strict=True)
    ours_default = our_outputs(default, x)
    for key in ("emb", "cost"):
        diff = max_diff(ours_default[key], theirs[key])
        label = f"{labels[key]}, had we kept our eps 1e-6 (ref {eps:g})"
        rows.append((name, label, diff, theirs[key].abs().max().item()))
    # Reverse direction: our export loads strictly into the reference model.
    torch.save(export_state_dict(model, naming="new"), d / "ours_new.pt")
    ref("eval", d / "config.json", d / "ours_new.pt", d / "inputs.pt", d / "ref_out2.pt")
    back = torch.load(d / "ref_out2.pt", weights_only=True)
    rows.append((name, "export -> reference: embeddings", max_diff(back["emb"], ours["emb"]),
                 ours["emb"].abs().max().item()))  # fmt: skip
    rows.append((name, "export -> reference: CEM costs", max_diff(back["cost"], ours["cost"]),
                 ours["cost"].abs().max().item()))  # fmt: skip
    return model, d


def speed(ref: Ref, name: str, model: LeWM, d: Path, episodes: list[int], contexts: list[int],
          args: argparse.Namespace, rows: list) -> None:  # fmt: skip
    """Seconds per CEM solve of all episodes, reference vs ours, for each context length.

    The reference solves episodes one at a time (see the module docstring), so its many-episode
    time is measured on ``--ref-episodes`` and scaled. A CEM iteration costs the same every time,
    so solves of more than ``--full-episodes`` episodes are timed over ``--short-iterations``
    iterations and scaled to ``--iterations`` (said in the note column).
    """
    e_max = max(episodes)
    x = make_inputs(model.cfg, b=e_max, s=1, steps=1, seed=2)
    torch.save(x, d / "speed_in.pt")
    for c in contexts:
        for e in episodes:
            e_ref = min(e, args.ref_episodes)
            its = args.iterations if e <= args.full_episodes else args.short_iterations
            ref("time", d / "config.json", d / "weights.pt", d / "speed_in.pt", d / "t.pt",
                e_ref, 5, its, c)  # fmt: skip
            scale = (e / e_ref) * (args.iterations / its)
            ref_s = torch.load(d / "t.pt", weights_only=True)["seconds"] * scale
            ours32 = our_solve_seconds(model, x, e, 5, its, False, c) * args.iterations / its
            ours16 = our_solve_seconds(model, x, e, 5, its, True, c) * args.iterations / its
            notes = [f"ref timed on {e_ref} ep"] if e_ref != e else []
            notes += [f"{its} its timed, scaled"] if its != args.iterations else []
            rows.append((name, c, e, ref_s, ours32, ours16, ", ".join(notes)))
            print(f"  {name} ctx {c} {e} ep: ref {ref_s:.2f}s ours fp32 {ours32:.2f}s "
                  f"bf16 {ours16:.2f}s {notes}", flush=True)  # fmt: skip


def train_speed(ref: Ref, name: str, model: LeWM, d: Path, args: argparse.Namespace,
                rows: list) -> None:  # fmt: skip
    """Seconds per training step at ``--train-batch``, reference vs ours, fp32 and bf16."""
    for precision in ("fp32", "bf16"):
        ref("train", d / "config.json", d / "weights.pt", d / "train_t.pt", args.train_batch,
            args.train_steps, precision)  # fmt: skip
        ref_s = torch.load(d / "train_t.pt", weights_only=True)["seconds"]
        cfg = RunConfig(model=model.cfg)  # clips of history + 1 frames, as the reference's
        ours = train_step_seconds(cfg, args.train_batch, args.train_steps, precision)
        rows.append((name, precision, ref_s, ours))
        print(f"  {name} train {precision}: ref {ref_s:.2f}s ours {ours:.2f}s", flush=True)


def dataset_check(ref: Ref, work: Path) -> list[tuple[str, str]]:
    """A file written by the reference's HDF5Writer, read by our EpisodeStore and ClipDataset."""
    from lewm.data.clips import ClipDataset
    from lewm.data.store import EpisodeStore

    path = work / "ref_episodes.h5"
    ref("h5", path)
    want = torch.load(str(path) + ".pt", weights_only=True)
    store = EpisodeStore(path, in_memory=True)
    rows = [("episodes / steps", f"{store.num_episodes} / {int(store.ep_len.sum())}")]
    same = all(
        torch.equal(torch.as_tensor(store.column(c)[:]), want[c]) if c != "action"
        else torch.allclose(torch.as_tensor(store.column(c)[:]), want[c], equal_nan=True)
        for c in ("pixels", "action", "proprio", "state")
    )  # fmt: skip
    rows.append(("columns pixels/action/proprio/state identical", str(same)))
    clips = ClipDataset(store, "all", num_frames=4, frameskip=5)
    item = clips[0]
    finite = bool(torch.isfinite(torch.as_tensor(item["actions"])).all())
    shapes = f"{tuple(item['pixels'].shape)} pixels, {tuple(item['actions'].shape)} actions"
    rows.append(
        ("clips (4 frames, frameskip 5)", f"{len(clips)}; first: {shapes}, finite {finite}")
    )
    from lewm.config import RunConfig
    from lewm.train import train

    tiny = ["model.encoder=cnn", "model.image_size=16", "model.enc_width=32", "model.enc_depth=2",
            "model.embed_dim=16", "model.proj_hidden=32", "model.pred_depth=1",
            "model.pred_heads=2", "model.pred_head_dim=8", "model.pred_mlp=32",
            "train.batch_size=8", "train.max_steps=3", "train.val_every=3", "train.val_batches=1",
            "train.ckpt_every=3", "train.device=cpu", f"data.path={path}"]  # fmt: skip
    res = train(RunConfig.load(None, tiny), work / "run", progress=False)
    loss = res.last_metrics.get("loss", float("nan"))
    rows.append(("`lewm train` on it (tiny CNN model)", f"{res.step} steps, loss {loss:.3f}"))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refvenv", default="/tmp/refvenv", help="reference venv (created if absent)")
    ap.add_argument("--paper", action="store_true", help="also the paper config (224 px)")
    ap.add_argument("--speed", action="store_true", help="time CEM solves side by side")
    ap.add_argument("--episodes", default="1,50", help="episodes per solve for --speed")
    ap.add_argument("--contexts", default="3,1", help="context frames per solve for --speed")
    ap.add_argument(
        "--ref-episodes",
        type=int,
        default=2,
        help="episodes the reference is timed on (it solves them one by one)",
    )
    ap.add_argument("--paper-episodes", default="1", help="episodes per solve, paper config")
    ap.add_argument("--iterations", type=int, default=30, help="CEM iterations (30)")
    ap.add_argument("--full-episodes", type=int, default=5,
                    help="solves of more episodes are timed over --short-iterations")  # fmt: skip
    ap.add_argument("--short-iterations", type=int, default=3)
    ap.add_argument("--train", action="store_true", help="time training steps side by side")
    ap.add_argument("--train-batch", type=int, default=32)
    ap.add_argument("--train-steps", type=int, default=3, help="timed steps (after 1 warm-up)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads on both sides")
    ap.add_argument("--dataset", action="store_true", help="check a reference-written HDF5")
    ap.add_argument("--no-parity", action="store_true", help="skip parity (with --dataset)")
    ap.add_argument("--json", default=None, help="also write the tables as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    py = ensure_refvenv(Path(args.refvenv))
    rows: list = []
    srows: list = []
    trows: list = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ref = Ref(py, work, args.threads)
        configs = [("small", SMALL)] + ([("paper", PAPER)] if args.paper else [])
        configs = [] if args.no_parity else configs
        drows = dataset_check(ref, work) if args.dataset else []
        for name, ref_cfg in configs:
            t0 = time.perf_counter()
            model, d = parity(ref, name, ref_cfg, work, rows)
            print(f"parity {name}: {time.perf_counter() - t0:.0f}s", flush=True)
            if args.speed:
                eps = args.episodes if name == "small" else args.paper_episodes
                contexts = [int(c) for c in args.contexts.split(",")]
                speed(ref, name, model, d, [int(e) for e in eps.split(",")], contexts, args,
                      srows)  # fmt: skip
            if args.train:
                train_speed(ref, name, model, d, args, trows)
    print(f"\nmachine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {args.threads} threads\n")  # fmt: skip
    if rows:
        print("| config | quantity | max abs diff | max abs value |")
        print("|---|---|---|---|")
    for name, label, diff, scale in rows:
        print(f"| {name} | {label} | {diff:.3g} | {scale:.3g} |")
    if drows:
        print("\nreference HDF5Writer file read by lewm.data\n")
        for label, value in drows:
            print(f"- {label}: {value}")
    if srows:
        print(
            f"\nCEM solve, 300 x {args.iterations} iterations x horizon 5, history 3 "
            "(seconds per solve of all episodes; ours batched, the reference one by one)\n"
        )
        print("| config | context frames | episodes | reference fp32 | ours fp32 | ours bf16 | "
              "ratio fp32 | ratio bf16 | note |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        for name, c, e, r, o32, o16, note in srows:
            print(f"| {name} | {c} | {e} | {r:.2f} | {o32:.2f} | {o16:.2f} | {r / o32:.2f}x | "
                  f"{r / o16:.2f}x | {note} |")  # fmt: skip
    if trows:
        print(
            f"\nTraining step, batch {args.train_batch} clips of history + 1 frames (encode, "
            f"predict, MSE + SIGReg, backward, AdamW), mean of {args.train_steps} steps\n"
        )
        print("| config | precision | reference s/step | ours s/step | ratio |")
        print("|---|---|---|---|---|")
        for name, prec, r, o in trows:
            print(f"| {name} | {prec} | {r:.3f} | {o:.3f} | {r / o:.2f}x |")
    if args.json:
        out = {"parity": rows, "speed": srows, "train": trows}
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
