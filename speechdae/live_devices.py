"""Audio devices for `speechdae live` and `speechdae devices`: PortAudio (through sounddevice), found and checked.

Everything here asks PortAudio and nothing opens a stream; `sd` is passed in so that a fake module can stand
in for sounddevice in tests.
"""
from __future__ import annotations

from .errors import SpeechDAEError


def sounddevice():
    """The sounddevice module, imported late: PortAudio is only needed by the live commands."""
    try:
        import sounddevice as sd
    except OSError as e:  # the Python package is there but the PortAudio library is not
        raise SpeechDAEError(f"live audio needs PortAudio (e.g. apt-get install libportaudio2): {e}") from None
    return sd


def device_table(sd) -> str:
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


def find_device(sd, spec, kind: str):
    """'3' -> 3; a name substring -> its index (sounddevice checks it); None -> the default."""
    if spec is None:
        return None
    spec = int(spec) if str(spec).isdigit() else spec
    try:
        return sd.query_devices(spec, kind)["index"]
    except (ValueError, sd.PortAudioError) as e:
        raise SpeechDAEError(f"{kind} device {spec!r}: {str(e).splitlines()[0]}") from None


def device_info(sd, in_dev, out_dev, playback: bool) -> tuple[dict, int]:
    """The input device's description and the output's channel count (0 without playback)."""
    try:
        in_info = sd.query_devices(in_dev, "input")
        out_max = sd.query_devices(out_dev, "output")["max_output_channels"] if playback else 0
    except (ValueError, sd.PortAudioError) as e:  # e.g. no default device at all
        raise SpeechDAEError(f"audio device: {str(e).splitlines()[0]} (see `speechdae devices`)") from None
    return in_info, out_max


def pick_rate(sd, inp, out, model_rate: int, fallback: int) -> int:
    """The model's rate if the devices take it (no resampling), otherwise the input device's default."""
    try:
        sd.check_input_settings(*inp, samplerate=model_rate)
        if out[1]:
            sd.check_output_settings(*out, samplerate=model_rate)
        return model_rate
    except sd.PortAudioError:
        return fallback
