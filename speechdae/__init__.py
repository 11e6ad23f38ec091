"""speechdae: a convolutional denoising autoencoder for speech, offline and streaming."""
__version__ = "0.1.0"

from .errors import SpeechDAEError  # noqa: E402


def load_model(path=None, device: str = "cpu"):
    """Load a Denoiser from a checkpoint; with no path, the bundled default model."""
    from .checkpoint import load_model as _load

    return _load(path, device)


__all__ = ["load_model", "SpeechDAEError", "__version__"]
