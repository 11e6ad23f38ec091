"""The STFT front end that every path (training, files, streaming, evaluation) shares.

Analysis is `torch.stft`; synthesis is `irfft` + window + overlap-add with `torch.nn.functional.fold`.
`torch.istft` is not used because the streaming path has to carry the overlap-add tail between calls, and
`istft(center=False)` rejects a window whose envelope is zero at the first sample (NOLA check).

Frame convention (the same offline and streaming): the signal is preceded by `n_fft - hop` zeros, so every
real sample is covered by the same number of frames and reconstruction is exact at both ends. Frame m
covers padded samples [m*hop, m*hop + n_fft); once frame m is synthesised, padded samples below (m+1)*hop are
final. That is why the streaming latency is `n_fft - hop` samples plus at most one hop of buffering.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class STFTConfig:
    sample_rate: int = 16000
    n_fft: int = 320  # 20 ms at 16 kHz: the whole algorithmic latency of the causal model
    hop: int = 160  # 10 ms
    compress: float = 0.3  # magnitude power-law compression for model input and loss

    def __post_init__(self):
        if self.n_fft % self.hop or self.n_fft < 2 * self.hop:
            raise ValueError(f"n_fft ({self.n_fft}) must be a multiple of hop ({self.hop}) and at least twice it")

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def pad_left(self) -> int:
        return self.n_fft - self.hop

    @property
    def latency_samples(self) -> int:
        """Worst-case delay from an input sample to its denoised output in streaming: one window."""
        return self.n_fft


class STFT(torch.nn.Module):
    """sqrt-Hann analysis and synthesis windows; their product sums to a constant at any hop dividing n_fft."""

    def __init__(self, cfg: STFTConfig):
        super().__init__()
        self.cfg = cfg
        window = torch.hann_window(cfg.n_fft, periodic=True, dtype=torch.float64).sqrt()
        # Scale the synthesis window so that overlapping analysis*synthesis windows sum to exactly one.
        overlap_gain = (window**2).sum() / cfg.hop
        self.synthesis_scale = float(1 / overlap_gain)  # synthesis window = window * synthesis_scale
        self.register_buffer("window", window.float(), persistent=False)
        self.register_buffer("synthesis_window", (window / overlap_gain).float(), persistent=False)

    def frames_for(self, n_samples: int) -> int:
        """Number of frames needed so that all `n_samples` real samples are final."""
        return max(1, math.ceil((n_samples + self.cfg.pad_left) / self.cfg.hop))

    def analyze(self, padded: torch.Tensor) -> torch.Tensor:
        """(B, n_fft + (T-1)*hop) padded samples -> complex spectrum (B, n_bins, T)."""
        return torch.stft(padded, self.cfg.n_fft, self.cfg.hop, window=self.window, center=False,
                          return_complex=True)

    def synthesize(self, spec: torch.Tensor, tail: torch.Tensor | None = None):
        """Complex (B, n_bins, T) -> (T*hop final samples, new overlap tail of n_fft - hop samples)."""
        cfg = self.cfg
        frames = torch.fft.irfft(spec, n=cfg.n_fft, dim=1) * self.synthesis_window[:, None]
        n_frames = frames.shape[-1]
        length = (n_frames - 1) * cfg.hop + cfg.n_fft
        out = F.fold(frames, output_size=(1, length), kernel_size=(1, cfg.n_fft), stride=(1, cfg.hop))
        out = out.reshape(frames.shape[0], length)
        if tail is not None:
            out[:, : cfg.pad_left] += tail  # out is fold's fresh tensor: adding in place saves a copy per hop
        ready = n_frames * cfg.hop
        return out[:, :ready], out[:, ready:]

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Offline padding of (B, N) so that frames_for(N) frames cover it."""
        n_frames = self.frames_for(x.shape[-1])
        right = (n_frames - 1) * self.cfg.hop + self.cfg.n_fft - self.cfg.pad_left - x.shape[-1]
        return F.pad(x, (self.cfg.pad_left, right))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Offline analysis of a whole (B, N) signal."""
        return self.analyze(self.pad(x))

    def inverse(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Offline synthesis back to (B, length), aligned with the input of `forward`."""
        out, _ = self.synthesize(spec)
        return out[:, self.cfg.pad_left : self.cfg.pad_left + length]

    def compress(self, mag: torch.Tensor) -> torch.Tensor:
        # The small floor keeps the gradient of x**0.3 finite at silent bins.
        return (mag + 1e-8) ** self.cfg.compress
