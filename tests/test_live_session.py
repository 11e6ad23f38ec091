"""`speechdae live` against a fake sounddevice: supervision, shutdown, counting and argument errors.

tests/test_live.py runs the real thing through PulseAudio; here a fake module stands in for sounddevice, so that
what a real device does rarely or only on purpose (vanish mid-stream, go quiet, fail to open or close, never
close, report an overflow) happens on cue, and each test can say exactly what must come of it. The fake's
streams call their callbacks from their own threads at the device's pace, as PortAudio does.
"""
import argparse
import signal
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from conftest import SAMPLES
from speechdae import cli, live_devices, live_session
from speechdae.commands import live as live_command
from speechdae.commands import options
from speechdae.checkpoint import load_model
from speechdae.live_pipeline import Ring
from speechdae.live_session import STATUS_FLAGS, LiveSession, Setup, Stats

RATE, BLOCK = 16000, 160


class PortAudioError(Exception):
    pass


class CallbackStop(Exception):
    pass


class Status:
    """sounddevice.CallbackFlags: the flags given are set, the others not."""

    def __init__(self, *flags):
        for f in STATUS_FLAGS:
            setattr(self, f, f in flags)


class FakeStream:
    """An InputStream or OutputStream: after start(), a thread calls the callback once per block until the
    callback raises CallbackStop or abort() is called; the input plays `sd.mic`, then does `sd.then`."""

    def __init__(self, sd, kind, device, channels, callback, samplerate, blocksize, dtype, latency):
        if kind == "input" and sd.open_error:
            raise PortAudioError(sd.open_error)
        self.sd, self.kind, self.channels, self.callback, self.blocksize = sd, kind, channels, callback, blocksize
        self.device = sd.default[kind] if device is None else device
        self.pace = blocksize / samplerate
        self.active = self.closed = False
        self.ended_by = None
        self.played = []
        self._aborted = threading.Event()
        sd.streams.append(self)

    def start(self):
        self.active = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _block(self, i):
        if self.kind == "output":
            return np.full((self.blocksize, self.channels), np.nan, np.float32)  # the callback must fill it all
        x = self.sd.mic[i * self.blocksize:][: self.blocksize]
        if len(x) == 0 and self.sd.then != "silence":
            return None
        x = np.pad(x, (0, self.blocksize - len(x)))
        return np.repeat(x[:, None], self.channels, axis=1).astype(np.float32)

    def _run(self):
        i = 0
        while not self._aborted.is_set():
            data = self._block(i)
            if data is None:  # the mic is used up: the device vanishes or goes quiet
                self.ended_by = self.sd.then
                if self.sd.then == "vanish":
                    self.active = False
                    return
                self._aborted.wait()
                return
            try:
                self.callback(data, self.blocksize, None, Status(*self.sd.status.get((self.kind, i), ())))
            except CallbackStop:
                self.active, self.ended_by = False, "CallbackStop"
                return
            if self.kind == "output":
                self.played.append(data.copy())
            i += 1
            self._aborted.wait(self.pace)

    def abort(self):
        self.sd.log.append(f"abort {self.kind}")
        if self.sd.stuck.get(self.kind):
            self.sd.release.wait()
        self._aborted.set()
        if self.thread.is_alive():
            self.thread.join()
        self.active = False
        self.ended_by = self.ended_by or "abort"
        if self.sd.abort_error.get(self.kind):
            raise PortAudioError(self.sd.abort_error[self.kind])

    def close(self):
        self.sd.log.append(f"close {self.kind}")
        self.closed = True


