"""Tenth stage of the bundled default model: stage 9's recipe once more, on a CPU.

    python recipes/bundled_cpu_more_repeat.py [--init-from runs/bundled_cpu_more/best.pt]

The same data (57 minutes of training noise), learning rate (1e-3, warm-up and cosine decay again) and weight
averaging as stage 9 (recipes/bundled_cpu_more.py), 50 more minutes. Measured (one CPU thread beside a second
run, 9,317 steps; the best checkpoint was the last): whole dev set at 0/5/10 dB PESQ 1.744, STOI 0.844, SI-SDR
10.32 dB (stage 9: 1.741 / 0.844 / 10.32). The run beside it also varied the clean speech
(CorruptionConfig.p_speech_speed=0.5, p_speech_tilt=0.5; the first version of the speed change): 1.741 /
0.846 / 10.41, more STOI and SI-SDR, less PESQ on the peer set.
"""
import dataclasses
import runpy
from pathlib import Path

from speechdae.train import main

stage9 = runpy.run_path(str(Path(__file__).with_name("bundled_cpu_more.py")))["config"]
config = dataclasses.replace(stage9, out="runs/bundled_cpu_more_repeat", init_from="runs/bundled_cpu_more/best.pt")

if __name__ == "__main__":
    main(config)
