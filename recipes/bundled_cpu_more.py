"""Ninth stage of the bundled default model: stage 8 with 18 more minutes of real noise, on a CPU.

    python recipes/fetch_debian_noise.py --set more   # once: data/noise-debian-more (45 recordings, 17.7 min)
    python recipes/bundled_cpu_more.py [--init-from runs/bundled_cpu_repeat/best.pt]

Stage 8 (recipes/bundled_cpu_repeat.py) with the training noise grown from 39 to 57 minutes (206 files): wind,
harbour and restaurant crowds, town ambience, animals, waves and workshop machinery from six more Debian
packages. Measured (50 min, one CPU thread beside a second run, 8,768 steps; the best checkpoint was the
last): whole dev set at 0/5/10 dB PESQ 1.741, STOI 0.844, SI-SDR 10.32 dB (stage 8: 1.732 / 0.844 / 10.28).
"""
import dataclasses
import runpy
from pathlib import Path

from speechdae.train import main

stage8 = runpy.run_path(str(Path(__file__).with_name("bundled_cpu_repeat.py")))["config"]
config = dataclasses.replace(
    stage8,
    out="runs/bundled_cpu_more",
    init_from="runs/bundled_cpu_repeat/best.pt",
    noise=[*stage8.noise, Path(__file__).resolve().parents[1] / "data" / "noise-debian-more"],
)

if __name__ == "__main__":
    main(config)
