"""Second stage of the bundled default model: fine-tune v1 with a waveform SI-SDR term in the loss.

    python recipes/bundled_finetune.py [--out runs/bundled_ft] [--init-from runs/bundled/best.pt]

Starts from the weights of recipes/bundled.py's model (by default the bundled checkpoint itself) with a fresh
optimizer and a new warm-up + cosine schedule. The SI-SDR term scores the waveform after the inverse STFT, so
the model is paid for keeping the energy the compressed-magnitude loss barely sees (low frequencies, loud
vowels) and for getting the level right.
"""
import dataclasses
import os
import runpy
from pathlib import Path

from speechdae.train import main

base = runpy.run_path(str(Path(__file__).with_name("bundled.py")))["config"]
config = dataclasses.replace(
    base,
    out="runs/bundled_ft",
    init_from="default",
    lr=8e-4,
    warmup_steps=200,
    sisdr_weight=float(os.environ.get("SISDR_WEIGHT", 0.5)),
    time_limit_minutes=75,
)

if __name__ == "__main__":
    main(config)
