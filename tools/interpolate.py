"""Blend a fine-tuned checkpoint with the one it started from, weight by weight (WiSE-FT).

    python tools/interpolate.py START.pt TUNED.pt --alpha 0.4 -o blend.pt

Writes `(1 - alpha) * START + alpha * TUNED` (alpha 0: START, 1: TUNED) with speechdae.checkpoint's
blend_checkpoints, the function recipes/bundled.py ends with; this script is for trying other alphas on dev.
"""
import argparse

from speechdae.checkpoint import blend_checkpoints
from speechdae.errors import SpeechDAEError


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("start", help="the checkpoint the fine-tune started from")
    p.add_argument("tuned", help="the fine-tuned checkpoint")
    p.add_argument("--alpha", type=float, required=True, help="0: START, 1: TUNED")
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args()
    out = blend_checkpoints(a.start, a.tuned, a.alpha, a.output)
    print(f"{a.start} x{1 - a.alpha:g} + {a.tuned} x{a.alpha:g} -> {out}")


if __name__ == "__main__":
    try:
        main()
    except SpeechDAEError as e:
        raise SystemExit(f"interpolate: error: {e}") from None
