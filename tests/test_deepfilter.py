"""The deep filter on the kept low bins (speechdae/deepfilter.py): its arithmetic against a plain complex
implementation, its loss, its attenuation limit, and growing it onto a real-gain model for a fine-tune.
Streaming and export exactness: test_stream.py and test_export.py."""
import math

import numpy as np
import torch

from conftest import V2_BANDS, V2_STFT, clean_batch, small_denoiser
from speechdae.checkpoint import save_checkpoint
from speechdae.deepfilter import grown_weights
from speechdae.denoiser import Denoiser
from speechdae.losses import Target, spectral_loss
from speechdae.model import ModelConfig
from speechdae.train import TrainConfig, Trainer


def random_spec(batch=2, bins=257, frames=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(batch, bins, frames, generator=g), torch.randn(batch, bins, frames, generator=g))


def test_filter_is_the_documented_sum_over_past_frames():
    """Y(t, k) = g X(t, k) + sum_i c_i X(t - i, k) e^{j i w_k}, with w_k = 2 pi k hop / n_fft, for k < low_bins."""
    d = small_denoiser(V2_STFT, seed=4, **V2_BANDS, df_order=3)
    cfg, df = d.model.cfg, d.model.deep_filter
    spec = random_spec(1)
    features = d.features(spec)
    with torch.no_grad():
        gain = d.model(features)
        # the model's own real gains and coefficients, taken from the same forward pass
        x = features.transpose(1, 2)
        frames = df.frames(x[..., cfg.n_bins:])
        phase = df.phase_features(frames, x[..., : cfg.low_bins])
        code = d.model.encode(torch.cat([x[..., : cfg.n_bins] @ d.model.to_bands, phase], -1))
        h = d.model.decoder[0](code)
        g = torch.sigmoid(d.model.head(h))[0].T  # (F, T)
        c = df.coefs(h)[0].unflatten(-1, (cfg.df_order, 2, cfg.low_bins))  # (T, order, 2, L)
    L, T = cfg.low_bins, spec.shape[-1]
    w = 2 * math.pi * torch.arange(L) * cfg.hop / V2_STFT.n_fft
    X = spec[0, :L]
    expected = g[:L] * X
    for i in range(cfg.df_order):
        past = torch.cat([torch.zeros(L, i, dtype=X.dtype), X[:, : T - i]], dim=1)
        coef = torch.complex(c[:, i, 0], c[:, i, 1]).T  # (L, T)
        expected = expected + coef * past * torch.exp(1j * i * w)[:, None]
    got = Denoiser.apply_mask(spec, gain)[0]
    torch.testing.assert_close(got[:L], expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got[L:], spec[0, L:] * g[L:], atol=1e-5, rtol=1e-5)  # above: the real gain
    assert (gain[0, cfg.n_bins:] != 0).any()  # the imaginary rows are in use


def test_phase_features_of_a_tone_at_each_bin_centre_point_straight_ahead():
    """A bin's phase advance less its centre frequency's: zero for a tone at the centre, so (cos, sin) = (1, 0)
    times the compressed magnitude."""
    d = small_denoiser(V2_STFT, **V2_BANDS, df_order=2)
    L, T = d.model.cfg.low_bins, 12
    w = 2 * math.pi * torch.arange(L, dtype=torch.float64) * 160 / 512
    spec = torch.exp(1j * (w[:, None] * torch.arange(T)[None] + 0.7))[None] * 3.0  # (1, L, T), exact phases
    raw = torch.cat([spec.real, spec.imag], dim=1).transpose(1, 2).float()
    mag = torch.full((1, T, L), 2.0)
    df = d.model.deep_filter
    feats = df.phase_features(df.frames(raw), mag)[0, 1:]  # frame 0 has only silence before it
    torch.testing.assert_close(feats[:, :L], torch.full((T - 1, L), 2.0), atol=1e-4, rtol=0)
    torch.testing.assert_close(feats[:, L:], torch.zeros(T - 1, L), atol=1e-4, rtol=0)


def test_loss_of_a_complex_gain_is_the_compressed_complex_error():
    noisy, clean = random_spec(seed=1), random_spec(seed=2)
    g = torch.Generator().manual_seed(3)
    mask = torch.cat([torch.rand(2, 257, 40, generator=g), torch.randn(2, 64, 40, generator=g)], dim=1)
    t = Target.make(noisy, clean, torch.zeros(2, 100), 0.3)
    got = spectral_loss(mask, t, 0.3, complex_weight=0.4, speech_weight=2.0)
    y = Denoiser.apply_mask(noisy, mask)
    em, cm = (y.abs() + 1e-8) ** 0.3, (clean.abs() + 1e-8) ** 0.3
    err = em - cm
    mag = (torch.where(err < 0, 2.0, 1.0) * err**2).mean()
    cplx = (em * torch.exp(1j * y.angle()) - cm * torch.exp(1j * clean.angle())).abs().pow(2).mean()
    torch.testing.assert_close(got, 0.6 * mag + 0.4 * cplx, atol=1e-5, rtol=1e-5)


def test_attenuation_limit_bounds_the_complex_gain_and_keeps_its_phase():
    spec = torch.ones(1, 257, 3, dtype=torch.complex64)
    mask = torch.zeros(1, 257 + 64, 3)
    mask[0, 0], mask[0, 257] = 0.01, 0.01  # bin 0: |g| = 0.014, at 45 degrees
    mask[0, 1], mask[0, 258] = 0.5, -0.5  # bin 1: above the limit, untouched
    y = Denoiser.apply_mask(spec, mask, min_gain=0.1)
    torch.testing.assert_close(y[0, 0].abs(), torch.full((3,), 0.1))
    torch.testing.assert_close(y[0, 0].angle(), torch.full((3,), math.pi / 4))
    torch.testing.assert_close(y[0, 1], torch.full((3,), 0.5 - 0.5j))
    torch.testing.assert_close(y[0, 100].real, torch.full((3,), 0.1))  # real-only bins: clamped as before


def test_a_grown_model_starts_out_computing_what_the_real_gain_model_did():
    base = small_denoiser(V2_STFT, seed=6, **V2_BANDS)
    grown = Denoiser(V2_STFT, ModelConfig(**{**vars(base.model.cfg), "df_order": 3})).eval()
    grown.load_state_dict(grown_weights(base.state_dict(), grown))
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 6000)).astype(np.float32) * 0.3)
    with torch.no_grad():
        torch.testing.assert_close(grown(x), base(x), atol=1e-6, rtol=0)
    assert grown.n_params() > base.n_params()


def test_fine_tuning_a_real_gain_checkpoint_with_a_deep_filter_grows_it(tmp_path):
    model = ModelConfig(hidden=32, code=16, dilations=(1, 2), low_bins=16, bands=8)
    source = Trainer(TrainConfig(model=model, seed=1)).denoiser
    save_checkpoint(tmp_path / "real.pt", source)
    t = Trainer(TrainConfig(model=ModelConfig(**{**vars(model), "df_order": 2}), seed=2, batch_size=2))
    t.init_weights(str(tmp_path / "real.pt"))
    x = torch.randn(1, 4000) * 0.2
    with torch.no_grad():
        torch.testing.assert_close(t.denoiser.eval()(x), source.eval()(x), atol=1e-6, rtol=0)
    clean = clean_batch(2, 8000)
    loss, _ = t.loss(clean, torch.randn(clean.shape) * 0.1)
    loss.backward()
    assert torch.isfinite(loss) and t.denoiser.model.deep_filter.coefs.weight.grad.abs().sum() > 0
