"""Scoring denoisers against clean references: PESQ (wb), STOI and SI-SDR, with the noisy input beside them.

`evaluate` takes any number of systems (name -> function(noisy, sample_rate) -> estimate), so the same
code scores speechdae here and the peers in benchmarks/quality.py.
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


def evaluate(systems: dict, items, sample_rate: int, progress: bool = True) -> list[dict]:
    """One row per (item, system) with the three metrics; 'noisy' (the unprocessed input) comes first."""
    rows = []
    items = list(items)
    from tqdm import tqdm

    for item in tqdm(items, disable=not progress, desc="scoring", leave=False):
        for name, fn in {"noisy": lambda x, sr: x, **systems}.items():
            est = np.asarray(fn(item["noisy"], sample_rate), np.float32)
            # The noise file too, so scores can be broken down by noise source or category afterwards.
            rows.append({"system": name, "item": item["name"], "snr": item["snr"], "noise": item.get("noise", "n/a"),
                         **score(est, item["clean"], sample_rate)})
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Mean of each metric per system, overall and per SNR, keeping the systems' order."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["system"], "all")].append(r)
        groups[(r["system"], r["snr"])].append(r)
    out = []
    for (system, snr), rs in groups.items():
        out.append({"system": system, "snr": snr, "n": len(rs),
                    **{m: float(np.nanmean([r[m] for r in rs])) for m in METRICS}})
    return out


def markdown_table(summary: list[dict]) -> str:
    snrs = []
    for s in summary:
        if isinstance(s["snr"], (int, float)) and s["snr"] not in snrs:  # pairs have no SNR ("n/a")
            snrs.append(s["snr"])
    head = ["system", "PESQ", "STOI", "SI-SDR", "SI-SDR >120 Hz"] + [f"SI-SDR @{s:g} dB" for s in snrs]
    head += [f"PESQ @{s:g} dB" for s in snrs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by = {(s["system"], s["snr"]): s for s in summary}
    for system in dict.fromkeys(s["system"] for s in summary):
        a = by[(system, "all")]
        cells = [system, f"{a['pesq']:.3f}", f"{a['stoi']:.3f}", f"{a['si_sdr']:.2f}", f"{a['si_sdr_hp']:.2f}"]
        cells += [f"{by[(system, s)]['si_sdr']:.2f}" for s in snrs]
        cells += [f"{by[(system, s)]['pesq']:.3f}" for s in snrs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_results(rows: list[dict], summary: list[dict], json_path=None, csv_path=None):
    if json_path:
        with atomic_path(json_path) as tmp:
            Path(tmp).write_text(json.dumps({"summary": summary, "items": rows}, indent=1, default=str))
    if csv_path:
        with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, ["system", "item", "snr", "noise", *METRICS])
            w.writeheader()
            w.writerows(rows)
