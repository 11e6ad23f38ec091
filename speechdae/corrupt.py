"""Corruption for the denoising autoencoder: a fresh draw every step, batched, on the training device.

The clean batch is never modified; each function returns a new noisy tensor. Noise recordings are mixed
with torchaudio's `add_noise`, which scales the noise to the requested SNR over the whole segment.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchaudio.functional as AF


@dataclass
class CorruptionConfig:
    snr_db: tuple[float, float] = (-5.0, 20.0)  # SNR of the total noise, uniform in this range
    p_recorded: float = 0.9  # environmental noise recordings
    p_gaussian: float = 0.3  # white or coloured Gaussian noise
    p_babble: float = 0.15  # other utterances of the batch, summed
    p_mask: float = 0.5  # chance that a batch item gets masking noise on its encoder input
    mask_fraction: float = 0.1  # fraction of STFT bins zeroed when it does
    gain_db: tuple[float, float] = (-25.0, 5.0)  # random level of clean and noisy alike (level robustness)
    # New noises from the recordings (off by default, so older recipes still mean what they measured):
    p_noise_speed: float = 0.0  # chance a recording is played faster or slower (pitch and tempo change)
    noise_speed: tuple[float, float] = (0.75, 1.33)  # speed factor, log-uniform; one draw per batch
    p_noise_tilt: float = 0.0  # chance a recording's spectrum is tilted
    noise_tilt: tuple[float, float] = (-0.5, 0.5)  # power ~ f**-exponent; +-0.5 is +-9.5 dB at 8 kHz vs 100 Hz
    p_noise_mix: float = 0.0  # chance a recording is mixed with another one of the batch (at -10..0 dB)
    p_hum: float = 0.0  # chance an item's noise gets a machine hum (a drifting harmonic series) added
    hum_f0: tuple[float, float] = (40.0, 400.0)  # its fundamental in Hz, log-uniform
    hum_level_db: tuple[float, float] = (-10.0, 5.0)  # its power relative to the item's other noise
    # New voices and microphones out of the clean speech (off by default); the target is the varied speech:
    p_speech_speed: float = 0.0  # chance an utterance is played faster or slower (pitch and formants move)
    speech_speed: tuple[float, float] = (0.9, 1.1)  # speed factor, log-uniform; one draw per batch
    p_speech_tilt: float = 0.0  # chance an utterance's spectrum is tilted (another microphone or room)
    speech_tilt: tuple[float, float] = (-0.3, 0.3)  # as noise_tilt; +-0.3 is +-5.7 dB at 8 kHz vs 100 Hz


def mix_at_snr(clean: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """(B, L) clean + (B, L) noise scaled so that the mix has exactly `snr_db` (B,)."""
    return AF.add_noise(clean, noise, snr_db)


def tilt(x: torch.Tensor, exponent: torch.Tensor) -> torch.Tensor:
    """(B, L) signals with their power spectra multiplied by f**-exponent, one exponent (B,) per row."""
    spec = torch.fft.rfft(x, dim=-1)
    freqs = torch.arange(spec.shape[-1], device=x.device).clamp(min=1).float()
    return torch.fft.irfft(spec * freqs[None, :] ** (-exponent[:, None] / 2), n=x.shape[-1], dim=-1)


def coloured_noise(shape, exponent: torch.Tensor, generator=None, device=None) -> torch.Tensor:
    """Gaussian noise with power spectrum ~ f**-exponent per row (0 white, 1 pink, 2 brown, -1 blue)."""
    noise = tilt(torch.randn(shape, generator=generator, device=device), exponent)
    return noise / noise.std(dim=-1, keepdim=True).clamp(min=1e-8)


def change_speed(x: torch.Tensor, factor: float, loop: bool = True, base: int = 20) -> torch.Tensor:
    """(B, L) played `factor` times faster (pitch and tempo), L samples kept: looped, or else ended in silence.

    torchaudio's band-limited resampler takes one rate pair per call, so the factor is rounded to base/n.
    Noise loops (it has no start or end); speech must not: its looped start would be a cut in the target.
    """
    tail = x if loop else torch.zeros_like(x)
    y = AF.resample(torch.cat([x, tail], dim=-1), base, max(1, round(base / factor)))
    return y[..., : x.shape[-1]]


def hum(b: int, length: int, f0: torch.Tensor, sample_rate: int = 16000, generator=None, device=None) -> torch.Tensor:
    """(b, length) machine hum at unit power: the harmonics of f0 (b,) up to 4 kHz, each with its own level and phase.

    Motors, pumps, fans and transformers are the most common noise in the dev set (machinery) and are mostly
    tonal; a few dozen recordings cover few fundamentals. The fundamental drifts slowly (up to +-3 %) and the
    harmonic levels fall off at a random slope, so no two draws have the same spectrum.
    """
    t = torch.arange(length, device=device) / sample_rate
    rate = 0.1 + 0.9 * torch.rand(b, 1, generator=generator, device=device)  # drift cycles per second
    depth = 0.03 * torch.rand(b, 1, generator=generator, device=device)
    phase0 = 2 * math.pi * torch.rand(b, 1, generator=generator, device=device)
    freq = f0[:, None] * (1 + depth * torch.sin(2 * math.pi * rate * t + phase0))
    cycles = torch.cumsum(freq, dim=-1) / sample_rate  # (b, L) periods of f0 elapsed
    # One period of each hum as a wavetable (irfft of its harmonic series), read at the drifting phase with
    # linear interpolation: summing a hundred sines per sample would cost more than the training step.
    size = 1024
    k = torch.arange(size // 2 + 1, device=device, dtype=cycles.dtype)
    slope = 2 * torch.rand(b, 1, generator=generator, device=device)  # level ~ k**-slope, k**-0 to k**-2
    level = k.clamp(min=1) ** -slope * torch.rand(b, k.numel(), generator=generator, device=device)
    level = level * (k >= 1) * (k * f0[:, None] < 4000)  # no DC, nothing above 4 kHz
    angle = 2 * math.pi * torch.rand(b, k.numel(), generator=generator, device=device)
    table = torch.fft.irfft(torch.polar(level, angle), n=size, dim=-1)
    pos = torch.remainder(cycles, 1.0) * size
    i0 = pos.floor().long()
    frac = pos - i0
    x = torch.lerp(table.gather(1, i0 % size), table.gather(1, (i0 + 1) % size), frac)
    return unit_power(x)


def unit_power(x: torch.Tensor) -> torch.Tensor:
    return x / x.pow(2).mean(dim=-1, keepdim=True).sqrt().clamp(min=1e-8)


class Corruptor:
    """Draws noisy versions of a clean batch. `recorded` yields (B, L) noise recordings on demand."""

    def __init__(self, cfg: CorruptionConfig, n_bins: int, generator: torch.Generator | None = None):
        self.cfg = cfg
        self.n_bins = n_bins
        self.gen = generator

    def _chance(self, p: float, b: int, device) -> torch.Tensor:
        return (torch.rand(b, generator=self.gen, device=device) < p).float()[:, None]

    def _uniform(self, lo_hi, b: int, device) -> torch.Tensor:
        lo, hi = lo_hi
        return lo + (hi - lo) * torch.rand(b, generator=self.gen, device=device)

    def __call__(self, clean: torch.Tensor, recorded: torch.Tensor | None, n_frames: int):
        """Returns (noisy, clean, feature_mask or None). Gain is applied to both so the target stays clean."""
        cfg, (b, length), dev = self.cfg, clean.shape, clean.device
        clean = self._vary_speech(clean)
        gain = 10 ** (self._uniform(cfg.gain_db, b, dev) / 20)[:, None]
        clean = clean * gain
        use_rec = self._chance(cfg.p_recorded, b, dev) if recorded is not None else torch.zeros(b, 1, device=dev)
        use_gauss = self._chance(cfg.p_gaussian, b, dev)
        use_babble = self._chance(cfg.p_babble, b, dev) if b > 1 else torch.zeros(b, 1, device=dev)
        # Every item gets some noise: items that drew nothing get Gaussian noise.
        use_gauss = torch.maximum(use_gauss, (use_rec + use_babble == 0).float())
        noise = torch.zeros_like(clean)
        if recorded is not None:
            noise = noise + use_rec * unit_power(self._vary(recorded))
        exponent = self._uniform((-1.0, 2.0), b, dev)
        noise = noise + use_gauss * coloured_noise((b, length), exponent, self.gen, dev)
        if b > 1:
            shifts = torch.randint(1, b, (3,), generator=self.gen, device=dev).tolist()
            babble = sum(torch.roll(clean, s, dims=0) for s in shifts)
            noise = noise + use_babble * unit_power(babble)
        if cfg.p_hum > 0:
            use_hum = self._chance(cfg.p_hum, b, dev)
            if use_hum.any():
                rows = use_hum[:, 0] > 0
                f0 = 2 ** self._uniform([math.log2(f) for f in cfg.hum_f0], int(rows.sum()), dev)
                tones = torch.zeros_like(noise)
                tones[rows] = hum(int(rows.sum()), length, f0, generator=self.gen, device=dev)
                level = 10 ** (self._uniform(cfg.hum_level_db, b, dev)[:, None] / 20)
                # Relative to the other noise; alone (silent other noise) it is just the hum at the asked SNR.
                base = noise.pow(2).mean(dim=-1, keepdim=True).sqrt()
                noise = noise + level * torch.where(base > 1e-6, base, torch.ones_like(base)) * tones  # 0 where no hum
        # A digitally silent noise excerpt cannot be scaled to an SNR (add_noise would divide by zero).
        silent = noise.pow(2).mean(dim=-1, keepdim=True) < 1e-12
        white = torch.randn(noise.shape, generator=self.gen, device=dev)
        noise = torch.where(silent, white, noise)
        noisy = mix_at_snr(clean, noise, self._uniform(cfg.snr_db, b, dev))
        feature_mask = None
        if cfg.p_mask > 0 and cfg.mask_fraction > 0:
            keep = torch.rand(b, self.n_bins, n_frames, generator=self.gen, device=dev) >= cfg.mask_fraction
            applies = self._chance(cfg.p_mask, b, dev)[:, :, None] > 0
            feature_mask = torch.where(applies, keep, True).float()
        return noisy, clean, feature_mask

    def _vary_speech(self, clean: torch.Tensor) -> torch.Tensor:
        """Other speakers and microphones out of a few hundred: the speech faster or slower, or recoloured.

        The tilt keeps the level (the random gain comes after); babble made from the batch carries the change too.
        The tilt pivots at the lowest FFT bin, like the noise's, so a positive one lifts the speech's own rumble
        below 100 Hz most.
        """
        cfg, b, dev = self.cfg, clean.shape[0], clean.device
        if cfg.p_speech_speed > 0:
            factor = 2 ** float(self._uniform([math.log2(s) for s in cfg.speech_speed], 1, dev))
            # Steps of 1/100, not the noise's 1/20: within 0.9-1.1 that would round a quarter of the draws to 1.0.
            faster = change_speed(clean, factor, loop=False, base=100)
            clean = torch.where(self._chance(cfg.p_speech_speed, b, dev) > 0, faster, clean)
        if cfg.p_speech_tilt > 0:
            exponent = self._uniform(cfg.speech_tilt, b, dev) * self._chance(cfg.p_speech_tilt, b, dev)[:, 0]
            rms = clean.pow(2).mean(dim=-1, keepdim=True).sqrt()
            clean = unit_power(tilt(clean, exponent)) * rms
        return clean

    def _vary(self, recorded: torch.Tensor) -> torch.Tensor:
        """New noises out of a few recordings: an engine at another speed, a room with other colouring."""
        cfg, b, dev = self.cfg, recorded.shape[0], recorded.device
        if cfg.p_noise_speed > 0:
            factor = 2 ** float(self._uniform([math.log2(s) for s in cfg.noise_speed], 1, dev))
            faster = change_speed(recorded, factor)
            recorded = torch.where(self._chance(cfg.p_noise_speed, b, dev) > 0, faster, recorded)
        if cfg.p_noise_tilt > 0:
            exponent = self._uniform(cfg.noise_tilt, b, dev) * self._chance(cfg.p_noise_tilt, b, dev)[:, 0]
            recorded = tilt(recorded, exponent)
        if cfg.p_noise_mix > 0 and b > 1:
            other = 10 ** (self._uniform((-10.0, 0.0), b, dev)[:, None] / 20) * unit_power(recorded.roll(1, dims=0))
            recorded = unit_power(recorded) + self._chance(cfg.p_noise_mix, b, dev) * other
        return recorded
