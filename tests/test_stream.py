"""Streaming == offline, sample for sample, for any chunking."""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speechdae.spectral import STFTConfig

from conftest import V2_BANDS, V2_STFT, small_denoiser

CONFIGS = {
    8000: STFTConfig(8000, 160, 80),
    16000: STFTConfig(),
    48000: STFTConfig(48000, 960, 480),
}
MODELS = {rate: small_denoiser(cfg, seed=rate) for rate, cfg in CONFIGS.items()}
# speechdae 2: asymmetric windows (20 ms latency from a 32 ms analysis window), bins merged into bands, and
# every way of giving the gain.
MODELS[-1] = small_denoiser(V2_STFT, seed=1, **V2_BANDS)
MODELS[-2] = small_denoiser(V2_STFT, seed=2, **V2_BANDS, gain="bands")
MODELS[-3] = small_denoiser(V2_STFT, seed=3, **V2_BANDS, df_order=3)  # and the deep filter on the kept bins
CONFIGS.update({-1: V2_STFT, -2: V2_STFT, -3: V2_STFT})


def offline(d, x):
    with torch.no_grad():
        return d(torch.from_numpy(x)).numpy()


def streamed(d, x, sizes, channels):
    s = d.stream(channels=channels)
    out, i, k = [], 0, 0
    while i < x.shape[1]:
        n = sizes[k % len(sizes)]
        out.append(s.process(x[:, i : i + n]))
        i, k = i + n, k + 1
    out.append(s.flush())
    return torch.cat(out, dim=1).numpy()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rate=st.sampled_from(sorted(CONFIGS)),
    length=st.integers(1, 6000),
    sizes=st.lists(st.integers(1, 2500), min_size=1, max_size=12),
    channels=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_any_chunking_gives_the_offline_samples(rate, length, sizes, channels, seed):
    d = MODELS[rate]
    x = np.random.default_rng(seed).standard_normal((channels, length)).astype(np.float32) * 0.3
    ref = offline(d, x)
    got = streamed(d, x, sizes, channels)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-5


def test_output_is_released_with_the_stated_latency_at_most():
    d = MODELS[16000]
    s = d.stream()
    hop = d.stft.cfg.hop
    fed = 0
    for _ in range(50):
        s.process(np.zeros(hop, np.float32))
        fed += hop
        assert fed - s.samples_out <= s.latency
    assert s.latency == 320  # 20 ms at 16 kHz


def test_hop_sized_chunks_come_back_hop_sized_after_warm_up():
    d = MODELS[16000]
    s = d.stream()
    sizes = [s.process(np.random.rand(160).astype(np.float32)).shape[1] for _ in range(20)]
    assert sizes[0] == 0 and set(sizes[1:]) == {160}


def test_reset_starts_a_new_stream():
    d = MODELS[16000]
    x = np.random.default_rng(0).standard_normal((1, 3000)).astype(np.float32)
    s = d.stream()
    first = torch.cat([s.process(x), s.flush()], 1)
    s.process(np.ones((1, 999), np.float32))
    s.reset()
    second = torch.cat([s.process(x), s.flush()], 1)
    assert torch.equal(first, second)


def test_non_finite_samples_do_not_poison_the_stream():
    d = MODELS[16000]
    s = d.stream()
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    x[100] = np.nan
    x[200] = np.inf
    y = torch.cat([s.process(x), s.flush()], 1)
    assert torch.isfinite(y).all() and y.shape[1] == 4000


def test_wrong_channel_count_is_refused():
    s = MODELS[16000].stream(channels=2)
    with pytest.raises(ValueError):
        s.process(np.zeros((3, 100), np.float32))


