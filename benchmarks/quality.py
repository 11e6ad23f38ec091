"""Quality benchmark: PESQ (wb), STOI and SI-SDR of speechdae and its peers on the same noisy set.

The noisy set is either mixed on the fly (clean folder + noise folder, fixed SNRs and seed, exactly as
`speechdae evaluate` does it) or read from existing clean/noisy pairs (--pairs CLEAN_DIR NOISY_DIR).
--dnsmos adds DNSMOS P.835 SIG/BAK/OVRL columns (no reference needed; `speechdae.dnsmos`) for every system,
the unprocessed noisy input included. It is off by default because it costs far more than the other metrics:
one ONNX pass per 9 s window of every output (see benchmarks/README.md).

  .venv/bin/python -m benchmarks.quality --limit 10 --max-seconds 8 --json q.json --csv q.csv
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def add_mix_options(ap: argparse.ArgumentParser, limit: int | None = None, max_seconds: float | None = None):
    """The options that say which noisy items are mixed (also benchmarks.oracle's)."""
    from speechdae.data import data_root

    ap.add_argument("--clean", default=data_root() / "speech/dev",
                    help="clean speech folder or manifest (default: %(default)s)")
    ap.add_argument("--noise", default=data_root() / "noise/dev",
                    help="noise folder or manifest (default: %(default)s)")
    ap.add_argument("--snr", type=float, nargs="+", default=[-5.0, 0.0, 5.0, 10.0, 15.0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=limit, help="at most this many clean (or noisy) files")
    ap.add_argument("--max-seconds", type=float, default=max_seconds, help="cut clean files to this length")


def mixed_items(args, sample_rate: int) -> list[dict]:
    """The noisy items that add_mix_options' settings describe."""
    from speechdae.evaluate import generated_items

    snrs = [int(s) if s == int(s) else s for s in args.snr]
    return list(generated_items(args.clean, args.noise, snrs, args.seed, sample_rate, args.limit, args.max_seconds))


def main(argv=None):
    from benchmarks.peers import PEERS, SR, load_peers

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_mix_options(ap)
    ap.add_argument("--pairs", nargs=2, metavar=("CLEAN_DIR", "NOISY_DIR"),
                    help="score existing pairs instead of mixing (matched by relative path)")
    ap.add_argument("--model", help="speechdae checkpoint (default: the bundled one)")
    ap.add_argument("--systems", "--peers", nargs="*", default=list(PEERS), metavar="NAME",
                    help=f"systems to run (default: all of {', '.join(PEERS)})")
    ap.add_argument("--dnsmos", action="store_true",
                    help="add DNSMOS SIG/BAK/OVRL columns (slow; needs pip install 'speechdae[dnsmos]')")
    ap.add_argument("--threads", type=int, default=1, help="threads per system and for DNSMOS (default 1)")
    ap.add_argument("--json", help="write per-item rows and the summary here")
    ap.add_argument("--csv", help="write per-item rows here")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    if args.model and "speechdae" not in args.systems:
        ap.error("--model is speechdae's checkpoint: name speechdae in --systems too")

    from speechdae.evaluate import evaluate, markdown_table, paired_items, save_results, summarize

    # Time each system's calls too: a by-product, not the speed benchmark (see speed.py).
    seconds: dict[str, float] = {}

    def timed(name, fn):
        seconds.setdefault(name, 0.0)

        def run(x, sr):
            t = time.perf_counter()
            y = fn(x, sr)
            seconds[name] += time.perf_counter() - t
            return y
        return run

    extra, scored = None, {"outputs": 0, "audio_s": 0.0, "wall_s": 0.0, "cpu_s": 0.0}
    if args.dnsmos:
        from speechdae.dnsmos import dnsmos, scorer

        scorer(args.threads)  # now, so that a missing extra is one line before any work

        def extra(y, sr):
            t, c = time.perf_counter(), time.process_time()
            out = dnsmos(y, sr, args.threads)
            scored["outputs"] += 1
            scored["audio_s"] += len(y) / sr
            scored["wall_s"] += time.perf_counter() - t
            scored["cpu_s"] += time.process_time() - c
            return out

    if args.pairs:
        items = list(paired_items(args.pairs[0], args.pairs[1], SR, args.limit))
    else:
        items = mixed_items(args, SR)
    log = lambda msg: print(msg, file=sys.stderr)
    systems = load_peers(args.systems, args.threads, log, model=args.model,
                         required=["speechdae"] if args.model else ())

    rows = evaluate({k: timed(k, f) for k, f in systems.items()}, items, SR, progress=not args.quiet, extra=extra)
    summary = summarize(rows)
    audio_s = sum(len(it["noisy"]) for it in items) / SR
    source = f"pairs {args.pairs[0]} / {args.pairs[1]}" if args.pairs else \
        f"{args.clean} + {args.noise}, SNR {args.snr} dB, seed {args.seed}"
    print(f"{len(items)} noisy items, {audio_s:.0f} s of audio ({source}); means over items\n")
    print(markdown_table(summary))
    print(f"\nWall seconds per system for the whole set (incidental, one run, {args.threads} thread(s); see speed.py): "
          + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    if scored["outputs"]:
        n, total = scored["outputs"], scored["wall_s"]
        print(f"DNSMOS scoring (incidental): {n} outputs in {total:.1f} s wall, {scored['cpu_s']:.1f} s CPU: "
              f"{total / n:.2f} s per output, {total / len(items):.1f} s per item ({len(systems) + 1} outputs incl. "
              f"noisy), {total / scored['audio_s']:.2f} s per second of audio scored")
    for s in summary:
        s["seconds"] = seconds.get(s["system"]) if s["snr"] == "all" else None
    save_results(rows, summary, args.json, args.csv)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
