"""The one error type users see: a short, one-line message naming the file and the problem."""


class SpeechDAEError(Exception):
    """Raised for bad input (files, audio, checkpoints, configs). The CLI prints it as one line and exits 2."""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message, for one-line errors; its type's name when the message is empty
    (PortAudio and torch errors can be either multi-line or empty)."""
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__
