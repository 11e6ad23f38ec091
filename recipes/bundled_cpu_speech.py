"""Eleventh stage of the bundled default model: stage 10 with the clean speech recoloured, on a CPU.

    python recipes/bundled_cpu_speech.py [--init-from runs/bundled_cpu_more_repeat/best.pt]

Stage 10 (recipes/bundled_cpu_more_repeat.py) with half of the clean utterances spectrally tilted
(CorruptionConfig.p_speech_tilt=0.5, power ~ f**-e with e in +-0.3: another microphone or room). The target is
the tilted speech, so the model learns to keep speech of any colouring, not to colour it back. The training
speech is 254 voices recorded on few set-ups, the dev speech (LibriSpeech test-other) many more. Measured
(50 min, one CPU thread beside a second run, 8,863 steps; the best checkpoint was the last): whole dev set at
0/5/10 dB PESQ 1.746, STOI 0.845, SI-SDR 10.42 dB (stage 10: 1.744 / 0.844 / 10.32). The run beside it played
half of the utterances 0.9-1.1x as fast instead (p_speech_speed=0.5, in a first version that looped the
sped-up segment, fixed since; benchmarks/RESULTS.md, v9): 1.744 / 0.846 / 10.44.
"""
import dataclasses
import runpy
from pathlib import Path

from speechdae.train import main

stage10 = runpy.run_path(str(Path(__file__).with_name("bundled_cpu_more_repeat.py")))["config"]
config = dataclasses.replace(
    stage10,
    out="runs/bundled_cpu_speech",
    init_from="runs/bundled_cpu_more_repeat/best.pt",
    corruption=dataclasses.replace(stage10.corruption, p_speech_tilt=0.5),
)

if __name__ == "__main__":
    main(config)
