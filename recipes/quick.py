"""Quick recipe: a small denoiser on ../shared/data (or any folders) in under 10 minutes on 2 CPU cores.

    python recipes/quick.py [--speech DIR ...] [--noise DIR ...] [--out runs/quick]

Expected result: SI-SDR on the validation mixtures (0/5/10 dB) rises well above the noisy input's
(roughly +4 dB or more); the model in runs/quick/best.pt loads with speechdae.load_model().
"""
import os
from pathlib import Path

from speechdae.model import ModelConfig
from speechdae.train import TrainConfig, main

DATA = Path(os.environ.get("SPEECHDAE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

config = TrainConfig(
    speech=[DATA / "speech" / "train"],
    noise=[DATA / "noise" / "train"],
    out="runs/quick",
    steps=600,
    batch_size=8,
    segment_seconds=2.0,
    lr=2e-3,
    warmup_steps=50,
    val_every=200,
    checkpoint_every=100,
    time_limit_minutes=8,
    model=ModelConfig(hidden=128, code=64, dilations=(1, 2, 4, 8, 16)),
)

if __name__ == "__main__":
    main(config)
