"""Thirteenth stage of the bundled default model: stage 11's recipe for 75 minutes, on a CPU.

    python recipes/bundled_cpu_speech_long.py [--init-from runs/bundled_cpu_speech_repeat/best.pt]

The same data, corruption (half of the clean utterances recoloured) and warm-up + cosine schedule as stages 11
and 12 (recipes/bundled_cpu_speech.py, recipes/bundled_cpu_speech_repeat.py), fitted to 75 minutes. Measured
(one CPU thread beside a second run, 14,912 steps; the best held-out validation was at step 14,000): whole dev
set at 0/5/10 dB PESQ 1.761, STOI 0.847, SI-SDR 10.49 dB (stage 12: 1.751 / 0.846 / 10.45). This is v10, the
bundled model. The run beside it also played half of the utterances 0.9-1.1x as fast (p_speech_speed=0.5):
1.752 / 0.848 / 10.55, more STOI and SI-SDR, less PESQ on both the dev and the peer set (benchmarks/RESULTS.md).
"""
import dataclasses
import runpy
from pathlib import Path

from speechdae.train import main

stage12 = runpy.run_path(str(Path(__file__).with_name("bundled_cpu_speech_repeat.py")))["config"]
config = dataclasses.replace(stage12, out="runs/bundled_cpu_speech_long",
                             init_from="runs/bundled_cpu_speech_repeat/best.pt", time_limit_minutes=75)

if __name__ == "__main__":
    main(config)
