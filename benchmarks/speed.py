"""Speed benchmark: real-time factor (processing time / audio time; lower is faster) of speechdae and its peers
on the same noisy audio, offline on 1 thread and on all cores, and streamed at each system's native hop.

Each system is measured in its own subprocess (one for 1 thread + streaming + memory, one for all cores), so
that the peak RSS figures are separate and thread settings take effect before any library loads. Ratios are
against a baseline system measured in the same run (default: speechdae).

  .venv/bin/python -m benchmarks.speed --seconds 60 --json speed.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SR = 16000


def bench_audio(seconds: float, clean, noise, snr: float = 5.0, seed: int = 0):
    """`seconds` of noisy speech: dev utterances mixed with dev noise at `snr` dB, concatenated; if the data
    folders are missing, the bundled sample repeated."""
    import numpy as np

    try:
        from speechdae.evaluate import generated_items

        parts, total = [], 0
        for item in generated_items(clean, noise, [snr], seed, SR):
            parts.append(item["noisy"])
            total += len(item["noisy"])
            if total >= seconds * SR:
                break
        source = f"{clean} + {noise} at {snr:g} dB"
    except Exception as e:  # no dev data: fall back to the sample that ships with the package
        from speechdae.audio import read_audio

        parts = [read_audio(ROOT / "speechdae/samples/noisy.flac", SR, mono=True)[0]]
        source = f"speechdae/samples/noisy.flac, repeated ({type(e).__name__}: dev data unavailable)"
    x = np.concatenate(parts)
    x = np.tile(x, int(np.ceil(seconds * SR / len(x))))[: int(seconds * SR)]
    return x.astype(np.float32), source


def max_rss_mb() -> float:
    """Peak RSS of this process (VmHWM). Not getrusage's ru_maxrss: Linux carries that across fork+exec, so
    every subprocess would report at least the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: the best available

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / (1024 if sys.platform == "darwin" else 1)


def worker(args):
    """Runs in the subprocess: prints one JSON line."""
    import numpy as np

    from benchmarks.peers import registry

    x = np.load(args.audio)
    seconds = len(x) / SR
    out = {"rss_before_mb": max_rss_mb()}
    t = time.perf_counter()  # load time includes importing the system's libraries
    peer = registry(args.model)[args.worker]
    fn = peer.make(args.threads)
    fn(x[:SR], SR)  # warm-up (first-call allocations, lazy initialisation)
    out["load_s"] = time.perf_counter() - t
    out.update(n_params=peer.n_params, latency_ms=peer.latency_ms)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        y = fn(x, SR)
        times.append(time.perf_counter() - t)
    assert len(y) == len(x)
    out["offline_rtf"] = min(times) / seconds
    if args.stream and peer.stream is not None:
        hop, process = peer.stream(args.threads)
        for i in range(0, SR, hop):  # warm-up
            process(x[i : i + hop])
        hop, process = peer.stream(args.threads)
        chunk_s = []
        for i in range(0, len(x) - hop + 1, hop):
            t = time.perf_counter()
            process(x[i : i + hop])
            chunk_s.append(time.perf_counter() - t)
        out.update(stream_rtf=sum(chunk_s) / seconds, hop_ms=1000 * hop / SR,
                   p99_hop_ms=1000 * float(np.percentile(chunk_s, 99)))
    out["peak_rss_mb"] = max_rss_mb()
    print(json.dumps(out))


def measure(name, threads, audio_path, args, stream):
    env = {**os.environ, **{k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    cmd = [sys.executable, "-m", "benchmarks.speed", "--worker", name, "--threads", str(threads), "--audio", audio_path,
           "--repeats", str(args.repeats)]
    cmd += (["--model", os.path.abspath(args.model)] if args.model else []) + (["--stream"] if stream else [])
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)  # cwd: `benchmarks` importable
    if p.returncode != 0:
        err = [line for line in p.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(err[-1] if err else f"exit status {p.returncode}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def table(results: dict, baseline: str, cores: int) -> str:
    base = results.get(baseline, {}).get("offline_rtf")
    head = ["system", "params", "latency ms", "load s", "RTF 1 thread", f"÷ {baseline}", f"RTF {cores} threads",
            "stream RTF", "hop ms", "p99 hop ms", "peak RSS MB", "Δ RSS MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = lambda v, f: "—" if v is None else format(v, f)
    for name, r in results.items():
        lat = "offline" if r["latency_ms"] is None else fmt(r["latency_ms"], "g")
        cells = [name, fmt(r.get("n_params"), ","), lat, fmt(r["load_s"], ".2f"), fmt(r["offline_rtf"], ".4f"),
                 fmt(r["offline_rtf"] / base if base else None, ".2f"), fmt(r.get("offline_rtf_all"), ".4f"),
                 fmt(r.get("stream_rtf"), ".4f"), fmt(r.get("hop_ms"), "g"), fmt(r.get("p99_hop_ms"), ".2f"),
                 fmt(r["peak_rss_mb"], ".0f"), fmt(r["peak_rss_mb"] - r["rss_before_mb"], ".0f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    from benchmarks.peers import PEERS
    from speechdae.data import data_root

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the test audio (default 60)")
    ap.add_argument("--clean", default=data_root() / "speech/dev", help="clean speech (default: %(default)s)")
    ap.add_argument("--noise", default=data_root() / "noise/dev", help="noise (default: %(default)s)")
    ap.add_argument("--model", help="speechdae checkpoint (default: the bundled one)")
    ap.add_argument("--systems", nargs="*", default=list(PEERS), help=f"default: all of {', '.join(PEERS)}")
    ap.add_argument("--baseline", default="speechdae", help="system the RTF ratios are quoted against")
    ap.add_argument("--repeats", type=int, default=3, help="offline runs per setting; the fastest counts")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="'all cores' setting (default: cpu count)")
    ap.add_argument("--json", help="write the results here")
    # internal: one measurement in a subprocess
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--audio", help=argparse.SUPPRESS)
    ap.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)

    import numpy as np

    x, source = bench_audio(args.seconds, args.clean, args.noise)
    load0 = os.getloadavg()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        audio_path = str(Path(tmp) / "audio.npy")
        np.save(audio_path, x)
        for name in args.systems:
            try:
                r = measure(name, 1, audio_path, args, stream=True)
                r["offline_rtf_all"] = measure(name, args.threads, audio_path, args, stream=False)["offline_rtf"]
            except Exception as e:
                print(f"skipped {name}: {e}", file=sys.stderr)
                continue
            results[name] = r
            print(f"measured {name}", file=sys.stderr)
    print(f"{len(x) / SR:.0f} s of audio ({source}); best of {args.repeats} offline runs; "
          f"streaming on 1 thread, 16 kHz input chunks of the system's hop (48 kHz peers resample with soxr streams); "
          f"load average before/after: {load0[0]:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    print(table(results, args.baseline, args.threads))
    if args.json:
        Path(args.json).write_text(json.dumps({"audio_seconds": len(x) / SR, "source": source, "results": results,
                                               "baseline": args.baseline, "threads": args.threads}, indent=1))


if __name__ == "__main__":
    main()
