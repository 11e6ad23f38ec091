"""Training: penalties, resume after SIGKILL, DDP on gloo, and that a short run learns (corruption:
test_corrupt.py)."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechdae.checkpoint import load_model, read_checkpoint
from speechdae.corrupt import mix_at_snr
from speechdae.metrics import si_sdr
from speechdae.model import ModelConfig
from speechdae.train import TrainConfig, Trainer, config_from_dict, config_dict
from speechdae.errors import SpeechDAEError

from conftest import SAMPLES, clean_batch, noise_like, write

TINY = ModelConfig(hidden=32, code=16, dilations=(1, 2))


def trainer(variant, **kw):
    cfg = TrainConfig(variant=variant, model=TINY, batch_size=4, seed=3, **kw)
    t = Trainer(cfg)
    t.gen.manual_seed(5)
    return t


def grads(t, clean, noise):
    t.denoiser.zero_grad()
    loss, _ = t.loss(clean, noise)
    loss.backward()
    enc = torch.cat([p.grad.flatten() for p in t.denoiser.model.encoder.parameters()])
    head = torch.cat([p.grad.flatten() for p in t.denoiser.model.head.parameters()])
    return enc, head


@pytest.mark.parametrize("variant,weight", [("sparse", "sparse_weight"), ("contractive", "contractive_weight")])
def test_regularisers_change_only_the_encoder_gradient(variant, weight):
    clean, noise = clean_batch(), torch.randn(4, 16000)
    enc0, head0 = grads(trainer("denoising"), clean, noise)
    enc1, head1 = grads(trainer(variant, **{weight: 1.0}), clean, noise)
    assert torch.allclose(head0, head1, atol=1e-6)  # the penalty is on the code: decoder gradients unchanged
    assert (enc0 - enc1).norm() > 1e-3 * enc0.norm()


def test_stoi_term_adds_the_weighted_negative_stoi_and_steers_the_whole_model():
    clean, noise = clean_batch(), torch.randn(4, 16000)
    base, with_stoi = trainer("denoising"), trainer("denoising", stoi_weight=2.0)
    loss0, parts0 = base.loss(clean, noise)
    loss1, parts1 = with_stoi.loss(clean, noise)  # same seeds: the same corruption draw
    assert "stoi" not in parts0 and parts1["spectral"] == pytest.approx(parts0["spectral"])
    assert -1 < parts1["stoi"] < -0.2  # negated STOI of the untrained model's output on the batch
    assert loss1.item() == pytest.approx(loss0.item() + 2.0 * parts1["stoi"], abs=1e-5)
    enc0, head0 = grads(base, clean, noise)  # both have drawn once: again the same corruption
    enc1, head1 = grads(with_stoi, clean, noise)
    assert (head0 - head1).norm() > 1e-3 * head0.norm() and (enc0 - enc1).norm() > 1e-3 * enc0.norm()


def test_pesq_term_adds_the_weighted_pesq_distance_and_steers_the_whole_model():
    pytest.importorskip("torch_pesq", reason="the pesq-loss extra is not installed")
    clean, noise = clean_batch(), torch.randn(4, 16000)
    base, with_pesq = trainer("denoising"), trainer("denoising", pesq_weight=0.5)
    loss0, parts0 = base.loss(clean, noise)
    loss1, parts1 = with_pesq.loss(clean, noise)  # same seeds: the same corruption draw
    assert "pesq" not in parts0 and parts1["spectral"] == pytest.approx(parts0["spectral"])
    assert parts1["pesq"] > 0.5  # a distance from clean: an untrained model's output is far from it
    assert with_pesq.pesq_loss(clean, clean).abs().max() < 0.05  # and clean is at distance zero from itself
    assert loss1.item() == pytest.approx(loss0.item() + 0.5 * parts1["pesq"], abs=1e-5)
    enc0, head0 = grads(base, clean, noise)
    enc1, head1 = grads(with_pesq, clean, noise)
    assert (head0 - head1).norm() > 1e-3 * head0.norm() and (enc0 - enc1).norm() > 1e-3 * enc0.norm()


def test_pesq_selection_needs_pesq_on_every_validation_item():
    with pytest.raises(SpeechDAEError, match="val_pesq_items"):
        TrainConfig(select_on="pesq", val_items=24, val_pesq_items=8)
    assert TrainConfig(select_on="pesq", val_items=24, val_pesq_items=24).select_on == "pesq"


def test_a_time_limited_run_counts_its_bar_in_training_seconds():
    from speechdae.train import progress_bar

    timed = progress_bar(TrainConfig(steps=10**7, time_limit_minutes=2), step=500, elapsed=30.0, enabled=False)
    assert (timed.total, timed.n) == (120.0, 30.0)  # the ETA is the 90 s left, not 10**7 steps
    stepped = progress_bar(TrainConfig(steps=300), step=100, elapsed=30.0, enabled=False)
    assert (stepped.total, stepped.n) == (300, 100)


def test_best_checkpoint_is_picked_on_the_asked_validation_score(tmp_path, corpus, monkeypatch):
    # Scripted validation scores that disagree: SI-SDR peaks at the first validation, STOI at the second.
    scripted = iter([{"si_sdr": 9.0, "si_sdr_hp": 9.0, "stoi": 0.70}, {"si_sdr": 8.0, "si_sdr_hp": 8.0, "stoi": 0.90},
                     {"si_sdr": 7.0, "si_sdr_hp": 7.0, "stoi": 0.80}])
    monkeypatch.setattr(Trainer, "validate", lambda self: next(scripted))
    cfg = TrainConfig(speech=[corpus / "speech"], noise=[corpus / "noise"], model=TINY, batch_size=2, steps=30,
                      val_every=10, checkpoint_every=10, val_fraction=0.2, cache_dir=None, out=str(tmp_path / "run"),
                      select_on="stoi")
    Trainer(cfg).run()
    best = read_checkpoint(tmp_path / "run" / "best.pt")
    assert best["state"]["step"] == 20 and best["metrics"]["stoi"] == 0.90
    with pytest.raises(SpeechDAEError, match="select_on"):
        TrainConfig(select_on="sdr")


def test_plain_autoencoder_sees_clean_input():
    t = trainer("plain")
    clean = clean_batch()
    loss, _ = t.loss(clean, torch.randn(4, 16000))
    t2 = trainer("denoising")
    loss2, _ = t2.loss(clean, torch.randn(4, 16000))
    assert loss.item() < loss2.item()


def test_config_round_trip_and_unknown_keys():
    cfg = TrainConfig(speech=["a"], noise=["b"], model=TINY)
    assert config_from_dict(config_dict(cfg)) == cfg
    with pytest.raises(SpeechDAEError, match="stepz"):
        config_from_dict({**config_dict(cfg), "stepz": 3})
    with pytest.raises(SpeechDAEError, match="hiden"):
        config_from_dict({**config_dict(cfg), "model": {"hiden": 3}})
    with pytest.raises(SpeechDAEError, match="variant"):
        TrainConfig(variant="sparce")


@pytest.fixture
def corpus(tmp_path):
    """Real speech (the bundled clean sample, cut into utterances) and two noise recordings."""
    x, sr = sf.read(str(SAMPLES / "clean.flac"), dtype="float32")
    (tmp_path / "speech").mkdir()
    (tmp_path / "noise").mkdir()
    for k in range(8):
        write(tmp_path / "speech" / f"utt{k}.flac", x[k * sr : (k + 1) * sr + sr // 2], sr)
    write(tmp_path / "noise" / "white.wav", noise_like(3 * sr, seed=1), sr)
    hum = 0.05 * np.sin(2 * np.pi * 120 * np.arange(3 * sr) / sr).astype(np.float32)
    write(tmp_path / "noise" / "hum.wav", hum + noise_like(3 * sr, seed=2) * 0.2, sr)
    return tmp_path


def recipe(path: Path, corpus: Path, **overrides):
    settings = dict(steps=60, batch_size=4, segment_seconds=1.0, checkpoint_every=10, val_every=30, val_items=3,
                    val_pesq_items=0, val_fraction=0.2, cache_dir=None, lr=3e-3, warmup_steps=5)
    settings.update(overrides)
    args = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    path.write_text(textwrap.dedent(f"""
        from speechdae.model import ModelConfig
        from speechdae.train import TrainConfig
        config = TrainConfig(speech=[{str(corpus / 'speech')!r}], noise=[{str(corpus / 'noise')!r}],
                             model=ModelConfig(hidden=32, code=16, dilations=(1, 2)), {args})
    """))
    return path


def cli(*args):
    return [sys.executable, "-m", "speechdae.cli", *map(str, args)]


def test_resume_after_sigkill_continues_from_the_last_checkpoint(tmp_path, corpus):
    r = recipe(tmp_path / "r.py", corpus, steps=400)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cli("train", r, "--out", out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)
    deadline = time.time() + 120
    step = 0
    while time.time() < deadline:
        if (out / "last.pt").exists():
            try:
                step = read_checkpoint(out / "last.pt")["state"]["step"]
            except SpeechDAEError:
                step = 0  # never happens with atomic writes; counted as not ready
            if step >= 30:
                break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert step >= 30, proc.stdout.read().decode()[-2000:]
    killed_at = read_checkpoint(out / "last.pt")["state"]["step"]  # last.pt is whole: writes are atomic
    # A kill during a write can leave that write's temporary file, never a half-written last.pt or best.pt.
    # The same command again resumes; it is given fewer total steps to keep the test short.
    done = subprocess.run(cli("train", r, "--out", out, "--steps", killed_at + 20), capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resumed from {out / 'last.pt'} at step {killed_at}" in done.stderr
    final = read_checkpoint(out / "last.pt")
    assert final["state"]["step"] == killed_at + 20
    assert [p.name for p in out.iterdir() if "partial" in p.name] == []  # the resumed run cleared any leftovers
    log_steps = [int(line.split(",")[0]) for line in (out / "log.csv").read_text().splitlines()[1:]]
    assert log_steps == list(range(1, killed_at + 21))  # every step once: no repeats, no gaps


def test_ddp_two_gloo_processes_keep_identical_replicas(tmp_path, corpus):
    r = recipe(tmp_path / "r.py", corpus, steps=6, val_every=1000)
    worker = tmp_path / "worker.py"
    worker.write_text(textwrap.dedent(f"""
        import dataclasses, os, runpy, torch
        from speechdae.train import Trainer
        cfg = dataclasses.replace(runpy.run_path({str(r)!r})["config"], out={str(tmp_path / 'ddp')!r})
        t = Trainer(cfg)
        t.run()
        torch.save(t.denoiser.state_dict(), os.path.join(cfg.out, f"rank{{os.environ['RANK']}}.pt"))
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(worker)], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    a = torch.load(tmp_path / "ddp" / "rank0.pt")
    b = torch.load(tmp_path / "ddp" / "rank1.pt")
    start = Trainer(TrainConfig(model=TINY, seed=0)).denoiser.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], start[k]) for k in a)  # they trained