class FakeSounddevice:
    """The part of sounddevice that speechdae.live uses; a mic (index 0) and a speaker (index 1)."""

    PortAudioError, CallbackStop = PortAudioError, CallbackStop

    def __init__(self, mic=None, then="silence", rates=(RATE,)):
        self.mic = np.zeros(0, np.float32) if mic is None else mic
        self.then = then  # when the mic is used up: "silence" (go on), "vanish" (stop), "stall" (no callbacks)
        self.rates = rates
        self.devices = [
            dict(index=0, name="Fake Mic", hostapi=0, max_input_channels=2, max_output_channels=0,
                 default_samplerate=48000.0),
            dict(index=1, name="Fake Speaker", hostapi=0, max_input_channels=0, max_output_channels=2,
                 default_samplerate=48000.0)]
        self.default = {"input": 0, "output": 1}
        self.status = {}  # (kind, block index) -> the flags of that callback
        self.open_error, self.abort_error, self.stuck = None, {}, {}
        self.release = threading.Event()  # lets a stuck abort() return
        self.streams, self.log = [], []

    def InputStream(self, **kw):  # noqa: N802 (sounddevice's name)
        return FakeStream(self, "input", **kw)

    def OutputStream(self, **kw):  # noqa: N802
        return FakeStream(self, "output", **kw)

    def query_devices(self, device=None, kind=None):
        if device is None and kind is None:
            return self.devices
        if device is None:
            return self.devices[self.default[kind]]
        key = "max_input_channels" if kind == "input" else "max_output_channels"
        for d in self.devices:
            if (d["index"] == device or str(device) in d["name"]) and (kind is None or d[key]):
                return d
        raise ValueError(f"No {kind} device matching {device!r}")

    def query_hostapis(self, index):
        return {"name": "Fake API"}

    def check_input_settings(self, device, channels, samplerate):
        if samplerate not in self.rates:
            raise PortAudioError("Invalid sample rate")

    check_output_settings = check_input_settings


class Delay:
    """A pipeline that holds back its last `d` samples until the final call, as a filter's state does."""

    def __init__(self, sd, d=37, fail_at=None):
        self.sd, self.held, self.calls, self.fail_at = sd, np.zeros((d, 1), np.float32), 0, fail_at

    def __call__(self, x, last=False):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("the model broke")
        y = np.concatenate([self.held, x.mean(axis=1, keepdims=True)])
        if last:
            self.sd.log.append("flush")
            return y
        self.held = y[len(y) - len(self.held):]
        return y[: len(y) - len(self.held)]


class Recording(list):
    def write(self, y):
        self.append(y.copy())

    def samples(self):
        return np.concatenate(self)[:, 0] if self else np.zeros(0, np.float32)


def ramp(seconds):
    """A mic signal with no zero in it, so that any sample lost, repeated or moved shows."""
    n = round(seconds * RATE)
    return (0.1 + 0.8 * np.arange(n) / n).astype(np.float32)


def make_session(sd, *, out_ch=0, frames=None, margin=2 * BLOCK, pipe=None, record=None):
    setup = Setup(0, 1 if out_ch else None, 1, out_ch, RATE, BLOCK, "high", margin, frames=frames,
                  record_name="rec.wav")
    return LiveSession(sd, setup, Stats(), pipe or Delay(sd), record, threading.Event())


