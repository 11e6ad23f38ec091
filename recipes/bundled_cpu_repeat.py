"""Eighth stage of the bundled default model: stage 7's recipe once more, from stage 7, on a CPU.

    python recipes/bundled_cpu_repeat.py [--init-from runs/bundled_cpu_noise/best.pt]

The same data, learning rate (1e-3, warm-up and cosine decay again) and weight averaging as stage 7
(recipes/bundled_cpu_noise.py), 50 more minutes. Measured (one CPU thread beside a second run, 6,853 steps;
the best checkpoint was the last): whole dev set at 0/5/10 dB PESQ 1.732, STOI 0.844, SI-SDR 10.28 dB (stage 7:
1.727 / 0.844 / 10.27). The run beside it added machine hum to 30 % of the noise (CorruptionConfig.p_hum=0.3):
1.726 / 0.845 / 10.37, more SI-SDR but less PESQ, and with the new noise of stage 9 it lost on both.
"""
import dataclasses
import runpy
from pathlib import Path

from speechdae.train import main

stage7 = runpy.run_path(str(Path(__file__).with_name("bundled_cpu_noise.py")))["config"]
config = dataclasses.replace(stage7, out="runs/bundled_cpu_repeat", init_from="runs/bundled_cpu_noise/best.pt")

if __name__ == "__main__":
    main(config)
