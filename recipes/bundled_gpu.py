"""Fourth stage of the bundled default model: the CPU-trained stage 3 fine-tuned for 7 minutes on one GPU.

    python recipes/bundled_gpu.py --device cuda [--init-from runs/bundled_ft3/best.pt]

Same model, data and loss as stage 3 (recipes/bundled_stage3.py: waveform SI-SDR term, removed speech
weighted x4); what changes is the amount of audio: each step sees 64 segments of 4 s, 8x stage 3's 16 x 2 s,
and a GPU runs many more steps per minute than the two CPU cores that trained stages 1-3. The schedule is a
fresh warm-up and cosine decay timed to the 7-minute limit.
"""
import dataclasses
import runpy
from pathlib import Path

from speechdae.train import main

stage3 = runpy.run_path(str(Path(__file__).with_name("bundled_stage3.py")))["config"]
config = dataclasses.replace(
    stage3,
    out="runs/bundled_gpu",
    init_from="runs/bundled_ft3/best.pt",  # stage 3's output: the bundled v3
    batch_size=64,
    segment_seconds=4.0,
    lr=1e-3,
    warmup_steps=500,
    steps=1_000_000,  # the time limit ends the run; the cosine schedule follows the clock
    val_every=1000,
    checkpoint_every=1000,
    time_limit_minutes=7,
    device="auto",
)

if __name__ == "__main__":
    main(config)