def run_session(s, ctrl_c_after=None, limit=10.0):
    """s.run() in this thread (the main one, which Ctrl-C reaches), pressing Ctrl-C `ctrl_c_after` s after input
    starts flowing, and in any case after `limit` s: a session that does not stop fails its test, not hangs."""
    main, done = threading.main_thread().ident, threading.Event()

    def press_ctrl_c():
        start = time.monotonic()
        if ctrl_c_after is not None and s.started.wait(limit) and not done.wait(ctrl_c_after):
            signal.pthread_kill(main, signal.SIGINT)
        elif not done.wait(max(0.0, limit - (time.monotonic() - start))):
            signal.pthread_kill(main, signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    try:
        return s.run()
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C got through the session")
    finally:
        done.set()
        presser.join()


def delayed(x, d=37):
    return np.concatenate([np.zeros(d, np.float32), x])


# The session, on its own: supervision and shutdown.

def test_duration_takes_exactly_that_much_input_and_flushes_the_tail():
    sd, rec = FakeSounddevice(ramp(0.5)), Recording()
    s = make_session(sd, frames=5000, record=rec)  # not a whole number of blocks: the last one is cut
    stats = run_session(s)
    assert stats.error is None and stats.seconds == pytest.approx(5000 / RATE) and s.captured == 5000
    np.testing.assert_array_equal(rec.samples(), delayed(sd.mic[:5000]))  # the held-back tail too
    mic = sd.streams[0]
    assert mic.ended_by == "CallbackStop" and mic.closed
    assert sd.log == ["abort input", "close input", "flush"]  # input closed before the worker's last call
    assert not s.worker.is_alive()


def test_ctrl_c_ends_cleanly_and_keeps_everything_captured():
    sd, rec = FakeSounddevice(ramp(3.0)), Recording()
    s = make_session(sd, out_ch=2, record=rec)
    handler = signal.getsignal(signal.SIGINT)
    stats = run_session(s, ctrl_c_after=0.3)  # no KeyboardInterrupt: Ctrl-C is the normal way to stop
    assert stats.error is None and 0 < s.captured < len(sd.mic)
    np.testing.assert_array_equal(rec.samples(), delayed(sd.mic[: s.captured]))
    mic, speaker = sd.streams
    assert mic.ended_by == "CallbackStop"  # ended from its own thread at the next block, not cut off
    assert mic.closed and speaker.closed
    assert sd.log == ["abort input", "close input", "flush", "abort output", "close output"]
    assert signal.getsignal(signal.SIGINT) is handler  # given back after shutdown ignored it


def test_a_second_ctrl_c_while_finishing_does_not_cut_the_recording_short():
    sd, rec = FakeSounddevice(ramp(0.3)), Recording()
    main = threading.main_thread().ident

    class CtrlCAtTheEnd(Delay):
        def __call__(self, x, last=False):
            if last:  # the main thread is waiting for the worker now
                signal.pthread_kill(main, signal.SIGINT)
                time.sleep(0.1)
            return super().__call__(x, last)

    stats = run_session(make_session(sd, frames=len(sd.mic), pipe=CtrlCAtTheEnd(sd), record=rec))
    assert stats.error is None
    np.testing.assert_array_equal(rec.samples(), delayed(sd.mic))


def test_a_device_that_vanishes_mid_stream_is_one_line_and_keeps_what_was_recorded():
    sd, rec = FakeSounddevice(ramp(0.4), then="vanish"), Recording()
    s = make_session(sd, out_ch=2, record=rec)
    start = time.monotonic()
    stats = run_session(s)
    assert time.monotonic() - start < 0.4 + 1.5  # noticed at once, not after the stall timeout
    assert stats.error == "audio device stopped unexpectedly (disconnected?)"
    np.testing.assert_array_equal(rec.samples(), delayed(sd.mic))  # everything up to the loss, and the tail
    assert all(st.closed for st in sd.streams) and not s.worker.is_alive()


def test_an_input_that_goes_quiet_is_taken_for_gone(monkeypatch):
    monkeypatch.setattr(live_session, "STALL_SECONDS", 1.0)
    sd, rec = FakeSounddevice(ramp(0.3), then="stall"), Recording()
    start = time.monotonic()
    stats = run_session(make_session(sd, record=rec))
    assert 1.3 <= time.monotonic() - start < 3.5
    assert stats.error == "no audio from the input device for 1 s (disconnected?)"
    np.testing.assert_array_equal(rec.samples(), delayed(sd.mic))
    assert sd.streams[0].closed


def test_a_device_that_fails_to_open_is_one_line_and_nothing_is_left_running():
    sd, rec = FakeSounddevice(ramp(0.3)), Recording()
    sd.open_error = "Invalid number of channels\n[PaErrorCode -9998]"
    s = make_session(sd, record=rec)
    stats = run_session(s)
    assert stats.error == "audio device error: Invalid number of channels"
    assert not s.worker.is_alive() and s.captured == 0 and not rec.samples().any()


def test_an_error_while_closing_is_one_line_and_the_other_stream_is_still_closed():
    sd, rec = FakeSounddevice(ramp(0.3)), Recording()
    sd.abort_error["input"] = "Stream is stopped\n[PaErrorCode -9983]"
    stats = run_session(make_session(sd, out_ch=2, frames=len(sd.mic), record=rec))
    assert stats.error == "audio device error: Stream is stopped"
    assert sd.log[-2:] == ["abort output", "close output"]
    np.testing.assert_array_equal(rec.samples(), delayed(sd.mic))


def test_a_worker_failure_stops_the_streams_and_is_raised():
    sd = FakeSounddevice(ramp(3.0))
    s = make_session(sd, out_ch=2, pipe=Delay(sd, fail_at=3))
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="the model broke"):
        run_session(s)
    assert time.monotonic() - start < 2.0  # not the whole 3 s of input
    assert all(st.closed and not st.active for st in sd.streams)


