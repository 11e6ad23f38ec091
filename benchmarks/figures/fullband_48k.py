"""Make fullband_48k.png: a 48 kHz file before and after `speechdae denoise`, band above 8 kHz included.

    python benchmarks/figures/fullband_48k.py [--out-dir /tmp/fullband]

The speech is the bundled clean sample (real speech, 16 kHz) at 48 kHz, with its own 4-7.8 kHz band moved up
by 4 kHz (10 dB down) as its band above 8 kHz, and half a second of silence in the middle: the same test speech
as tests/test_fullband.py. White noise at 10 dB SNR covers 0-24 kHz. Then the three commands a user would run.
"""
import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

ROOT = Path(__file__).resolve().parents[2]
R = 48000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", default="/tmp/fullband")
    args = ap.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x16, sr = sf.read(ROOT / "speechdae" / "samples" / "clean.flac", dtype="float32")
    x16 = x16[: 5 * sr]
    gap = np.zeros(sr // 2, np.float32)
    x = soxr.resample(np.concatenate([x16[: len(x16) // 2], gap, x16[len(x16) // 2 :]]), sr, R).astype(np.float64)
    band = signal.sosfiltfilt(signal.butter(8, [4000, 7800], "bandpass", fs=R, output="sos"), x)
    t = np.arange(len(x)) / R
    clean = (x + 0.3 * np.real(signal.hilbert(band) * np.exp(2j * np.pi * 4000 * t))).astype(np.float32)
    noise = np.random.default_rng(0).standard_normal(len(clean)).astype(np.float32)
    noisy = clean + noise * np.sqrt(np.mean(clean**2) / np.mean(noise**2)) * 10 ** (-10 / 20)
    sf.write(out / "clean.wav", clean, R, subtype="FLOAT")
    sf.write(out / "noisy.wav", noisy, R, subtype="FLOAT")
    cli = [sys.executable, "-m", "speechdae.cli"]
    subprocess.run([*cli, "denoise", str(out / "noisy.wav"), "-o", str(out / "denoised.wav"), "-q"], check=True)
    png = ROOT / "benchmarks" / "figures" / "fullband_48k.png"
    subprocess.run([*cli, "plot", str(out / "noisy.wav"), str(out / "denoised.wav"), "--clean",
                    str(out / "clean.wav"), "-o", str(png)], check=True)
    print(png)


if __name__ == "__main__":
    main()
