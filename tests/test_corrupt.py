"""Training corruption (speechdae/corrupt.py): mixing at an SNR, the noise and speech variations, masking noise."""
import math

import pytest
import torch

from speechdae.corrupt import CorruptionConfig, Corruptor, mix_at_snr

from conftest import clean_batch


def snr_db(clean, noisy):
    noise = noisy - clean
    return 10 * torch.log10(clean.pow(2).sum(-1) / noise.pow(2).sum(-1))


def test_silent_noise_never_makes_the_mix_nan():
    clean = clean_batch()
    corrupt = Corruptor(CorruptionConfig(p_gaussian=0.0, p_babble=0.0, p_recorded=1.0), 161,
                        torch.Generator().manual_seed(0))
    noisy, _, _ = corrupt(clean, torch.zeros_like(clean), 101)
    assert torch.isfinite(noisy).all() and not torch.equal(noisy, clean)


def test_mix_hits_the_asked_snr():
    clean = clean_batch()
    noise = torch.randn_like(clean)
    snrs = torch.tensor([-5.0, 0.0, 7.5, 20.0])
    assert torch.allclose(snr_db(clean, mix_at_snr(clean, noise, snrs)), snrs, atol=0.1)


def test_corruptor_hits_the_asked_snr_and_never_touches_the_clean_target():
    clean = clean_batch()
    original = clean.clone()
    cfg = CorruptionConfig(snr_db=(3.0, 3.0), gain_db=(0.0, 0.0), p_babble=0.5, p_gaussian=0.5)
    corrupt = Corruptor(cfg, 161, torch.Generator().manual_seed(0))
    noisy, target, _ = corrupt(clean, torch.randn_like(clean), 101)
    assert torch.equal(clean, original) and torch.equal(target, original)
    assert torch.allclose(snr_db(target, noisy), torch.full((4,), 3.0), atol=0.1)


def only_recorded_noise(**kw) -> CorruptionConfig:
    return CorruptionConfig(p_gaussian=0.0, p_babble=0.0, p_recorded=1.0, p_mask=0.0, gain_db=(0.0, 0.0), **kw)


def peak_hz(x: torch.Tensor, rate: int = 16000) -> float:
    return torch.fft.rfft(x).abs().argmax().item() * rate / x.shape[-1]


def test_speed_variation_plays_the_recording_faster_at_the_asked_snr():
    clean = clean_batch()
    tone = torch.sin(2 * torch.pi * 1000 * torch.arange(clean.shape[1]) / 16000).repeat(4, 1)
    cfg = only_recorded_noise(snr_db=(0.0, 0.0), p_noise_speed=1.0, noise_speed=(1.25, 1.25))
    noisy, target, _ = Corruptor(cfg, 161, torch.Generator().manual_seed(0))(clean, tone, 101)
    assert [peak_hz(n) for n in noisy - target] == [1250.0] * 4
    assert torch.allclose(snr_db(target, noisy), torch.zeros(4), atol=0.1)
    plain, target, _ = Corruptor(only_recorded_noise(snr_db=(0.0, 0.0)), 161, torch.Generator())(clean, tone, 101)
    assert [peak_hz(n) for n in plain - target] == [1000.0] * 4  # off by default


def test_tilt_variation_colours_the_recording():
    clean = clean_batch()
    white = torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    cfg = only_recorded_noise(p_noise_tilt=1.0, noise_tilt=(0.5, 0.5))
    noisy, target, _ = Corruptor(cfg, 161, torch.Generator().manual_seed(0))(clean, white, 101)
    power = torch.fft.rfft(noisy - target).abs().pow(2).mean(0)
    bin_hz = 16000 / clean.shape[1]
    low, high = power[int(100 / bin_hz): int(200 / bin_hz)].mean(), power[int(6000 / bin_hz): int(7000 / bin_hz)].mean()
    assert 10 * torch.log10(low / high) == pytest.approx(10 * math.log10((6500 / 150) ** 0.5), abs=1.5)


def test_mix_variation_adds_another_recording_of_the_batch():
    clean = clean_batch()
    t = torch.arange(clean.shape[1]) / 16000
    tones = torch.stack([torch.sin(2 * torch.pi * f * t) for f in (500, 1000, 1500, 2000)])
    cfg = only_recorded_noise(p_noise_mix=1.0)
    noisy, target, _ = Corruptor(cfg, 161, torch.Generator().manual_seed(0))(clean, tones, 101)
    spectra = torch.fft.rfft(noisy - target).abs()
    bin_hz = 16000 / clean.shape[1]
    for i, f in enumerate((500, 1000, 1500, 2000)):
        present = {g for g in (500, 1000, 1500, 2000) if spectra[i, round(g / bin_hz)] > 0.05 * spectra[i].max()}
        assert present == {f, (500, 1000, 1500, 2000)[i - 1]}  # its own recording and its neighbour's


