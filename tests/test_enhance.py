"""File and array denoising: shapes, rates, channels, lengths, chunking, atomic output."""
import numpy as np
import pytest
import soundfile as sf
import torch

from speechdae.enhance import denoise_file
from speechdae.errors import SpeechDAEError

from conftest import noise_like, write


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_file_keeps_rate_channels_and_length(tmp_path, denoiser, rate, channels):
    n = int(rate * 1.3) + 7
    x = noise_like(n, channels if channels > 1 else None)
    src = write(tmp_path / "in.wav", x, rate, "PCM_24")
    dst = tmp_path / "out.wav"
    denoise_file(denoiser, src, dst)
    info = sf.info(str(dst))
    assert (info.samplerate, info.channels, info.frames) == (rate, channels, n)
    assert info.subtype == "PCM_24"  # the input's sample format is kept
    y, _ = sf.read(str(dst), dtype="float32")
    assert np.isfinite(y).all() and np.abs(y).max() > 0


def test_each_channel_is_denoised_on_its_own(tmp_path, denoiser):
    a, b = noise_like(16000, seed=1), noise_like(16000, seed=2) * 0.3
    src = write(tmp_path / "st.wav", np.stack([a, b], 1), 16000, "FLOAT")
    denoise_file(denoiser, src, tmp_path / "st_out.wav")
    y, _ = sf.read(str(tmp_path / "st_out.wav"), dtype="float32")
    left = denoiser.denoise(a, 16000)
    right = denoiser.denoise(b, 16000)
    assert np.abs(y[:, 0] - left).max() < 1e-5 and np.abs(y[:, 1] - right).max() < 1e-5


@pytest.mark.parametrize("rate", [16000, 44100])
def test_blockwise_file_processing_equals_whole_input_processing(tmp_path, denoiser, rate):
    x = noise_like(int(rate * 4.1), 2)
    src = write(tmp_path / "long.wav", x, rate, "FLOAT")
    denoise_file(denoiser, src, tmp_path / "small_blocks.wav", block_seconds=0.137)
    denoise_file(denoiser, src, tmp_path / "big_blocks.wav", block_seconds=100)
    a, _ = sf.read(str(tmp_path / "small_blocks.wav"), dtype="float32")
    b, _ = sf.read(str(tmp_path / "big_blocks.wav"), dtype="float32")
    assert np.abs(a - b).max() < 1e-5
    # The in-memory API goes through the same rate adapter: float rounding apart, the same samples over the
    # whole file, edges included (two resamplers used to agree only to ~1e-8 by luck, away from the edges).
    whole = denoiser.denoise(x, rate)
    assert whole.shape == a.shape
    assert np.abs(a - whole).max() < 1e-6
    np.testing.assert_array_equal(b, whole)  # the same blocks (10 s), the same computation: bit for bit


def test_cli_and_python_api_give_the_same_samples_at_44k_stereo(tmp_path, speech):
    """`speechdae denoise` and `speechdae.load_model().denoise()` on a 44.1 kHz stereo file, bundled model."""
    import soxr

    import speechdae
    from speechdae import cli

    clean, sr = speech
    x = soxr.resample(clean[: 3 * sr], sr, 44100)
    x = np.stack([x, 0.5 * x[::-1]], 1) + noise_like(len(x), 2, seed=3) * 0.3
    src = write(tmp_path / "talk.wav", x.astype(np.float32), 44100, "FLOAT")
    assert cli.main(["denoise", str(src), "-o", str(tmp_path / "cli.wav"), "-q"]) == 0
    y, rate = sf.read(str(tmp_path / "cli.wav"), dtype="float32")
    api = speechdae.load_model().denoise(sf.read(str(src), dtype="float32")[0], 44100)
    assert rate == 44100 and y.shape == api.shape == x.shape
    assert np.abs(y - api).max() < 1e-6  # the whole file, edges included


def test_model_rate_file_matches_the_offline_model_exactly(tmp_path, denoiser):
    x = noise_like(40000)
    src = write(tmp_path / "m.wav", x, 16000, "FLOAT")
    denoise_file(denoiser, src, tmp_path / "m_out.wav", block_seconds=0.3)
    y, _ = sf.read(str(tmp_path / "m_out.wav"), dtype="float32")
    with torch.no_grad():
        ref = denoiser(torch.from_numpy(x)[None])[0].numpy()
    assert np.abs(y - ref).max() < 1e-5


def test_api_keeps_shape_for_mono_and_multichannel(denoiser):
    for shape in [(5000,), (5000, 1), (5000, 3)]:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 0.1
        y = denoiser.denoise(x, 22050)
        assert y.shape == x.shape and y.dtype == np.float32


def test_integer_pcm_arrays_are_scaled(denoiser):
    x = (noise_like(8000) * 32767).astype(np.int16)
    y = denoiser.denoise(x, 16000)
    assert np.abs(y).max() < 2.0


def test_output_never_overwrites_the_input(tmp_path, denoiser):
    src = write(tmp_path / "a.wav", noise_like(3000), 16000)
    before = src.read_bytes()
    with pytest.raises(SpeechDAEError, match="overwrite the input"):
        denoise_file(denoiser, src, src)
    assert src.read_bytes() == before


def test_failed_output_leaves_nothing_behind(tmp_path, denoiser):
    x = noise_like(16000)
    x[12000] = np.nan
    src = write(tmp_path / "nan.wav", x, 16000, "FLOAT")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SpeechDAEError, match="NaN"):
        denoise_file(denoiser, src, out / "nan.wav", block_seconds=0.5)
    assert list(out.iterdir()) == []


def test_existing_output_survives_a_failed_rewrite(tmp_path, denoiser):
    good = write(tmp_path / "good.wav", noise_like(3000), 16000)
    dst = tmp_path / "out.wav"
    denoise_file(denoiser, good, dst)
    before = dst.read_bytes()
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    with pytest.raises(SpeechDAEError):
        denoise_file(denoiser, bad, dst)
    assert dst.read_bytes() == before
