"""The one signal path: audio -> STFT -> denoising autoencoder -> inverse STFT -> audio.

The steps are this class's: `stft` (analysis/synthesis), `features` (|X|**0.3), `model` (the mask) and
`apply_mask`. Offline use and evaluation call `enhance_spec`, which chains them; training chains the same
steps itself (it needs the code and the features for its penalties, and the DDP-wrapped model); streaming
chains them in stream.HopStep, around a traced copy of `model` that carries its cache as tensors, and traces
the whole chain for one-hop calls.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .errors import SpeechDAEError
from .model import ConvCache, DenoisingAutoencoder, ModelConfig
from .spectral import STFT, STFTConfig


def gain_floor(atten_limit_db: float | None) -> float:
    """Attenuation limit in dB (e.g. 20) -> the smallest gain the mask may apply (0.1). None: no limit."""
    if atten_limit_db is None:
        return 0.0
    if atten_limit_db <= 0:
        raise SpeechDAEError(f"attenuation limit must be positive dB, got {atten_limit_db}")
    return float(10 ** (-atten_limit_db / 20))


class Denoiser(nn.Module):
    def __init__(self, stft: STFTConfig = STFTConfig(), model: ModelConfig | None = None):
        super().__init__()
        model = model or ModelConfig(n_bins=stft.n_bins)
        if model.n_bins != stft.n_bins:
            raise ValueError(f"model has {model.n_bins} bins but the STFT gives {stft.n_bins}")
        if model.df_order and model.hop != stft.hop:
            raise ValueError(f"the deep filter is set for a hop of {model.hop}, the STFT's is {stft.hop}")
        self.stft = STFT(stft)
        self.model = DenoisingAutoencoder(model)

    @property
    def sample_rate(self) -> int:
        return self.stft.cfg.sample_rate

    def enhance_spec(self, spec: torch.Tensor, cache: ConvCache | None = None,
                     feature_mask: torch.Tensor | None = None, min_gain: float = 0.0):
        """Noisy complex spectrum (B, F, T) -> (enhanced spectrum, mask, code). The noisy phase is kept.

        `feature_mask` zeroes encoder inputs (the classic denoising-autoencoder masking noise, used in
        training only); the mask still multiplies the full noisy magnitude.
        """
        features = self.features(spec)
        if feature_mask is not None:
            features = features * feature_mask
        mask, code = self.model(features, cache, return_code=True)
        return self.apply_mask(spec, mask, min_gain), mask, code

    def features(self, spec: torch.Tensor, magnitude: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n_bins, T) compressed magnitudes; with the deep filter, then the raw (re, im) of the kept bins.
        `magnitude` is |spec| when the caller has it already (training)."""
        features = self.stft.compress(spec.abs() if magnitude is None else magnitude)
        if self.model.cfg.df_order:
            low = spec[:, : self.model.cfg.low_bins]
            features = torch.cat([features, low.real, low.imag], dim=1)
        return features

    @staticmethod
    def complex_gain(mask: torch.Tensor, n_bins: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The model's (B, n_outputs, T) output -> (real part (B, n_bins, T), imaginary part or None): the rows
        past `n_bins` are the imaginary parts of the lowest bins' gains (the deep filter), zero above them."""
        if mask.shape[1] == n_bins:
            return mask, None
        imag = mask[:, n_bins:]
        zeros = imag.new_zeros(imag.shape[0], n_bins - imag.shape[1], imag.shape[2])
        return mask[:, :n_bins], torch.cat([imag, zeros], dim=1)

    @staticmethod
    def apply_mask(spec: torch.Tensor, mask: torch.Tensor, min_gain: float = 0.0) -> torch.Tensor:
        real, imag = Denoiser.complex_gain(mask, spec.shape[1])
        if imag is None:
            if min_gain > 0:  # attenuation limit: never remove more than 1/min_gain of anything
                real = real.clamp(min=min_gain)
            return spec * real
        gain = torch.complex(real, imag)
        if min_gain > 0:  # the same limit on the complex gain's magnitude, keeping its phase (none: real)
            size = gain.abs()
            phase = torch.where(size > 0, gain / size.clamp(min=1e-30), torch.ones_like(gain))
            gain = torch.where(size < min_gain, min_gain * phase, gain)
        return spec * gain

    def forward(self, noisy: torch.Tensor, min_gain: float = 0.0) -> torch.Tensor:
        """Offline: (B, N) waveforms at the model rate -> (B, N) denoised."""
        enhanced = self.enhance_spec(self.stft(noisy), min_gain=min_gain)[0]
        return self.stft.inverse(enhanced, noisy.shape[-1])

    def stream(self, channels: int = 1, atten_limit_db: float | None = None, sample_rate: int | None = None):
        """A stream: feed any number of samples at a time (`process`), then `flush` for the rest.

        With `sample_rate` (the Python API, as `denoise`): a stream.ArrayStream, numpy (samples,) or
        (samples, channels) at that rate in, float32 numpy of the same layout out; all outputs together equal
        `denoise` of the whole input. Without it: the model-rate stream.StreamingDenoiser, (samples,) or
        (channels, samples) in and torch (channels, m) out, which rate.RateStream and the benchmarks drive.
        """
        from .stream import ArrayStream, StreamingDenoiser

        if sample_rate is not None:
            return ArrayStream(self, sample_rate, channels, atten_limit_db)
        return StreamingDenoiser(self, channels, min_gain=gain_floor(atten_limit_db))

    @torch.no_grad()
    def denoise(self, waveform, sample_rate: int, atten_limit_db: float | None = None) -> np.ndarray:
        """Denoise an array shaped (samples,) or (samples, channels), as soundfile reads it.

        Any sample rate, through the same rate.RateStream as files and live audio (so the same samples as
        `speechdae denoise`); above the model's rate the band it does not see is kept, steered by the model.
        Returns float32 of the same shape. `stream(channels, sample_rate=rate)` gives the same in chunks.
        """
        from .audio import check_samples
        from .rate import RateStream

        x = check_samples(np.asarray(waveform), sample_rate, "waveform")
        mono = x.ndim == 1
        x2 = x[:, None] if mono else x
        out = RateStream(self, sample_rate, x2.shape[1], atten_limit_db).run(x2)
        return out[:, 0] if mono else out

    def n_params(self) -> int:
        return self.model.n_params()


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad (samples, channels) to exactly n samples (resamplers round lengths; rate.RateStream)."""
    if x.shape[0] >= n:
        return x[:n]
    return np.concatenate([x, np.zeros((n - x.shape[0], x.shape[1]), x.dtype)])
