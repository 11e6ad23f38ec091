from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechdae.checkpoint import save_checkpoint
from speechdae.data import data_root
from speechdae.denoiser import Denoiser
from speechdae.model import ModelConfig
from speechdae.spectral import STFTConfig

ROOT = Path(__file__).resolve().parents[1]
SHARED = data_root()
SAMPLES = ROOT / "speechdae" / "samples"


V2_STFT = STFTConfig(n_fft=512, hop=160, synthesis=320)  # speechdae 2's asymmetric windows (recipes/bundled.py)
V2_BANDS = {"low_bins": 64, "bands": 32}  # its band merge, with fewer bands to stay small


def small_denoiser(stft: STFTConfig = STFTConfig(), seed: int = 0, **model) -> Denoiser:
    """A randomly initialised small model: for tests of the signal path, never presented as a denoiser."""
    torch.manual_seed(seed)
    cfg = ModelConfig(n_bins=stft.n_bins, hidden=48, code=24, dilations=(1, 2, 4), **model)
    d = Denoiser(stft, cfg).eval()
    # Push the mask away from a constant 0.5 so that a broken path shows up in the output.
    with torch.no_grad():
        d.model.head.conv.bias.normal_(0, 2)
        if d.model.cfg.df_order:  # and the deep filter away from its zero start
            d.model.deep_filter.coefs.weight.normal_(0, 0.05)
            d.model.deep_filter.coefs.bias.normal_(0, 0.3)
    return d


@pytest.fixture
def denoiser():
    return small_denoiser()


@pytest.fixture
def checkpoint(tmp_path, denoiser):
    path = tmp_path / "small.pt"
    save_checkpoint(path, denoiser, train={"recipe": "tests"}, metrics={"si_sdr": 1.0})
    return path


@pytest.fixture
def speech():
    """The bundled clean sample (real speech, 16 kHz)."""
    x, sr = sf.read(SAMPLES / "clean.flac", dtype="float32")
    return x, sr


@pytest.fixture
def shared_data():
    if not (SHARED / "speech" / "dev").is_dir() or not (SHARED / "noise" / "dev").is_dir():
        pytest.skip(f"development data not found at {SHARED} (set SPEECHDAE_DATA to its data/ folder)")
    return SHARED


def write(path, x, sr, subtype=None):
    sf.write(str(path), x, sr, subtype=subtype)
    return path


def noise_like(n, channels=None, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n,) if channels is None else (n, channels)
    return (0.1 * rng.standard_normal(shape)).astype(np.float32)


def clean_batch(b=4, n=16000, seed=0):
    """(b, n) torch excerpts of the bundled clean sample at random places (training and corruption tests)."""
    x, _ = sf.read(str(SAMPLES / "clean.flac"), dtype="float32")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(x) - n, b)
    return torch.from_numpy(np.stack([x[s : s + n] for s in starts]))
