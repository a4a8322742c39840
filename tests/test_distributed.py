"""Data parallelism on 2 CPU processes (gloo): global-batch SIGReg and BatchNorm give the
single-process value and gradients; a 2-process training run (with a resume in the middle) ends
with the same weights on both ranks and the weights of the 1-process run; `torchrun -m lewm train`
works end to end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from functools import partial

import pytest
import torch
import torch.multiprocessing as mp
from tests.conftest import TINY_MODEL, tiny_config
from torch import nn

from lewm.data.collect import collect
from lewm.distributed import all_reduce_mean, convert_batchnorm, process_group, wrap_ddp
from lewm.losses import sigreg
from lewm.model import LeWM
from lewm.runtime import generator
from lewm.train import objective, open_datasets, train

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(fn, *args) -> None:
    """Run fn(rank, *args) on WORLD CPU processes joined by torchrun-style env vars."""
    mp.spawn(_entry, args=(fn, _free_port(), *args), nprocs=WORLD, join=True)


def _entry(rank, fn, port, *args):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD), RANK=str(rank),
        LOCAL_RANK=str(rank),
    )  # fmt: skip
    torch.set_num_threads(1)
    with process_group("cpu"):
        fn(rank, *args)


@pytest.fixture(scope="module")
def data12(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "tworoom12.h5"
    collect("tworoom", path, episodes=12, image_size=16, policy="expert", seed=5, workers=1,
            progress=False, min_length=30)  # fmt: skip
    return path


# ---------------------------------------------------------------- one 2-process launch
def _problem():
    """Non-Gaussian embeddings z (T, B, D) and a small net x (B*T, 6) -> BN -> z."""
    g = torch.Generator().manual_seed(0)
    z = torch.rand(3, 16, 8, generator=g) * 2 + 0.5
    x = torch.randn(16 * 3, 6, generator=g)
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.GELU(), nn.Linear(12, 8))
    return z, x, net


def _loss(net, x, batch, reduce_mean=None):
    """Prediction-like local term + SIGReg of net(x) viewed as (T, b, D)."""
    z = net(x).view(batch, 3, 8).transpose(0, 1)
    sig = sigreg(
        z, torch.Generator().manual_seed(7), 32, 17, reduce_mean, 16 if reduce_mean else None
    )
    return z.square().mean() + 0.5 * sig


def _data_batch(data):
    """A fixed global batch of 8 clips from the dataset."""
    _, ds, _ = open_datasets(_cfg(data))
    batch = ds.get_batch(list(range(0, 32, 4)))
    return torch.as_tensor(batch["pixels"]), torch.as_tensor(batch["actions"]).float()


def _cfg(data, *extra):
    # No dropout: masks are drawn per rank, so only then can 2 processes equal 1 exactly.
    return tiny_config(data, "model.pred_dropout=0", "train.schedule_steps=6", *extra)


def _worker(rank, data, out):
    """Everything the tests check, in one 2-process launch (process start-up dominates)."""
    b = 16 // WORLD
    # SIGReg alone, on the local slices of z.
    z, x, net = _problem()
    z_local = z[:, rank * b : (rank + 1) * b].clone().requires_grad_()
    s = sigreg(z_local, torch.Generator().manual_seed(7), 32, 17, all_reduce_mean, 16)
    s.backward()
    # A small net: BatchNorm over the global batch, SIGReg, DDP's gradient averaging.
    ddp = wrap_ddp(convert_batchnorm(net), _loss, torch.device("cpu"))
    x_local = x.view(16, 3, 6)[rank * b : (rank + 1) * b].reshape(-1, 6)
    ddp(x_local, b, reduce_mean=all_reduce_mean).backward()
    torch.save({"sig": s.detach(), "z_grad": z_local.grad, "running_var": net[1].running_var,
                "grads": {k: p.grad for k, p in net.named_parameters()}},
               out / f"grad{rank}.pt")  # fmt: skip
    # The LeWM objective exactly as train() wraps it.
    cfg, (pixels, blocks) = _cfg(data), _data_batch(data)
    torch.manual_seed(0)
    model = convert_batchnorm(LeWM(cfg.model))
    fn = partial(objective, cfg=cfg, reduce_mean=all_reduce_mean, global_batch=8)
    ddp = wrap_ddp(model, fn, torch.device("cpu"))
    sl = slice(rank * 8 // WORLD, (rank + 1) * 8 // WORLD)
    ddp(pixels[sl], blocks[sl], gen=generator("cpu", 1))["loss"].backward()
    torch.save({k: p.grad for k, p in model.named_parameters()}, out / f"lewm_grad{rank}.pt")
    # Training: a global batch that does not split is refused; 3 steps, then resume to 6.
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        train(_cfg(data, "train.batch_size=7"), out / "bad", progress=False)
    run = out / "run"
    train(_cfg(data, "train.max_steps=3"), run, progress=False)  # checkpoint at step 3
    res = train(_cfg(data), run, resume=True, progress=False)  # steps 3..5
    assert res.step == 6
    torch.save(res.model.state_dict(), out / f"weights{rank}.pt")
    # A schedule on the wall clock: every rank must take rank 0's clock (same rate, same stop).
    timed = _cfg(data, "train.schedule=minutes", "train.max_minutes=0.02", "train.max_steps=10000")
    res = train(timed, out / "timed", progress=False)
    torch.save({"step": res.step, "weights": res.model.state_dict()}, out / f"timed{rank}.pt")


@pytest.fixture(scope="module")
def ddp_out(data12, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_out")
    _spawn(_worker, data12, out)
    return out


def test_global_sigreg_and_gradients_match_one_process(ddp_out):
    z, x, net = _problem()
    z.requires_grad_()
    s = sigreg(z, torch.Generator().manual_seed(7), 32, 17)
    s.backward()
    _loss(net, x, 16).backward()
    b = 16 // WORLD
    for r in range(WORLD):
        got = torch.load(ddp_out / f"grad{r}.pt")
        torch.testing.assert_close(got["sig"], s.detach(), rtol=1e-5, atol=1e-6)
        # Each rank's local gradient is WORLD x the single-process one; DDP's averaging divides
        # it back (lewm.distributed docstring), as the parameter gradients below show.
        torch.testing.assert_close(
            got["z_grad"], WORLD * z.grad[:, r * b : (r + 1) * b], rtol=1e-4, atol=1e-6
        )
        for k, p in net.named_parameters():
            torch.testing.assert_close(got["grads"][k], p.grad, rtol=1e-4, atol=1e-6, msg=k)
        torch.testing.assert_close(got["running_var"], net[1].running_var, rtol=1e-5, atol=1e-6)


def test_lewm_objective_gradients_match_one_process(ddp_out, data12):
    cfg, (pixels, blocks) = _cfg(data12), _data_batch(data12)
    torch.manual_seed(0)
    model = LeWM(cfg.model)
    objective(model, pixels, blocks, cfg, generator("cpu", 1))["loss"].backward()
    for r in range(WORLD):
        got = torch.load(ddp_out / f"lewm_grad{r}.pt")
        for k, p in model.named_parameters():
            torch.testing.assert_close(got[k], p.grad, rtol=1e-4, atol=1e-6, msg=k)


def test_two_process_training_matches_one_process(ddp_out, data12, tmp_path):
    w0, w1 = (torch.load(ddp_out / f"weights{r}.pt") for r in range(WORLD))
    for k in w0:
        torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=0, msg=k)  # DDP keeps ranks equal
    train(_cfg(data12), tmp_path / "single", progress=False)

    def trajectory(run):  # rank 0 alone writes metrics: one record per step
        records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
        keys = ("step", "loss", "pred_loss", "sigreg", "grad_norm")
        return torch.tensor([[r[k] for k in keys] for r in records if "loss" in r])

    # Same global batches, same objective: the same training curve as one process. (Weights are
    # compared through the gradients above: Adam turns the float noise of the exactly-zero
    # gradients of the biases in front of a BatchNorm into ±lr steps, so they are not comparable.)
    ddp_curve, single_curve = trajectory(ddp_out / "run"), trajectory(tmp_path / "single")
    assert ddp_curve[:, 0].tolist() == list(range(1, 7))
    torch.testing.assert_close(ddp_curve, single_curve, rtol=1e-4, atol=1e-6)


def test_minutes_schedule_keeps_ranks_identical(ddp_out):
    t0, t1 = (torch.load(ddp_out / f"timed{r}.pt") for r in range(WORLD))
    assert t0["step"] == t1["step"] > 1
    for k in t0["weights"]:
        assert torch.equal(t0["weights"][k], t1["weights"][k]), k


def test_torchrun_cli(data12, tmp_path):
    run = tmp_path / "run"
    overrides = [f"data.path={data12}", *TINY_MODEL, "train.batch_size=8", "train.max_steps=2",
                 "train.log_every=1", "train.sigreg_projections=16", "train.threads=1"]  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={WORLD}",
           f"--master_port={_free_port()}", "-m", "lewm", "train", "--run-dir", str(run),
           *overrides]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("trained 2 steps") == 1  # printed by rank 0 only
    records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2]
    assert (run / "checkpoint" / "model.safetensors").is_file()
