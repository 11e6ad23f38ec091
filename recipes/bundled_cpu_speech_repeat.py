"""Twelfth stage of the bundled default model: stage 11's recipe once more, for 28 minutes, on a CPU.

    python recipes/bundled_cpu_speech_repeat.py [--init-from runs/bundled_cpu_speech/best.pt]

The same data, corruption (half of the clean utterances recoloured) and learning-rate schedule as stage 11
(recipes/bundled_cpu_speech.py), fitted to 28 minutes instead of 50. Measured (one CPU thread beside a second
run, 4,710 steps; the best checkpoint was the last): whole dev set at 0/5/10 dB PESQ 1.751, STOI 0.846, SI-SDR 10.45 dB
(stage 11: 1.746 / 0.845 / 10.42). The run beside it also played half of the utterances 0.9-1.1x as fast
(p_speech_speed=0.5) for 24 minutes: 1.747 / 0.846 / 10.47.
"""
import dataclasses
import runpy
from pathlib import Path

from speechdae.train import main

stage11 = runpy.run_path(str(Path(__file__).with_name("bundled_cpu_speech.py")))["config"]
config = dataclasses.replace(stage11, out="runs/bundled_cpu_speech_repeat", init_from="runs/bundled_cpu_speech/best.pt",
                             time_limit_minutes=28)

if __name__ == "__main__":
    main(config)