def test_hum_adds_a_harmonic_series_below_4_khz_at_the_asked_snr():
    clean = clean_batch()
    cfg = only_recorded_noise(snr_db=(0.0, 0.0), p_hum=1.0, hum_f0=(100.0, 100.0), hum_level_db=(20.0, 20.0))
    silence = torch.zeros_like(clean)  # the hum alone: the "other noise" is digitally silent
    noisy, target, _ = Corruptor(cfg, 161, torch.Generator().manual_seed(0))(clean, silence, 101)
    assert torch.allclose(snr_db(target, noisy), torch.zeros(4), atol=0.1)
    power = torch.fft.rfft(noisy - target).abs().pow(2)
    bin_hz = 16000 / clean.shape[1]
    near = lambda f: power[:, round(f * 0.97 / bin_hz): round(f * 1.03 / bin_hz) + 1].sum(-1)
    harmonics = sum(near(100 * k) for k in range(1, 40))
    assert (harmonics / power.sum(-1) > 0.95).all()  # drifting by at most 3 %, it stays on the harmonics
    assert (power[:, round(4100 / bin_hz):].sum(-1) / power.sum(-1) < 1e-3).all()
    other = clean.roll(1, 0)
    off, _, _ = Corruptor(only_recorded_noise(snr_db=(0.0, 0.0)), 161, torch.Generator())(clean, other, 101)
    assert (torch.cosine_similarity(off - target, other) > 0.9999).all()  # off by default: the recording alone


def test_speech_variation_changes_the_target_and_the_mix_alike():
    n = 16000
    tone = torch.sin(2 * torch.pi * 1000 * torch.arange(n) / 16000).repeat(4, 1)
    cfg = only_recorded_noise(snr_db=(5.0, 5.0), p_speech_speed=1.0, speech_speed=(1.25, 1.25))
    noisy, target, _ = Corruptor(cfg, 161, torch.Generator().manual_seed(0))(tone, torch.randn_like(tone), 101)
    assert [peak_hz(t) for t in target] == [1250.0] * 4  # a higher voice, and it is what the loss compares with
    assert torch.allclose(snr_db(target, noisy), torch.full((4,), 5.0), atol=0.1)  # the mix is built from it
    assert target[:, int(0.81 * n):].abs().max() < 1e-3  # the utterance ends; its start is not looped in
    cfg = only_recorded_noise(p_speech_speed=1.0, speech_speed=(1.03, 1.03))
    _, target, _ = Corruptor(cfg, 161, torch.Generator().manual_seed(0))(tone, torch.randn_like(tone), 101)
    assert [peak_hz(t) for t in target] == [1031.0] * 4  # 100/97: fine steps, not rounded to 20/19
    white = torch.randn(4, n, generator=torch.Generator().manual_seed(1))
    cfg = only_recorded_noise(p_speech_tilt=1.0, speech_tilt=(0.5, 0.5))
    _, target, _ = Corruptor(cfg, 161, torch.Generator().manual_seed(0))(white, torch.randn_like(white), 101)
    assert torch.allclose(target.pow(2).mean(-1), white.pow(2).mean(-1), rtol=1e-4)  # same level
    power = torch.fft.rfft(target).abs().pow(2).mean(0)
    bin_hz = 16000 / n
    low, high = power[int(100 / bin_hz): int(200 / bin_hz)].mean(), power[int(6000 / bin_hz): int(7000 / bin_hz)].mean()
    assert 10 * torch.log10(low / high) == pytest.approx(10 * math.log10((6500 / 150) ** 0.5), abs=1.5)


def test_two_draws_for_the_same_clean_batch_differ():
    clean = clean_batch()
    recorded = torch.randn_like(clean)
    corrupt = Corruptor(CorruptionConfig(), 161, torch.Generator().manual_seed(0))
    a, ta, ma = corrupt(clean, recorded, 101)
    b, tb, mb = corrupt(clean, recorded, 101)
    assert not torch.allclose(a, b)
    assert not torch.equal(ta, tb)  # the random gain is redrawn too (same for noisy and target)


def test_masking_noise_zeroes_the_asked_fraction_of_bins():
    cfg = CorruptionConfig(p_mask=1.0, mask_fraction=0.3)
    corrupt = Corruptor(cfg, 161, torch.Generator().manual_seed(0))
    _, _, mask = corrupt(clean_batch(), None, 101)
    assert abs((mask == 0).float().mean().item() - 0.3) < 0.01
    cfg = CorruptionConfig(p_mask=0.5, mask_fraction=0.2)
    _, _, mask = Corruptor(cfg, 161, torch.Generator().manual_seed(1))(clean_batch(16), None, 101)
    masked_items = (mask == 0).flatten(1).any(1).float().mean().item()
    assert 0.15 < masked_items < 0.85