def test_playback_plays_all_of_the_input_in_order():
    sd = FakeSounddevice(ramp(0.5))
    # A wide priming margin (0.2 s), so that scheduling hiccups on a busy test machine do not become gaps.
    s = make_session(sd, out_ch=2, frames=len(sd.mic), margin=3200, pipe=Delay(sd, d=0))
    stats = run_session(s)
    played = np.concatenate(sd.streams[1].played)
    np.testing.assert_array_equal(played[:, 0], played[:, 1])  # mono goes to both speakers
    np.testing.assert_array_equal(played[played[:, 0] != 0, 0], sd.mic)  # the ring's rest played before closing
    assert s.ring.size == 0 and stats.xruns["ring_overrun"] == 0 and stats.error is None


# The callbacks, called as PortAudio calls them.

def test_portaudio_status_flags_are_counted_and_summarised():
    sd = FakeSounddevice()
    s = make_session(sd, out_ch=1, margin=BLOCK)
    block = np.ones((BLOCK, 1), np.float32)
    s.on_input(block, BLOCK, None, Status("input_overflow"))
    s.on_input(block, BLOCK, None, Status("input_overflow", "input_underflow"))
    s.on_input(block, BLOCK, None, Status())
    s.ring.write(block[:, 0:1])
    out = np.empty((BLOCK, 1), np.float32)
    s.on_output(out, BLOCK, None, Status("output_underflow"))
    s.on_output(out, BLOCK, None, Status("output_overflow"))  # and the ring ran dry
    assert s.stats.xruns == {"input_overflow": 2, "input_underflow": 1, "output_underflow": 1, "output_overflow": 1,
                             "dropped_input": 0, "ring_underrun": 1, "ring_overrun": 0}
    assert "6 xruns (input_overflow 2, input_underflow 1, output_underflow 1, output_overflow 1, ring_underrun 1)" \
        in s.stats.summary()


def test_the_ring_running_dry_at_the_end_is_no_underrun():
    s = make_session(FakeSounddevice(), out_ch=1, margin=BLOCK)
    s.ring.write(np.ones((BLOCK, 1), np.float32))
    out = np.empty((BLOCK, 1), np.float32)
    s.on_output(out, BLOCK, None, Status())
    assert out.all()
    s.draining = True
    s.on_output(out, BLOCK, None, Status())
    assert not out.any() and s.stats.total_xruns == 0


def test_input_is_dropped_and_counted_once_the_worker_is_two_seconds_behind():
    s = make_session(FakeSounddevice())  # the worker is not started: it never takes a block
    assert s.max_blocks == 2 * RATE // BLOCK
    for _ in range(s.max_blocks + 3):
        s.on_input(np.ones((BLOCK, 1), np.float32), BLOCK, None, Status())
    assert s.stats.xruns["dropped_input"] == 3 and s.blocks.qsize() == s.max_blocks
    assert s.captured == (s.max_blocks + 3) * BLOCK  # dropped input still counts towards --duration


def test_ring_primes_before_playing_and_drops_the_oldest_when_full():
    ring = Ring(1, margin=4, capacity=8)
    out = np.empty((3, 1), np.float32)
    ring.write(np.arange(1, 4, dtype=np.float32)[:, None])
    assert ring.read(out) and not out.any()  # 3 < margin: silence, and no underrun yet
    assert not ring.write(np.arange(4, 10, dtype=np.float32)[:, None])  # 9 > 8: sample 1 is dropped
    assert ring.read(out) and out[:, 0].tolist() == [2, 3, 4]
    out = np.empty((6, 1), np.float32)
    assert not ring.read(out) and out[:, 0].tolist() == [5, 6, 7, 8, 9, 0]  # underrun: re-primes


# The command: options, process control and the recording on disk.

@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture
def fake_sd(monkeypatch, model):
    """The fake module where `import sounddevice` finds it, the bundled model loaded once, and the process
    state `live.run` changes (its SIGTERM handler) put back afterwards."""
    sd = FakeSounddevice()
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    monkeypatch.setattr(options, "load_quietly", lambda path, device="cpu": model)
    saved = signal.getsignal(signal.SIGTERM)
    yield sd
    sd.release.set()
    signal.signal(signal.SIGTERM, saved)


@pytest.fixture
def noisy():
    x, sr = sf.read(SAMPLES / "noisy.flac", dtype="float32", frames=round(0.6 * RATE))
    assert sr == RATE
    return x


