"""One run of `speechdae live`'s streams: the PortAudio callbacks, the worker, and their supervision and shutdown.

Three threads, so that the PortAudio callbacks never wait on the model:

    input callback --(queue of blocks)--> worker: mix, resample, denoise, resample, record --> output ring
    output callback <-- a fixed number of samples from the ring, or silence (counted as an underrun)

and the caller's thread, which opens the streams, watches them (end of --duration, Ctrl-C, a device that stops
or goes quiet) and shuts everything down in an order that loses nothing: input first, then the worker with what
is still in its filters, then the output once it has played the rest. Problems while running are counted in
`Stats` or turned into its one-line `error`; only a failure of the worker itself is raised.
"""
from __future__ import annotations

import contextlib
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .errors import first_line
from .live_pipeline import Ring

STALL_SECONDS = 2.0  # no input callback for this long means the device is gone (some backends just stop)
CLOSE_SECONDS = 3.0  # longer than any healthy device takes to close; past it the device is left behind
STATUS_FLAGS = ("input_overflow", "input_underflow", "output_underflow", "output_overflow")  # PortAudio's


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
    frames: int | None = None  # stop after this much input (--duration); None: until stopped
    bypass: bool = False  # only for the start message: the pipeline itself knows
    record_name: str | None = None  # the recording's final name, for the start message


@dataclass
class Stats:
    seconds: float = 0.0  # input processed, in device seconds
    latency_ms: float = 0.0  # the model's algorithmic latency
    buffer_ms: float = 0.0  # plus blocksize and output priming, when playing
    xruns: dict = field(default_factory=lambda: dict.fromkeys(
        (*STATUS_FLAGS, "dropped_input", "ring_underrun", "ring_overrun"), 0))
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


