import torch

from speechdae.denoiser import Denoiser
from speechdae.model import ModelConfig
from speechdae.spectral import STFTConfig

from conftest import small_denoiser


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


def test_waveform_output_never_depends_on_input_more_than_one_window_ahead():
    d = small_denoiser()
    n_fft = d.stft.cfg.n_fft
    torch.manual_seed(1)
    x = 0.1 * torch.randn(1, 8000)
    t = 5000
    y = x.clone()
    y[:, t:] = torch.randn(1, 8000 - t)
    with torch.no_grad():
        a, b = d(x), d(y)
    assert torch.allclose(a[:, : t - n_fft + 1], b[:, : t - n_fft + 1], atol=1e-6)
    assert not torch.allclose(a[:, t - n_fft + 1 : t], b[:, t - n_fft + 1 : t], atol=1e-4)  # the stated latency is tight


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