def test_a_vanishing_device_ends_the_command_with_one_line_and_a_complete_file(fake_sd, model, noisy, tmp_path,
                                                                                 capsys):
    fake_sd.mic, fake_sd.then = noisy, "vanish"
    out = tmp_path / "rec" / "out.flac"
    assert cli.main(["live", "--input-device", "Mic", "--no-playback", "--record", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"live: Fake Mic -> denoise -> {out} at 16000 Hz, blocks of 160; Ctrl-C to stop",
        "speechdae: error: audio device stopped unexpectedly (disconnected?)"]
    assert captured.out.startswith(f"live: {len(noisy) / RATE:.2f} s processed, 0 xruns")
    recording, sr = sf.read(out, dtype="float32")
    assert sr == RATE and len(recording) == len(noisy)  # every sample the device gave, the filters' tail too
    assert np.abs(recording - model.denoise(noisy, RATE)).max() < 1e-3  # what offline denoising makes of it
    assert [p.name for p in out.parent.iterdir()] == ["out.flac"]  # no temp file left behind


@pytest.mark.parametrize("vanish", [False, True])
def test_a_device_that_never_closes_ends_the_process_without_waiting_for_it(fake_sd, monkeypatch, tmp_path, capsys,
                                                                            vanish):
    # Vanishing: gone before --duration is reached. Not: the input ends at --duration, then abort() hangs.
    fake_sd.mic, fake_sd.then = (ramp(0.2), "vanish") if vanish else (ramp(0.3), "silence")
    fake_sd.stuck["input"] = True
    monkeypatch.setattr(live_session, "CLOSE_SECONDS", 1.0)

    class Exited(Exception):
        pass

    def exit_now(code):
        raise Exited(code)

    monkeypatch.setattr(live_command.os, "_exit", exit_now)
    out = tmp_path / "out.wav"
    with pytest.raises(Exited) as e:
        cli.main(["live", "--no-playback", "--record", str(out), "--duration", "0.3"])
    assert e.value.args == (2 if vanish else 0,)
    lines = capsys.readouterr().err.splitlines()
    assert lines[1] == "live: the audio device did not close within 1 s; leaving it"
    assert lines[2:] == (["speechdae: error: audio device stopped unexpectedly (disconnected?)"] if vanish else [])
    assert len(sf.read(out)[0]) > 0  # the recording was finished before the process goes


@pytest.mark.parametrize("option, value, says", [
    ("--channels", "0", "must be 'mono' or a positive number, got '0'"),
    ("--channels", "stereo", "must be 'mono' or a positive number, got 'stereo'"),
    ("--duration", "0", "must be a positive number of seconds, got '0'"),
    ("--duration", "nan", "must be a positive number of seconds, got 'nan'"),
    ("--blocksize", "-160", "must be a positive whole number, got '-160'"),
    ("--samplerate", "44.1k", "must be a positive whole number, got '44.1k'"),
    ("--latency", "fast", "must be 'low', 'high' or seconds, got 'fast'"),
])
def test_option_errors_are_one_line_before_any_device_is_opened(monkeypatch, capsys, option, value, says):
    monkeypatch.setattr(live_devices, "sounddevice", lambda: pytest.fail("a device was asked for"))
    with pytest.raises(SystemExit) as e:
        cli.main(["live", option, value])
    assert e.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [f"speechdae live: error: argument {option}: {says}"]


def test_options_parse_to_what_the_session_needs():
    parser = argparse.ArgumentParser()
    live_command.add_arguments(parser)
    args = parser.parse_args(["--channels", "2", "--duration", "1.5", "--latency", "0.05", "--blocksize", "480"])
    assert (args.channels, args.duration, args.latency, args.blocksize) == (2, 1.5, 0.05, 480)
    args = parser.parse_args([])
    assert (args.channels, args.latency, args.playback) == ("mono", "high", True)


@pytest.mark.parametrize("argv, message", [
    (["--no-playback"], "nothing to do: --no-playback without --record"),
    (["--input-device", "Webcam"], "input device 'Webcam': No input device matching 'Webcam'"),
    (["--output-device", "7"], "output device 7: No output device matching 7"),
])
def test_what_only_the_devices_can_tell_is_one_line_too(fake_sd, capsys, argv, message):
    assert cli.main(["live", *argv]) == 2
    assert capsys.readouterr().err.splitlines() == [f"speechdae: error: {message}"]


def test_devices_marks_the_defaults(fake_sd, capsys):
    assert cli.main(["devices"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "  index  in  out    rate  name",
        "<     0   2    0   48000  Fake Mic (Fake API)",
        " >    1   0    2   48000  Fake Speaker (Fake API)",
        "< default input, > default output"]
