"""Streaming: the same Denoiser, fed any number of samples at a time, state kept between calls.

Three pieces of state make the output independent of how the input is chunked: the analysis buffer
(samples not yet in a whole frame), every causal convolution's past frames (the model's stream states), and the
overlap-add tail. Each call runs the model only on the new frames. Output sample i is input sample i
denoised: the first synthesis - hop samples of the synthesised stream are dropped, so nothing needs re-aligning.
Because outputs are only emitted once overlap-add is complete, there is no window edge to click at.

A live stream is fed one hop per call, and then each call is one traced graph of the whole step (analysis,
model, mask, synthesis: `HopStep`), because at 10 ms per call the cost is mostly Python and operator dispatch.
Calls that bring several frames run the same HopStep eagerly around the traced model, which is as fast per
frame once the frames are batched. Both run the Denoiser's own methods, so there is no second copy of the DSP.

Two faces: StreamingDenoiser is the model-rate core, in torch's (channels, samples) layout, that rate.RateStream
drives; ArrayStream is the Python API's stream, numpy in and out in `Denoiser.denoise`'s (samples, channels)
layout at any rate, through that same RateStream.
"""
from __future__ import annotations

import numpy as np
import torch

from .audio import as_float
from .errors import SpeechDAEError
from .model import StreamingStep, cached_trace, initial_states, traced_step


class HopStep(torch.nn.Module):
    """(padded samples (C, n_fft + (T-1)*hop), overlap tail, *model states) -> (T*hop final samples, tail, *states)."""

    def __init__(self, denoiser, min_gain: float, model_step: torch.nn.Module):
        super().__init__()
        self.denoiser = denoiser
        self.min_gain = min_gain
        self.model_step = model_step

    def forward(self, padded: torch.Tensor, tail: torch.Tensor, *states: torch.Tensor):
        d = self.denoiser
        spec = d.stft.analyze(padded)
        mask, *states = self.model_step(d.features(spec), *states)
        out, tail = d.stft.synthesize(d.apply_mask(spec, mask, self.min_gain), tail)
        return (out, tail, *states)


def traced_hop(denoiser, min_gain: float, channels: int):
    """A TorchScript trace of HopStep for one frame, cached (model.cached_trace) per gain floor, channels, device
    and dtype: the STFT windows are buffers, which `.to()` replaces."""
    param = next(denoiser.parameters())

    def build():
        cfg = denoiser.stft.cfg
        frame = torch.zeros(channels, cfg.n_fft, dtype=param.dtype, device=param.device)
        tail = frame.new_zeros(channels, cfg.synthesis_pad)
        step = HopStep(denoiser, min_gain, StreamingStep(denoiser.model))
        return step, (frame, tail, *initial_states(denoiser.model, channels, frame))

    return cached_trace(denoiser, ("hop", min_gain, channels, param.device, param.dtype), build)


