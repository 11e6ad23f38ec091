"""`speechdae plot`: denoising pictures (with and without a clean reference) and training curves are real PNGs."""
import csv
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import SAMPLES, noise_like, write
from speechdae.errors import SpeechDAEError

pytest.importorskip("matplotlib", reason="plots need matplotlib (pip install 'speechdae[plot]')")

from speechdae.plot import plot_denoising, plot_training  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) from the IHDR chunk, after checking the signature; also decodes the whole image."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    from PIL import Image

    with Image.open(path) as im:
        im.load()  # fails on a truncated file
        assert im.size == (width, height)
        pixels = np.asarray(im.convert("L"), dtype=np.float32)
    assert pixels.std() > 20, "image is (nearly) blank"
    return width, height


def no_partials(folder):
    assert not [p for p in folder.rglob("*") if "partial" in p.name]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """2 s excerpts of the bundled sample: noisy, a stand-in 'denoised' (44.1 kHz stereo) and clean."""
    d = tmp_path_factory.mktemp("plot")
    noisy, sr = sf.read(SAMPLES / "noisy.flac", dtype="float32")
    clean, _ = sf.read(SAMPLES / "clean.flac", dtype="float32")
    noisy, clean = noisy[: 2 * sr], clean[: 2 * sr]
    import soxr

    den = soxr.resample(0.6 * clean + 0.1 * (noisy - clean), sr, 44100)
    return {
        "noisy": write(d / "noisy.wav", noisy, sr),
        "denoised": write(d / "denoised.flac", np.stack([den, den], axis=1), 44100),
        "clean": write(d / "clean.wav", clean, sr),
    }


def test_denoising_plot_with_and_without_clean(tmp_path, files):
    with_clean = plot_denoising(files["noisy"], files["denoised"], tmp_path / "a.png", clean_path=files["clean"])
    without = plot_denoising(files["noisy"], files["denoised"], tmp_path / "b.png")
    (w1, h1), (w2, h2) = png_size(with_clean), png_size(without)
    assert w1 == w2 > 800 and h1 > h2 > 500  # one spectrogram row more with the clean reference
    no_partials(tmp_path)


def test_denoising_plot_handles_short_and_silent_audio(tmp_path):
    noisy = write(tmp_path / "n.wav", noise_like(300), 16000)
    silent = write(tmp_path / "s.wav", np.zeros(300, np.float32), 16000)
    png_size(plot_denoising(noisy, silent, tmp_path / "short.png"))


def test_denoising_plot_errors_are_one_line(tmp_path, files):
    with pytest.raises(SpeechDAEError, match="no such file"):
        plot_denoising(tmp_path / "missing.wav", files["denoised"], tmp_path / "x.png")
    with pytest.raises(SpeechDAEError, match="image format"):
        plot_denoising(files["noisy"], files["denoised"], tmp_path / "x.bmp2")
    assert not list(tmp_path.iterdir())


def write_log(path, steps, val_every=None):
    rng = np.random.default_rng(0)
    fields = ["step", "loss", "grad_norm", "lr", "spectral"]
    fields += ["val_si_sdr", "val_pesq", "val_stoi"] if val_every else []
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        for s in range(1, steps + 1):
            loss = 0.1 * np.exp(-s / 300) + 0.03 + 0.01 * rng.random()
            row = {"step": s, "loss": loss, "grad_norm": 0.1, "lr": 1e-3, "spectral": loss}
            if val_every and (s % val_every == 0 or s == steps):
                row.update(val_si_sdr=5 + 6 * (1 - np.exp(-s / 400)), val_pesq=1.3 + s / 2000, val_stoi=0.8 + s / 20000)
            w.writerow(row)  # cells of non-validation rows stay empty, as train.CsvLog writes them
    return path


def test_training_plot_with_validation_metrics(tmp_path):
    out = plot_training(write_log(tmp_path / "log.csv", 1000, val_every=100), tmp_path / "curves.png")
    w, h = png_size(out)
    assert w > 1000 and h > 600  # 2 x 2 panels: loss, SI-SDR, PESQ, STOI
    no_partials(tmp_path)


def test_training_plot_loss_only(tmp_path):
    w, h = png_size(plot_training(write_log(tmp_path / "log.csv", 40), tmp_path / "loss.png"))
    assert 500 < w < 900  # one panel


def test_training_plot_rejects_other_files(tmp_path):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SpeechDAEError, match="not a speechdae training log"):
        plot_training(tmp_path / "other.csv", tmp_path / "x.png")
    with pytest.raises(SpeechDAEError, match="no such training log"):
        plot_training(tmp_path / "none.csv", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_missing_matplotlib_is_a_clear_error(tmp_path, files, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(SpeechDAEError, match=r"pip install 'speechdae\[plot\]'"):
        plot_denoising(files["noisy"], files["denoised"], tmp_path / "x.png")


# -- command line ---------------------------------------------------------------------------------------------
def cli(*args):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "speechdae.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_cli_plot_denoises_when_no_denoised_file_is_given(tmp_path, files, checkpoint):
    r = cli("plot", files["noisy"], "--clean", files["clean"], "-o", tmp_path / "p.png", "--model", checkpoint)
    assert r.returncode == 0, r.stderr
    png_size(tmp_path / "p.png")
    r = cli("plot", write_log(tmp_path / "log.csv", 300, val_every=100), "-o", tmp_path / "t.png")
    assert r.returncode == 0, r.stderr
    png_size(tmp_path / "t.png")
    r = cli("plot", tmp_path / "missing.wav", files["denoised"], "-o", tmp_path / "m.png")
    assert r.returncode == 2 and r.stderr.strip().startswith("speechdae: error:") and "missing.wav" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_denoise_plot_writes_a_png_beside_the_output(tmp_path, files, checkpoint):
    r = cli("denoise", files["noisy"], "-o", tmp_path / "out.wav", "--plot", "-q", "--model", checkpoint)
    assert r.returncode == 0, r.stderr
    png_size(tmp_path / "out.png")
