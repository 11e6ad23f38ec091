"""Sixth stage of the bundled default model: stage 5 fine-tuned on a CPU, judged on noise it never trains on.

    python recipes/bundled_cpu_vary.py [--init-from runs/bundled_gpu_vary/best.pt]

Starts from stage 5 (recipes/bundled_gpu_vary.py) with its noise variation, at a third of its learning rate and
a quarter of its batch (16 x 2 s, what two CPU cores manage), and keeps the checkpoint that does best on
validation mixtures made with the held-out noise sources of ../shared/data/noise/dev (tuning on dev, never
training on it). Measured (45 min, one CPU thread, 4,629 steps; the best checkpoint was the last): whole dev
set at 0/5/10 dB PESQ 1.717, STOI 0.843, SI-SDR 10.20 dB (stage 5: 1.685 / 0.841 / 10.17). Adding the mixing of
two recordings (CorruptionConfig.p_noise_mix=0.5) did slightly worse: 1.708 / 0.842 / 10.13.
"""
import dataclasses
import runpy
from pathlib import Path

from speechdae.train import main

stage5 = runpy.run_path(str(Path(__file__).with_name("bundled_gpu_vary.py")))["config"]
DATA = Path(stage5.noise[0]).parents[1]  # the same data root as stage 1 (SPEECHDAE_DATA or ../shared/data)
config = dataclasses.replace(
    stage5,
    out="runs/bundled_cpu_vary",
    init_from="runs/bundled_gpu_vary/best.pt",
    val_noise=[DATA / "noise" / "dev"],
    batch_size=16,
    segment_seconds=2.0,
    lr=3e-4,
    warmup_steps=200,
    val_every=500,
    val_pesq_items=4,
    checkpoint_every=200,
    time_limit_minutes=45,
)

if __name__ == "__main__":
    main(config)
