"""speechdae: a convolutional denoising autoencoder for speech, offline and streaming."""
__version__ = "0.1.0"

from .errors import SpeechDAEError  # noqa: E402


def load_model(path=None, device: str = "cpu"):
    """Load a Denoiser from a checkpoint; with no path, the bundled default model.

    Its Python API takes and returns numpy in soundfile's layout, (samples,) or (samples, channels), at any rate:
    `model.denoise(x, sr)` for a whole array, `model.stream(channels, sample_rate=sr)` for chunks
    (`.process(chunk)`, then `.flush()`), which together give `denoise`'s samples.
    """
    from .checkpoint import load_model as _load

    return _load(path, device)


__all__ = ["load_model", "SpeechDAEError", "__version__"]
