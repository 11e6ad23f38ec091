"""What the model's output form can reach at best: oracle gains computed from the clean speech. Prints a table.

    python -m benchmarks.oracle [--limit 20] [--max-seconds 8] [--dnsmos] [--model CKPT] [--json FILE]

The items are those of benchmarks/quality.py with the same options (the peer set by default), and the gains go
through the model's own STFT (`Denoiser.stft`), so only the gain differs from a trained model's output:
- `real-gain`: |clean| / |noisy| per bin, at most 1, on the noisy phase: the best any sigmoid mask can do
  (speechdae's output form);
- `phase-below-2k`: the same, but bins under 2 kHz also take the clean phase (a complex gain there): what a
  phase-aware low band would add;
- `clean`: the clean speech itself, the scale's ceiling (DNSMOS scores clean speech too, and not at 5).
A trained model scores below its form's oracle; a peer that scores above it on a no-reference metric (DNSMOS BAK)
does so by removing more than the noise. Results: benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import torch

LOW_HZ = 2000.0  # phase-below-2k: where a voice's harmonics are resolved by the 32 ms window


def oracle_gains(denoiser, noisy: np.ndarray, clean: np.ndarray, phase_below_hz: float = 0.0) -> np.ndarray:
    """The oracle output for one item: real gains |C|/|N| (at most 1) on the noisy phase, and below
    `phase_below_hz` the clean phase too."""
    stft = denoiser.stft
    n, c = (torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None] for a in (noisy, clean))
    N, C = stft(n), stft(c)
    gain = (C.abs() / N.abs().clamp(min=1e-8)).clamp(max=1.0)
    rotation = torch.ones_like(N)
    if phase_below_hz > 0:
        k = int(np.sum(np.fft.rfftfreq(stft.cfg.n_fft, 1 / stft.cfg.sample_rate) < phase_below_hz))  # bins under it
        both = (N[:, :k].abs() > 0) & (C[:, :k].abs() > 0)
        turn = C[:, :k] * N[:, :k].conj()  # e^{i(phase(C) - phase(N))} once divided by its magnitude
        rotation[:, :k] = torch.where(both, turn / turn.abs().clamp(min=1e-20), rotation[:, :k])
    return stft.inverse(N * gain * rotation, n.shape[-1])[0].numpy()


def main(argv=None):
    from benchmarks.peers import SR
    from benchmarks.quality import add_mix_options, mixed_items
    from speechdae.checkpoint import load_model
    from speechdae.evaluate import evaluate, markdown_table, save_results, summarize

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_mix_options(ap, limit=20, max_seconds=8.0)  # the peer set
    ap.add_argument("--model", help="checkpoint whose STFT the oracles use (default: the bundled one)")
    ap.add_argument("--dnsmos", action="store_true", help="add DNSMOS SIG/BAK/OVRL (needs speechdae[dnsmos])")
    ap.add_argument("--json", help="write per-item rows and the summary here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    denoiser = load_model(args.model)
    items = mixed_items(args, SR)
    # evaluate() hands a system only the noisy samples; the oracles look their clean partner up by content.
    clean_of = {it["noisy"].tobytes(): it["clean"] for it in items}
    systems = {
        "real-gain": lambda x, sr: oracle_gains(denoiser, x, clean_of[x.tobytes()]),
        "phase-below-2k": lambda x, sr: oracle_gains(denoiser, x, clean_of[x.tobytes()], LOW_HZ),
        "clean": lambda x, sr: clean_of[x.tobytes()],
    }
    extra = None
    if args.dnsmos:
        from speechdae.dnsmos import dnsmos, scorer

        scorer(1)  # a missing extra is one line before any work
        extra = lambda y, sr: dnsmos(y, sr, 1)  # noqa: E731
    rows = evaluate(systems, items, SR, progress=False, extra=extra)
    summary = summarize(rows)
    print(f"{len(items)} noisy items; oracle gains through the STFT of {args.model or 'the bundled model'}\n")
    print(markdown_table(summary))
    save_results(rows, summary, args.json, None)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
