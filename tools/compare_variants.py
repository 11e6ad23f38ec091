"""Compare the autoencoder variants (plain, denoising, sparse, contractive) on the same data and budget.

    python tools/compare_variants.py [--steps 400] [--out runs/variants]

Each variant trains the quick recipe's small model for the same number of steps from the same seed, then
is scored on the dev set (../shared/data/speech/dev + noise/dev at 0/5/10 dB, seed 0). Prints one table.
Expected result: the plain autoencoder (no corruption) barely changes the noisy input; the denoising
variants clean it; sparse and contractive penalties at these weights are close to plain denoising.
"""
import argparse
import dataclasses
import runpy
from pathlib import Path

import speechdae
from speechdae.evaluate import evaluate, generated_items, markdown_table, summarize
from speechdae.train import VARIANTS, Trainer

HERE = Path(__file__).resolve().parents[1] / "recipes"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--out", default="runs/variants")
    p.add_argument("--files", type=int, default=8)
    a = p.parse_args()
    base = runpy.run_path(str(HERE / "quick.py"))["config"]
    data = Path(base.speech[0]).parents[1]
    systems = {}
    for variant in VARIANTS:
        cfg = dataclasses.replace(base, variant=variant, steps=a.steps, out=f"{a.out}/{variant}",
                                  time_limit_minutes=None, val_every=a.steps)
        Trainer(cfg).run()
        model = speechdae.load_model(f"{cfg.out}/last.pt")
        systems[variant] = model.denoise
    items = generated_items(data / "speech" / "dev", data / "noise" / "dev", (0, 5, 10), 0, 16000,
                            limit=a.files, max_seconds=6.0)
    print(markdown_table(summarize(evaluate(systems, items, 16000, progress=False))))


if __name__ == "__main__":
    main()
