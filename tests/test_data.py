"""Test sets mixed from clean speech and noise recordings (data.noisy_pairs)."""
import numpy as np

from speechdae.data import noisy_pairs

from conftest import SAMPLES, write


def test_mixtures_skip_silent_stretches_of_a_noise_recording(tmp_path):
    # A recording that is mostly digital silence (like the owl call in the dev noise): an excerpt from its
    # silence cannot be scaled to an SNR; the mixture must still be finite and at the asked SNR.
    rng = np.random.default_rng(0)
    noise = np.zeros(16000 * 20, np.float32)
    noise[:4000] = 0.1 * rng.standard_normal(4000)
    path = write(tmp_path / "mostly_silent.wav", noise, 16000)
    items = list(noisy_pairs([SAMPLES / "clean.flac"], [path], [0, 5, 10, 0, 5, 10], seed=1, sample_rate=16000,
                             max_seconds=1.0))
    assert len(items) == 6
    for it in items:
        assert np.isfinite(it["noisy"]).all()
        added = it["noisy"] - it["clean"]
        snr = 10 * np.log10(np.mean(it["clean"] ** 2) / np.mean(added ** 2))
        assert abs(snr - it["snr"]) < 0.1
