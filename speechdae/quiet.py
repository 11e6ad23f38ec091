"""Keeping a C library's trace lines out of our one-line errors.

When a device or the audio server goes away, PortAudio's ALSA host API prints a line to fd 2 for every step
of the failed call (`Expression '...' failed in 'src/hostapi/alsa/pa_linux_alsa.c', line: 3665`), from its own
threads, before our own one-line message says what happened. sys.stderr writes to fd 2 as well, so fd 2 is
not simply closed: for the duration it is a pipe, and a thread passes on every line except those.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import threading

PORTAUDIO_TRACE = re.compile(rb"^Expression '.*' failed in '.*', line: \d+\s*$")


@contextlib.contextmanager
def drop_stderr_lines(pattern: re.Pattern = PORTAUDIO_TRACE):
    """Lines written to fd 2 inside the block that match `pattern` (bytes) are dropped; the rest pass."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:  # no fd 2 to speak of (closed, or out of descriptors): nothing to filter
        yield
        return
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward():
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            for line in pipe:
                if not pattern.match(line):
                    os.write(saved, line)

    thread = threading.Thread(target=forward, name="speechdae-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's only write end: the thread reads to the end and stops
        thread.join(2.0)
        os.close(saved)
