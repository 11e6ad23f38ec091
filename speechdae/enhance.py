"""Denoising files: any format soundfile reads, any rate, any channel count, any length.

A file is read in blocks and denoised by rate.RateStream (soxr streams to the model rate and back around the
StreamingDenoiser, the band above the model's kept; the same samples as `Denoiser.denoise`), then written to a
temporary file that replaces the output only when complete. Memory stays bounded whatever the file's length.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import atomic_path, format_for, open_input, output_subtype, read_blocks
from .errors import SpeechDAEError
from .rate import RateStream

log = logging.getLogger(__name__)


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
        stream = RateStream(denoiser, rate, channels, atten_limit_db)
        block = max(1, int(block_seconds * rate))
        written = 0
        bar = None
        if progress:
            from tqdm import tqdm

            # disable=None: drawn only on a terminal, so logs and pipes stay clean. Counted in samples (shown
            # in seconds): a total in rounded seconds was overrun by the updates (TqdmWarning: clamping frac).
            bar = tqdm(total=frames, unit_scale=1 / rate, desc=src.name, leave=False, disable=None,
                       bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]")
        closing = contextlib.closing(bar) if bar else contextlib.nullcontext()
        with closing, atomic_path(dst) as tmp, sf.SoundFile(str(tmp), "w", rate, channels, subtype, format=fmt) as out:

            def emit(y: np.ndarray):
                nonlocal written
                y = y[: read - written]
                out.write(y)
                written += len(y)

            read = 0
            for x in read_blocks(f, src, block):  # a truncated file: a warning and its readable part
                bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
                if len(bad):
                    at = (read + bad[0]) / rate
                    raise SpeechDAEError(f"{src}: contains NaN or infinite samples (first at {at:.3f} s)")
                read += len(x)
                emit(stream.process(x))
                if bar:
                    bar.update(len(x))
            emit(stream.flush())  # exactly the rest of what was read
            if written < read:  # the output has the readable length exactly, even if a header promised more
                emit(np.zeros((read - written, channels), np.float32))
    return {"input": str(src), "output": str(dst), "sample_rate": rate, "channels": channels,
            "seconds": read / rate}


def output_path_for(src: Path, out_dir: Path, root: Path | None = None, suffix: str | None = None) -> Path:
    """Mirror `src`'s place under `root` inside `out_dir` (a folder input keeps its structure)."""
    rel = src.relative_to(root) if root else Path(src.name)
    return out_dir / (rel.with_suffix(suffix) if suffix else rel)
