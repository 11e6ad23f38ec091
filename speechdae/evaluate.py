"""Scoring denoisers: PESQ (wb), STOI and SI-SDR against clean references, and/or DNSMOS without one.

`evaluate` takes any number of systems (name -> function(noisy, sample_rate) -> estimate), so the same
code scores speechdae here and the peers in benchmarks/quality.py. Items without a "clean" entry (real
recordings, `recording_items`) get only the reference-free scores (DNSMOS SIG/BAK/OVRL, `speechdae.dnsmos`).
"""
from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from .audio import atomic_path, read_audio
from .data import list_audio, noisy_pairs
from .errors import SpeechDAEError
from .metrics import score

METRICS = ("pesq", "stoi", "si_sdr", "si_sdr_hp")
NO_REF = ("sig", "bak", "ovrl")  # DNSMOS P.835, see speechdae.dnsmos
LABELS = {"pesq": "PESQ", "stoi": "STOI", "si_sdr": "SI-SDR", "si_sdr_hp": "SI-SDR >120 Hz",
          "sig": "SIG", "bak": "BAK", "ovrl": "OVRL"}


def generated_items(clean, noise, snrs, seed: int, sample_rate: int, limit: int | None = None,
                    max_seconds: float | None = None):
    files = list_audio(clean)
    if not files:
        raise SpeechDAEError(f"no clean audio files in {clean}")
    files = files[:limit] if limit else files
    return noisy_pairs(files, list_audio(noise), snrs, seed, sample_rate, max_seconds)


def paired_items(clean_dir, noisy_dir, sample_rate: int, limit: int | None = None):
    """Pairs matched by path relative to each folder; the SNR column reads 'n/a'."""
    clean_dir, noisy_dir = Path(clean_dir), Path(noisy_dir)
    noisy_files = list_audio(noisy_dir)
    if not noisy_files:
        raise SpeechDAEError(f"no noisy audio files in {noisy_dir}")
    for k, noisy_path in enumerate(noisy_files[:limit] if limit else noisy_files):
        rel = noisy_path.relative_to(noisy_dir)
        candidates = [clean_dir / rel] + sorted(clean_dir.glob(str(rel.with_suffix(".*"))))
        clean_path = next((c for c in candidates if c.exists()), None)
        if clean_path is None:
            raise SpeechDAEError(f"{noisy_path}: no clean reference {clean_dir / rel}")
        clean = read_audio(clean_path, sample_rate, mono=True)[0]
        noisy = read_audio(noisy_path, sample_rate, mono=True)[0]
        n = min(len(clean), len(noisy))
        yield {"name": str(rel), "snr": "n/a", "clean": clean[:n], "noisy": noisy[:n]}


def recording_items(paths, sample_rate: int, limit: int | None = None):
    """Real recordings with no reference (files and folders; our own *.denoised.* outputs are left out)."""
    files = []
    for p in map(Path, paths):
        found = [(f, p) for f in list_audio(p) if ".denoised." not in f.name] if p.is_dir() else [(p, None)]
        if p.is_dir() and not found:
            raise SpeechDAEError(f"{p}: no audio files in this folder")
        files += found
    for path, root in files[:limit] if limit else files:
        name = str(path.relative_to(root)) if root else str(path)
        yield {"name": name, "snr": "n/a", "noisy": read_audio(path, sample_rate, mono=True)[0]}


def evaluate(systems: dict, items, sample_rate: int, progress: bool = True, extra=None) -> list[dict]:
    """One row per (item, system); 'noisy' (the unprocessed input) comes first.

    Items with a "clean" reference get PESQ/STOI/SI-SDR; `extra(estimate, sample_rate) -> dict` (DNSMOS) adds
    reference-free columns to every row. A progress bar is drawn only on a terminal (tqdm's disable=None).
    """
    rows = []
    items = list(items)
    from tqdm import tqdm

    for item in tqdm(items, disable=None if progress else True, desc="scoring", unit="item", leave=False):
        for name, fn in {"noisy": lambda x, sr: x, **systems}.items():
            est = np.asarray(fn(item["noisy"], sample_rate), np.float32)
            # The noise file too, so scores can be broken down by noise source or category afterwards.
            row = {"system": name, "item": item["name"], "snr": item["snr"], "noise": item.get("noise", "n/a")}
            if item.get("clean") is not None:
                row.update(score(est, item["clean"], sample_rate))
            if extra is not None:
                row.update(extra(est, sample_rate))
            rows.append(row)
    return rows


def columns(rows: list[dict]) -> list[str]:
    """The metric columns these rows (or summary rows) have, in table order."""
    return [m for m in METRICS + NO_REF if rows and m in rows[0]]


