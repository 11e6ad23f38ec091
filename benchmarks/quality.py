"""Quality benchmark: PESQ (wb), STOI and SI-SDR of speechdae and its peers on the same noisy set.

The noisy set is either mixed on the fly (clean folder + noise folder, fixed SNRs and seed, exactly as
`speechdae evaluate` does it) or read from existing clean/noisy pairs (--pairs CLEAN_DIR NOISY_DIR).

  .venv/bin/python benchmarks/quality.py --limit 10 --max-seconds 8 --json q.json --csv q.csv
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv=None):
    from peers import PEERS, SR, load_peers, speechdae_peer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clean", default=ROOT.parent / "shared/data/speech/dev", help="clean speech folder or manifest")
    ap.add_argument("--noise", default=ROOT.parent / "shared/data/noise/dev", help="noise folder or manifest")
    ap.add_argument("--pairs", nargs=2, metavar=("CLEAN_DIR", "NOISY_DIR"),
                    help="score existing pairs instead of mixing (matched by relative path)")
    ap.add_argument("--snr", type=float, nargs="+", default=[-5.0, 0.0, 5.0, 10.0, 15.0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, help="at most this many clean (or noisy) files")
    ap.add_argument("--max-seconds", type=float, help="cut clean files to this length")
    ap.add_argument("--model", help="speechdae checkpoint (default: the bundled one)")
    ap.add_argument("--peers", nargs="*", default=list(PEERS),
                    help=f"peers to run (default: all of {', '.join(PEERS)})")
    ap.add_argument("--threads", type=int, default=1, help="threads per system (default 1)")
    ap.add_argument("--json", help="write per-item rows and the summary here")
    ap.add_argument("--csv", help="write per-item rows here")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    from speechdae.evaluate import evaluate, generated_items, markdown_table, paired_items, save_results, summarize

    if args.pairs:
        items = list(paired_items(args.pairs[0], args.pairs[1], SR, args.limit))
    else:
        items = list(generated_items(args.clean, args.noise, [int(s) if s == int(s) else s for s in args.snr],
                                     args.seed, SR, args.limit, args.max_seconds))
    log = lambda msg: print(msg, file=sys.stderr)
    systems = {"speechdae": speechdae_peer(args.model).make(args.threads)}
    systems.update(load_peers(args.peers, args.threads, log))

    # Time each system's calls too: a by-product, not the speed benchmark (see speed.py).
    seconds = dict.fromkeys(systems, 0.0)

    def timed(name, fn):
        def run(x, sr):
            t = time.perf_counter()
            y = fn(x, sr)
            seconds[name] += time.perf_counter() - t
            return y
        return run

    rows = evaluate({k: timed(k, f) for k, f in systems.items()}, items, SR, progress=not args.quiet)
    summary = summarize(rows)
    audio_s = sum(len(it["noisy"]) for it in items) / SR
    source = f"pairs {args.pairs[0]} / {args.pairs[1]}" if args.pairs else \
        f"{args.clean} + {args.noise}, SNR {args.snr} dB, seed {args.seed}"
    print(f"{len(items)} noisy items, {audio_s:.0f} s of audio ({source}); means over items\n")
    print(markdown_table(summary))
    print(f"\nWall seconds per system for the whole set (incidental, one run, {args.threads} thread(s); see speed.py): "
          + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    for s in summary:
        s["seconds"] = seconds.get(s["system"]) if s["snr"] == "all" else None
    save_results(rows, summary, args.json, args.csv)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
