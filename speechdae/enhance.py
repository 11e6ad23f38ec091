"""Denoising files: any format soundfile reads, any rate, any channel count, any length.

A file is read in blocks, resampled to the model rate with a streaming soxr resampler, denoised by the
StreamingDenoiser (identical to offline processing), resampled back and written to a temporary file that
replaces the output only when complete. Memory stays bounded whatever the file's length.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .audio import atomic_path, format_for, open_input, output_subtype
from .errors import SpeechDAEError

log = logging.getLogger(__name__)


def _resampler(rate_in: int, rate_out: int, channels: int):
    if rate_in == rate_out:
        return None
    return soxr.ResampleStream(rate_in, rate_out, channels, dtype="float32")


def _through(rs, x: np.ndarray, last: bool = False) -> np.ndarray:
    if rs is None:
        return x
    return rs.resample_chunk(np.ascontiguousarray(x), last=last)


def denoise_file(denoiser, src, dst, *, atten_limit_db: float | None = None, block_seconds: float = 10.0,
                 progress: bool = False) -> dict:
    """Denoise `src` into `dst` (atomically). Returns a summary dict. Raises SpeechDAEError on bad input."""
    src, dst = Path(src), Path(dst)
    if dst.exists() and dst.resolve() == src.resolve():
        raise SpeechDAEError(f"{dst}: output would overwrite the input; choose another path")
    fmt = format_for(dst)
    with open_input(src) as f:
        rate, channels, frames = f.samplerate, f.channels, f.frames
        subtype = output_subtype(fmt, f.subtype)
        rs_in = _resampler(rate, denoiser.sample_rate, channels)
        rs_out = _resampler(denoiser.sample_rate, rate, channels)
        stream = denoiser.stream(channels=channels, atten_limit_db=atten_limit_db)
        block = max(1, int(block_seconds * rate))
        written = 0
        bar = None
        if progress:
            from tqdm import tqdm

            # disable=None: drawn only on a terminal, so logs and pipes stay clean.
            bar = tqdm(total=round(frames / rate, 2), unit="s", desc=src.name, leave=False, disable=None)
        with contextlib.closing(bar) if bar else contextlib.nullcontext(), atomic_path(dst) as tmp, sf.SoundFile(str(tmp), "w", rate, channels, subtype, format=fmt) as out:

            def emit(y: np.ndarray):
                nonlocal written
                y = y[: frames - written]
                out.write(y)
                written += len(y)

            read = 0
            while True:
                try:
                    x = f.read(block, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as e:
                    raise SpeechDAEError(f"{src}: truncated or corrupt audio after {read} samples ({e})") from None
                if len(x) == 0:
                    break
                bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
                if len(bad):
                    at = (read + bad[0]) / rate
                    raise SpeechDAEError(f"{src}: contains NaN or infinite samples (first at {at:.3f} s)")
                read += len(x)
                y = stream.process(_through(rs_in, x).T).T.cpu().numpy()
                emit(_through(rs_out, y))
                if bar:
                    bar.update(len(x) / rate)
            if read == 0:
                raise SpeechDAEError(f"{src}: contains no audio samples")
            tail = _through(rs_in, np.zeros((0, channels), np.float32), last=True)
            y = np.concatenate([stream.process(tail.T).T.cpu().numpy(), stream.flush().T.cpu().numpy()])
            emit(_through(rs_out, y, last=True))
            if written < frames:  # resamplers round lengths; pad so the output has exactly the input's length
                emit(np.zeros((frames - written, channels), np.float32))
    return {"input": str(src), "output": str(dst), "sample_rate": rate, "channels": channels,
            "seconds": frames / rate}


def output_path_for(src: Path, out_dir: Path, root: Path | None = None, suffix: str | None = None) -> Path:
    """Mirror `src`'s place under `root` inside `out_dir` (a folder input keeps its structure)."""
    rel = src.relative_to(root) if root else Path(src.name)
    return out_dir / (rel.with_suffix(suffix) if suffix else rel)
