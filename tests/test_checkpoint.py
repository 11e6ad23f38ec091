import numpy as np
import pytest
import torch

import speechdae
from speechdae.checkpoint import default_checkpoint, load_model, read_checkpoint
from speechdae.errors import SpeechDAEError


def test_round_trip_restores_config_weights_and_description(checkpoint, denoiser):
    loaded = load_model(checkpoint)
    assert loaded.stft.cfg == denoiser.stft.cfg and loaded.model.cfg == denoiser.model.cfg
    x = torch.randn(1, 4000)
    with torch.no_grad():
        assert torch.equal(loaded(x), denoiser(x))
    assert loaded.info["train"] == {"recipe": "tests"} and loaded.info["metrics"] == {"si_sdr": 1.0}
    assert loaded.info["version"] == speechdae.__version__


def test_checkpoint_describes_itself(checkpoint):
    payload = read_checkpoint(checkpoint)
    for key in ("stft", "model", "weights", "train", "metrics", "version", "n_params"):
        assert key in payload
    assert payload["stft"]["sample_rate"] == 16000


def test_bundled_model_loads_with_one_call_and_is_small():
    assert default_checkpoint().stat().st_size < 8 * 2**20
    model = speechdae.load_model()
    assert model.n_params() < 1_000_000
    assert model.info["train"], "the bundled checkpoint must record the recipe that trained it"
    y = model.denoise(np.zeros(1600, np.float32), 16000)
    assert y.shape == (1600,)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_corrupt_checkpoints_give_a_clear_error(tmp_path, content):
    p = tmp_path / "bad.pt"
    p.write_bytes(content)
    with pytest.raises(SpeechDAEError, match="bad.pt"):
        load_model(p)


def test_foreign_checkpoint_is_refused(tmp_path):
    p = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(3)}}, p)
    with pytest.raises(SpeechDAEError, match="not a speechdae checkpoint"):
        load_model(p)


def test_truncated_checkpoint_is_refused(tmp_path, checkpoint):
    p = tmp_path / "cut.pt"
    p.write_bytes(checkpoint.read_bytes()[:2000])
    with pytest.raises(SpeechDAEError):
        load_model(p)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(SpeechDAEError, match="no such checkpoint"):
        load_model(tmp_path / "nope.pt")


def test_streaming_leaves_the_checkpoint_format_alone(tmp_path, denoiser):
    from speechdae.checkpoint import save_checkpoint

    keys = set(denoiser.state_dict())
    denoiser.denoise(np.zeros(800, np.float32), 16000)  # builds and caches the traced streaming step
    assert set(denoiser.state_dict()) == keys
    save_checkpoint(tmp_path / "after.pt", denoiser)
    assert load_model(tmp_path / "after.pt").n_params() == denoiser.n_params()