class LiveSession:
    """Streams `setup`'s devices through `pipe` into `record` (an open sound file, or None) and/or the speakers.

    `run()` once, from the thread that should receive Ctrl-C. `started` (optional) is set once input is
    flowing, for callers that must feed the microphone (tests).
    """

    def __init__(self, sd, setup: Setup, stats: Stats, pipe, record=None, started: threading.Event | None = None):
        self.sd, self.setup, self.stats, self.pipe, self.record, self.started = sd, setup, stats, pipe, record, started
        self.blocks: queue.Queue = queue.Queue()  # input blocks for the worker; None ends it
        self.max_blocks = max(8, 2 * setup.rate // setup.blocksize)  # 2 s of slack before input is dropped
        self.ring = Ring(setup.out_ch, setup.margin, 4 * (setup.margin + setup.blocksize)) if setup.out_ch else None
        self.captured = 0  # input frames taken from the device
        self.last_input = time.monotonic()  # when the input callback last ran, for the stall check
        self.stopping = False  # shutting down: the input callback ends its stream at its next block
        self.draining = False  # input over: the ring running dry now is the end, not an underrun
        self.done_input = threading.Event()  # --duration reached
        self.errors: list[BaseException] = []  # the worker's, re-raised by run()
        self.streams: list = []  # input, then output when playing
        self.worker = threading.Thread(target=self._work, name="speechdae-live-worker", daemon=True)

    # PortAudio's threads: no waiting here, on the model or on anything else.

    def on_input(self, indata, frames, time_info, status):
        if self.stopping:  # Ctrl-C: end the stream from its own thread rather than cancelling that thread
            raise self.sd.CallbackStop
        self._count(status)
        self.last_input = time.monotonic()
        block = indata.copy()
        target = self.setup.frames
        if target is not None:
            block = block[: target - self.captured]
        self.captured += len(block)
        if self.blocks.qsize() < self.max_blocks:
            self.blocks.put_nowait(block)
        else:  # the worker fell behind by 2 s: drop rather than let latency grow without bound
            self.stats.xruns["dropped_input"] += 1
        if target is not None and self.captured >= target:
            self.done_input.set()
            raise self.sd.CallbackStop

    def on_output(self, outdata, frames, time_info, status):
        self._count(status)
        if not self.ring.read(outdata) and not self.draining:  # running dry at the very end is no xrun
            self.stats.xruns["ring_underrun"] += 1

    def _count(self, status):
        for flag in STATUS_FLAGS:
            self.stats.xruns[flag] += bool(getattr(status, flag))

    # The worker's thread.

    def _work(self):
        try:
            while (item := self.blocks.get()) is not None:
                items = [item]
                while items[-1] is not None and not self.blocks.empty():  # catch up in one call after a gap
                    items.append(self.blocks.get_nowait())
                x = np.concatenate([b for b in items if b is not None])
                self.stats.seconds += len(x) / self.setup.rate
                self._emit(self.pipe(x))
                if items[-1] is None:
                    break
            end = np.zeros((0, self.setup.in_ch), np.float32)
            self._emit(self.pipe(end, last=True))  # what is still in the filters
        except BaseException as e:  # handed to the main thread, which stops the streams and re-raises
            self.errors.append(e)

    def _emit(self, y):
        if self.record is not None and len(y):
            self.record.write(y)
        if self.ring is not None and len(y) and not self.ring.write(y):
            self.stats.xruns["ring_overrun"] += 1

    # The caller's thread.

    def run(self) -> Stats:
        """Until --duration, Ctrl-C or a device failure; never raises for device loss, only the worker's errors."""
        try:
            self.worker.start()
            try:
                self._open()
                self._supervise()
            except self.sd.PortAudioError as e:
                self.stats.error = f"audio device error: {first_line(e)}"
            except KeyboardInterrupt:  # Ctrl-C is the normal way to stop: finish the file, print the summary
                pass
        finally:
            self._shut_down()
        if self.errors:
            raise self.errors[0]
        return self.stats

    def _open(self):
        sd, setup = self.sd, self.setup
        common = dict(samplerate=setup.rate, blocksize=setup.blocksize, dtype="float32", latency=setup.latency)
        self.streams.append(sd.InputStream(device=setup.in_dev, channels=setup.in_ch, callback=self.on_input,
                                           **common))
        if self.ring is not None:
            self.streams.append(sd.OutputStream(device=setup.out_dev, channels=setup.out_ch, callback=self.on_output,
                                                **common))
        for s in self.streams:
            s.start()
        self.last_input = time.monotonic()
        names = [sd.query_devices(s.device)["name"] for s in self.streams]
        dest = " + ".join(names[1:] + ([setup.record_name] if self.record is not None else []))
        print(f"live: {names[0]} -> {'bypass' if setup.bypass else 'denoise'} -> {dest} at {setup.rate} Hz, "
              f"blocks of {setup.blocksize}; Ctrl-C to stop", file=sys.stderr, flush=True)

    def _supervise(self):
        """Wait for the end of --duration; stop early, with stats.error, if the worker or a device fails."""
        while not self.done_input.wait(0.02):
            if self.started is not None and self.captured:
                self.started.set()
            if self.errors:
                break
            if not all(s.active for s in self.streams) and not self.done_input.is_set():
                self.stats.error = "audio device stopped unexpectedly (disconnected?)"
                break
            if time.monotonic() - self.last_input > STALL_SECONDS:
                self.stats.error = f"no audio from the input device for {STALL_SECONDS:.0f} s (disconnected?)"
                break

    def _shut_down(self):
        streams, setup, stats = self.streams, self.setup, self.stats
        with interrupts_ignored():  # a second Ctrl-C while finishing must not cut the recording short
            self.stopping = True
            if streams and not stats.error:  # a live device ends its stream at the next block
                deadline = time.monotonic() + 0.5
                while streams[0].active and time.monotonic() < deadline:
                    time.sleep(0.005)
            close_streams(self.sd, streams[:1], stats)  # input first, so the worker sees the true end of the stream
            self.blocks.put(None)
            self.worker.join()
            self.draining = True
            if self.ring is not None and streams[1:] and not stats.error:  # play what is left in the ring
                deadline = time.monotonic() + 2 * (setup.margin + setup.blocksize) / setup.rate + 0.2
                while self.ring.size and streams[1].active and time.monotonic() < deadline:
                    time.sleep(0.01)
            close_streams(self.sd, streams[1:], stats)


@contextlib.contextmanager
def interrupts_ignored():
    """SIGINT and SIGTERM ignored inside the block (signal handlers can only be set from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def close_streams(sd, streams, stats: Stats, timeout: float | None = None):
    """Stop streams without letting a dead device turn into a traceback or a hang.

    Closing runs in a helper thread with a deadline because ALSA/PulseAudio teardown can block forever (a
    read stuck in the PulseAudio bridge; see PortAudio and alsa-lib bug reports). A stream that does not close
    in time is left behind and `stats.stuck` tells the caller not to wait for PortAudio at exit.
    """
    timeout = CLOSE_SECONDS if timeout is None else timeout  # read at call time, so tests can shorten it

    def close_all():
        for s in streams:
            try:
                s.abort()  # abort, not stop: a vanished device may never drain its buffers
                s.close()
            except sd.PortAudioError as e:
                stats.error = stats.error or f"audio device error: {first_line(e)}"

    closer = threading.Thread(target=close_all, name="speechdae-live-close", daemon=True)
    closer.start()
    closer.join(timeout)
    if closer.is_alive():
        stats.stuck = True
        print(f"live: the audio device did not close within {timeout:.0f} s; leaving it", file=sys.stderr)