def test_hop_by_hop_streams_follow_new_weights_and_the_attenuation_limit():
    # One hop per call is the live case, which runs a cached trace of the whole step: it must not keep stale
    # weights (fine-tuning, load_state_dict) nor ignore the gain floor.
    d = small_denoiser(STFTConfig(), seed=1)
    x = np.random.default_rng(1).standard_normal((1, 4000)).astype(np.float32) * 0.3
    hop = [d.stft.cfg.hop]
    before = streamed(d, x, hop, 1)
    with torch.no_grad():
        for p in d.model.parameters():
            p.mul_(0.5)  # in place, as an optimizer step or load_state_dict changes them
    after = streamed(d, x, hop, 1)
    assert np.abs(after - offline(d, x)).max() < 1e-5 and np.abs(after - before).max() > 1e-3
    s = d.stream(atten_limit_db=3.0)
    limited = torch.cat([s.process(x[:, i : i + hop[0]]) for i in range(0, x.shape[1], hop[0])] + [s.flush()], 1)
    with torch.no_grad():
        ref = d(torch.from_numpy(x), min_gain=10 ** (-3.0 / 20)).numpy()
    assert np.abs(limited.numpy() - ref).max() < 1e-5 and np.abs(ref - after).max() > 1e-3


# -- the Python API's stream: numpy in, numpy out, in denoise()'s (samples, channels) layout --------------------
def chunks_of(s, x, seed, axis=0, most=2500):
    """Feed x to stream s in random chunk sizes along the samples axis; -> the outputs of every call and the flush."""
    rng, out, i = np.random.default_rng(seed), [], 0
    while i < x.shape[axis]:
        k = int(rng.integers(1, most))
        out.append(s.process(x[i : i + k] if axis == 0 else x[:, i : i + k]))
        i += k
    return out + [s.flush()]


@pytest.mark.parametrize("rate", [16000, 44100])
@pytest.mark.parametrize("channels", [1, 2])
def test_numpy_stream_in_chunks_equals_denoise_in_its_layout(rate, channels):
    d = MODELS[16000]
    x = (0.3 * np.random.default_rng(rate + channels).standard_normal((int(0.6 * rate), channels))).astype(np.float32)
    whole = d.denoise(x, rate)
    parts = chunks_of(d.stream(channels, sample_rate=rate), x, seed=channels)
    assert all(isinstance(p, np.ndarray) and p.dtype == np.float32 and p.ndim == 2 for p in parts)
    got = np.concatenate(parts)
    assert got.shape == whole.shape == x.shape
    assert np.abs(got - whole).max() < 1e-5
    if rate == d.sample_rate:  # the same chunks through the model-rate torch stream: the same samples
        ref = torch.cat(chunks_of(d.stream(channels), x.T, seed=channels, axis=1), 1).T.numpy()
        np.testing.assert_array_equal(got, ref)


def test_numpy_stream_keeps_the_mono_layout_and_starts_afresh_after_flush():
    d = MODELS[16000]
    x = np.random.default_rng(5).standard_normal(3000).astype(np.float32) * 0.3
    s = d.stream(sample_rate=16000)
    first = chunks_of(s, x, seed=0)
    assert all(p.ndim == 1 for p in first) and np.abs(np.concatenate(first) - d.denoise(x, 16000)).max() < 1e-5
    second = chunks_of(s, x[:, None], seed=1)  # the same stream object, now fed (samples, 1)
    assert all(p.ndim == 2 and p.shape[1] == 1 for p in second)
    assert np.abs(np.concatenate(second)[:, 0] - np.concatenate(first)).max() < 1e-5
    assert s.samples_in == s.samples_out == 0  # flush started a new stream


def test_numpy_stream_refuses_the_torch_layout_and_survives_bad_samples():
    from speechdae import SpeechDAEError

    d = MODELS[16000]
    with pytest.raises(SpeechDAEError, match=r"\(samples, 2\)"):
        d.stream(2, sample_rate=16000).process(np.zeros((2, 100), np.float32))
    with pytest.raises(SpeechDAEError, match="sample rate"):
        d.stream(sample_rate=100)
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    x[100], x[200] = np.nan, np.inf
    s = d.stream(sample_rate=48000)
    y = np.concatenate([s.process(x), s.flush()])
    assert np.isfinite(y).all() and y.shape == x.shape
