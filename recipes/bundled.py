"""The bundled model, speechdae 2, trained from scratch in one command on a CPU (or a GPU).

    python recipes/bundled.py [--out runs/bundled] [--key=value ...]       # rerun after a kill: it resumes

What changed from v1-v10 (whose thirteen fine-tuning recipes are in git history and benchmarks/RESULTS.md):
- Front end: a 512-sample (32 ms) analysis window and a 320-sample synthesis window at the 160-sample hop
  (spectral.py): 257 bins 31 Hz apart, fine enough to reach between a voice's harmonics, at the same 20 ms latency.
- Frequency structure: the lowest 64 bins (0-2 kHz) are kept and the rest merged into 64 ERB bands before the
  encoder (model.py), so the encoder sees 128 features; the decoder still gives one gain per bin.
- Loss: lost speech weighted x1.5 (v10: x4, which left residual noise), plus the waveform SI-SDR term.
- Data: all of ../shared/data's training speech and noise; validation on the held-out dev noise.
Results, the ablations and the commands: benchmarks/RESULTS.md.
"""
import os
from pathlib import Path

from speechdae.corrupt import CorruptionConfig
from speechdae.model import ModelConfig
from speechdae.spectral import STFTConfig
from speechdae.train import TrainConfig, main

DATA = Path(os.environ.get("SPEECHDAE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

config = TrainConfig(
    speech=[DATA / "speech" / "train"],
    noise=[DATA / "noise" / "train"],
    val_noise=[DATA / "noise" / "dev"],
    out="runs/bundled",
    steps=10**7,  # the time limit ends the run; the learning rate follows the time budget
    time_limit_minutes=150,
    batch_size=16,
    segment_seconds=2.0,
    lr=1.5e-3,
    warmup_steps=200,
    speech_weight=1.5,
    sisdr_weight=0.5,
    ema_decay=0.999,
    val_every=1000,
    checkpoint_every=200,
    stft=STFTConfig(n_fft=512, hop=160, synthesis=320),
    model=ModelConfig(n_bins=257, hidden=256, code=128, low_bins=64, bands=64),
    corruption=CorruptionConfig(p_noise_speed=0.8, p_noise_tilt=0.8, noise_tilt=(-1.0, 1.0), p_hum=0.2,
                                p_speech_tilt=0.5),
)

if __name__ == "__main__":
    main(config)
