"""The signal path of `speechdae live`: the worker's denoising pipeline and the ring that feeds the output callback.

Neither knows about PortAudio: the worker (live_session) feeds Pipeline with input blocks and writes what comes
out into the Ring, from which the output callback takes exactly as many samples as the device asks for.
"""
from __future__ import annotations

import threading

import numpy as np


class Ring:
    """Samples waiting for the output callback. A ring and not a queue of blocks because the callback
    needs exactly `frames` samples, whatever sizes the worker produced."""

    def __init__(self, channels: int, margin: int, capacity: int):
        self.buf = np.zeros((capacity, channels), np.float32)
        self.margin, self.start, self.size = margin, 0, 0
        self.primed = False  # wait for `margin` samples first, so jitter does not become underruns
        self.lock = threading.Lock()

    def write(self, x: np.ndarray) -> bool:
        """Append (mono is broadcast to every output channel); returns False if the oldest samples had to be dropped
        (output clock slower than input)."""
        with self.lock:
            cap = len(self.buf)
            overflow = max(0, self.size + len(x) - cap)
            if overflow:  # drop the oldest: keep latency bounded rather than growing forever
                if len(x) >= cap:  # more than fits at all: keep only the newest `cap` samples
                    x = x[-cap:]
                    self.start, self.size = 0, 0
                else:
                    self.start, self.size = (self.start + overflow) % cap, self.size - overflow
            self.buf[(self.start + self.size + np.arange(len(x))) % cap] = x
            self.size += len(x)
            return not overflow

    def read(self, out: np.ndarray) -> bool:
        """Fill `out` (frames, channels). Returns False on an underrun."""
        with self.lock:
            n = len(out)
            if not self.primed and self.size >= self.margin:
                self.primed = True
            take = min(n, self.size) if self.primed else 0
            out[:take] = self.buf[(self.start + np.arange(take)) % len(self.buf)]
            out[take:] = 0
            self.start, self.size = (self.start + take) % len(self.buf), self.size - take
            if self.primed and take < n:
                self.primed = False  # re-prime: one gap is better than crackling on every callback
                return False
            return True


class Pipeline:
    """The worker's signal path: device blocks in, device-rate output blocks out. Not thread-safe: one thread."""

    def __init__(self, denoiser, channels: int, mono: bool, rate: int, atten_limit, bypass: bool):
        from .rate import RateStream

        self.mono, self.bypass = mono, bypass
        n = 1 if mono else channels
        # The file path's rate adapter (soxr streams keep their filter state between calls, so block boundaries
        # cause no clicks; above the model's rate the high band is kept): the recording equals `denoise`.
        self.rate_stream = RateStream(denoiser, rate, n, atten_limit) if not bypass else None
        self.stream = self.rate_stream.stream if not bypass else None  # the model's stream, for the warm-up

    def warm_up(self, channels: int, hop: int):
        """Run the first (slow) torch calls before the clock starts, then forget them."""
        if self.stream is None:
            return
        for _ in range(4):
            self.stream.process(np.zeros((channels, hop), np.float32))
        self.stream.process(np.zeros((channels, 4 * hop), np.float32))
        self.stream.reset()

    def __call__(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        """(frames, device channels) -> (frames', channels out)."""
        if self.mono:
            x = x.mean(axis=1, keepdims=True)
        if self.bypass:
            return x
        y = self.rate_stream.process(x)
        return np.concatenate([y, self.rate_stream.flush()]) if last else y
