"""`speechdae plot`: pictures of what the denoiser did, and of how training went.

    speechdae plot NOISY [DENOISED] [--clean CLEAN] -o OUT.png   # spectrograms + overlaid waveforms
    speechdae plot runs/NAME/log.csv -o curves.png               # loss and validation metrics vs step

Without DENOISED, NOISY is denoised first with the model (--model, default the bundled one). Spectrograms are
dB STFT magnitudes (about 32 ms windows) on one colour scale shared by all panels, 0 dB being the loudest bin
of any of them, so the panels compare directly. With a clean reference the titles also give SI-SDR.

Needs matplotlib (`pip install 'speechdae[plot]'`); it draws off-screen (Agg canvas, no pyplot window), so it
works on servers. Images are written atomically.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from .errors import SpeechDAEError

TOP_DB = 80.0  # dynamic range shown by the spectrograms
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg"}
COLOURS = {"noisy": "0.55", "clean": "tab:green", "denoised": "tab:blue"}


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise SpeechDAEError("plotting needs matplotlib: pip install 'speechdae[plot]'") from None
    return matplotlib, Figure, FigureCanvasAgg


def image_format(out) -> str:
    out = Path(out)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise SpeechDAEError(f"{out}: unknown image format '{out.suffix}' (use .png, .svg or .pdf)")
    if out.is_dir():
        raise SpeechDAEError(f"{out}: is a directory, not an image file name")
    return fmt


def _save(fig, out, dpi: int):
    from .audio import atomic_path

    fmt = image_format(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)


def _si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    from .metrics import si_sdr

    n = min(len(estimate), len(reference))
    return float(si_sdr(estimate[:n], reference[:n]))


# -- denoising --------------------------------------------------------------------------------------------------
def plot_denoising(noisy_path, denoised_path, out_png, clean_path=None, dpi: int = 110) -> Path:
    """Noisy, denoised (and clean) spectrograms on one colour scale, plus their waveforms overlaid.

    Files may differ in rate and channels: all are mixed to mono and resampled to the noisy file's rate.
    """
    from .audio import read_audio

    noisy, sr = read_audio(noisy_path, mono=True)
    signals = {"noisy": (noisy, Path(noisy_path).name)}
    signals["denoised"] = (read_audio(denoised_path, sr, mono=True)[0], Path(denoised_path).name)
    if clean_path is not None:
        signals["clean"] = (read_audio(clean_path, sr, mono=True)[0], Path(clean_path).name)
    return plot_signals(signals, sr, out_png, dpi=dpi)


def plot_signals(signals: dict, sample_rate: int, out_png, dpi: int = 110) -> Path:
    """signals: {"noisy"|"denoised"|"clean": (mono float array, caption)} -> image at out_png."""
    image_format(out_png)
    matplotlib, Figure, FigureCanvasAgg = _matplotlib()
    import librosa
    import librosa.display

    order = [k for k in ("noisy", "denoised", "clean") if k in signals]
    n_fft = 2 ** max(6, round(math.log2(0.032 * sample_rate)))  # ~32 ms: 512 at 16 kHz
    hop = n_fft // 4
    def padded(x):  # shorter than one window: zero-pad for display (librosa would warn)
        x = np.asarray(x, np.float32)
        return np.pad(x, (0, max(0, n_fft - len(x))))

    mags = {k: np.abs(librosa.stft(padded(signals[k][0]), n_fft=n_fft, hop_length=hop, center=True,
                                   pad_mode="constant")) for k in order}
    ref = max(float(m.max()) for m in mags.values()) or 1.0
    dbs = {k: librosa.amplitude_to_db(m, ref=ref, amin=ref * 10 ** (-TOP_DB / 20) / 10, top_db=None)
           for k, m in mags.items()}
    clean = signals.get("clean", (None,))[0]
    duration = max(len(signals[k][0]) for k in order) / sample_rate

    with matplotlib.rc_context({"agg.path.chunksize": 10000, "font.size": 9}):
        fig = Figure(figsize=(11, 2.3 * len(order) + 2.4), layout="constrained")
        FigureCanvasAgg(fig)
        grid = fig.add_gridspec(len(order) + 1, 2, width_ratios=[1, 0.018],
                                height_ratios=[1] * len(order) + [0.9])
        wave_ax = fig.add_subplot(grid[-1, 0])
        image = None
        for row, key in enumerate(order):
            ax = fig.add_subplot(grid[row, 0], sharex=wave_ax)
            image = librosa.display.specshow(dbs[key], sr=sample_rate, hop_length=hop, n_fft=n_fft,
                                             x_axis="s", y_axis="hz", ax=ax, vmin=-TOP_DB, vmax=0,
                                             cmap="magma")
            ax.set_xlabel("")
            ax.set_ylabel("frequency (Hz)")
            title = f"{key}: {signals[key][1]}"
            if clean is not None and key != "clean":
                title += f"   (SI-SDR {_si_sdr(signals[key][0], clean):.1f} dB vs clean)"
            ax.set_title(title, loc="left")
            ax.label_outer()
        bar = fig.colorbar(image, cax=fig.add_subplot(grid[: len(order), 1]))
        bar.set_label(f"dB (0 = loudest bin, {TOP_DB:.0f} dB range)")

        for key in ("noisy", "clean", "denoised"):
            if key in signals:
                x = np.asarray(signals[key][0])
                t = np.arange(len(x)) / sample_rate
                wave_ax.plot(t, x, color=COLOURS[key], lw=0.5, alpha=0.8 if key != "noisy" else 0.6, label=key)
        wave_ax.set_xlim(0, duration)
        wave_ax.set_xlabel("time (s)")
        wave_ax.set_ylabel("amplitude")
        wave_ax.set_title("waveforms, overlaid", loc="left")
        wave_ax.legend(loc="upper right", ncols=len(order), fontsize=8, framealpha=0.85)
        wave_ax.grid(alpha=0.3)
        _save(fig, out_png, dpi)
    return Path(out_png)


# -- training --------------------------------------------------------------------------------------------------
VALIDATION = [  # column, panel title, axis label, unit
    ("val_si_sdr", "validation SI-SDR", "SI-SDR (dB)", " dB"),
    ("val_pesq", "validation PESQ (wideband)", "PESQ (MOS-LQO)", ""),
    ("val_stoi", "validation STOI", "STOI", ""),
]


def _number(text) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def read_log(log_csv) -> dict[str, np.ndarray]:
    """OUT/log.csv -> {column: float array aligned with "step"}, missing cells as NaN."""
    path = Path(log_csv)
    if not path.is_file():
        raise SpeechDAEError(f"{path}: no such training log")
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (UnicodeDecodeError, csv.Error) as e:
        raise SpeechDAEError(f"{path}: not a readable CSV file ({type(e).__name__})") from None
    if not rows or not {"step", "loss"} <= set(rows[0]):
        raise SpeechDAEError(f"{path}: not a speechdae training log (needs rows with step and loss columns)")
    columns = {k: np.array([_number(r.get(k)) for r in rows]) for k in rows[0] if k}
    keep = np.isfinite(columns["step"])
    if not keep.any():
        raise SpeechDAEError(f"{path}: no numeric steps in the training log")
    return {k: v[keep] for k, v in columns.items()}


def _smooth(y: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or len(y) < 3:
        return y
    kernel = np.ones(width) / width
    padded = np.concatenate([np.full(width - 1, y[0]), y])  # trailing average: no look-ahead, no edge dip
    return np.convolve(padded, kernel, mode="valid")


def plot_training(log_csv, out_png, dpi: int = 110) -> Path:
    """Loss against step (raw and smoothed) and each validation metric present (SI-SDR, PESQ, STOI)."""
    image_format(out_png)
    log = read_log(log_csv)
    matplotlib, Figure, FigureCanvasAgg = _matplotlib()
    step = log["step"]
    panels = [("loss", "training loss", "loss", "")]
    panels += [p for p in VALIDATION if p[0] in log and np.isfinite(log[p[0]]).any()]
    cols = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / cols)
    path = Path(log_csv)
    with matplotlib.rc_context({"font.size": 9}):
        fig = Figure(figsize=(5.5 * cols + 0.5, 3.4 * rows + 0.4), layout="constrained")
        FigureCanvasAgg(fig)
        name = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
        note = "" if len(panels) > 1 else "  (no validation rows yet)"
        fig.suptitle(f"training log {name}: {int(np.nanmax(step))} steps{note}")
        for i, (column, title, ylabel, unit) in enumerate(panels):
            ax = fig.add_subplot(rows, cols, i + 1, sharex=fig.axes[0] if fig.axes else None)
            ok = np.isfinite(log[column])
            x, y = step[ok], log[column][ok]
            if column == "loss":
                ax.plot(x, y, color="tab:blue", lw=0.6, alpha=0.35, label="per step")
                width = max(1, len(y) // 50)
                if width > 1:
                    ax.plot(x, _smooth(y, width), color="tab:blue", lw=1.6, label=f"mean of {width} steps")
                if len(y) and y.min() > 0 and y.max() / y.min() > 10:
                    ax.set_yscale("log")
            else:
                ax.plot(x, y, "o-", color="tab:orange", ms=3.5, lw=1.2, label="mean over the validation set")
                best = int(np.argmax(y))  # all three metrics: higher is better
                ax.plot(x[best], y[best], "*", color="tab:red", ms=11,
                        label=f"best {y[best]:.3g}{unit} at step {int(x[best])}")
            ax.set_title(title, loc="left")
            ax.set_xlabel("step")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="best")
        _save(fig, out_png, dpi)
    return Path(out_png)
