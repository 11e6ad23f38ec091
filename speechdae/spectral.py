"""The STFT front end that every path (training, files, streaming, evaluation) shares.

Analysis is `torch.stft`; synthesis is `irfft` + window + overlap-add with `torch.nn.functional.fold`.
`torch.istft` is not used because the streaming path has to carry the overlap-add tail between calls, and
`istft(center=False)` rejects a window whose envelope is zero at the first sample (NOLA check).

Windows. With `synthesis` unset the analysis and synthesis windows are one sqrt-Hann of `n_fft` samples. With
`synthesis` shorter than `n_fft` they are asymmetric (Mauler and Martin 2007; Wang et al. 2022): a long analysis
window (e.g. 512 samples: 257 bins 31 Hz apart, fine enough to resolve a voice's harmonics) and a synthesis
window that is zero except over the frame's last `synthesis` samples. Their product over those samples is a Hann
window of `synthesis` samples, which sums to a constant at the hop, so reconstruction stays perfect, while the
latency is set by the synthesis window alone (320 samples: 20 ms).

Frame convention (the same offline and streaming): the signal is preceded by `n_fft - hop` zeros, so every
real sample is covered by the same number of frames and reconstruction is exact at both ends. Frame m
covers padded samples [m*hop, m*hop + n_fft) and contributes to the output only over its last `synthesis`
samples; once frame m is synthesised, padded samples below (m+1)*hop + n_fft - synthesis are final. That is why
the streaming latency is `synthesis - hop` samples plus at most one hop of buffering: `synthesis` in all.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

COMPRESS_FLOOR = 1e-8  # added to magnitudes before compression: keeps the gradient of x**0.3 finite at silence


@dataclass(frozen=True)
class STFTConfig:
    sample_rate: int = 16000
    n_fft: int = 320  # 20 ms at 16 kHz: the whole algorithmic latency of the causal model
    hop: int = 160  # 10 ms
    compress: float = 0.3  # magnitude power-law compression for model input and loss
    synthesis: int = 0  # synthesis window length (the latency); 0: n_fft, the symmetric window of v1 to v10

    def __post_init__(self):
        m = self.synthesis_len
        if m % self.hop or m < 2 * self.hop or m > self.n_fft:
            raise ValueError(f"the synthesis window ({m}) must be a multiple of hop ({self.hop}), at least twice it "
                             f"and at most n_fft ({self.n_fft})")
        if self.n_fft % 2:
            raise ValueError(f"n_fft must be even, got {self.n_fft}")

    @property
    def synthesis_len(self) -> int:
        return self.synthesis or self.n_fft

    @property
    def synthesis_pad(self) -> int:
        """Output samples before the first real one, counted from the synthesis window's start in frame 0."""
        return self.synthesis_len - self.hop

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def pad_left(self) -> int:
        return self.n_fft - self.hop

    @property
    def latency_samples(self) -> int:
        """Worst-case delay from an input sample to its denoised output in streaming: one synthesis window."""
        return self.synthesis_len


