"""`speechdae live` and `speechdae devices`: the command line and the process around a LiveSession.

The modules, by job:

    live.py           options (checked by argparse), what is set up before the streams open, process control
    live_devices.py   PortAudio's devices: found, described, their rate chosen
    live_pipeline.py  the signal path: denoising pipeline and output ring
    live_session.py   the callbacks, the worker, supervision and shutdown of one run

Problems while running (xruns, a full queue, a device that goes away) are counted or turned into a one-line
message at the end; the recording is always closed properly and renamed into place, so the file on disk is
either absent or complete.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import threading
from pathlib import Path

from . import live_devices as devices
from .errors import SpeechDAEError
from .live_pipeline import Pipeline
from .live_session import LiveSession, Setup, Stats

MARGIN_SECONDS = 0.06  # output priming: covers worker scheduling jitter and bursty host APIs (PulseAudio)


# Option types: argparse names the flag in the error and exits 2 before any device or model is touched.

def channels_arg(text: str):
    if text == "mono":
        return text
    if not (text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"must be 'mono' or a positive number, got {text!r}")
    return int(text)


def _positive(kind, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:  # nan and inf would fail later, as tracebacks
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


def latency_arg(text: str):
    if text in ("low", "high"):
        return text
    try:
        return float(text)  # PortAudio's suggested latency in seconds; it takes what the device can do
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'low', 'high' or seconds, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser, name: str):
    if name == "devices":
        return
    parser.add_argument("--input-device", help="index or name substring (default: the default input)")
    parser.add_argument("--output-device", help="index or name substring (default: the default output)")
    parser.add_argument("--no-playback", dest="playback", action="store_false", help="do not play the result")
    parser.add_argument("--record", metavar="FILE", help="also write the result to FILE (.wav, .flac, ...)")
    parser.add_argument("--model", help="checkpoint (default: the bundled model)")
    parser.add_argument("--channels", type=channels_arg, default="mono", metavar="mono|N",
                        help="'mono': mix the input to one channel (default); N: denoise N channels separately")
    parser.add_argument("--samplerate", type=_positive(int, "a positive whole number"),
                        help="device rate (default: the model's if the device takes it)")
    parser.add_argument("--blocksize", type=_positive(int, "a positive whole number"),
                        help="frames per callback (default: one model hop)")
    parser.add_argument("--bypass", action="store_true", help="pass the raw input through, for comparison")
    from .cli import atten_limit_arg

    parser.add_argument("--atten-limit", type=atten_limit_arg, metavar="DB",
                        help="never attenuate by more than DB decibels")
    parser.add_argument("--duration", type=_positive(float, "a positive number of seconds"),
                        metavar="SECONDS", help="stop after this much input")
    parser.add_argument("--latency", type=latency_arg, default="high",
                        help="PortAudio latency hint: 'low', 'high' (default) or seconds")


def run(args, name: str) -> int:
    """The command: the session inside process control (signals, PortAudio's trace lines, a stuck device)."""
    import logging

    from .quiet import drop_stderr_lines

    # PortAudio's trace lines for a failed call come before our own one-line message; -v keeps them.
    quiet = contextlib.nullcontext() if logging.getLogger("speechdae").isEnabledFor(logging.DEBUG) \
        else drop_stderr_lines()
    if name == "devices":
        with quiet:
            table = devices.device_table(devices.sounddevice())
        print(table)
        return 0
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` finalises the recording like Ctrl-C does
    with quiet:
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


def run_live(args, started: threading.Event | None = None) -> Stats:
    """Run until --duration, Ctrl-C or a device failure. Returns the counts; never raises for device loss.

    `started` (optional) is set once input is flowing, for callers that must feed the microphone (tests).
    """
    import torch

    from .cli import load_quietly as load_model  # a TorchScript file is one line, not torch's warnings

    sd = devices.sounddevice()
    if not args.playback and not args.record:  # the one check argparse cannot make: two options together
        raise SpeechDAEError("nothing to do: --no-playback without --record")
    mono = args.channels == "mono"
    in_dev = devices.find_device(sd, args.input_device, "input")
    out_dev = devices.find_device(sd, args.output_device, "output") if args.playback else None
    in_info, out_max = devices.device_info(sd, in_dev, out_dev, args.playback)
    # Mono: read up to two channels (some devices refuse one) and average them.
    in_ch = min(2, in_info["max_input_channels"]) if mono else int(args.channels)
    n = 1 if mono else in_ch  # channels the model sees and the recording holds
    out_ch = 0
    if args.playback:
        out_ch = min(2, out_max) if n == 1 else n  # mono is copied to both speakers

    model = load_model(args.model)
    rate = args.samplerate or devices.pick_rate(sd, (in_dev, in_ch), (out_dev, out_ch), model.sample_rate,
                                                int(in_info["default_samplerate"]))
    hop = model.stft.cfg.hop
    blocksize = args.blocksize or max(1, round(hop * rate / model.sample_rate))
    margin = max(2 * blocksize, round(MARGIN_SECONDS * rate))
    setup = Setup(in_dev, out_dev, in_ch, out_ch, rate, blocksize, args.latency, margin,
                  frames=round(args.duration * rate) if args.duration else None, bypass=args.bypass,
                  record_name=args.record)
    stats = Stats(latency_ms=1000 * model.stft.cfg.latency_samples / model.sample_rate,
                  buffer_ms=1000 * (blocksize + margin) / rate if out_ch else 0.0)

    prev_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # per-hop work is tiny: more threads only add wake-up jitter next to audio threads
    try:
        pipe = Pipeline(model, in_ch, mono, rate, args.atten_limit, args.bypass)
        pipe.warm_up(n, hop)
        if not args.record:
            return LiveSession(sd, setup, stats, pipe, None, started).run()
        import soundfile as sf

        from .audio import atomic_path, format_for

        # Written under a temporary name and renamed when closed: never a half-written file at FILE.
        # Device loss is not an exception here, so what was recorded up to then is kept, complete.
        fmt = format_for(Path(args.record))
        with atomic_path(args.record) as tmp, sf.SoundFile(str(tmp), "w", rate, n, format=fmt) as f:
            LiveSession(sd, setup, stats, pipe, f, started).run()
    finally:
        torch.set_num_threads(prev_threads)
    return stats
