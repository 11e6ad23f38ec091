"""Is the default model fast enough for `speechdae live` on one CPU thread? Prints a markdown table.

    python -m benchmarks.stream_speed [--model CKPT] [--repeat 3] [--compare CKPT ...]

Streaming feeds one hop (the live block size) per call and times each call against the hop's duration;
the baseline, measured in the same run on the same audio, is offline whole-file `Denoiser.denoise`.
Real-time factor (RTF) = compute time / audio duration: below 1 keeps up, and the live worker needs the
per-hop p99/max well below one hop so the output ring never runs dry.
"""
from __future__ import annotations

import argparse
import resource
import time
from importlib import resources

import numpy as np
import torch

from speechdae.audio import read_audio
from speechdae.checkpoint import load_model


def stream_times(model, x: np.ndarray, chunk: int) -> np.ndarray:
    """Seconds per `process` call, feeding `chunk` samples at a time."""
    stream = model.stream()
    times = []
    for i in range(0, len(x), chunk):
        t = time.perf_counter()
        stream.process(x[i : i + chunk])
        times.append(time.perf_counter() - t)
    stream.flush()
    return np.array(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="checkpoint (default: the bundled model)")
    p.add_argument("--repeat", type=int, default=3, help="loop the bundled sample this many times")
    p.add_argument("--compare", nargs="+", metavar="CKPT",
                   help="also time these checkpoints' one-hop streams, interleaved with --model's in the same run")
    args = p.parse_args()
    torch.set_num_threads(1)  # the live worker's budget: one core next to the audio threads

    model = load_model(args.model)
    cfg = model.stft.cfg
    sample = resources.files("speechdae") / "samples" / "noisy.flac"
    x = np.tile(read_audio(str(sample), cfg.sample_rate, mono=True)[0], args.repeat)
    seconds = len(x) / cfg.sample_rate
    hop_ms = 1000 * cfg.hop / cfg.sample_rate
    stream_times(model, x[: cfg.sample_rate], cfg.hop)  # warm-up: first calls allocate

    offline = min(_timed(model.denoise, x, cfg.sample_rate) for _ in range(3))  # best of 3: least noise
    rows = [("offline whole file (baseline)", len(x), offline, None)]
    for hops in (1, 10):
        t = stream_times(model, x, hops * cfg.hop)
        rows.append((f"streaming, {hops} hop{'s' if hops > 1 else ''} per call", hops * cfg.hop, t.sum(), t))

    print(f"Default model, {seconds:.1f} s of 16 kHz speech+noise, torch {torch.__version__}, 1 CPU thread\n")
    print("| mode | chunk (ms) | RTF | x baseline | per-call p50 (ms) | p99 (ms) | max (ms) | max / chunk |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, chunk, total, t in rows:
        chunk_ms = 1000 * chunk / cfg.sample_rate
        pct = "| - | - | - | - |" if t is None else (
            f"| {1000 * np.percentile(t, 50):.2f} | {1000 * np.percentile(t, 99):.2f} | {1000 * t.max():.2f} "
            f"| {1000 * t.max() / chunk_ms:.2f} |")
        print(f"| {name} | {chunk_ms:.0f} | {total / seconds:.4f} | {total / offline:.1f} {pct}")
    if args.compare:
        compare(model, args.compare, x, args.model or "bundled")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print("\n| hop (ms) | algorithmic latency (ms) | parameters | peak RSS (MiB, whole process) |")
    print("|---:|---:|---:|---:|")
    print(f"| {hop_ms:.0f} | {1000 * cfg.latency_samples / cfg.sample_rate:.1f} | {model.n_params():,} "
          f"| {peak_mib:.0f} |")


def compare(model, others: list[str], x: np.ndarray, name: str, rounds: int = 5):
    """One-hop streaming cost of several models, round-robin so that a busy machine slows them alike."""
    models = [(name, model)] + [(path, load_model(path)) for path in others]
    rtf = {n: [] for n, _ in models}
    for _ in range(rounds):
        for n, m in models:
            cfg = m.stft.cfg
            xr = x if cfg.sample_rate == model.stft.cfg.sample_rate else None
            t = stream_times(m, xr, cfg.hop)
            rtf[n].append(t.sum() / (len(xr) / cfg.sample_rate))
    base = float(np.median(rtf[name]))
    print(f"\nOne hop per call, median of {rounds} interleaved rounds\n")
    print("| model | parameters | latency (ms) | stream RTF | x first |")
    print("|---|---:|---:|---:|---:|")
    for n, m in models:
        med = float(np.median(rtf[n]))
        lat = 1000 * m.stft.cfg.latency_samples / m.stft.cfg.sample_rate
        print(f"| {n} | {m.n_params():,} | {lat:.1f} | {med:.4f} | {med / base:.2f} |")


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
