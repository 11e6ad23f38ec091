"""`speechdae devices`: the audio devices PortAudio sees, with the index or name `live` takes."""
from __future__ import annotations

from .live import portaudio_quiet

HELP = "list audio devices"


def add_arguments(parser):
    parser.description = "List the audio devices PortAudio sees (give `live` an index or a name substring)."


def run(args) -> int:
    from .. import live_devices as devices

    with portaudio_quiet():
        table = devices.device_table(devices.sounddevice())
    print(table)
    return 0
