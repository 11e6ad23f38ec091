"""Blend a fine-tuned checkpoint with the one it started from, weight by weight (WiSE-FT).

    python tools/interpolate.py START.pt TUNED.pt --alpha 0.5 -o blend.pt

Writes (atomically) `(1 - alpha) * START + alpha * TUNED` for every weight: alpha 0 is START, 1 is TUNED.
Why: a fine-tune toward one metric (the recipe's `pesq` stage) trades another away (SI-SDR); points between the
two often keep most of the gain at a smaller cost (Wortsman et al. 2022, "Robust fine-tuning of zero-shot
models"), and picking alpha on the dev set costs evaluations, not training. Both checkpoints must have the same
model and STFT; the blend keeps TUNED's description and lineage and records the blend in its metrics.
"""
import argparse
from pathlib import Path

from speechdae.checkpoint import build, read_checkpoint, save_checkpoint
from speechdae.errors import SpeechDAEError


def blend(start: dict, tuned: dict, alpha: float) -> dict:
    """TUNED's payload with its weights moved to (1 - alpha) * START + alpha * TUNED."""
    if (start["stft"], start["model"]) != (tuned["stft"], tuned["model"]):
        raise SpeechDAEError("the two checkpoints have different models or STFTs: only one model's weights blend")
    weights = {}
    for name, w in tuned["weights"].items():
        if w.is_floating_point():
            weights[name] = start["weights"][name].lerp(w, alpha)
        else:  # integer buffers (counters) are not weights: keep TUNED's
            weights[name] = w
    return dict(tuned, weights=weights)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("start", help="the checkpoint the fine-tune started from")
    p.add_argument("tuned", help="the fine-tuned checkpoint")
    p.add_argument("--alpha", type=float, required=True, help="0: START, 1: TUNED")
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args()
    start, tuned = read_checkpoint(a.start), read_checkpoint(a.tuned)
    payload = blend(start, tuned, a.alpha)
    metrics = dict(payload["metrics"], blend={"start": a.start, "tuned": a.tuned, "alpha": a.alpha})
    save_checkpoint(a.output, build(payload, a.tuned), train=payload["train"], metrics=metrics,
                    history=payload.get("history"))
    print(f"{a.start} x{1 - a.alpha:g} + {a.tuned} x{a.alpha:g} -> {Path(a.output)}")


if __name__ == "__main__":
    try:
        main()
    except SpeechDAEError as e:
        raise SystemExit(f"interpolate: error: {e}") from None
