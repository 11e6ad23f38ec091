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
