"""Training data: clean speech and noise recordings, resampled once, cached, cut into random segments.

Everything is held in memory as one float32 array per file (1.7 h of 16 kHz speech is ~400 MB), so drawing a
batch is a few array slices and the model never waits on disk. The resampled audio is cached as .npy keyed
by path, size, mtime and rate, so later runs skip decoding and resampling.
"""
from __future__ import annotations

import csv
import hashlib
import logging
import os
import zlib
from pathlib import Path

import numpy as np

from .audio import read_audio
from .errors import SpeechDAEError

log = logging.getLogger(__name__)


def data_root() -> Path:
    """The development data: $SPEECHDAE_DATA, else ../shared/data beside a source checkout (may not exist)."""
    return Path(os.environ.get("SPEECHDAE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus"}


def list_audio(sources) -> list[Path]:
    """Audio files from folders (recursively), single files, or manifests (.txt: one path a line;
    .csv: a `path` column), in sorted order. Relative manifest paths are relative to the manifest."""
    files: list[Path] = []
    for src in [sources] if isinstance(sources, (str, Path)) else sources:
        src = Path(src)
        if src.is_dir():
            files += sorted(p for p in src.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        elif src.suffix.lower() == ".csv":
            with open(src, newline="") as f:
                files += [src.parent / row["path"] for row in csv.DictReader(f)]
        elif src.suffix.lower() == ".txt":
            files += [src.parent / line.strip() for line in src.read_text().splitlines() if line.strip()]
        elif src.is_file():
            files.append(src)
        else:
            raise SpeechDAEError(f"{src}: no such file or folder of audio")
    return files


def is_validation(path: Path, fraction: float) -> bool:
    """File-level split that is stable across runs and machines (hash of the file name)."""
    return (zlib.crc32(path.name.encode()) % 1000) < fraction * 1000


class AudioBank:
    """Mono float32 arrays at one sample rate, loaded once; unreadable files are skipped with a warning."""

    def __init__(self, files, sample_rate: int, cache_dir: Path | None = None, min_seconds: float = 0.1):
        self.sample_rate = sample_rate
        self.arrays: list[np.ndarray] = []
        self.files: list[Path] = []
        skipped = []
        for path in files:
            try:
                x = self._load(Path(path), cache_dir)
            except SpeechDAEError as e:
                skipped.append(str(e))
                continue
            except OSError as e:  # e.g. a manifest naming a file that is gone
                skipped.append(f"{path}: {e.strerror}")
                continue
            if len(x) >= min_seconds * sample_rate:
                self.arrays.append(x)
                self.files.append(Path(path))
        for reason in skipped:
            log.warning("skipped %s", reason)
        if not self.arrays:
            raise SpeechDAEError(f"no usable audio among {len(list(files))} files")
        self.lengths = np.array([len(a) for a in self.arrays])

    def _load(self, path: Path, cache_dir: Path | None) -> np.ndarray:
        if cache_dir is None:
            return read_audio(path, self.sample_rate, mono=True)[0]
        st = path.stat()
        key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{self.sample_rate}".encode()).hexdigest()
        cached = Path(cache_dir) / f"{key}.npy"
        if cached.exists():
            return np.load(cached)
        x = read_audio(path, self.sample_rate, mono=True)[0]
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npy")  # unique: DDP ranks may fill the cache at once
        np.save(tmp, x)
        tmp.replace(cached)
        return x

    @property
    def seconds(self) -> float:
        return float(self.lengths.sum()) / self.sample_rate

    def segments(self, n: int, length: int, rng: np.random.Generator, weighted: bool = True) -> np.ndarray:
        """n random segments (n, length); files drawn by duration, short files zero-padded at a random place."""
        p = self.lengths / self.lengths.sum() if weighted else None
        out = np.zeros((n, length), np.float32)
        for i, k in enumerate(rng.choice(len(self.arrays), size=n, p=p)):
            x = self.arrays[k]
            if len(x) >= length:
                start = rng.integers(0, len(x) - length + 1)
                out[i] = x[start : start + length]
            else:
                start = rng.integers(0, length - len(x) + 1)
                out[i, start : start + len(x)] = x
        return out


def noisy_pairs(clean_files, noise_files, snrs, seed: int, sample_rate: int, max_seconds: float | None = None):
    """A reproducible noisy test set: each clean file mixed with a random noise excerpt at each SNR.

    `noise_files` are paths, or an AudioBank already loaded at `sample_rate`.

    Yields dicts with name, snr, clean and noisy (mono float32 at `sample_rate`). The same seed gives the
    same mixtures on any machine, so dev-set tables are comparable across runs and systems.
    """
    import torch

    from .corrupt import mix_at_snr

    rng = np.random.default_rng(seed)
    noise = noise_files if isinstance(noise_files, AudioBank) else AudioBank(noise_files, sample_rate)
    for path in clean_files:
        clean = read_audio(path, sample_rate, mono=True)[0]
        if max_seconds:
            clean = clean[: int(max_seconds * sample_rate)]
        for snr in snrs:
            for _ in range(100):  # a digitally silent excerpt (a pause in an owl recording) has no SNR: draw again
                k = rng.integers(len(noise.arrays))
                n = noise.arrays[k]
                reps = int(np.ceil(len(clean) / len(n)))
                n = np.tile(n, reps + 1)
                start = rng.integers(0, len(n) - len(clean) + 1)
                excerpt = n[start : start + len(clean)]
                if np.mean(excerpt.astype(np.float64) ** 2) > 1e-12:
                    break
            noisy = mix_at_snr(torch.from_numpy(clean)[None], torch.from_numpy(excerpt.copy())[None],
                               torch.tensor([float(snr)]))[0].numpy()
            yield {"name": Path(path).stem, "snr": snr, "clean": clean, "noisy": noisy,
                   "noise": noise.files[k].name}
