"""Data-parallel training across processes and machines (torchrun + DistributedDataParallel).

``torchrun --nproc_per_node=N -m lewm train ...`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``;
:func:`process_group` (entered by ``lewm train``) then joins the process group — ``nccl`` on CUDA,
``gloo`` on CPU, i.e. torch's default backend for the resolved device type — with each rank on its
local device. The training loop (:func:`lewm.train.train`) gives every rank a disjoint, equal slice
of each step's global batch and wraps the model with :func:`wrap_ddp`.

The objective stays the single-device one on the global batch (SPEC §2 "Multi-device"):

- **SIGReg.** Every rank draws the same directions (generator seeded from (seed, step)); the
  characteristic-function means (2, T, M, K) are averaged across ranks with the differentiable
  :func:`all_reduce_mean` before squaring, and scaled by the global batch.
- **BatchNorm.** The projectors' BatchNorm would otherwise normalise with per-rank statistics, so
  the embeddings SIGReg sees would depend on the number of processes. :func:`convert_batchnorm`
  swaps ``nn.BatchNorm1d`` for :class:`GlobalBatchNorm1d` (same parameters, buffers and state-dict
  keys), whose batch statistics are averaged across ranks the same way. (torch's ``SyncBatchNorm``
  does the same on GPUs only; ours also runs on CPU/gloo, where the tests check it.)

Gradient scaling. R ranks hold equal local batches; ``ecf = (1/R) Σ_r ecf_r``; the single-process
loss on the concatenated batch is ``L = (1/R) Σ_r P_r + λ·S(ecf)`` (P_r: rank r's prediction MSE).
Rank r computes ``L_r = P_r + λ·S(ecf)`` (the SIGReg value is the same on every rank). The backward
of :func:`all_reduce_mean` is ``all_reduce_sum(grad)/R``, the exact adjoint of its forward, so rank
r's backward yields the gradient of ``Σ_r' L_r'`` through its own inputs: ``∂P_r/∂θ +
G·∂ecf_r/∂θ`` with ``G = λ·∂S/∂ecf``, which is R times rank r's share ``(1/R)(∂P_r/∂θ +
G·∂ecf_r/∂θ)`` of ``∂L/∂θ``. DDP *averages* parameter gradients over ranks (divides by R), so
the update uses ``Σ_r (1/R)(∂P_r/∂θ + G·∂ecf_r/∂θ) = ∂L/∂θ``: the single-process gradient.
The BatchNorm statistics follow the same rule. Hence the gradient w.r.t. a rank's *local*
inputs is R times the single-process one (the tests check exactly that, and the parameter
gradients after DDP); never rescale the loss by hand.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from lewm.runtime import resolve_device


# ------------------------------------------------------------------------------ process group
def launched() -> bool:
    """True when started by torchrun (or a similar launcher) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def local_device(spec: str = "auto") -> torch.device:
    """The device of this process: :func:`resolve_device`, on accelerator ``LOCAL_RANK`` when
    launched with several processes (CPU stays CPU)."""
    device = resolve_device(spec)
    if launched() and device.type != "cpu":
        device = torch.device(device.type, int(os.environ.get("LOCAL_RANK", "0")))
    return device


def backend_for(device: torch.device) -> str:
    """torch's default collective backend for a device type (cpu: gloo, cuda: nccl, …)."""
    return dist.Backend.default_device_backend_map.get(device.type, "gloo")


@contextlib.contextmanager
def process_group(device_spec: str = "auto") -> Iterator[None]:
    """Join the process group described by torchrun's environment; leave it on exit.

    A no-op for a single process or when a group is already initialised (e.g. by the caller).
    """
    if not launched() or is_initialized():
        yield
        return
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    device = local_device(device_spec)
    kwargs: dict[str, Any] = {}
    if device.type != "cpu":
        torch.accelerator.set_device_index(device.index)
        kwargs["device_id"] = device  # binds the communicator to this rank's device
    dist.init_process_group(backend=backend_for(device), **kwargs)
    try:
        yield
    finally:
        dist.destroy_process_group()


def barrier() -> None:
    if is_initialized():
        dist.barrier()


