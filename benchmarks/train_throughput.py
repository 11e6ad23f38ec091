"""Training throughput: steps per second and seconds of audio trained per wall second, against v10's step.

    python -m benchmarks.train_throughput [--steps 20] [--baseline-ref 48db801] [--bf16-steps 3]

Every row is a fresh process running the real training step (`Trainer.train_step`: corruption, STFT, model,
loss, backward, AdamW, EMA) of a recipe, on the same data (the training speech and noise under
`speechdae.data.data_root()`, i.e. $SPEECHDAE_DATA or ../shared/data, or the bundled sample when it is absent),
after a few warm-up steps. The baseline is v10's own code and recipe (its last stage,
`recipes/bundled_cpu_speech_long.py`), checked out from git at --baseline-ref into a temporary folder, so the
comparison is with what trained v10, not with a copy of it. Rows:

  v10 step        v10's code and recipe, fp32 eager, 1 thread (the baseline)
  v10 model       today's step, v10's recipe and model, amp=auto / amp=bf16
  v2, 1 thread    today's step, recipes/bundled.py (speechdae 2), 1 thread
  v2, 2 threads   the same, 2 intra-op threads in one process
  v2, 2 procs     the same, torchrun --nproc_per_node=2 (gloo), half the batch per process: the same global batch

The machine is shared and noisy: read the ratios, which are measured in the same run. The last line is
`speedup: X.XX`, the faster of the two-core rows against the baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs inside each row's process, with whichever speechdae is first on its path (today's or the baseline's).
RUNNER = r'''
import dataclasses, json, os, runpy, sys, time
import torch
recipe, steps, overrides = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
data = os.environ["BENCH_DATA"]
torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
from speechdae.train import Trainer
cfg = runpy.run_path(recipe)["config"]
speech = json.loads(os.environ["BENCH_SPEECH"]); noise = json.loads(os.environ["BENCH_NOISE"])
cfg = dataclasses.replace(cfg, speech=speech, noise=noise, val_noise=[], init_from=None, out=os.environ["BENCH_OUT"],
                          **overrides)
t = Trainer(cfg)
t.load_data()
for _ in range(3):
    t.train_step()
t0 = time.perf_counter()
for _ in range(steps):
    t.train_step()
seconds = time.perf_counter() - t0
if t.rank == 0:
    audio = steps * cfg.batch_size * t.world * cfg.segment_seconds
    print("ROW " + json.dumps({"steps_per_s": steps / seconds, "audio_per_s": audio / seconds,
                               "params": t.denoiser.n_params(), "threads": torch.get_num_threads()}), flush=True)
'''


def training_data(tmp: Path) -> tuple[list, list]:
    from speechdae.data import data_root

    shared = data_root()
    if (shared / "speech" / "train").is_dir():
        return [str(shared / "speech" / "train")], [str(shared / "noise" / "train")]
    import numpy as np
    import soundfile as sf

    x, sr = sf.read(str(ROOT / "speechdae/samples/clean.flac"), dtype="float32")
    sf.write(tmp / "speech.wav", np.tile(x, 8), sr)
    sf.write(tmp / "noise.wav", 0.1 * np.random.default_rng(0).standard_normal(sr * 30), sr)
    return [str(tmp / "speech.wav")], [str(tmp / "noise.wav")]


def run_row(code_root: Path, recipe: Path, steps: int, overrides: dict, threads: int, procs: int, env: dict) -> dict:
    runner = Path(env["BENCH_OUT"]) / "runner.py"
    runner.write_text(RUNNER)
    env = {**env, "PYTHONPATH": str(code_root), "BENCH_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, str(runner), str(recipe), str(steps), json.dumps(overrides)]
    if procs > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}", *cmd[1:]]
    done = subprocess.run(cmd, cwd=code_root, env=env, capture_output=True, text=True)
    rows = [line[4:] for line in done.stdout.splitlines() if line.startswith("ROW ")]
    if done.returncode or not rows:
        raise SystemExit(f"row failed ({' '.join(cmd)}):\n{done.stderr[-3000:]}")
    return json.loads(rows[-1])


def checkout(ref: str, into: Path) -> Path:
    """The baseline's source tree at `ref` (git archive: no worktree left behind)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "speechdae", "recipes"], capture_output=True)
    if archive.returncode:
        raise SystemExit(f"cannot check out {ref}: {archive.stderr.decode().strip()}")
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="timed steps per row (after 3 warm-up steps)")
    p.add_argument("--baseline-ref", default="48db801", help="git commit of v10's training code")
    p.add_argument("--bf16-steps", type=int, default=3, help="timed steps for the bf16 row on CPUs without bf16 units")
    a = p.parse_args()
    from speechdae import precision

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        speech, noise = training_data(tmp)
        base = checkout(a.baseline_ref, tmp / "baseline")
        env = {**os.environ, "BENCH_DATA": "", "BENCH_SPEECH": json.dumps(speech), "BENCH_NOISE": json.dumps(noise),
               "BENCH_OUT": str(tmp)}
        v10_recipe, v2_recipe = "recipes/bundled_cpu_speech_long.py", "recipes/bundled.py"
        bf16_fast = precision.cpu_has_bf16_units() and precision.cpu_bf16_speedup() > 1.5
        rows = [  # name, model, code, recipe, precision, threads, processes, overrides, steps
            ("v10 step (baseline)", "v10", base, base / v10_recipe, "fp32", 1, 1, {}, a.steps),
            ("v10 model, today's step", "v10", ROOT, base / v10_recipe, "auto", 1, 1, {"amp": "auto"}, a.steps),
            ("v10 model, bf16", "v10", ROOT, base / v10_recipe, "bf16", 1, 1, {"amp": "bf16"},
             a.steps if bf16_fast else a.bf16_steps),
            ("v2, 1 thread", "v2", ROOT, ROOT / v2_recipe, "auto", 1, 1, {}, a.steps),
            ("v2, 2 threads", "v2", ROOT, ROOT / v2_recipe, "auto", 2, 1, {}, a.steps),
            ("v2, 2 processes (DDP)", "v2", ROOT, ROOT / v2_recipe, "auto", 1, 2, {"batch_size": 8}, a.steps),
        ]
        results = []
        for name, model, code, recipe, prec, threads, procs, overrides, steps in rows:
            r = run_row(code, recipe, steps, overrides, threads, procs, env)
            results.append((name, model, prec, threads, procs, r))
            print(f"measured {name}: {r['steps_per_s']:.2f} steps/s", file=sys.stderr, flush=True)
    baseline = results[0][5]["audio_per_s"]
    print(f"bf16 on this CPU: {'with' if precision.cpu_has_bf16_units() else 'without'} bf16 units; a 512x512 "
          f"matrix product runs {precision.cpu_bf16_speedup():.2f}x as fast in bf16 as in fp32")
    print("| row | model | precision | threads x processes | parameters | steps/s | audio s per wall s | vs baseline |")
    print("|---|---|---|---|---|---|---|---|")
    for name, model, prec, threads, procs, r in results:
        print(f"| {name} | {model} | {prec} | {threads} x {procs} | {r['params']:,} | {r['steps_per_s']:.2f} | "
              f"{r['audio_per_s']:.1f} | {r['audio_per_s'] / baseline:.2f}x |")
    print(f"one thread: {results[3][5]['audio_per_s'] / baseline:.2f}x (v2, today's step)")
    print(f"speedup: {max(r['audio_per_s'] for *_, r in results[4:]) / baseline:.2f}")


if __name__ == "__main__":
    main()
