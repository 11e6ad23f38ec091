import torch

from speechdae.denoiser import Denoiser
from speechdae.model import ModelConfig
from speechdae.spectral import STFTConfig

import pytest

from speechdae.model import band_filters

from conftest import V2_BANDS, V2_STFT, small_denoiser


def test_default_model_is_small_bottlenecked_and_has_long_context():
    d = Denoiser()
    assert d.n_params() < 1_000_000
    assert d.model.cfg.code < d.stft.cfg.n_bins
    assert d.model.receptive_field * d.stft.cfg.hop / d.stft.cfg.sample_rate > 1.0  # seconds of past context


def test_model_is_causal_on_frames():
    d = small_denoiser()
    x = torch.rand(1, d.stft.cfg.n_bins, 80)
    y = x.clone()
    y[..., 50:] = torch.rand_like(y[..., 50:]) * 5
    with torch.no_grad():
        a, b = d.model(x), d.model(y)
    assert torch.equal(a[..., :50], b[..., :50])
    assert not torch.allclose(a[..., 50:], b[..., 50:])


@pytest.mark.parametrize("d", [small_denoiser(), small_denoiser(V2_STFT, **V2_BANDS)], ids=["v1", "v2"])
def test_waveform_output_never_depends_on_input_more_than_one_window_ahead(d):
    n_fft = d.stft.cfg.latency_samples  # v1: the window; v2: the synthesis window (the analysis one is longer)
    torch.manual_seed(1)
    x = 0.1 * torch.randn(1, 8000)
    t = 5000
    y = x.clone()
    y[:, t:] = torch.randn(1, 8000 - t)
    with torch.no_grad():
        a, b = d(x), d(y)
    assert torch.allclose(a[:, : t - n_fft + 1], b[:, : t - n_fft + 1], atol=1e-6)
    # the stated latency is tight
    assert not torch.allclose(a[:, t - n_fft + 1 : t], b[:, t - n_fft + 1 : t], atol=1e-4)


def test_mask_is_a_gain_between_zero_and_one():
    d = small_denoiser()
    with torch.no_grad():
        m = d.model(torch.rand(2, d.stft.cfg.n_bins, 30) * 3)
    assert m.min() >= 0 and m.max() <= 1


def test_code_is_narrower_than_the_input():
    cfg = ModelConfig(n_bins=161, hidden=64, code=32)
    d = Denoiser(model=cfg)
    with torch.no_grad():
        _, code = d.model(torch.rand(1, 161, 10), return_code=True)
    assert code.shape == (1, 32, 10)


def test_training_and_inference_compute_the_same_mask():
    """The convolutions gather their taps two ways (cheap backward vs cheap stream step): same numbers."""
    model = Denoiser(STFTConfig(), ModelConfig(hidden=32, code=16, dilations=(1, 4))).model
    features = torch.rand(2, 161, 23)
    with torch.no_grad():
        inferred = model(features)
    trained = model(features)
    assert trained.requires_grad and torch.equal(trained.detach(), inferred)


def test_band_filters_keep_low_bins_and_spread_band_gains_back_to_bins():
    cfg = ModelConfig(n_bins=257, code=96, low_bins=64, bands=64)
    f = band_filters(cfg)
    assert f.shape == (257, 128)
    assert torch.equal(f[:64, :64], torch.eye(64)) and f[:64, 64:].abs().sum() == 0  # low bins kept as they are
    assert torch.allclose(f.sum(1), torch.ones(257))  # band gains interpolate back to bins: a unit gain stays one
    assert (f[64:, 64:].sum(0) > 0).all()  # every band covers some bins
    widths = (f[64:, 64:] > 0).sum(0)
    assert widths[-1] > widths[0]  # ERB bands widen with frequency


@pytest.mark.parametrize("gain", ["bins", "bands"])
def test_band_model_gives_a_gain_per_bin_and_fits_the_latency(gain):
    d = small_denoiser(V2_STFT, **V2_BANDS, gain=gain)
    assert d.model.cfg.n_features == 96 and d.stft.cfg.n_bins == 257 and d.stft.cfg.latency_samples == 320
    with torch.no_grad():
        m = d.model(torch.rand(2, 257, 30) * 3)
    assert m.shape == (2, 257, 30) and m.min() >= 0 and m.max() <= 1


def test_stream_states_are_found_once_for_streaming_and_export():
    from speechdae.export import state_layout
    from speechdae.model import initial_states, state_layers

    d = small_denoiser(V2_STFT, **V2_BANDS)
    layers = state_layers(d.model)
    states = initial_states(d.model, 2, torch.zeros(1, dtype=torch.float64))
    assert [tuple(s.shape) for s in states] == [(2, ctx, ch) for _, ctx, ch in layers]
    assert all(s.dtype == torch.float64 and not s.any() for s in states)
    assert [(s["layer"], s["shape"]) for s in state_layout(d.model)] == [(n, ["batch", c, k]) for n, c, k in layers]
    assert [n for n, _, _ in layers][:2] == ["encoder.0.conv", "encoder.1.conv"]  # call order


def test_traced_steps_are_cached_once_per_device_and_dtype():
    import numpy as np

    d = small_denoiser(seed=4)
    x = np.random.default_rng(0).standard_normal((1, 2000)).astype(np.float32) * 0.3
    for dtype in (torch.float32, torch.float64, torch.float32):
        d = d.to(dtype)
        s = d.stream()
        got = torch.cat([s.process(torch.from_numpy(x[:, i : i + 160]).to(dtype)) for i in range(0, 2000, 160)]
                        + [s.flush()], 1)  # one-hop calls (the traced hop), then a flush of frames (the step)
        with torch.no_grad():
            assert got.dtype == dtype and (got - d(torch.from_numpy(x).to(dtype))).abs().max() < 1e-5
    assert len(d.__dict__["_traces"]) == 2 and len(d.model.__dict__["_traces"]) == 2  # hop and step, per dtype


def test_a_copy_of_a_streamed_model_streams_with_its_own_weights():
    import copy

    import numpy as np

    d = small_denoiser(seed=5)
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.3
    before = d.denoise(x, 16000)  # builds the traced hop and step on d
    c = copy.deepcopy(d)
    with torch.no_grad():
        for p in c.parameters():
            p.mul_(0.5)
    s = c.stream()
    got = torch.cat([s.process(x[i : i + 160]) for i in range(0, 4000, 160)] + [s.flush()], 1)[0]
    with torch.no_grad():
        assert (got - c(torch.from_numpy(x)[None])[0]).abs().max() < 1e-5
    assert np.array_equal(d.denoise(x, 16000), before)