def summarize(rows: list[dict]) -> list[dict]:
    """Mean of each metric per system, overall and per SNR, keeping the systems' order."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["system"], "all")].append(r)
        groups[(r["system"], r["snr"])].append(r)
    out, metrics = [], columns(rows)
    for (system, snr), rs in groups.items():
        out.append({"system": system, "snr": snr, "n": len(rs),
                    **{m: float(np.nanmean([r[m] for r in rs])) for m in metrics}})
    return out


def markdown_table(summary: list[dict]) -> str:
    snrs = []
    for s in summary:
        if isinstance(s["snr"], (int, float)) and s["snr"] not in snrs:  # pairs have no SNR ("n/a")
            snrs.append(s["snr"])
    metrics = columns(summary)
    per_snr = [m for m in ("si_sdr", "pesq") if m in metrics]
    head = ["system"] + [LABELS[m] for m in metrics] + [f"{LABELS[m]} @{s:g} dB" for m in per_snr for s in snrs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by = {(s["system"], s["snr"]): s for s in summary}
    fmt = lambda m, v: f"{v:.2f}" if m.startswith("si_sdr") else f"{v:.3f}"
    for system in dict.fromkeys(s["system"] for s in summary):
        a = by[(system, "all")]
        cells = [system] + [fmt(m, a[m]) for m in metrics]
        cells += [fmt(m, by[(system, s)][m]) for m in per_snr for s in snrs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_results(rows: list[dict], summary: list[dict], json_path=None, csv_path=None):
    if json_path:
        with atomic_path(json_path) as tmp:
            Path(tmp).write_text(json.dumps({"summary": summary, "items": rows}, indent=1, default=str))
    if csv_path:
        with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, ["system", "item", "snr", "noise", *columns(rows)])
            w.writeheader()
            w.writerows(rows)


# -- `speechdae eval` -----------------------------------------------------------------------------------------
EXAMPLES = """examples:
  speechdae eval --clean speech/ --noise noise/ --snr 0 5 10 --seed 0 --json results.json
  speechdae eval --pairs clean_dir/ noisy_dir/           # pairs matched by relative path
  speechdae eval --dnsmos recordings/ talk.wav           # real recordings, no reference: DNSMOS before/after
  speechdae eval --clean speech/ --noise noise/ --dnsmos # PESQ/STOI/SI-SDR plus DNSMOS SIG/BAK/OVRL"""


def add_arguments(parser, name: str):
    parser.description = ("Score the denoiser: PESQ, STOI and SI-SDR against clean references (a generated\n"
                          "noisy set or existing pairs), and/or DNSMOS (SIG, BAK, OVRL), which needs none.")
    from .cli import atten_limit_arg

    parser.epilog = EXAMPLES
    add = parser.add_argument
    add("--clean", nargs="+", metavar="DIR", help="clean speech folder(s) (or manifests) to mix a noisy set from")
    add("--noise", nargs="+", metavar="DIR", help="noise folder(s) (or manifests) for that noisy set")
    add("--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0], metavar="DB",
        help="SNRs to mix each clean file at (default: 0 5 10)")
    add("--seed", type=int, default=0, help="seed for the noise choice and placement (default 0)")
    add("--max-seconds", type=float, metavar="S", help="cut clean files to this length")
    add("--pairs", nargs=2, metavar=("CLEAN_DIR", "NOISY_DIR"),
        help="score existing noisy files against clean ones with the same relative path")
    add("--dnsmos", nargs="*", metavar="PATH",
        help="with files/folders: score those recordings (no reference) before and after denoising; "
             "alone: add DNSMOS SIG/BAK/OVRL columns to --clean/--noise or --pairs. "
             "Needs pip install 'speechdae[dnsmos]'")
    add("--limit", type=int, metavar="N", help="at most N clean files (--pairs, --dnsmos PATH: N noisy files)")
    add("--atten-limit", type=atten_limit_arg, default=None, metavar="DB",
        help="never attenuate by more than DB decibels, as in denoise")
    add("--json", metavar="FILE", help="write the summary and every item's scores here")
    add("--csv", metavar="FILE", help="write every item's scores here")
    add("--threads", type=int, metavar="N", help="CPU threads for the model and DNSMOS (default 1)")
    add("--device", default="cpu", help="cpu, cuda, ... (default cpu)")
    add("--model", help="checkpoint (default: the bundled model)")
    add("-q", "--quiet", action="store_true", help="no progress bar (none is drawn into pipes anyway)")


def run(args, name: str) -> int:
    import functools

    from .cli import load_for, threads_from

    threads = threads_from(args)
    extra = None
    if args.dnsmos is not None:
        from .dnsmos import dnsmos, scorer

        scorer(threads)  # now, so that a missing extra is one line before any work, not after the first item
        extra = functools.partial(dnsmos, threads=threads)
    if args.dnsmos and (args.pairs or args.clean or args.noise):
        raise SpeechDAEError("--dnsmos PATH... scores recordings that have no reference; "
                             "give --dnsmos without paths to add its columns to --clean/--noise or --pairs")
    model = load_for(args)
    sr = model.sample_rate
    if args.dnsmos:
        items = recording_items(args.dnsmos, sr, args.limit)
    elif args.pairs:
        items = paired_items(args.pairs[0], args.pairs[1], sr, args.limit)
    elif args.clean and args.noise:
        items = generated_items(args.clean, args.noise, args.snr, args.seed, sr, args.limit, args.max_seconds)
    else:
        raise SpeechDAEError("give --clean DIR and --noise DIR, --pairs CLEAN_DIR NOISY_DIR, or --dnsmos PATH...")
    rows = evaluate({"speechdae": lambda x, rate: model.denoise(x, rate, args.atten_limit)}, items, sr,
                    progress=not args.quiet, extra=extra)
    summary = summarize(rows)
    print(markdown_table(summary))
    save_results(rows, summary, args.json, args.csv)
    return 0
