"""Choosing the compute device and the precision to run on it; one place for every command."""

from __future__ import annotations

from contextlib import nullcontext

import torch

DEVICES = ("auto", "cpu", "cuda")  # and cuda:N
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA when present (GPU ``local_rank``), else the CPU; ``cuda:N`` names a
    GPU. Asking for CUDA without one is an error rather than a silent fall-back."""
    kind, _, index = name.partition(":")
    if kind not in DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, not {name!r}")
    use_cuda = torch.cuda.is_available() if kind == "auto" else kind == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise ValueError(f"{name} was asked for but no CUDA device is available")
    if use_cuda and index and int(index) >= torch.cuda.device_count():
        raise ValueError(f"{name}: there are only {torch.cuda.device_count()} CUDA devices")
    return torch.device("cuda", int(index or local_rank)) if use_cuda else torch.device("cpu")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 autocast on CUDA where supported (else fp16), fp32 on the CPU, which is
    exact (bf16 there is faster on CPUs with AVX-512 bf16, but not exact: an explicit choice)."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def autocast_for(device: torch.device, precision: str) -> torch.autocast | nullcontext[None]:
    """Autocast context for ``precision`` (fp32, bf16 or fp16) on ``device``."""
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)
