"""Training throughput: hours of audio per minute of wall time, and the share of time spent waiting on data.

    python benchmarks/train_throughput.py [--device auto] [--steps 60] [--batch-size 16] [--speech DIR --noise DIR]

Data lives in memory (speechdae.data.AudioBank) and corruption runs on the training device, so "waiting on
data" is the time to slice the segments and copy them to the device. Without --speech/--noise it uses
../shared/data if present, else one minute of the bundled sample and synthetic noise.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from speechdae.train import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[1]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--speech", nargs="+")
    p.add_argument("--noise", nargs="+")
    a = p.parse_args()
    tmp = tempfile.TemporaryDirectory()
    shared = ROOT.parent / "shared" / "data"
    if a.speech:
        speech, noise = a.speech, a.noise or []
    elif shared.is_dir():
        speech, noise = [shared / "speech" / "train"], [shared / "noise" / "train"]
    else:
        x, sr = sf.read(str(ROOT / "speechdae/samples/clean.flac"), dtype="float32")
        sf.write(f"{tmp.name}/speech.wav", np.tile(x, 8), sr)
        sf.write(f"{tmp.name}/noise.wav", 0.1 * np.random.default_rng(0).standard_normal(sr * 30), sr)
        speech, noise = [f"{tmp.name}/speech.wav"], [f"{tmp.name}/noise.wav"]
    cfg = TrainConfig(speech=speech, noise=noise, device=a.device, batch_size=a.batch_size, out=tmp.name,
                      steps=10**9)
    t = Trainer(cfg)
    t.load_data()
    dev = t.device
    for _ in range(5):  # warm-up (allocator, kernels)
        t.train_step()
    sync(dev)
    data_time = step_time = 0.0
    for _ in range(a.steps):
        t0 = time.perf_counter()
        clean, noise_batch = t.batch()
        sync(dev)
        t1 = time.perf_counter()
        loss, _ = t.loss(clean, noise_batch)
        t.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(t.denoiser.parameters(), cfg.grad_clip)
        t.opt.step()
        sync(dev)
        t2 = time.perf_counter()
        data_time += t1 - t0
        step_time += t2 - t1
    total = data_time + step_time
    audio_hours = a.steps * a.batch_size * cfg.segment_seconds / 3600
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print("| device | batch | steps/s | audio hours per wall minute | waiting on data | corrupt+model+update |")
    print("|---|---|---|---|---|---|")
    print(f"| {name} | {a.batch_size} x {cfg.segment_seconds:g} s | {a.steps / total:.2f} | "
          f"{audio_hours / (total / 60):.3f} | {100 * data_time / total:.1f} % | {100 * step_time / total:.1f} % |")


if __name__ == "__main__":
    main()
