"""Bad input everywhere, a fuzzed API, and output that is never half-written (full or read-only disks)."""
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speechdae.enhance import denoise_file
from speechdae.errors import SpeechDAEError

from conftest import noise_like, small_denoiser, write

MODEL = small_denoiser()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    length=st.integers(0, 5000),
    channels=st.sampled_from([None, 1, 2, 5, 8]),
    dtype=st.sampled_from(["float32", "float64", "int16", "int32", "uint8", "bool", "complex64"]),
    rate=st.sampled_from([1, 4000, 7999, 8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000, 400000]),
    scale=st.sampled_from([0.0, 1e-30, 1e-6, 1.0, 1e6, 1e30]),
    special=st.sampled_from([None, np.nan, np.inf, -np.inf]),
    seed=st.integers(0, 1000),
)
def test_api_raises_only_its_own_error_and_never_returns_nan(length, channels, dtype, rate, scale, special, seed):
    rng = np.random.default_rng(seed)
    shape = (length,) if channels is None else (length, channels)
    x = rng.standard_normal(shape) * scale
    if special is not None and length and np.dtype(dtype).kind == "f":
        x.flat[rng.integers(x.size)] = special
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        x = np.clip(x * info.max, info.min, info.max)
    with np.errstate(all="ignore"):
        x = x.astype(dtype)
    try:
        y = MODEL.denoise(x, rate)
    except SpeechDAEError as e:
        assert "\n" not in str(e)
        return
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.isfinite(y).all()


@pytest.mark.parametrize("subtype,fmt", [("PCM_U8", "WAV"), ("PCM_16", "WAV"), ("PCM_24", "WAV"), ("PCM_32", "WAV"),
                                         ("FLOAT", "WAV"), ("DOUBLE", "WAV"), ("ULAW", "WAV"), ("ALAW", "WAV"),
                                         ("PCM_16", "FLAC"), ("VORBIS", "OGG")])
def test_sample_formats_are_read_and_kept(tmp_path, subtype, fmt):
    ext = {"WAV": "wav", "FLAC": "flac", "OGG": "ogg"}[fmt]
    src = tmp_path / f"in.{ext}"
    sf.write(str(src), noise_like(12000), 16000, subtype=subtype, format=fmt)
    dst = tmp_path / f"out.{ext}"
    denoise_file(MODEL, src, dst)
    info = sf.info(str(dst))
    assert info.subtype == subtype and info.frames == 12000


@pytest.mark.parametrize("channels", [1, 3, 6, 8])
@pytest.mark.parametrize("rate", [8000, 96000, 192000])
def test_channel_counts_and_high_rates(tmp_path, channels, rate):
    src = write(tmp_path / "in.wav", noise_like(rate // 4, channels), rate, "PCM_16")
    denoise_file(MODEL, src, tmp_path / "out.wav")
    info = sf.info(str(tmp_path / "out.wav"))
    assert (info.channels, info.samplerate, info.frames) == (channels, rate, rate // 4)


@pytest.mark.parametrize("name,signal", [
    ("silence", np.zeros(16000, np.float32)),
    ("one-sample", np.array([0.5], np.float32)),
    ("dc-offset", np.full(16000, 0.5, np.float32) + noise_like(16000) * 0.1),
    ("clipped", np.clip(noise_like(16000) * 30, -1, 1)),
    ("very-quiet", noise_like(16000) * 1e-7),
])
def test_odd_but_valid_signals_give_finite_output_of_the_same_length(tmp_path, name, signal):
    src = write(tmp_path / f"{name}.wav", signal, 16000, "FLOAT")
    denoise_file(MODEL, src, tmp_path / "out.wav")
    y, _ = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert len(y) == len(signal) and np.isfinite(y).all()
    if name == "silence":
        assert np.abs(y).max() == 0


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def cli(*args):
    return subprocess.run([sys.executable, "-m", "speechdae.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_full_disk_gives_a_clear_error_and_leaves_no_partial_file(tmp_path, small_disk, checkpoint):
    src = write(tmp_path / "long.wav", noise_like(16000 * 20), 16000, "FLOAT")  # 1.3 MB > 256 kB
    r = cli("denoise", src, "-o", small_disk / "out.wav", "--model", checkpoint)
    assert r.returncode == 2
    assert "no space left on device" in r.stderr and "Traceback" not in r.stderr
    assert os.listdir(small_disk) == []


def test_read_only_output_folder(tmp_path, small_disk, checkpoint):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    src = write(tmp_path / "a.wav", noise_like(4000), 16000)
    r = cli("denoise", src, "-o", small_disk / "out.wav", "--model", checkpoint)
    assert r.returncode == 2 and "Read-only file system" in r.stderr and "Traceback" not in r.stderr


def test_unreadable_training_files_are_skipped_with_a_warning(tmp_path, caplog):
    from speechdae.data import AudioBank

    write(tmp_path / "good.wav", noise_like(8000), 16000)
    (tmp_path / "bad.wav").write_bytes(b"garbage")
    bank = AudioBank(sorted(tmp_path.glob("*.wav")), 16000)
    assert len(bank.arrays) == 1
    assert "bad.wav" in caplog.text
    (tmp_path / "good.wav").unlink()
    with pytest.raises(SpeechDAEError, match="no usable audio"):
        AudioBank(sorted(tmp_path.glob("*.wav")), 16000)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_truncated_file_warns_and_denoises_its_readable_part(tmp_path, checkpoint, ext, caplog):
    """A file cut to a third of its bytes: one warning naming it and both lengths, and a complete output of
    exactly the readable part (the same samples as denoising that part saved as a whole file)."""
    from speechdae.audio import read_audio

    full, cut = tmp_path / f"full.{ext}", tmp_path / f"cut.{ext}"
    sf.write(str(full), noise_like(16000 * 6), 16000)
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    r = cli("denoise", cut, "-o", tmp_path / "out.wav", "--model", checkpoint)
    assert r.returncode == 0, r.stderr
    out, rate = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    n = len(out)
    assert 0.1 * 6 * rate < n < 0.45 * 6 * rate  # (Ogg spends some of its bytes on headers)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(cut) in lines[0] and "truncated" in lines[0], r.stderr
    assert f"{n / rate:.2f} s readable" in lines[0] and "using the readable part" in lines[0]
    if ext != "ogg":  # Ogg has no length in a header; it says the end-of-stream marker is missing
        assert "of 6.00 s in its header" in lines[0], lines[0]
    prefix = sf.read(str(full), dtype="float32")[0][:n]
    denoise_file(small_denoiser(), write(tmp_path / "prefix.wav", prefix, rate, "FLOAT"), tmp_path / "ref.wav")
    ref = sf.read(str(tmp_path / "ref.wav"), dtype="float32")[0]
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0)  # out.wav is 16-bit, ref.wav float
    x, _ = read_audio(cut)  # the same for every reader of files (eval, plot, training)
    assert len(x) == n and "truncated" in caplog.text
