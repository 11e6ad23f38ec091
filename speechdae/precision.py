"""Which float type the model's matrix products run in during training: bf16 where the hardware makes it pay.

bf16 autocast wraps the model's forward only. The STFT, the features, the mask applied to the spectrum, the loss
and the metrics stay fp32: the loss sums small squared errors of compressed magnitudes over a million bins, where
bf16's 8-bit mantissa would round away the differences it is trying to reduce, and the FFTs have no bf16 kernel
on the CPU. Weights, gradients and the optimizer state stay fp32 too (autocast casts a copy per product).

"auto" asks the hardware. A CUDA device with bf16 support uses it. On a CPU, bf16 matrix products are fast only
with AMX or AVX512-BF16 units; without them oneDNN emulates them and they are far slower than fp32 (measured on
an AVX2-only AMD EPYC: 0.9 GFLOP/s against 87 GFLOP/s). So "auto" checks the CPU flags and then times
products of each type (about 0.1 s) and picks bf16 only when it is clearly faster. The timing takes the fastest
of several interleaved rounds: a single timing flipped the choice to fp32 when three runs started at once on
this 2-core machine (one round pre-empted), so runs of one recipe trained in different precisions.
"""
from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def cpu_has_bf16_units() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags.split() for f in ("amx_bf16", "avx512_bf16"))


def _time_matmul(dtype: torch.dtype, size: int = 512) -> float:
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    t0 = time.perf_counter()
    a @ b
    return time.perf_counter() - t0


@functools.lru_cache(maxsize=None)
def cpu_bf16_speedup(rounds: int = 9) -> float:
    """fp32 time over bf16 time for a 512x512 matrix product on this CPU (> 1: bf16 is faster).

    Each type's fastest of `rounds` interleaved timings (after one untimed call each: kernel selection), so
    that other processes pre-empting some rounds do not decide it."""
    times = {torch.float32: [], torch.bfloat16: []}
    for dtype in times:
        _time_matmul(dtype)
    for _ in range(rounds):
        for dtype, seen in times.items():
            seen.append(_time_matmul(dtype))
    return min(times[torch.float32]) / min(times[torch.bfloat16])


def autocast_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The dtype to autocast the model to for `mode` ("auto", "bf16", "off") on `device`; None: fp32."""
    if mode == "off":
        return None
    if mode == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu" and cpu_has_bf16_units() and cpu_bf16_speedup() > 1.5:
        return torch.bfloat16
    return None


def describe(mode: str, device: torch.device) -> str:
    dtype = autocast_dtype(mode, device)
    name = "bf16 autocast" if dtype is torch.bfloat16 else "fp32"
    if mode == "auto" and device.type == "cpu":
        if not cpu_has_bf16_units():
            return f"precision: {name} (amp=auto: this CPU has no bf16 matrix units)"
        return f"precision: {name} (amp=auto: bf16 matrix products {cpu_bf16_speedup():.1f}x fp32's on this CPU)"
    return f"precision: {name} (amp={mode})"