def test_a_short_run_learns_to_denoise(tmp_path, corpus):
    r = recipe(tmp_path / "r.py", corpus, steps=150, val_every=150)
    res = subprocess.run(cli("train", r, "--out", tmp_path / "run"), capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    model = load_model(tmp_path / "run" / "best.pt")
    x, sr = sf.read(str(SAMPLES / "clean.flac"), dtype="float32")
    clean = torch.from_numpy(x[6 * sr :])[None]
    noisy = mix_at_snr(clean, torch.from_numpy(noise_like(clean.shape[1], seed=9))[None], torch.tensor([0.0]))
    with torch.no_grad():
        est = model(noisy)
    assert si_sdr(est, clean).item() > si_sdr(noisy, clean).item() + 2.0
    assert model.info["train"]["steps"] == 150 and "val_si_sdr" in (tmp_path / "run" / "log.csv").read_text()
    assert (tmp_path / "run" / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_validation_can_use_noise_the_model_never_trains_on(tmp_path, corpus):
    held_out = tmp_path / "held_out"
    held_out.mkdir()
    write(held_out / "rain.wav", noise_like(4 * 16000, seed=7), 16000)
    base = dict(speech=[corpus / "speech"], noise=[corpus / "noise"], val_items=6, val_fraction=0.2, cache_dir=None,
                model=TINY, out=str(tmp_path / "run"))
    for val_noise, names in (([], {"white.wav", "hum.wav"}), ([held_out], {"rain.wav"})):
        trainer = Trainer(TrainConfig(**base, val_noise=val_noise))
        trainer.load_data()
        trainer.make_val_set()
        assert trainer.val_set and {item["noise"] for item in trainer.val_set} <= names
    assert [n.name for n in trainer.noise.files] == ["hum.wav", "white.wav"]  # training noise unchanged
    assert config_from_dict(config_dict(trainer.cfg)).val_noise == [str(held_out)]


def test_resume_into_another_model_size_is_a_clear_error(tmp_path, corpus):
    r = recipe(tmp_path / "r.py", corpus, steps=3, checkpoint_every=1, val_every=1000)
    out = tmp_path / "run"
    assert subprocess.run(cli("train", r, "--out", out), capture_output=True, timeout=300).returncode == 0
    other = tmp_path / "other.py"
    other.write_text(r.read_text().replace("hidden=32", "hidden=40"))
    res = subprocess.run(cli("train", other, "--out", out), capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "another model config" in res.stderr and "Traceback" not in res.stderr


def test_fine_tuning_starts_from_the_given_weights_and_then_resumes_its_own(tmp_path, corpus):
    r = recipe(tmp_path / "r.py", corpus, steps=3, checkpoint_every=1, val_every=1000)
    # The base run starts from another seed, so its weights are far from what a seed-0 run starts with.
    assert subprocess.run(cli("train", r, "--out", tmp_path / "base", "--seed", 5), capture_output=True,
                          timeout=300).returncode == 0
    base = read_checkpoint(tmp_path / "base" / "last.pt")["weights"]
    ft = tmp_path / "ft"
    res = subprocess.run(cli("train", r, "--out", ft, "--steps", 2, "--init-from", tmp_path / "base" / "last.pt"),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "starting from the weights of" in res.stderr, res.stderr[-2000:]
    tuned = read_checkpoint(ft / "last.pt")
    fresh = Trainer(TrainConfig(model=TINY, seed=0)).denoiser.state_dict()

    def dist(a, b):
        return sum((a[k].float() - b[k].float()).pow(2).sum().item() for k in a if a[k].is_floating_point())

    assert dist(tuned["weights"], base) < 0.1 * dist(tuned["weights"], fresh)  # two small steps away from base
    assert tuned["state"]["step"] == 2 and tuned["train"]["init_from"] == str(tmp_path / "base" / "last.pt")
    # The fine-tuned checkpoint still describes the stage it started from.
    assert [(h["train"]["seed"], h["steps"]) for h in tuned["history"]] == [(5, 3)]
    assert load_model(ft / "last.pt").info["history"][0]["train"]["init_from"] is None
    # Rerunning the fine-tune resumes it: its own progress, not the starting weights again.
    again = subprocess.run(cli("train", r, "--out", ft, "--steps", 3, "--init-from", tmp_path / "base" / "last.pt"),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "resumed from" in again.stderr and "starting from" not in again.stderr
    assert read_checkpoint(ft / "last.pt")["history"] == tuned["history"]


def test_fine_tuning_from_another_model_size_is_a_clear_error(tmp_path, corpus):
    r = recipe(tmp_path / "r.py", corpus, steps=2, val_every=1000)
    res = subprocess.run(cli("train", r, "--out", tmp_path / "ft", "--init-from", "default"),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "same model" in res.stderr and "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if "error" in line]
    assert errors == [res.stderr.splitlines()[-1]] and errors[0].startswith("speechdae: error:")


def test_weight_average_is_what_ships_and_resumes_exactly(tmp_path, corpus):
    base = dict(speech=[corpus / "speech"], noise=[corpus / "noise"], steps=8, batch_size=2, segment_seconds=0.5,
                val_every=1000, val_items=0, val_fraction=0.2, cache_dir=None, model=TINY, ema_decay=0.8,
                warmup_steps=1)

    def final(run: Path):
        payload = read_checkpoint(run / "last.pt")
        return payload["weights"], payload["state"]["weights"]

    # One uninterrupted run, with the average followed by hand: e_1 = w_1, e_t = 0.8 e_(t-1) + 0.2 w_t.
    whole = Trainer(TrainConfig(**base, out=str(tmp_path / "whole")))
    whole.out.mkdir()
    whole.load_data()
    average = None
    for _ in range(8):
        whole.train_step()
        w = {k: v.detach().clone() for k, v in whole.denoiser.state_dict().items()}
        average = w if average is None else {k: 0.8 * average[k] + 0.2 * w[k] for k in w}
    whole.save("last.pt")
    shipped, raw = final(whole.out)
    assert all(torch.allclose(shipped[k], average[k], atol=1e-6) for k in average)
    assert all(torch.equal(raw[k], w[k]) for k in w)
    assert any(not torch.allclose(shipped[k], raw[k]) for k in w)  # the average is not the last step
    assert load_model(whole.out / "last.pt").state_dict().keys() == w.keys()

    # The same run stopped after 4 steps and resumed by `run` ends with the same weights and average.
    cut = Trainer(TrainConfig(**base, out=str(tmp_path / "cut")))
    cut.out.mkdir()
    cut.load_data()
    for _ in range(4):
        cut.train_step()
    cut.save("last.pt")
    Trainer(TrainConfig(**base, out=str(tmp_path / "cut"))).run()
    resumed, resumed_raw = final(cut.out)
    assert all(torch.allclose(resumed[k], shipped[k], atol=1e-6) for k in w)
    assert all(torch.allclose(resumed_raw[k], raw[k], atol=1e-6) for k in w)
