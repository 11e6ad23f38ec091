"""GPU recipe: the default model trained longer on a public corpus (LibriSpeech + DNS Challenge noise).

    python recipes/gpu_dns.py --speech /data/LibriSpeech/train-clean-360 --noise /data/dns/noise --device cuda
    torchrun --nproc_per_node=4 recipes/gpu_dns.py --speech ... --noise ...     # several GPUs (DDP)

Lay the data out as data/README.md says (any folders of audio; resampled to 16 kHz once and cached).
Batch 64 x 4 s with bf16 autocast; on one modern GPU this runs ~30-60 steps/s (the whole batch is corrupted on
the GPU each step, so the loader never starves it; check with benchmarks/train_throughput.py --device cuda).
Expected result: validation SI-SDR and PESQ above the bundled CPU-trained model's (see benchmarks/RESULTS.md);
not yet run by the project (no GPU was available when it was written).
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
