import pytest
import torch

from speechdae.spectral import STFT, STFTConfig


@pytest.mark.parametrize("cfg", [STFTConfig(), STFTConfig(8000, 160, 80), STFTConfig(16000, 512, 128)])
@pytest.mark.parametrize("n", [1, 2, 159, 160, 161, 319, 320, 321, 4799, 16000])
def test_unit_mask_round_trip_is_exact_including_the_edges(cfg, n):
    torch.manual_seed(n)
    stft = STFT(cfg)
    x = torch.randn(2, n, dtype=torch.float32)
    y = stft.inverse(stft(x), n)
    assert y.shape == x.shape
    assert torch.allclose(y, x, atol=2e-6, rtol=0)
    assert abs(y[0, 0] - x[0, 0]) < 2e-6 and abs(y[1, -1] - x[1, -1]) < 2e-6


def test_frames_cover_every_sample_and_no_more():
    stft = STFT(STFTConfig())
    for n in (1, 160, 161, 1000):
        frames = stft.frames_for(n)
        assert frames * 160 >= n + stft.cfg.pad_left > (frames - 1) * 160


def test_bad_hop_is_refused():
    with pytest.raises(ValueError):
        STFTConfig(n_fft=320, hop=200)