# ------------------------------------------------------------------- differentiable all-reduce
class _AllReduceMean(torch.autograd.Function):
    """Forward: mean over ranks. Backward: mean over ranks of the incoming gradients (the adjoint
    of the forward; see the module docstring for why this gives single-process gradients)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.detach().clone(memory_format=torch.contiguous_format)
        dist.all_reduce(y, op=dist.ReduceOp.SUM)
        return y.div_(dist.get_world_size())

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        g = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(g, op=dist.ReduceOp.SUM)
        return g.div_(dist.get_world_size())


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """Differentiable mean of ``x`` over all ranks (identity for one process). Every rank must
    call it with the same shape, in the same order (it is a collective)."""
    return _AllReduceMean.apply(x) if world_size() > 1 else x


def mean_across(values: dict[str, torch.Tensor]) -> dict[str, float]:
    """Detached scalar tensors averaged over ranks (a collective; for logging)."""
    keys = list(values)
    t = torch.stack([values[k].detach().float() for k in keys])
    if world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= world_size()
    return dict(zip(keys, t.tolist(), strict=True))


def any_rank(flag: bool, device: torch.device) -> bool:
    """True if ``flag`` is true on any rank (a collective), so all ranks take the same branch."""
    if world_size() == 1:
        return bool(flag)
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def same_on_all_ranks(value: float, device: torch.device) -> float:
    """Rank 0's ``value`` on every rank (a collective): e.g. one wall clock for a schedule."""
    if world_size() == 1:
        return float(value)
    t = torch.tensor([float(value)], device=device, dtype=torch.float64)
    dist.broadcast(t, src=0)
    return float(t.item())


# ----------------------------------------------------------------------------- global BatchNorm
class GlobalBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose training-mode statistics are over the global batch (all ranks).

    Identical to BatchNorm1d for one process or in eval mode. Assumes equal local batch sizes
    (the trainer guarantees them). Statistics in float32 (two passes: mean, then variance), output
    in the input dtype; running statistics updated like BatchNorm (unbiased variance over the
    global count), so they are identical on every rank.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        dims = [d for d in range(x.dim()) if d != 1]
        shape = [1, -1] + [1] * (x.dim() - 2)
        x32 = x.float()
        mean = all_reduce_mean(x32.mean(dim=dims))
        centred = x32 - mean.view(shape)
        var = all_reduce_mean(centred.square().mean(dim=dims))
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.float().view(shape) + self.bias.float().view(shape)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = self.momentum
                if factor is None:  # cumulative moving average, as in BatchNorm
                    factor = 1.0 / float(self.num_batches_tracked)
                n = x.numel() // x.shape[1] * world_size()
                unbiased = var * (n / max(n - 1, 1))
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        return y.to(x.dtype)


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.BatchNorm1d`` in ``module`` (in place) by :class:`GlobalBatchNorm1d`
    sharing its parameters and buffers, so optimisers and state dicts are unaffected."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm1d:
            new = GlobalBatchNorm1d(
                child.num_features, child.eps, child.momentum, child.affine,
                child.track_running_stats,
            )  # fmt: skip
            new.weight, new.bias = child.weight, child.bias
            new.running_mean, new.running_var = child.running_mean, child.running_var
            new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
        else:
            convert_batchnorm(child)
    return module


# ---------------------------------------------------------------------------------- DDP wrapper
class ObjectiveModule(nn.Module):
    """Runs ``fn(module, *args, **kwargs)`` as its forward, so that DDP sees exactly one forward
    per step even though the loss calls several of the model's methods (encode, predict, …).
    The model is the ``module`` attribute (``lewm.checkpoint.unwrap`` finds it)."""

    def __init__(self, module: nn.Module, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.module = module
        self.fn = fn

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(self.module, *args, **kwargs)


def wrap_ddp(
    model: nn.Module, fn: Callable[..., Any], device: torch.device
) -> nn.parallel.DistributedDataParallel:
    """DDP over ``fn(model, ...)``; parameters are broadcast from rank 0 on construction."""
    ids = None if device.type == "cpu" else [device.index]
    return nn.parallel.DistributedDataParallel(ObjectiveModule(model, fn), device_ids=ids)
