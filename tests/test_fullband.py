"""Full-band output above the model's rate (rate.RateStream): the band above 8 kHz is kept, steered by the model.

Test speech: the bundled clean sample is real speech at 16 kHz, so it has nothing above 8 kHz. Its full-band
version here is that speech at 48 kHz plus its own 4-8 kHz band moved up by 4 kHz (to 8-12 kHz, 10 dB down):
a high band that comes and goes with the real fricatives and breaths, as a real one does. Silence is put
between its halves, so that the pauses are known exactly.
"""
import numpy as np
import pytest
import soxr
import torch
from scipy import signal

from speechdae.checkpoint import load_model
from speechdae.rate import RateStream

from conftest import small_denoiser

R = 48000


@pytest.fixture(scope="module")
def model():
    return load_model()


def passthrough_denoiser():
    """A model whose mask is exactly 1: the stream gives back its input, so the high band's gain is 1."""
    d = small_denoiser()
    with torch.no_grad():
        for p in d.model.head.parameters():
            p.zero_()
        d.model.head.conv.bias.fill_(30.0)  # sigmoid(30) rounds to 1.0 in float32
    return d


def fullband_speech(speech, rate=R, gap=0.6):
    """(clean speech at `rate` with a high band, boolean mask of the samples that are silence)."""
    x16, sr = speech
    half, silence = len(x16) // 2, np.zeros(int(gap * sr), np.float32)
    parts = [silence, x16[:half], silence, x16[half:], silence]
    quiet16 = np.concatenate([np.full(len(p), p is silence) for p in parts])
    x = soxr.resample(np.concatenate(parts), sr, rate).astype(np.float64)
    quiet = quiet16[np.minimum(np.arange(len(x)) * sr // rate, len(quiet16) - 1)]
    band = signal.sosfiltfilt(signal.butter(8, [4000, 7800], "bandpass", fs=rate, output="sos"), x)
    t = np.arange(len(x)) / rate
    high = np.real(signal.hilbert(band) * np.exp(2j * np.pi * 4000 * t))  # single-sideband shift: 8-11.8 kHz
    return (x + 0.3 * high).astype(np.float32), quiet


def band_energy(y, lo, hi, rate=R, pauses=None, margin=0.1):
    """Energy of `y` between lo and hi Hz; with `pauses` (a per-sample mask), only in the STFT frames that lie
    `margin` seconds or more inside a pause."""
    f, t, spec = signal.stft(y, rate, nperseg=1024)
    power = np.abs(spec[(f >= lo) & (f < hi)]) ** 2
    if pauses is None:
        return power.sum()
    m = int(margin * rate)
    inner = np.convolve(pauses, np.ones(2 * m + 1), "same") >= 2 * m + 1
    frames = inner[np.minimum(np.round(t * rate).astype(int), len(y) - 1)]
    assert frames.sum() > 100
    return power[:, frames].sum()


def chunked(rs, x, seed=0, most=3000):
    rng = np.random.default_rng(seed)
    parts, i = [], 0
    while i < len(x):
        k = int(rng.integers(1, most))
        parts.append(rs.process(x[i : i + k]))
        i += k
    return np.concatenate([*parts, rs.flush()])


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_with_a_gain_of_one_the_bands_add_back_to_the_input(rate):
    """No seam at the crossover: a swept sine through every frequency, and noise, come back as they went in."""
    n = int(2.5 * rate)
    t = np.arange(n) / rate
    sweep = 0.5 * np.sin(2 * np.pi * (20 * t + (0.48 * rate - 20) / (2 * t[-1]) * t**2))  # 20 Hz to 0.96 Nyquist
    noise = 0.1 * np.random.default_rng(1).standard_normal(n)
    x = np.stack([sweep, noise], 1).astype(np.float32)
    y = chunked(RateStream(passthrough_denoiser(), rate, 2), x)
    assert y.shape == x.shape
    assert np.abs(y - x).max() < 1e-4
    # ... while the model's band alone is the low-passed input: the high band did carry the rest.
    low = soxr.resample(soxr.resample(x, rate, 16000), 16000, rate)
    assert np.abs(x - low)[:, 0].max() > 0.3


def test_the_high_band_adds_no_latency():
    """Live at 48 kHz: each block's output is exactly as long as the model's band alone would be (soxr streams
    around the model's stream, as the live path had before): the high band never holds output back."""
    d = small_denoiser()
    x = 0.1 * np.random.default_rng(2).standard_normal((R, 1)).astype(np.float32)
    rs = RateStream(d, R, 1)
    down, up = (soxr.ResampleStream(a, b, 1, dtype="float32") for a, b in ((R, 16000), (16000, R)))
    stream = d.stream(1)
    block = d.stft.cfg.hop * R // d.sample_rate
    for i in range(0, len(x), block):
        ours = rs.process(x[i : i + block])
        low = up.resample_chunk(stream.process(down.resample_chunk(x[i : i + block]).T).T.numpy())
        assert len(ours) == len(low), f"block {i // block}"


def test_clean_fullband_speech_keeps_its_band_above_8k(model, speech):
    x, _ = fullband_speech(speech)
    y = model.denoise(x, R)
    for lo, hi in [(300, 4000), (8500, 12000)]:
        change = 10 * np.log10(band_energy(y, lo, hi) / band_energy(x, lo, hi))
        assert abs(change) < 3, f"{lo}-{hi} Hz changed by {change:.1f} dB"


def test_noise_above_8k_is_removed_in_speech_pauses(model, speech):
    x, quiet = fullband_speech(speech)
    noise = np.random.default_rng(3).standard_normal(len(x)).astype(np.float32)
    noisy = x + noise * np.sqrt(np.mean(x**2) / np.mean(noise**2)) * 10 ** (-10 / 20)  # white, 10 dB SNR
    y = model.denoise(noisy, R)
    removed = 10 * np.log10(band_energy(noisy, 8000, R / 2, pauses=quiet) / band_energy(y, 8000, R / 2, pauses=quiet))
    assert removed >= 10, f"noise above 8 kHz in the pauses only {removed:.1f} dB down"
    # An attenuation limit holds for the high band too: never more than 6 dB removed there.
    y6 = model.denoise(noisy, R, atten_limit_db=6)
    limited = 10 * np.log10(band_energy(noisy, 8000, R / 2, pauses=quiet) / band_energy(y6, 8000, R / 2, pauses=quiet))
    assert 3 < limited < 6.5, f"with --atten-limit 6: {limited:.1f} dB"


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_streamed_in_random_chunks_equals_the_whole_file(speech, rate):
    d = small_denoiser()
    x, _ = fullband_speech(speech, rate)
    x = np.stack([x, 0.3 * x[::-1]], 1)
    whole = RateStream(d, rate, 2).run(x)
    for seed in range(2):
        got = chunked(RateStream(d, rate, 2), x, seed)
        assert got.shape == whole.shape == x.shape
        assert np.abs(got - whole).max() < 1e-6


def test_at_the_model_rate_it_is_the_plain_stream(speech):
    """A 16 kHz input has no band above the model's: RateStream is the StreamingDenoiser, bit for bit."""
    d = small_denoiser()
    x = np.stack([speech[0], 0.5 * speech[0][::-1]], 1)
    rs, stream = RateStream(d, 16000, 2), d.stream(2)
    rng = np.random.default_rng(4)
    i, ours, plain = 0, [], []
    while i < len(x):
        k = int(rng.integers(1, 2000))
        ours.append(rs.process(x[i : i + k]))
        plain.append(stream.process(x[i : i + k].T).T.numpy())
        i += k
    ours.append(rs.flush())
    plain.append(stream.flush().T.numpy())
    np.testing.assert_array_equal(np.concatenate(ours), np.concatenate(plain))
