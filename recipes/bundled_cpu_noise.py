"""Seventh stage of the bundled default model: stage 6 with 12 more minutes of real noise, on a CPU.

    python recipes/fetch_debian_noise.py          # once: data/noise-debian (44 recordings from Debian packages)
    python recipes/bundled_cpu_noise.py [--init-from runs/bundled_cpu_vary/best.pt]

Stage 6 (recipes/bundled_cpu_vary.py) with the training noise grown from 27 to 39 minutes, a learning rate
back up to 1e-3 so the weights can move towards the new noise, and a moving average of the weights (decay
0.999) as what gets validated and shipped. Measured (50 min, one CPU thread beside a second run, 8,751 steps;
the best checkpoint was the last): whole dev set at 0/5/10 dB PESQ 1.727, STOI 0.844, SI-SDR 10.27 dB
(stage 6: 1.717 / 0.843 / 10.20). Without the new noise, 60 more minutes of stage 6 stayed level
(1.715-1.722 / 0.842-0.843 / 10.16-10.17), and the same run at stage 6's lr 3e-4 gave 1.722 / 0.844 / 10.24.
"""
import dataclasses
import runpy
from pathlib import Path

from speechdae.train import main

stage6 = runpy.run_path(str(Path(__file__).with_name("bundled_cpu_vary.py")))["config"]
config = dataclasses.replace(
    stage6,
    out="runs/bundled_cpu_noise",
    init_from="runs/bundled_cpu_vary/best.pt",
    noise=[*stage6.noise, Path(__file__).resolve().parents[1] / "data" / "noise-debian"],
    lr=1e-3,
    ema_decay=0.999,
    time_limit_minutes=50,
)

if __name__ == "__main__":
    main(config)
