"""Reading, checking, resampling and atomically writing audio. soundfile does the I/O, soxr the resampling."""
from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import SpeechDAEError

log = logging.getLogger(__name__)
_UMASK = os.umask(0o022)
os.umask(_UMASK)
MIN_RATE = 8000
MAX_RATE = 384000


def check_rate(sample_rate, name: str) -> int:
    """An in-memory signal's sample rate, checked: an int in MIN_RATE..MAX_RATE, else a one-line SpeechDAEError."""
    if not isinstance(sample_rate, (int, np.integer)) or not MIN_RATE <= sample_rate <= MAX_RATE:
        raise SpeechDAEError(f"{name}: unsupported sample rate {sample_rate!r} (need {MIN_RATE}..{MAX_RATE} Hz)")
    return int(sample_rate)


def check_samples(x: np.ndarray, sample_rate, name: str) -> np.ndarray:
    """Validate an in-memory signal; returns it as float32. Raises SpeechDAEError with a one-line reason."""
    check_rate(sample_rate, name)
    if x.dtype.kind not in "fiu":
        raise SpeechDAEError(f"{name}: samples must be numbers, got dtype {x.dtype}")
    if x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[1] == 0):
        raise SpeechDAEError(f"{name}: expected shape (samples,) or (samples, channels), got {x.shape}")
    if x.shape[0] == 0:
        raise SpeechDAEError(f"{name}: no samples")
    x = as_float(x)
    if not np.isfinite(x).all():
        raise SpeechDAEError(f"{name}: contains NaN or infinite samples")
    return x


def as_float(x: np.ndarray) -> np.ndarray:
    """float32 samples; integer PCM (signed or unsigned) is scaled to [-1, 1) as soundfile does."""
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        x = (x.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    return x.astype(np.float32, copy=False)


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """(samples, channels) float32 resampled with soxr (the resampler librosa uses too)."""
    if rate_in == rate_out:
        return x
    return soxr.resample(x, rate_in, rate_out).astype(np.float32, copy=False)


def open_input(path) -> sf.SoundFile:
    """Open an audio file for reading, turning every failure into a one-line SpeechDAEError."""
    path = Path(path)
    if not path.exists():
        raise SpeechDAEError(f"{path}: no such file")
    if path.is_dir():
        raise SpeechDAEError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise SpeechDAEError(f"{path}: is empty (0 bytes)")
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        reason = getattr(e, "error_string", None) or str(e)  # libsndfile's reason without its repeat of the path
        raise SpeechDAEError(f"{path}: not a readable audio file ({reason.splitlines()[0]})") from None
    if f.frames == 0:
        f.close()
        raise SpeechDAEError(f"{path}: contains no audio samples")
    if f.channels < 1:
        f.close()
        raise SpeechDAEError(f"{path}: has no channels")
    if not MIN_RATE <= f.samplerate <= MAX_RATE:
        f.close()
        raise SpeechDAEError(f"{path}: unsupported sample rate {f.samplerate} Hz (need {MIN_RATE}..{MAX_RATE})")
    return f


def read_audio(path, sample_rate: int | None = None, mono: bool = False) -> tuple[np.ndarray, int]:
    """Whole file as (samples, channels) float32, optionally resampled and/or mixed to mono (samples,)."""
    with open_input(path) as f:
        x = np.concatenate(list(read_blocks(f, path, 1 << 20)))
        rate = f.samplerate
    if not np.isfinite(x).all():
        raise SpeechDAEError(f"{path}: contains NaN or infinite samples")
    if sample_rate is not None and sample_rate != rate:
        x, rate = resample(x, rate, sample_rate), sample_rate
    if mono:
        x = x.mean(axis=1)
    return x, rate


_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8,
                 "ULAW": 1, "ALAW": 1}
_SHORT_CHUNK = re.compile(r":\s*(\d+) \(should be (\d+)\)")  # libsndfile's log for a chunk cut short


