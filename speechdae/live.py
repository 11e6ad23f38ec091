"""A live run: what is set up before the streams open (devices, rate, block size, the recording), then one
LiveSession until --duration, Ctrl-C or a device failure.

The modules, by job:

    commands/live.py  the `speechdae live` and `devices` options (checked by argparse) and process control
    live.py           what is set up before the streams open
    live_devices.py   PortAudio's devices: found, described, their rate chosen
    live_pipeline.py  the signal path: denoising pipeline and output ring
    live_session.py   the callbacks, the worker, supervision and shutdown of one run

Problems while running (xruns, a full queue, a device that goes away) are counted or turned into a one-line
message at the end; the recording is always closed properly and renamed into place, so the file on disk is
either absent or complete.
"""
from __future__ import annotations

import threading
from pathlib import Path

from . import live_devices as devices
from .errors import SpeechDAEError
from .live_pipeline import Pipeline
from .live_session import LiveSession, Setup, Stats

MARGIN_SECONDS = 0.06  # output priming: covers worker scheduling jitter and bursty host APIs (PulseAudio)


def run_live(args, started: threading.Event | None = None) -> Stats:
    """Run until --duration, Ctrl-C or a device failure. Returns the counts; never raises for device loss.

    `started` (optional) is set once input is flowing, for callers that must feed the microphone (tests).
    """
    import torch

    from .commands.options import load_quietly as load_model  # a TorchScript file: one line, no warnings

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
