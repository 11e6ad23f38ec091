"""GPU recipe: the default model trained longer on a public corpus (LibriSpeech + DNS Challenge noise).

    python recipes/gpu_dns.py --speech /data/LibriSpeech/train-clean-360 --noise /data/dns/noise --device cuda
    torchrun --nproc_per_node=4 recipes/gpu_dns.py --speech ... --noise ...     # several GPUs (DDP)

Lay the data out as data/README.md says (any folders of audio; resampled to 16 kHz once and cached).
Batch 64 x 4 s with bf16 autocast, the whole batch corrupted on the GPU each step. Measured on an H200
(benchmarks/RESULTS.md, v5 entry): 19 steps/s while sharing the GPU with two other runs (alone, 64 x 2 s
runs 44 steps/s, a quarter of it waiting on the CPU to cut segments). Run for only 7 minutes on the project's
own 1.7 h of speech (`--time-limit 7`), it already matched the bundled CPU-trained model v3 plus a GPU fine-tune
on the dev set (SI-SDR 10.02 dB, PESQ 1.67, STOI 0.839). With a small noise set, turn on the noise variation
(CorruptionConfig.p_noise_speed / p_noise_tilt / p_noise_mix) and give --val-noise.
"""
from speechdae.train import TrainConfig, main

config = TrainConfig(
    speech=["data/speech"],
    noise=["data/noise"],
    out="runs/gpu_dns",
    steps=200_000,
    batch_size=64,
    segment_seconds=4.0,
    lr=2e-3,
    sisdr_weight=0.5,  # the waveform SI-SDR term: +1 dB validation SI-SDR over more training alone on CPU
    warmup_steps=2000,
    val_every=5000,
    checkpoint_every=2000,
    val_items=60,
    val_pesq_items=20,
    device="auto",
    amp=True,
)

if __name__ == "__main__":
    main(config)
