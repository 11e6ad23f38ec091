"""A private PulseAudio server for the live tests: virtual microphone and speakers, no sound hardware.

Layout: two 16 kHz mono null sinks, `mic` and `spk` (and `mic48`, a 48 kHz float one). Whatever is played into
`mic` comes out of its
monitor source `mic.monitor`, which is the default source, so it acts as the microphone; `spk` is the
default sink. PortAudio reaches the server through ALSA's pulse plugin (libasound2-plugins): its device
named "pulse". Everything (socket, state, HOME, client config) lives in a temp folder, and the server is
found only through PULSE_SERVER, so a desktop session's PulseAudio is never touched.

Running as root (containers, CI): pulseaudio warns but works in per-user mode when HOME and the runtime
paths point at writable private folders; `--system` would be wrong (it ignores -F and needs a pulse user).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

RATE = 16000


class PulseUnavailable(RuntimeError):
    """The server could not be started here; tests skip with this reason."""


class PulseServer:
    def __init__(self, root: Path, rate: int = RATE):
        self.root, self.rate = Path(root), rate
        self.socket = self.root / "run" / "native"
        self.proc: subprocess.Popen | None = None
        home, run, state = self.root / "home", self.root / "run", self.root / "state"
        for d in (home / ".config" / "pulse", run, state):
            d.mkdir(parents=True, exist_ok=True)
        client = home / ".config" / "pulse" / "client.conf"
        # No autospawn: when a test kills the server, clients must see it gone, not start a new one.
        client.write_text("autospawn = no\n")
        self.env = {
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(run),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "PULSE_RUNTIME_PATH": str(run),
            "PULSE_STATE_PATH": str(state),
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_CLIENTCONFIG": str(client),
            "PULSE_SOURCE": "mic.monitor",  # what the ALSA "pulse" device records
            "PULSE_SINK": "spk",  # and where it plays
        }

    def start(self, timeout: float = 10.0) -> "PulseServer":
        exe = shutil.which("pulseaudio")
        if exe is None or shutil.which("pactl") is None:
            raise PulseUnavailable("pulseaudio / pactl not installed (apt-get install pulseaudio pulseaudio-utils)")
        sink = f"rate={self.rate} channels=1 norewinds=1"
        config = self.root / "server.pa"
        config.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            f"load-module module-null-sink sink_name=mic {sink} sink_properties=device.description=VirtualMic\n"
            f"load-module module-null-sink sink_name=spk {sink} sink_properties=device.description=VirtualSpeaker\n"
            # A 48 kHz float microphone, so a test can feed a device-rate signal with no resampling by Pulse.
            "load-module module-null-sink sink_name=mic48 rate=48000 channels=1 format=float32le norewinds=1"
            " sink_properties=device.description=VirtualMic48\n"
            "set-default-sink spk\n"
            "set-default-source mic.monitor\n"
        )
        self.log = open(self.root / "pulseaudio.log", "w")
        self.proc = subprocess.Popen(
            [exe, "--daemonize=no", "--exit-idle-time=-1", "--system=false", "-n", "--use-pid-file=false",
             "--disallow-exit", "--log-target=stderr", "-F", str(config)],
            env={**os.environ, **self.env}, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.pactl("info").returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        tail = (self.root / "pulseaudio.log").read_text().strip().splitlines()[-3:]
        raise PulseUnavailable(f"pulseaudio did not start: {' | '.join(tail) or 'no output'}")

    def pactl(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env={**os.environ, **self.env}, capture_output=True, text=True,
                              timeout=10)

    def play(self, path, sink: str = "mic") -> subprocess.Popen:
        """Start playing a file into a sink (by default: into the virtual microphone)."""
        return subprocess.Popen(["paplay", f"--device={sink}", str(path)], env={**os.environ, **self.env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def kill(self):
        """Make the devices vanish, as an unplugged USB interface would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()


def use_in_this_process(server: PulseServer, monkeypatch=None):
    """Point this process's PortAudio at the server: set the environment, then re-initialise PortAudio,
    because it enumerates devices (and the ALSA plugin reads PULSE_SERVER) when it is initialised."""
    try:
        import sounddevice as sd
    except OSError as e:
        raise PulseUnavailable(f"PortAudio not found: {e}") from None
    for k, v in server.env.items():
        if monkeypatch is not None:
            monkeypatch.setenv(k, v)
        else:
            os.environ[k] = v
    sd._terminate()
    sd._initialize()
    return sd
