"""Ray throughput: audio hours denoised per wall hour by `speechdae denoise --out-dir`, in its plain folder mode
and with --ray on 1 and 2 workers, on the same files, in one run. Prints a markdown table.

    python -m benchmarks.ray_throughput [--input DIR] [--limit N] [--workers 1 2] [--threads 1] [--model CKPT]

Every mode is the real command (`python -m speechdae.cli denoise IN --out-dir OUT ...`) in its own process,
timed from its start to its exit, so model loading, Ray worker start-up and the driver's checks are all in its
wall time; the Ray cluster itself (a local one with as many CPUs as the most workers need, or --address) is
started once before the first mode and is not. Ray's own figure for its denoising loop alone is shown beside
it. Each worker, and the plain mode, uses --threads torch threads. The input is a folder of real audio (default:
the dev speech under `speechdae.data.data_root()`), the first --limit files of it in sorted order, linked into
a temporary folder so that every mode reads the same files. The machine may be busy: read the ratios, which
are measured in the same run.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Quiet and small, as in tests/test_ray.py: no usage reporting, no dashboard, a minimal object store.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0", "PYTHONWARNINGS": "ignore"}
RAY_LINE = re.compile(r"ray: .*: ([0-9.]+) audio hours in ([0-9.]+) s")


def link_inputs(files: list[Path], root: Path, into: Path) -> None:
    """`into` mirrors `root` for these files, as symbolic links (nothing is copied)."""
    for f in files:
        rel = f.relative_to(root) if f.is_relative_to(root) else Path(f.name)
        dst = into / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(f.resolve())


def run_mode(inp: Path, out: Path, args, workers: int | None, address: str | None) -> dict:
    """One `speechdae denoise` command: {wall_s, outputs, ray_s} (ray_s: Ray's own loop time, --ray only)."""
    cmd = [sys.executable, "-m", "speechdae.cli", "denoise", str(inp), "--out-dir", str(out),
           "--threads", str(args.threads)]
    cmd += ["--model", os.path.abspath(args.model)] if args.model else []
    cmd += ["--ray", address, "--ray-workers", str(workers)] if workers else []
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **RAY_ENV})
    wall = time.perf_counter() - t
    if done.returncode:
        err = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise SystemExit(f"failed ({' '.join(cmd)}): {err[-1] if err else f'exit status {done.returncode}'}")
    found = RAY_LINE.search(done.stdout)
    return {"wall_s": wall, "outputs": sum(1 for p in out.rglob("*") if p.is_file()),
            "ray_s": float(found.group(2)) if found else None}


def main(argv=None):
    from speechdae.data import data_root

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=data_root() / "speech/dev",
                    help="folder of audio to denoise (default: %(default)s)")
    ap.add_argument("--limit", type=int, help="only the first N files (sorted)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts (default: 1 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker and for plain mode (default 1)")
    ap.add_argument("--model", help="checkpoint (default: the bundled model)")
    ap.add_argument("--address", help="an existing Ray cluster's HOST:PORT (default: start a local one)")
    args = ap.parse_args(argv)

    import soundfile as sf

    from speechdae.data import list_audio

    files = list_audio(args.input)[: args.limit] if args.input.exists() else []
    if not files:
        raise SystemExit(f"no audio files in {args.input} (give --input DIR, or set SPEECHDAE_DATA)")
    audio_h = sum(sf.info(str(f)).duration for f in files) / 3600

    import ray

    os.environ.update(RAY_ENV)
    t = time.perf_counter()
    if args.address:
        ray.init(address=args.address, logging_level=logging.ERROR)
        address = args.address
    else:
        ctx = ray.init(address="local", num_cpus=max(args.workers) * args.threads, include_dashboard=False,
                       object_store_memory=80 * 2**20, logging_level=logging.ERROR)
        address = ctx.address_info["address"]
    cluster_s = time.perf_counter() - t
    cpus = int(ray.cluster_resources().get("CPU", 0))

    load0 = os.getloadavg()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inp = Path(tmp) / "in"
            link_inputs(files, args.input, inp)
            for workers in [None, *args.workers]:
                name = "plain folder mode" if workers is None else "--ray"
                r = run_mode(inp, Path(tmp) / f"out-{workers or 0}", args, workers, address)
                if r["outputs"] != len(files):
                    raise SystemExit(f"{name}: {r['outputs']} outputs for {len(files)} files")
                rows.append((name, workers or 1, r))
                print(f"measured {name}, {workers or 1} worker(s): {r['wall_s']:.1f} s", file=sys.stderr, flush=True)
    finally:
        ray.shutdown()  # stops the local cluster if this script started it
    load1 = os.getloadavg()

    print(f"{len(files)} files, {audio_h * 60:.1f} min of audio from {args.input}; {args.threads} torch thread(s) per "
          f"worker; Ray cluster: {cpus} CPUs ({'at ' + address if args.address else 'local'}, started in "
          f"{cluster_s:.1f} s, not counted); load average before/after: {load0[0]:.2f} / {load1[0]:.2f} on "
          f"{os.cpu_count()} cores\n")
    head = ["mode", "workers", "files", "audio hours", "wall s", "audio h per wall h", "x plain folder mode",
            "Ray's loop s"]
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    plain = audio_h / rows[0][2]["wall_s"]
    for name, workers, r in rows:
        rate = audio_h / r["wall_s"]
        loop = "—" if r["ray_s"] is None else f"{r['ray_s']:.1f}"
        print(f"| {name} | {workers} | {len(files)} | {audio_h:.3f} | {r['wall_s']:.1f} | {3600 * rate:.1f} | "
              f"{rate / plain:.2f} | {loop} |")


if __name__ == "__main__":
    main()
