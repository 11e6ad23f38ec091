"""`speechdae live`: the options (checked by argparse, so that a wrong one is one line before any device or model
is touched) and the process around a live run (speechdae/live.py): signals, PortAudio's trace lines, a stuck
device."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from ..errors import SpeechDAEError
from .options import atten_limit_option, model_options, positive

HELP = "denoise a microphone live, to speakers and/or a file"


def portaudio_quiet():
    """PortAudio's trace lines for a failed call come before our own one-line message; -v keeps them."""
    import logging

    from ..quiet import drop_stderr_lines

    return contextlib.nullcontext() if logging.getLogger("speechdae").isEnabledFor(logging.DEBUG) \
        else drop_stderr_lines()


# Option types: argparse names the flag in the error and exits 2 before any device or model is touched.

def channels_arg(text: str):
    if text == "mono":
        return text
    if not (text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"must be 'mono' or a positive number, got {text!r}")
    return int(text)


def latency_arg(text: str):
    if text in ("low", "high"):
        return text
    try:
        return float(text)  # PortAudio's suggested latency in seconds; it takes what the device can do
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'low', 'high' or seconds, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser):
    parser.description = "Denoise a microphone live, at the model's latency, to speakers and/or a file."
    parser.add_argument("--input-device", help="index or name substring (default: the default input)")
    parser.add_argument("--output-device", help="index or name substring (default: the default output)")
    parser.add_argument("--no-playback", dest="playback", action="store_false", help="do not play the result")
    parser.add_argument("--record", metavar="FILE", help="also write the result to FILE (.wav, .flac, ...)")
    parser.add_argument("--channels", type=channels_arg, default="mono", metavar="mono|N",
                        help="'mono': mix the input to one channel (default); N: denoise N channels separately")
    parser.add_argument("--samplerate", type=positive(int, "a positive whole number"),
                        help="device rate (default: the model's if the device takes it)")
    parser.add_argument("--blocksize", type=positive(int, "a positive whole number"),
                        help="frames per callback (default: one model hop)")
    parser.add_argument("--bypass", action="store_true", help="pass the raw input through, for comparison")
    atten_limit_option(parser)
    parser.add_argument("--duration", type=positive(float, "a positive number of seconds"),
                        metavar="SECONDS", help="stop after this much input")
    parser.add_argument("--latency", type=latency_arg, default="high",
                        help="PortAudio latency hint: 'low', 'high' (default) or seconds")
    # One CPU thread, always: per-hop work is tiny, and more threads only add wake-up jitter next to audio threads.
    model_options(parser, device=False, threads=False)


def run(args) -> int:
    """The command: the session inside process control (signals, PortAudio's trace lines, a stuck device)."""
    from ..live import run_live

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` finalises the recording like Ctrl-C does
    with portaudio_quiet():
        stats = run_live(args)
    print(stats.summary())
    if stats.stuck:  # the recording is complete; PortAudio's exit handler would wait on the stuck stream forever
        msg = f"speechdae: error: {stats.error}" if stats.error else ""
        print(msg, file=sys.stderr, end="\n" if msg else "")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(2 if stats.error else 0)
    if stats.error:
        raise SpeechDAEError(stats.error)
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt
