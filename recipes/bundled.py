"""Stage 1 of the bundled default model (speechdae/pretrained/default.pt); stages 2 to 13 fine-tune it.

    python recipes/bundled.py [--out runs/bundled] [--device auto]

Trains the default DenoisingAutoencoder (0.66 M parameters, 1.3 s causal context, 20 ms latency) on
../shared/data/speech/train + ../shared/data/noise/train with every corruption of the recipe on.
On 2 CPU cores it runs 95 minutes of training time (the time limit ends it with a low learning rate and a checkpoint; rerunning the same command after a kill resumes).
Expected result (measured, one torch thread: 17.6k steps): validation SI-SDR 11.9 dB vs 6.0 dB noisy; on the whole
dev set at 0/5/10 dB, SI-SDR 8.59 vs 5.06 dB, PESQ 1.60 vs 1.29, STOI 0.824 vs 0.796 (benchmarks/RESULTS.md).
This was the bundled model v1. Then `python recipes/bundled_stage2.py` (SI-SDR term, 75 min) and
`python recipes/bundled_stage3.py` (speech weighted x4, 35 min) give v3 (dev set 0/5/10 dB SI-SDR 9.66, PESQ
1.66, STOI 0.838), and on a GPU `recipes/bundled_gpu.py` (7 min) and `recipes/bundled_gpu_vary.py` (varied
noise, 3.5 min) give v5; `recipes/bundled_cpu_vary.py` (CPU, 45 min) gives v6, and
`recipes/bundled_cpu_noise.py` (CPU, 50 min, 12 more minutes of noise) gives v7; `recipes/bundled_cpu_repeat.py`
and `recipes/bundled_cpu_more.py` (CPU, 50 min each, 18 more minutes of noise) give v8;
`recipes/bundled_cpu_more_repeat.py` and `recipes/bundled_cpu_speech.py` (CPU, 50 min each, the second with
recoloured speech) give v9; `recipes/bundled_cpu_speech_repeat.py` and `recipes/bundled_cpu_speech_long.py`
(CPU, 28 and 75 min, stage 11's recipe again) give v10, the bundled model: SI-SDR 10.49, PESQ 1.761, STOI 0.847.
"""
import os
from pathlib import Path

from speechdae.train import TrainConfig, main

DATA = Path(os.environ.get("SPEECHDAE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

config = TrainConfig(
    speech=[DATA / "speech" / "train"],
    noise=[DATA / "noise" / "train"],
    out="runs/bundled",
    steps=40000,
    batch_size=16,
    segment_seconds=2.0,
    lr=1.5e-3,
    warmup_steps=200,
    val_every=1000,
    checkpoint_every=200,
    time_limit_minutes=95,
)

if __name__ == "__main__":
    main(config)
