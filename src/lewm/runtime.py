"""Device, precision and seed plumbing shared by training, planning and evaluation.

The device always comes from configuration or the inputs (DESIGN.md): library code never names an
accelerator type; ``resolve_device("auto")`` asks torch what is available.
"""

from __future__ import annotations

import contextlib
import hashlib

import torch


def resolve_device(spec: str = "auto") -> torch.device:
    """'auto' → the first available accelerator (torch.accelerator API), else CPU."""
    if spec != "auto":
        return torch.device(spec)
    acc = getattr(torch, "accelerator", None)
    if acc is not None and acc.is_available():
        return acc.current_accelerator()
    return torch.device("cpu")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast when asked, a no-op context for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def derive_seed(*parts: int | str) -> int:
    """A stable 63-bit seed from several parts (run seed, step, rank, purpose…)."""
    h = hashlib.blake2b("/".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 63) - 1)


def generator(device: torch.device | str, *parts: int | str) -> torch.Generator:
    """A torch.Generator on ``device`` seeded from :func:`derive_seed` of ``parts``."""
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(*parts))
    return g