def read_blocks(f: sf.SoundFile, path, block: int):
    """Yield (n <= block, channels) float32 blocks of an open file up to its readable end.

    A file cut short (a recorder that crashed, a copy that stopped) is read up to where it breaks and one
    warning names it and the readable length; its readable part is not thrown away. Containers show it
    differently: WAV/AIFF headers promise more bytes than the file holds (libsndfile reads what is there and
    logs "should be"), FLAC stops with a decoding error (soundfile keeps what was decoded before it), Ogg
    ends without its end-of-stream page. Raises SpeechDAEError only if nothing at all is readable.
    """
    read, error = 0, None
    while True:
        buf = np.empty((block, f.channels), np.float32)
        try:
            n = len(f.read(out=buf))
        except (sf.LibsndfileError, RuntimeError) as e:
            error = re.sub(r"^Error\s*:\s*", "", str(e).strip().splitlines()[0]).rstrip(".")  # libsndfile's wording
            try:  # the frames decoded before the error are in buf; tell() says how many
                n = min(block, max(0, f.tell() - read))
            except (sf.LibsndfileError, RuntimeError):
                n = 0
        if n:
            read += n
            yield buf[:n]
        if error or n < block:
            break
    if read == 0:
        detail = f"truncated or corrupt, no audio is readable ({error})" if error else "contains no audio samples"
        raise SpeechDAEError(f"{path}: {detail}")
    if problem := _truncation(f, read, error):
        log.warning("%s: truncated: %.2f s readable%s; using the readable part", path, read / f.samplerate, problem)


def _truncation(f: sf.SoundFile, read: int, error: str | None) -> str | None:
    """How a file that was read to `read` frames falls short of what it declares ('' or None: it does not)."""
    rate, info = f.samplerate, f.extra_info
    if error or read < f.frames:
        return f" of {f.frames / rate:.2f} s in its header" + (f" (decoding stopped: {error})" if error else "")
    missing = max((int(a) - int(b) for a, b in _SHORT_CHUNK.findall(info)), default=0)
    if missing > 0:
        per_frame = _SAMPLE_BYTES.get(f.subtype, 0) * f.channels
        return f" of {(read + missing / per_frame) / rate:.2f} s in its header" if per_frame else \
            " (its header promises more)"
    if "lacks an end-of-stream" in info:
        return " (the stream has no end-of-stream marker)"
    return None


def output_subtype(fmt: str, wanted: str | None) -> str | None:
    """Keep the input's sample format where the output container can hold it."""
    if wanted and sf.check_format(fmt, wanted):
        return wanted
    return None


@contextlib.contextmanager
def atomic_path(final):
    """Yield a temporary path beside `final`; rename it over `final` only if the block succeeds.

    A crash or error leaves no half-written output: either the old file or the complete new one.
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.stem}.", suffix=f".partial{final.suffix}")
        os.close(fd)
    except OSError as e:
        raise SpeechDAEError(f"{final}: cannot write here ({e.strerror})") from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give outputs the usual permissions
        os.replace(tmp, final)
    except (OSError, sf.LibsndfileError) as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise SpeechDAEError(f"{final}: writing failed ({_write_error_reason(e, final.parent)})") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_error_reason(e: Exception, folder: Path) -> str:
    # libsndfile reports a full disk only as "System error."; the free space tells what happened.
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    if shutil.disk_usage(folder).free < 2**20:
        return "no space left on device"
    return str(e).splitlines()[0]


def write_audio(path, x: np.ndarray, sample_rate: int, subtype: str | None = None):
    """Atomically write (samples, channels) or (samples,) float audio; format from the file extension."""
    path = Path(path)
    fmt = format_for(path)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), x, sample_rate, format=fmt, subtype=output_subtype(fmt, subtype))


def format_for(path: Path) -> str:
    ext = path.suffix.lstrip(".").upper()
    formats = sf.available_formats()
    if ext in formats:
        return ext
    if ext in ("OGA", "OPUS"):
        return "OGG"
    raise SpeechDAEError(f"{path}: unknown output format '.{ext.lower()}' (use .wav, .flac, .ogg ...)")
