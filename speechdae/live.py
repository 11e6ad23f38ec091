"""`speechdae live` and `speechdae devices`: denoise a microphone in real time with sounddevice (PortAudio).

Three threads, so that the PortAudio callbacks never wait on the model:

    input callback --(queue of blocks)--> worker: mix, resample, denoise, resample, record --> output ring
    output callback <-- a fixed number of samples from the ring, or silence (counted as an underrun)

The worker keeps all state (denoiser caches, soxr streams), so output is the same however PortAudio
slices the input. Problems while running (xruns, a full queue, a device that goes away) are counted or
turned into a one-line message at the end; the recording is always closed properly and renamed into
place, so the file on disk is either absent or complete.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import SpeechDAEError

MARGIN_SECONDS = 0.06  # output priming: covers worker scheduling jitter and bursty host APIs (PulseAudio)
STALL_SECONDS = 2.0  # no input callback for this long means the device is gone (some backends just stop)
CLOSE_SECONDS = 3.0  # longer than any healthy device takes to close; past it the device is left behind


def _sounddevice():
    try:
        import sounddevice as sd
    except OSError as e:  # the Python package is there but the PortAudio library is not
        raise SpeechDAEError(f"live audio needs PortAudio (e.g. apt-get install libportaudio2): {e}") from None
    return sd


def add_arguments(parser: argparse.ArgumentParser, name: str):
    if name == "devices":
        return
    parser.add_argument("--input-device", help="index or name substring (default: the default input)")
    parser.add_argument("--output-device", help="index or name substring (default: the default output)")
    parser.add_argument("--no-playback", dest="playback", action="store_false", help="do not play the result")
    parser.add_argument("--record", metavar="FILE", help="also write the result to FILE (.wav, .flac, ...)")
    parser.add_argument("--model", help="checkpoint (default: the bundled model)")
    parser.add_argument("--channels", default="mono", metavar="mono|N",
                        help="'mono': mix the input to one channel (default); N: denoise N channels separately")
    parser.add_argument("--samplerate", type=int, help="device rate (default: the model's if the device takes it)")
    parser.add_argument("--blocksize", type=int, help="frames per callback (default: one model hop)")
    parser.add_argument("--bypass", action="store_true", help="pass the raw input through, for comparison")
    from .cli import atten_limit_arg

    parser.add_argument("--atten-limit", type=atten_limit_arg, metavar="DB",
                        help="never attenuate by more than DB decibels")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this much input")
    parser.add_argument("--latency", default="high",
                        help="PortAudio latency hint: 'low', 'high' (default) or seconds")


def run(args, name: str) -> int:
    import logging

    from .quiet import drop_stderr_lines

    # PortAudio's trace lines for a failed call come before our own one-line message; -v keeps them.
    quiet = contextlib.nullcontext() if logging.getLogger("speechdae").isEnabledFor(logging.DEBUG) \
        else drop_stderr_lines()
    if name == "devices":
        with quiet:
            table = device_table()
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


@contextlib.contextmanager
def _interrupts_ignored():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def device_table() -> str:
    sd = _sounddevice()
    devices = sd.query_devices()
    if not devices:
        return "no audio devices found"
    default_in, default_out = (_default_index(sd, kind) for kind in ("input", "output"))
    lines = ["  index  in  out    rate  name"]
    for d in devices:
        mark = ("<" if d["index"] == default_in else " ") + (">" if d["index"] == default_out else " ")
        api = sd.query_hostapis(d["hostapi"])["name"]
        lines.append(f"{mark}{d['index']:5d} {d['max_input_channels']:3d} {d['max_output_channels']:4d} "
                     f"{d['default_samplerate']:7.0f}  {d['name']} ({api})")
    lines.append("< default input, > default output")
    return "\n".join(lines)


def _default_index(sd, kind: str):
    try:
        return sd.query_devices(kind=kind)["index"]
    except sd.PortAudioError:  # no default of that kind
        return None


def _device(sd, spec, kind: str):
    """'3' -> 3; a name substring -> its index (sounddevice checks it); None -> the default."""
    if spec is None:
        return None
    spec = int(spec) if str(spec).isdigit() else spec
    try:
        return sd.query_devices(spec, kind)["index"]
    except (ValueError, sd.PortAudioError) as e:
        raise SpeechDAEError(f"{kind} device {spec!r}: {str(e).splitlines()[0]}") from None


@dataclass
class Stats:
    seconds: float = 0.0  # input processed, in device seconds
    latency_ms: float = 0.0  # the model's algorithmic latency
    buffer_ms: float = 0.0  # plus blocksize and output priming, when playing
    xruns: dict = field(default_factory=lambda: dict.fromkeys(
        ("input_overflow", "input_underflow", "output_underflow", "output_overflow",
         "dropped_input", "ring_underrun", "ring_overrun"), 0))
    error: str | None = None
    stuck: bool = False  # a device did not close in time: the process must not wait for PortAudio at exit

    @property
    def total_xruns(self) -> int:
        return sum(self.xruns.values())

    def summary(self) -> str:
        detail = ", ".join(f"{k} {v}" for k, v in self.xruns.items() if v)
        return (f"live: {self.seconds:.2f} s processed, {self.total_xruns} xruns"
                f"{f' ({detail})' if detail else ''}, algorithmic latency {self.latency_ms:.1f} ms"
                f" (+{self.buffer_ms:.1f} ms buffering)")


class Ring:
    """Samples waiting for the output callback. A ring and not a queue of blocks because the callback
    needs exactly `frames` samples, whatever sizes the worker produced."""

    def __init__(self, channels: int, margin: int, capacity: int):
        self.buf = np.zeros((capacity, channels), np.float32)
        self.margin, self.start, self.size = margin, 0, 0
        self.primed = False  # wait for `margin` samples first, so jitter does not become underruns
        self.lock = threading.Lock()

    def write(self, x: np.ndarray) -> bool:
        """Append (mono is broadcast to every output channel); returns False if the oldest samples had to be dropped
        (output clock slower than input)."""
        with self.lock:
            cap = len(self.buf)
            overflow = max(0, self.size + len(x) - cap)
            if overflow:  # drop the oldest: keep latency bounded rather than growing forever
                if len(x) >= cap:  # more than fits at all: keep only the newest `cap` samples
                    x = x[-cap:]
                    self.start, self.size = 0, 0
                else:
                    self.start, self.size = (self.start + overflow) % cap, self.size - overflow
            self.buf[(self.start + self.size + np.arange(len(x))) % cap] = x
            self.size += len(x)
            return not overflow

    def read(self, out: np.ndarray) -> bool:
        """Fill `out` (frames, channels). Returns False on an underrun."""
        with self.lock:
            n = len(out)
            if not self.primed and self.size >= self.margin:
                self.primed = True
            take = min(n, self.size) if self.primed else 0
            out[:take] = self.buf[(self.start + np.arange(take)) % len(self.buf)]
            out[take:] = 0
            self.start, self.size = (self.start + take) % len(self.buf), self.size - take
            if self.primed and take < n:
                self.primed = False  # re-prime: one gap is better than crackling on every callback
                return False
            return True


class Pipeline:
    """The worker's signal path: device blocks in, device-rate output blocks out. Not thread-safe: one thread."""

    def __init__(self, denoiser, channels: int, mono: bool, rate: int, atten_limit, bypass: bool):
        from .rate import RateStream

        self.mono, self.bypass = mono, bypass
        n = 1 if mono else channels
        # The file path's rate adapter (soxr streams keep their filter state between calls, so block boundaries
        # cause no clicks; above the model's rate the high band is kept): the recording equals `denoise`.
        self.rate_stream = RateStream(denoiser, rate, n, atten_limit) if not bypass else None
        self.stream = self.rate_stream.stream if not bypass else None  # the model's stream, for the warm-up

    def __call__(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        """(frames, device channels) -> (frames', channels out)."""
        if self.mono:
            x = x.mean(axis=1, keepdims=True)
        if self.bypass:
            return x
        y = self.rate_stream.process(x)
        return np.concatenate([y, self.rate_stream.flush()]) if last else y


def _latency(value):
    try:
        return float(value)
    except ValueError:
        if value not in ("low", "high"):
            raise SpeechDAEError(f"--latency must be 'low', 'high' or seconds, got {value!r}") from None
        return value


@dataclass
class Setup:
    """What was decided before the streams open."""
    in_dev: int | None
    out_dev: int | None
    in_ch: int  # channels read from the device
    out_ch: int  # channels played (0: no playback)
    rate: int  # device rate
    blocksize: int
    latency: object
    margin: int  # output priming, samples


def run_live(args, started: threading.Event | None = None) -> Stats:
    """Run until --duration, Ctrl-C or a device failure. Returns the counts; never raises for device loss.

    `started` (optional) is set once input is flowing, for callers that must feed the microphone (tests).
    """
    import torch

    from .cli import load_quietly as load_model  # a TorchScript file is one line, not torch's warnings

    sd = _sounddevice()
    if not args.playback and not args.record:
        raise SpeechDAEError("nothing to do: --no-playback without --record")
    mono = args.channels == "mono"
    if not mono and not (str(args.channels).isdigit() and int(args.channels) > 0):
        raise SpeechDAEError(f"--channels must be 'mono' or a positive number, got {args.channels!r}")
    for opt in ("duration", "blocksize", "samplerate"):
        if getattr(args, opt) is not None and getattr(args, opt) <= 0:
            raise SpeechDAEError(f"--{opt} must be positive")
    in_dev = _device(sd, args.input_device, "input")
    out_dev = _device(sd, args.output_device, "output") if args.playback else None
    try:
        in_info = sd.query_devices(in_dev, "input")
        out_max = sd.query_devices(out_dev, "output")["max_output_channels"] if args.playback else 0
    except (ValueError, sd.PortAudioError) as e:  # e.g. no default device at all
        raise SpeechDAEError(f"audio device: {str(e).splitlines()[0]} (see `speechdae devices`)") from None
    # Mono: read up to two channels (some devices refuse one) and average them.
    in_ch = min(2, in_info["max_input_channels"]) if mono else int(args.channels)
    n = 1 if mono else in_ch  # channels the model sees and the recording holds
    out_ch = 0
    if args.playback:
        out_ch = min(2, out_max) if n == 1 else n  # mono is copied to both speakers

    model = load_model(args.model)
    rate = args.samplerate or _pick_rate(sd, (in_dev, in_ch), (out_dev, out_ch), model.sample_rate,
                                         int(in_info["default_samplerate"]))
    hop = model.stft.cfg.hop
    blocksize = args.blocksize or max(1, round(hop * rate / model.sample_rate))
    margin = max(2 * blocksize, round(MARGIN_SECONDS * rate))
    setup = Setup(in_dev, out_dev, in_ch, out_ch, rate, blocksize, _latency(args.latency), margin)
    stats = Stats(latency_ms=1000 * model.stft.cfg.latency_samples / model.sample_rate,
                  buffer_ms=1000 * (blocksize + margin) / rate if out_ch else 0.0)

    prev_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # per-hop work is tiny: more threads only add wake-up jitter next to audio threads
    try:
        pipe = Pipeline(model, in_ch, mono, rate, args.atten_limit, args.bypass)
        if pipe.stream is not None:  # warm up the first (slow) torch calls before the clock starts
            for _ in range(4):
                pipe.stream.process(np.zeros((n, hop), np.float32))
            pipe.stream.process(np.zeros((n, 4 * hop), np.float32))
            pipe.stream.reset()
        if not args.record:
            _stream(sd, args, setup, stats, pipe, None, started)
            return stats
        import soundfile as sf

        from .audio import atomic_path, format_for

        # Written under a temporary name and renamed when closed: never a half-written file at FILE.
        # Device loss is not an exception here, so what was recorded up to then is kept, complete.
        fmt = format_for(Path(args.record))
        with atomic_path(args.record) as tmp, sf.SoundFile(str(tmp), "w", rate, n, format=fmt) as f:
            _stream(sd, args, setup, stats, pipe, f, started)
    finally:
        torch.set_num_threads(prev_threads)
    return stats


def _pick_rate(sd, inp, out, model_rate: int, fallback: int) -> int:
    """The model's rate if the devices take it (no resampling), otherwise the input device's default."""
    try:
        sd.check_input_settings(*inp, samplerate=model_rate)
        if out[1]:
            sd.check_output_settings(*out, samplerate=model_rate)
        return model_rate
    except sd.PortAudioError:
        return fallback


def _stream(sd, args, setup: Setup, stats: Stats, pipe: Pipeline, record, started):
    rate, blocksize = setup.rate, setup.blocksize
    target = round(args.duration * rate) if args.duration else None
    blocks: queue.Queue = queue.Queue()
    max_blocks = max(8, 2 * rate // blocksize)  # 2 s of slack for the worker before input is dropped
    ring = Ring(setup.out_ch, setup.margin, 4 * (setup.margin + blocksize)) if setup.out_ch else None
    state = {"captured": 0, "last_input": time.monotonic(), "stopping": False, "draining": False}
    done_input = threading.Event()
    errors = []

    def count(status):
        for flag in ("input_overflow", "input_underflow", "output_underflow", "output_overflow"):
            stats.xruns[flag] += bool(getattr(status, flag))

    def on_input(indata, frames, time_info, status):
        if state["stopping"]:  # Ctrl-C: end the stream from its own thread rather than cancelling that thread
            raise sd.CallbackStop
        count(status)
        state["last_input"] = time.monotonic()
        block = indata.copy()
        if target is not None:
            block = block[: target - state["captured"]]
        state["captured"] += len(block)
        if blocks.qsize() < max_blocks:
            blocks.put_nowait(block)
        else:  # the worker fell behind by 2 s: drop rather than let latency grow without bound
            stats.xruns["dropped_input"] += 1
        if target is not None and state["captured"] >= target:
            done_input.set()
            raise sd.CallbackStop

    def on_output(outdata, frames, time_info, status):
        count(status)
        if not ring.read(outdata) and not state["draining"]:  # running dry at the very end is no xrun
            stats.xruns["ring_underrun"] += 1

    def emit(y):
        if record is not None and len(y):
            record.write(y)
        if ring is not None and len(y) and not ring.write(y):
            stats.xruns["ring_overrun"] += 1

    def work():
        try:
            while (item := blocks.get()) is not None:
                items = [item]
                while items[-1] is not None and not blocks.empty():  # catch up in one call after a gap
                    items.append(blocks.get_nowait())
                x = np.concatenate([b for b in items if b is not None])
                stats.seconds += len(x) / rate
                emit(pipe(x))
                if items[-1] is None:
                    break
            emit(pipe(np.zeros((0, setup.in_ch), np.float32), last=True))  # what is still in the filters
        except BaseException as e:  # handed to the main thread, which stops the streams and re-raises
            errors.append(e)

    worker = threading.Thread(target=work, name="speechdae-live-worker", daemon=True)
    streams = []
    try:
        worker.start()
        try:
            common = dict(samplerate=rate, blocksize=blocksize, dtype="float32", latency=setup.latency)
            streams.append(sd.InputStream(device=setup.in_dev, channels=setup.in_ch, callback=on_input, **common))
            if ring is not None:
                streams.append(sd.OutputStream(device=setup.out_dev, channels=setup.out_ch, callback=on_output,
                                               **common))
            for s in streams:
                s.start()
            state["last_input"] = time.monotonic()
            names = [sd.query_devices(s.device)["name"] for s in streams]
            dest = " + ".join(names[1:] + ([args.record] if record else []))
            print(f"live: {names[0]} -> {'bypass' if args.bypass else 'denoise'} -> {dest} at {rate} Hz, "
                  f"blocks of {blocksize}; Ctrl-C to stop", file=sys.stderr, flush=True)
            while not done_input.wait(0.02):
                if started is not None and state["captured"]:
                    started.set()
                if errors:
                    break
                if not all(s.active for s in streams) and not done_input.is_set():
                    stats.error = "audio device stopped unexpectedly (disconnected?)"
                    break
                if time.monotonic() - state["last_input"] > STALL_SECONDS:
                    stats.error = f"no audio from the input device for {STALL_SECONDS:.0f} s (disconnected?)"
                    break
        except sd.PortAudioError as e:
            stats.error = f"audio device error: {str(e).splitlines()[0]}"
        except KeyboardInterrupt:  # Ctrl-C is the normal way to stop: finish the file, print the summary
            pass
    finally:
        with _interrupts_ignored():  # a second Ctrl-C while finishing must not cut the recording short
            state["stopping"] = True
            if streams and not stats.error:  # a live device ends its stream at the next block
                deadline = time.monotonic() + 0.5
                while streams[0].active and time.monotonic() < deadline:
                    time.sleep(0.005)
            _close(sd, streams[:1], stats)  # input first, so the worker sees the true end of the stream
            blocks.put(None)
            worker.join()
            state["draining"] = True
            if ring is not None and streams[1:] and not stats.error:  # play what is left in the ring
                deadline = time.monotonic() + 2 * (setup.margin + blocksize) / rate + 0.2
                while ring.size and streams[1].active and time.monotonic() < deadline:
                    time.sleep(0.01)
            _close(sd, streams[1:], stats)
    if errors:
        raise errors[0]
    return stats


def _close(sd, streams, stats, timeout: float = CLOSE_SECONDS):
    """Stop streams without letting a dead device turn into a traceback or a hang.

    Closing runs in a helper thread with a deadline because ALSA/PulseAudio teardown can block forever (a
    read stuck in the PulseAudio bridge; see PortAudio and alsa-lib bug reports). A stream that does not close
    in time is left behind and `stats.stuck` tells the caller not to wait for PortAudio at exit.
    """
    def close_all():
        for s in streams:
            try:
                s.abort()  # abort, not stop: a vanished device may never drain its buffers
                s.close()
            except sd.PortAudioError as e:
                stats.error = stats.error or f"audio device error: {str(e).splitlines()[0]}"

    closer = threading.Thread(target=close_all, name="speechdae-live-close", daemon=True)
    closer.start()
    closer.join(timeout)
    if closer.is_alive():
        stats.stuck = True
        print(f"live: the audio device did not close within {timeout:.0f} s; leaving it", file=sys.stderr)
