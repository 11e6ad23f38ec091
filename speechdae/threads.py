"""How many CPU threads torch uses, set once per process by every entry point (train, denoise, eval, live).

Torch's default is one intra-op thread per core. On a 2-core machine that is also running something else, its
OpenMP threads spin waiting for each other and a step gets 7-20x slower (measured: training 1.1-1.4 s a step
against 0.07 s with one thread; `speechdae denoise` of 10 min of audio 18.6 s against 2.6 s). The models here
are small enough that one thread keeps its core busy, so one thread per process is the default; a second core
is better used by a second process (torchrun for training, more files at once for corpora).
"""
from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)
DEFAULT_THREADS = 1


def set_threads(threads: int | None = None) -> int:
    """Use `threads` intra-op threads (None or 0: the default, or OMP_NUM_THREADS when the user set it)."""
    if not threads:
        threads = int(os.environ.get("OMP_NUM_THREADS") or DEFAULT_THREADS)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
    try:  # only allowed before the first inter-op work; later calls keep what was set
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    return threads