def stft_windows(cfg: STFTConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(analysis, synthesis) windows of n_fft samples, float64, whose overlapped products sum to exactly one."""
    n, m, hop = cfg.n_fft, cfg.synthesis_len, cfg.hop
    hann = lambda size: torch.hann_window(size, periodic=True, dtype=torch.float64)  # noqa: E731
    if m == n:
        analysis = hann(n).sqrt()
        product = hann(n)
    else:
        d = m // 2  # the falling half of both windows: the last d samples of the frame
        analysis = torch.cat([hann(2 * (n - d))[: n - d].sqrt(), hann(2 * d)[d:].sqrt()])
        product = torch.cat([torch.zeros(n - m, dtype=torch.float64), hann(m)])
    product = product * hop / product.sum()  # overlapped at the hop, the products now sum to one
    synthesis = torch.where(analysis > 0, product / analysis.clamp(min=1e-30), torch.zeros_like(analysis))
    return analysis, synthesis


class STFT(torch.nn.Module):
    """Analysis by torch.stft, synthesis by irfft, window and overlap-add (see the module docstring)."""

    def __init__(self, cfg: STFTConfig):
        super().__init__()
        self.cfg = cfg
        analysis, synthesis = stft_windows(cfg)
        self.register_buffer("window", analysis.float(), persistent=False)
        # Only the last `synthesis_len` samples of a synthesised frame are non-zero: the overlap-add skips the rest.
        self.register_buffer("synthesis_window", synthesis[cfg.n_fft - cfg.synthesis_len :].float(), persistent=False)

    @property
    def synthesis_scale(self) -> float | None:
        """Symmetric windows only: synthesis window = analysis window * this (None for asymmetric ones)."""
        if self.cfg.synthesis_len != self.cfg.n_fft:
            return None
        return float(self.synthesis_window[1] / self.window[1])

    def frames_for(self, n_samples: int) -> int:
        """Number of frames needed so that all `n_samples` real samples are final."""
        return max(1, math.ceil((n_samples + self.cfg.synthesis_pad) / self.cfg.hop))

    def analyze(self, padded: torch.Tensor) -> torch.Tensor:
        """(B, n_fft + (T-1)*hop) padded samples -> complex spectrum (B, n_bins, T)."""
        return torch.stft(padded, self.cfg.n_fft, self.cfg.hop, window=self.window, center=False,
                          return_complex=True)

    def synthesize(self, spec: torch.Tensor, tail: torch.Tensor | None = None):
        """Complex (B, n_bins, T) -> (T*hop final samples, new overlap tail of synthesis - hop samples).

        Sample 0 of the result is padded sample n_fft - synthesis of frame 0 (where its synthesis window starts).
        """
        cfg, m = self.cfg, self.cfg.synthesis_len
        frames = torch.fft.irfft(spec, n=cfg.n_fft, dim=1)[:, cfg.n_fft - m :] * self.synthesis_window[:, None]
        n_frames = frames.shape[-1]
        length = (n_frames - 1) * cfg.hop + m
        out = F.fold(frames, output_size=(1, length), kernel_size=(1, m), stride=(1, cfg.hop))
        out = out.reshape(frames.shape[0], length)
        if tail is not None:
            out[:, : cfg.synthesis_pad] += tail  # out is fold's fresh tensor: adding in place saves a copy per hop
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
        return out[:, self.cfg.synthesis_pad : self.cfg.synthesis_pad + length]

    def compress(self, mag: torch.Tensor) -> torch.Tensor:
        # The small floor keeps the gradient of x**0.3 finite at silent bins.
        return (mag + COMPRESS_FLOOR) ** self.cfg.compress

    def describe(self, with_windows: bool = False) -> dict:
        """The DSP contract, from this STFT's own settings: what export metadata and `speechdae info` print.

        Frames: xp = pad_left zeros + x + zeros; frame m = rfft(analysis * xp[m*hop : m*hop + n_fft]).
        Synthesis: y_m = irfft(Y[:, m], n_fft) * synthesis (zero before n_fft - synthesis_len), overlap-added
        at m*hop; denoised sample i is ola[pad_left + i]. `with_windows` adds both windows as lists of numbers.
        """
        cfg = self.cfg
        symmetric = cfg.synthesis_len == cfg.n_fft
        d = {
            "sample_rate": cfg.sample_rate,
            "n_fft": cfg.n_fft,
            "hop": cfg.hop,
            "synthesis_len": cfg.synthesis_len,
            "pad_left": cfg.pad_left,
            "n_bins": cfg.n_bins,
            "window": "sqrt_hann_periodic" if symmetric else "asymmetric_sqrt_hann",
            "compress": cfg.compress,
            "compress_floor": COMPRESS_FLOOR,
            "feature": f"(abs(stft) + {COMPRESS_FLOOR:g}) ** {cfg.compress}",
            "latency_samples": cfg.latency_samples,
        }
        n, m, half = cfg.n_fft, cfg.synthesis_len, cfg.synthesis_len // 2
        if symmetric:
            d["window_formula"] = (f"analysis = sqrt(hann_periodic({n})); "
                                   f"synthesis = analysis * {self.synthesis_scale:.10g}")
        else:
            d["window_formula"] = (f"analysis = concat(sqrt(hann_periodic({2 * (n - half)}))[:{n - half}], "
                                   f"sqrt(hann_periodic({m}))[{half}:]); synthesis = 0 on [0, {n - m}), then "
                                   f"hann_periodic({m}) * {cfg.hop} / sum(hann_periodic({m})) / analysis")
        if with_windows:
            full = torch.zeros(cfg.n_fft, dtype=torch.float64)
            full[cfg.n_fft - cfg.synthesis_len :] = self.synthesis_window.double()
            d["analysis_window"] = self.window.double().tolist()
            d["synthesis_window"] = full.tolist()
        return d
