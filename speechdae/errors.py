"""The one error type users see: a short, one-line message naming the file and the problem."""


class SpeechDAEError(Exception):
    """Raised for bad input (files, audio, checkpoints, configs). The CLI prints it as one line and exits 2."""
