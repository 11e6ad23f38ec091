"""Long runs: peak memory of file denoising for 1 minute vs 1 hour of audio, and an hour-long streaming soak.

    python -m benchmarks.long_run [--hours 1.0] [--model CKPT]

Each file is denoised in its own subprocess (`speechdae denoise`), so the peak RSS figures are separate.
The soak pushes the same hour through the StreamingDenoiser in random chunk sizes and checks, at the end,
that the streamed samples still equal an offline run over the last seconds (the model's receptive field is
1.3 s, so offline processing with 3 s of history must give the same samples: no drift). Prints a table.
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

CHILD = r"""
import json, resource, sys, time
from speechdae import load_model
from speechdae.enhance import denoise_file
m = load_model(sys.argv[3] or None)
t = time.time()
denoise_file(m, sys.argv[1], sys.argv[2])
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": time.time() - t, "peak_rss_mb": peak_mb}))
"""


def make_file(path: Path, seconds: float, rate=16000):
    """Speech-like test audio: the bundled noisy sample looped, written in blocks (never held whole)."""
    sample, sr = sf.read(str(Path(__file__).resolve().parents[1] / "speechdae/samples/noisy.flac"), dtype="float32")
    assert sr == rate
    with sf.SoundFile(str(path), "w", rate, 1, "PCM_16") as f:
        left = int(seconds * rate)
        while left > 0:
            f.write(sample[:left])
            left -= min(left, len(sample))


def denoise_in_child(src, dst, model):
    out = subprocess.run([sys.executable, "-c", CHILD, str(src), str(dst), model or ""], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def soak(seconds: float, model_path, rate=16000):
    import torch

    from speechdae import load_model

    torch.set_num_threads(1)
    model = load_model(model_path)
    stream = model.stream()
    sample, _ = sf.read(str(Path(__file__).resolve().parents[1] / "speechdae/samples/noisy.flac"), dtype="float32")
    rng = np.random.default_rng(0)
    total, fed, rss = int(seconds * rate), 0, []
    history = np.zeros(0, np.float32)
    outputs = []
    t0 = time.time()
    while fed < total:
        n = int(min(rng.integers(1, 4000), total - fed))
        idx = (fed + np.arange(n)) % len(sample)
        chunk = sample[idx]
        y = stream.process(chunk)[0].numpy()
        fed += n
        if total - fed < 20 * rate:  # keep only the last 20 s of input and output for the drift check
            if not len(history):
                start = fed - n  # the offline run must use the stream's frame grid: start on a hop
                skip = -start % model.stft.cfg.hop
                chunk = chunk[skip:]
            history = np.concatenate([history, chunk])
            outputs.append(y)
        if len(rss) < int(fed / (60 * rate)) + 1:
            rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    outputs.append(stream.flush()[0].numpy())
    elapsed = time.time() - t0
    streamed = np.concatenate(outputs)[-len(history):]
    with torch.no_grad():
        offline = model(torch.from_numpy(history)[None])[0].numpy()
    check = slice(3 * rate, None)  # after 3 s of offline warm-up history
    drift = float(np.abs(streamed[check] - offline[check]).max())
    return {"seconds": elapsed, "rtf": elapsed / seconds, "rss_first_min_mb": rss[0], "rss_last_mb": rss[-1],
            "max_abs_diff_vs_offline": drift}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--model")
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for label, secs in (("1 minute", 60), (f"{a.hours:g} hour", 3600 * a.hours)):
            src = Path(d) / "in.wav"
            make_file(src, secs)
            r = denoise_in_child(src, Path(d) / "out.wav", a.model)
            rows.append((label, secs, r))
    base = rows[0][2]["peak_rss_mb"]
    print("| file length | wall time (s) | real-time factor | peak RSS (MB) | RSS vs 1-minute file |")
    print("|---|---|---|---|---|")
    for label, secs, r in rows:
        print(f"| {label} | {r['seconds']:.1f} | {r['seconds'] / secs:.4f} | {r['peak_rss_mb']:.0f} | "
              f"{r['peak_rss_mb'] / base:.2f}x |")
    s = soak(3600 * a.hours, a.model)
    print()
    print("| streaming soak | value |")
    print("|---|---|")
    print(f"| audio pushed | {a.hours:g} h in random chunks of 1..4000 samples, 1 thread |")
    print(f"| wall time | {s['seconds']:.0f} s (real-time factor {s['rtf']:.4f}) |")
    print(f"| peak RSS after 1st minute / at the end | {s['rss_first_min_mb']:.0f} MB / {s['rss_last_mb']:.0f} MB |")
    print(f"| max abs difference, last 17 s streamed vs offline | {s['max_abs_diff_vs_offline']:.2e} |")


if __name__ == "__main__":
    main()
