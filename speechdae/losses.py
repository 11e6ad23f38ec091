"""The training loss: a list of weighted terms, each scoring the rebuilt speech against the clean speech.

The spectral term is computed in real arithmetic. The enhanced spectrum is `mask * noisy` with a real mask, so
its magnitude is `mask * |noisy|` and its phase is the noisy phase: the compressed complex error
|em e^{i phi_noisy} - cm e^{i phi_clean}|^2 is em^2 + cm^2 - 2 em cm cos(phi_noisy - phi_clean), and the cosine is
fixed for the step. Computing that once, without autograd, removes the complex `abs`, division and their
backward from every step (measured: `benchmarks/train_throughput.py`). A complex gain g = |g| e^{i theta} (the
deep filter's kept bins) turns the phase by theta: the cosine becomes cos(delta + theta) = cos(delta) cos(theta)
- sin(delta) sin(theta), with the fixed sine beside the fixed cosine. Waveform terms (SI-SDR, STOI, PESQ) need
the inverse STFT and are only built when their weight is non-zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .denoiser import Denoiser
from .errors import SpeechDAEError
from .metrics import si_sdr

FLOOR = 1e-8  # keeps x ** 0.3 differentiable at silent bins (the same floor as STFT.compress)


@dataclass
class Target:
    """What the terms need of one batch, computed once and without gradients."""

    noisy_spec: torch.Tensor  # complex (B, F, T)
    noisy_mag: torch.Tensor  # |noisy_spec|
    clean_c: torch.Tensor  # (|clean_spec| + FLOOR) ** c
    cos_delta: torch.Tensor  # cos(phase(noisy) - phase(clean)), 1 where either is silent
    sin_delta: torch.Tensor  # sin of the same, 0 where either is silent
    clean_wave: torch.Tensor  # (B, N)

    @classmethod
    def make(cls, noisy_spec, clean_spec, clean_wave, c: float) -> "Target":
        with torch.no_grad():
            noisy_mag, clean_mag = noisy_spec.abs(), clean_spec.abs()
            cross = noisy_spec * clean_spec.conj()
            both = noisy_mag * clean_mag
            cos_delta = torch.where(both > 0, cross.real / both.clamp(min=1e-20), torch.ones_like(both))
            sin_delta = torch.where(both > 0, cross.imag / both.clamp(min=1e-20), torch.zeros_like(both))
            return cls(noisy_spec, noisy_mag, (clean_mag + FLOOR) ** c, cos_delta, sin_delta, clean_wave)


def spectral_loss(mask: torch.Tensor, t: Target, c: float, complex_weight: float, speech_weight: float):
    """Compressed-magnitude + compressed-complex MSE, with under-estimates (lost speech) weighted up."""
    real, imag = Denoiser.complex_gain(mask, t.noisy_mag.shape[1])
    if imag is None:
        gain, cos = real, t.cos_delta
    else:
        gain = (real.pow(2) + imag.pow(2) + 1e-12).sqrt()
        cos = (t.cos_delta * real - t.sin_delta * imag) / gain
    em = (gain * t.noisy_mag + FLOOR) ** c
    err = em - t.clean_c
    mag = (torch.where(err < 0, speech_weight, 1.0) * err.pow(2)).mean()
    cplx = (em.pow(2) + t.clean_c.pow(2) - 2 * em * t.clean_c * cos).mean()
    return (1 - complex_weight) * mag + complex_weight * cplx


class Loss:
    """The weighted sum of the configured terms; `parts` reports each one for the log."""

    def __init__(self, cfg, stft, stoi_loss=None, pesq_loss=None):
        self.cfg, self.stft, self.stoi_loss, self.pesq_loss = cfg, stft, stoi_loss, pesq_loss

    def __call__(self, mask: torch.Tensor, t: Target, min_gain: float = 0.0):
        cfg = self.cfg
        loss = spectral_loss(mask, t, cfg.stft.compress, cfg.complex_weight, cfg.speech_weight)
        parts = {"spectral": loss.item()}
        wave = None
        if cfg.sisdr_weight or cfg.stoi_weight or cfg.pesq_weight:
            wave = self.stft.inverse(Denoiser.apply_mask(t.noisy_spec, mask), t.clean_wave.shape[-1])
        if cfg.sisdr_weight:
            term = -si_sdr(wave, t.clean_wave).mean() / 100
            loss = loss + cfg.sisdr_weight * term
            parts["sisdr"] = term.item()
        if cfg.stoi_weight:
            term = self.stoi_loss(wave, t.clean_wave).mean()
            loss = loss + cfg.stoi_weight * term
            parts["stoi"] = term.item()
        if cfg.pesq_weight:
            d = self.pesq_loss(t.clean_wave, wave).float()
            # A segment that is silent in both (a zero peak) scores NaN; it carries no PESQ signal, so it is dropped.
            term = torch.where(torch.isfinite(d), d, torch.zeros_like(d)).mean()
            loss = loss + cfg.pesq_weight * term
            parts["pesq"] = term.item()
        return loss, parts


def pesq_loss(sample_rate: int) -> torch.nn.Module:
    """torch-pesq's PESQ distance (MIT, github.com/audiolabs/torch-pesq): P.862's disturbance computation in torch,
    without its time alignment (our output is already aligned), about 4.5 minus PESQ before the MOS mapping.
    Written by others and checked by them against the ITU reference; measured cost: well under a quarter of a
    step at batch 8 x 2 s."""
    try:
        from torch_pesq import PesqLoss
    except ImportError:
        raise SpeechDAEError("pesq_weight needs torch-pesq: pip install -e '.[pesq-loss]'") from None
    return PesqLoss(1.0, sample_rate=sample_rate)


def contractive_penalty(code: torch.Tensor, features: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """||J||_F^2 of the encoder, estimated by one random projection: E_v ||J^T v||^2 = ||J||_F^2."""
    v = torch.randn(code.shape, generator=gen, device=code.device)
    (jtv,) = torch.autograd.grad(code, features, grad_outputs=v, create_graph=True)
    return jtv.pow(2).sum() / code.shape[0] / code.shape[-1]
