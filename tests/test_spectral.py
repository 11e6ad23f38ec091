import pytest
import torch

from speechdae.spectral import STFT, STFTConfig


@pytest.mark.parametrize("cfg", [STFTConfig(), STFTConfig(8000, 160, 80), STFTConfig(16000, 512, 128),
                                 STFTConfig(16000, 512, 160, synthesis=320), STFTConfig(16000, 640, 80, synthesis=160)])
@pytest.mark.parametrize("n", [1, 2, 159, 160, 161, 319, 320, 321, 4799, 16000])
def test_unit_mask_round_trip_is_exact_including_the_edges(cfg, n):
    torch.manual_seed(n)
    stft = STFT(cfg)
    x = torch.randn(2, n, dtype=torch.float32)
    y = stft.inverse(stft(x), n)
    assert y.shape == x.shape
    assert torch.allclose(y, x, atol=2e-6, rtol=0)
    assert abs(y[0, 0] - x[0, 0]) < 2e-6 and abs(y[1, -1] - x[1, -1]) < 2e-6


@pytest.mark.parametrize("cfg", [STFTConfig(), STFTConfig(n_fft=512, synthesis=320)])
def test_frames_cover_every_sample_and_no_more(cfg):
    stft = STFT(cfg)
    for n in (1, 160, 161, 1000):
        frames = stft.frames_for(n)
        assert frames * 160 >= n + stft.cfg.synthesis_pad > (frames - 1) * 160


def test_asymmetric_windows_give_long_analysis_and_short_synthesis():
    stft = STFT(STFTConfig(n_fft=512, synthesis=320))
    assert stft.window.shape == (512,) and stft.cfg.n_bins == 257
    assert (stft.window[1:] > 0).all()  # the whole 32 ms frame is analysed
    assert stft.synthesis_window.shape == (320,)  # only the last 20 ms are synthesised
    assert stft.cfg.latency_samples == 320


@pytest.mark.parametrize("cfg", [STFTConfig(), STFTConfig(n_fft=512, synthesis=320)])
def test_output_depends_on_input_at_most_one_synthesis_window_ahead(cfg):
    """With a frame-local gain, output sample t uses input up to t + latency - 1 at most, and that bound is met."""
    torch.manual_seed(0)
    stft = STFT(cfg).double()
    n = 4000
    gain = lambda spec: spec * (spec.abs() / (1 + spec.abs()))  # noqa: E731  an input-driven gain, frame by frame
    a = torch.randn(1, n, dtype=torch.float64)
    ya = stft.inverse(gain(stft(a)), n)
    leads = []
    for t in range(2000, 2000 + cfg.hop):  # every position within a hop
        b = a.clone()
        b[:, t:] += 1.0  # change the input from sample t on
        yb = stft.inverse(gain(stft(b)), n)
        leads.append(t - int((ya - yb).abs()[0].gt(1e-9).nonzero()[0]))
    # The bound is tight up to the window's first few samples, which are zero or nearly so.
    assert cfg.latency_samples - 4 <= max(leads) <= cfg.latency_samples - 1


def test_bad_synthesis_window_is_refused():
    with pytest.raises(ValueError):
        STFTConfig(n_fft=512, synthesis=300)
    with pytest.raises(ValueError):
        STFTConfig(n_fft=320, synthesis=480)


def test_bad_hop_is_refused():
    with pytest.raises(ValueError):
        STFTConfig(n_fft=320, hop=200)
