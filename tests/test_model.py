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