class StreamingDenoiser:
    """The model-rate stream, in torch's layout: (samples,) or (channels, samples) in (numpy or torch), torch
    (channels, m) out, on the model's device.

    `Denoiser.stream(channels, atten_limit_db)` without a sample rate. It is what the rate adapter
    (rate.RateStream, hence `denoise`, files and live audio) and the benchmarks drive; programs should use
    `Denoiser.stream(..., sample_rate=rate)` (ArrayStream), which takes and returns numpy as `denoise` does.
    """

    def __init__(self, denoiser, channels: int = 1, min_gain: float = 0.0):
        self.denoiser = denoiser
        self.stft = denoiser.stft
        self.cfg = denoiser.stft.cfg
        self.channels = channels
        self.min_gain = min_gain
        self.reset()

    @property
    def latency(self) -> int:
        """Worst-case samples between an input sample arriving and its output being returned."""
        return self.cfg.latency_samples

    def reset(self):
        param = next(self.denoiser.parameters())
        self._buffer = torch.zeros(self.channels, self.cfg.pad_left, dtype=param.dtype, device=param.device)
        self._tail = self._buffer.new_zeros(self.channels, self.cfg.synthesis_pad)
        self._states = None  # each causal convolution's past frames, made on the first frame
        self._steps = None  # (one-hop traced step, several-frame step), looked up once per stream: not per hop
        self._to_drop = self.cfg.synthesis_pad
        self.samples_in = 0
        self.samples_out = 0

    def _as_tensor(self, chunk) -> torch.Tensor:
        """Accept (n,) for one channel or (channels, n)."""
        x = chunk if torch.is_tensor(chunk) else torch.from_numpy(as_float(np.asarray(chunk)))
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ValueError(f"expected a chunk of shape (n,) or ({self.channels}, n), got {tuple(x.shape)}")
        # A live stream must not die on one bad sample: treat non-finite input as silence.
        return torch.nan_to_num(x.to(self._buffer), nan=0.0, posinf=0.0, neginf=0.0)

    @torch.inference_mode()  # cheaper dispatch than no_grad; stream tensors never need autograd
    def _consume(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        self._buffer = torch.cat([self._buffer, x], dim=1)
        n_frames = (self._buffer.shape[1] - cfg.n_fft) // cfg.hop + 1
        if n_frames <= 0:
            return self._buffer.new_zeros(self.channels, 0)
        padded = self._buffer[:, : (n_frames - 1) * cfg.hop + cfg.n_fft]
        self._buffer = self._buffer[:, n_frames * cfg.hop :]
        d = self.denoiser
        if self._states is None:
            self._states = initial_states(d.model, self.channels, self._buffer)
            # The several-frame step's traced model is Denoiser.enhance_spec's model call with its cache as tensors.
            self._steps = (traced_hop(d, self.min_gain, self.channels),
                           HopStep(d, self.min_gain, traced_step(d.model)))
        step = self._steps[0] if n_frames == 1 else self._steps[1]
        out, self._tail, *self._states = step(padded, self._tail, *self._states)
        drop = min(self._to_drop, out.shape[1])
        self._to_drop -= drop
        return out[:, drop:]

    def process(self, chunk) -> torch.Tensor:
        """Feed (n,) or (channels, n) samples; returns the (channels, m) torch samples that are final (m may be 0)."""
        x = self._as_tensor(chunk)
        self.samples_in += x.shape[1]
        out = self._consume(x)
        self.samples_out += out.shape[1]
        return out

    def flush(self) -> torch.Tensor:
        """Finish the stream: returns the remaining (channels, m) samples, so that the total equals the input
        length, and starts a new stream."""
        frames = self.stft.frames_for(self.samples_in)
        consumed = self.cfg.pad_left + self.samples_in
        zeros = (frames - 1) * self.cfg.hop + self.cfg.n_fft - consumed
        out = self._consume(self._buffer.new_zeros(self.channels, max(zeros, 0)))
        out = out[:, : self.samples_in - self.samples_out]
        self.reset()
        return out


class ArrayStream:
    """The stream of the Python API: numpy in, numpy out, in `Denoiser.denoise`'s layout and at any sample rate.

    `Denoiser.stream(channels, atten_limit_db, sample_rate=rate)`. `process` takes (samples,) (one channel) or
    (samples, channels) and returns float32 in the same layout: the samples that are final (maybe none). `flush`
    returns the rest, so that the outputs add up to the input's length, and starts a new stream. All of them
    concatenated equal `denoise` of the whole input to float rounding, however it was chunked: both are
    rate.RateStream (the path of files and live audio too). Non-finite samples are taken as silence; bad shapes,
    dtypes and rates raise SpeechDAEError, as in `denoise`.
    """

    def __init__(self, denoiser, sample_rate: int, channels: int = 1, atten_limit_db: float | None = None):
        from .audio import check_rate

        self.denoiser, self.sample_rate, self.channels = denoiser, check_rate(sample_rate, "stream"), channels
        self.atten_limit_db = atten_limit_db
        self._mono = channels == 1  # the layout flush() returns: that of the last chunk fed
        self.reset()

    @property
    def samples_in(self) -> int:
        return self._rate.samples_in

    @property
    def samples_out(self) -> int:
        return self._rate.samples_out

    def reset(self):
        """Start a new stream (the traced model steps are cached on the model and kept)."""
        from .rate import RateStream

        self._rate = RateStream(self.denoiser, self.sample_rate, self.channels, self.atten_limit_db)

    def process(self, chunk) -> np.ndarray:
        """Feed (n,) or (n, channels) samples (float, or integer PCM); returns the final ones in that layout."""
        x = np.asarray(chunk)
        if x.dtype.kind not in "fiu":
            raise SpeechDAEError(f"stream: samples must be numbers, got dtype {x.dtype}")
        if not (x.ndim == 1 and self.channels == 1 or x.ndim == 2 and x.shape[1] == self.channels):
            one = "(samples,) or " if self.channels == 1 else ""
            raise SpeechDAEError(f"stream: expected a chunk of shape {one}(samples, {self.channels}), got {x.shape}")
        self._mono = x.ndim == 1
        x = np.nan_to_num(as_float(x), nan=0.0, posinf=0.0, neginf=0.0).reshape(len(x), self.channels)
        return self._layout(self._rate.process(x))

    def flush(self) -> np.ndarray:
        """The rest of the output, in the layout of the last chunk fed; then a new stream starts."""
        out = self._layout(self._rate.flush())
        self.reset()
        return out

    def _layout(self, y: np.ndarray) -> np.ndarray:
        return y[:, 0] if self._mono else y
