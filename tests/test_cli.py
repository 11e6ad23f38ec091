"""The command line, run as a user runs it (a real subprocess), on real files."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import SAMPLES, noise_like, write


def run(*args, cwd=None):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "speechdae.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def one_line_error(r, *words):
    assert r.returncode != 0
    lines = [line for line in r.stderr.strip().splitlines() if line.startswith("speechdae: error")]
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert "Traceback" not in r.stderr


def test_denoise_one_file(tmp_path, checkpoint):
    src = write(tmp_path / "in.flac", noise_like(20000, 2), 44100, "PCM_16")
    r = run("denoise", src, "-o", tmp_path / "out.flac", "--model", checkpoint, "-q")
    assert r.returncode == 0, r.stderr
    info = sf.info(str(tmp_path / "out.flac"))
    assert (info.samplerate, info.channels, info.frames, info.format) == (44100, 2, 20000, "FLAC")


def test_folder_is_mirrored_bad_files_skipped_and_summarised(tmp_path, checkpoint):
    inp = tmp_path / "in"
    (inp / "a" / "b").mkdir(parents=True)
    write(inp / "one.wav", noise_like(8000), 16000)
    write(inp / "a" / "b" / "two.flac", noise_like(8000), 8000)
    (inp / "a" / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    (inp / "empty.wav").write_bytes(b"")
    r = run("denoise", inp, "--out-dir", tmp_path / "out", "--model", checkpoint)
    assert r.returncode == 1
    assert (tmp_path / "out" / "one.wav").exists() and (tmp_path / "out" / "a" / "b" / "two.flac").exists()
    assert "denoised 2, skipped existing 0, failed 2 of 4 files" in r.stdout
    assert r.stderr.count("broken.wav") == 1 and r.stderr.count("empty.wav") == 1, r.stderr  # once each
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and "partial" in p.name]
    assert leftovers == []


def test_skip_existing_resumes_a_batch(tmp_path, checkpoint):
    inp = tmp_path / "in"
    inp.mkdir()
    for k in range(3):
        write(inp / f"f{k}.wav", noise_like(4000, seed=k), 16000)
    out = tmp_path / "out"
    out.mkdir()
    (out / "f1.wav").write_bytes(b"already done")
    r = run("denoise", inp, "--out-dir", out, "--skip-existing", "--model", checkpoint)
    assert r.returncode == 0, r.stderr
    assert (out / "f1.wav").read_bytes() == b"already done"
    assert sf.info(str(out / "f0.wav")).frames == 4000
    assert "skipped existing 1" in r.stdout


def test_default_output_sits_beside_the_input(tmp_path, checkpoint):
    src = write(tmp_path / "talk.wav", noise_like(4000), 16000)
    assert run("denoise", src, "--model", checkpoint, "-q").returncode == 0
    assert (tmp_path / "talk.denoised.wav").exists()


def bad_inputs(tmp_path):
    cases = {}
    cases["missing"] = (tmp_path / "nope.wav", "no such file")
    (tmp_path / "corrupt.wav").write_bytes(os.urandom(2000))
    cases["corrupt"] = (tmp_path / "corrupt.wav", "not a readable audio file")
    (tmp_path / "zero.wav").write_bytes(b"")
    cases["zero-bytes"] = (tmp_path / "zero.wav", "is empty (0 bytes)")
    sf.write(str(tmp_path / "nosamples.wav"), np.zeros((0, 1), np.float32), 16000)
    cases["no-samples"] = (tmp_path / "nosamples.wav", "no audio samples")
    x = noise_like(8000)
    x[4000] = np.nan
    cases["nan"] = (write(tmp_path / "nan.wav", x, 16000, "FLOAT"), "NaN")
    x = noise_like(8000)
    x[10] = np.inf
    cases["inf"] = (write(tmp_path / "inf.wav", x, 16000, "FLOAT"), "NaN or infinite")
    cases["low-rate"] = (write(tmp_path / "lowrate.wav", noise_like(4000), 4000), "unsupported sample rate")
    truncated = tmp_path / "truncated.flac"
    sf.write(str(truncated), noise_like(64000), 16000)
    truncated.write_bytes(truncated.read_bytes()[:300])  # cut shorter: test_hardening.py has the readable case
    cases["truncated"] = (truncated, "no audio is readable")
    return cases


@pytest.mark.parametrize("case", ["missing", "corrupt", "zero-bytes", "no-samples", "nan", "inf", "low-rate",
                                  "truncated"])
def test_bad_input_gives_one_clear_line_and_no_output(tmp_path, checkpoint, case):
    src, words = bad_inputs(tmp_path)[case]
    out = tmp_path / "out.wav"
    r = run("denoise", src, "-o", out, "--model", checkpoint)
    one_line_error(r, str(src.name), words)
    assert not out.exists()
    assert [p for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_output_equal_to_input_is_refused(tmp_path, checkpoint):
    src = write(tmp_path / "same.wav", noise_like(4000), 16000)
    before = src.read_bytes()
    one_line_error(run("denoise", src, "-o", src, "--model", checkpoint), "overwrite the input")
    assert src.read_bytes() == before


def test_unknown_output_format(tmp_path, checkpoint):
    src = write(tmp_path / "x.wav", noise_like(4000), 16000)
    one_line_error(run("denoise", src, "-o", tmp_path / "x.xyz", "--model", checkpoint), "unknown output format")


def test_bad_checkpoint_on_the_command_line(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_text("hello")
    src = write(tmp_path / "x.wav", noise_like(4000), 16000)
    one_line_error(run("denoise", src, "--model", bad), "model.pt")


def test_eval_prints_a_table_and_writes_json_and_csv(tmp_path, checkpoint):
    clean = tmp_path / "clean"
    noise = tmp_path / "noise"
    clean.mkdir()
    noise.mkdir()
    x, sr = sf.read(str(SAMPLES / "clean.flac"), dtype="float32")
    write(clean / "utt.flac", x[: 4 * sr], sr)
    write(noise / "white.wav", noise_like(3 * sr, seed=5), sr)
    r = run("eval", "--clean", clean, "--noise", noise, "--snr", "0", "10", "--model", checkpoint,
            "--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv", "-q")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("| system | PESQ | STOI | SI-SDR")
    assert lines[2].startswith("| noisy |") and lines[3].startswith("| speechdae |")
    result = json.loads((tmp_path / "r.json").read_text())
    noisy_rows = [s for s in result["summary"] if s["system"] == "noisy" and s["snr"] != "all"]
    by_snr = {s["snr"]: s["si_sdr"] for s in noisy_rows}
    assert abs(by_snr[0.0] - 0.0) < 0.3 and abs(by_snr[10.0] - 10.0) < 0.3  # the mixes are at the asked SNR
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 1 + 2 * 2


def test_eval_on_folder_pairs(tmp_path, checkpoint):
    (tmp_path / "c").mkdir()
    (tmp_path / "n").mkdir()
    x, sr = sf.read(str(SAMPLES / "clean.flac"), dtype="float32")
    y, _ = sf.read(str(SAMPLES / "noisy.flac"), dtype="float32")
    write(tmp_path / "c" / "a.flac", x, sr)
    write(tmp_path / "n" / "a.wav", y, sr)
    r = run("eval", "--pairs", tmp_path / "c", tmp_path / "n", "--model", checkpoint)
    assert r.returncode == 0, r.stderr
    assert "| noisy |" in r.stdout
    assert r.stderr == ""  # no progress bar into a pipe, even without -q


def test_demo_runs_on_the_bundled_model_and_sample(tmp_path):
    r = run("demo", "--out-dir", tmp_path / "demo")
    assert r.returncode == 0, r.stderr
    assert sf.info(str(tmp_path / "demo" / "denoised.wav")).frames == sf.info(str(SAMPLES / "noisy.flac")).frames
    assert "| speechdae |" in r.stdout


def test_info_describes_the_bundled_model():
    r = run("info")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) < 15 and lines[0].startswith("model       bundled default"), r.stdout
    assert any(ln.startswith("audio       16000 Hz") and "latency 20.0 ms" in ln for ln in lines), r.stdout
    assert any(ln.startswith("lineage     ") for ln in lines) and "/work/" not in r.stdout
    r = run("info", "--json")
    info = json.loads(r.stdout)
    assert info["latency_ms"] <= 20 and info["parameters"] < 1_000_000


def test_training_config_with_unknown_or_mistyped_keys(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"speech": "x", "stepz": 10}')
    one_line_error(run("train", cfg), "unknown training config keys: stepz")
    cfg.write_text('{"speech": "x", "steps": "ten"}')
    one_line_error(run("train", cfg), "steps must be a number")
    cfg.write_text('{"speech": "x", "model": {"hiden": 3}}')
    one_line_error(run("train", cfg), "unknown model config keys: hiden")
    cfg.write_text("{not json")
    one_line_error(run("train", cfg), "not a valid training config")
    recipe = tmp_path / "r.py"
    recipe.write_text("from speechdae.train import TrainConfig\nconfig = TrainConfig(stepz=3)\n")
    one_line_error(run("train", recipe), "stepz")


def test_version_and_examples_in_help():
    from speechdae import __version__

    assert run("--version").stdout.strip() == f"speechdae {__version__}"
    top = run("--help").stdout
    assert "examples:\n  speechdae demo" in top
    d = run("denoise", "--help").stdout
    assert "IN.denoised.EXT" in d and "examples:\n  speechdae denoise talk.wav" in d and "is replaced" in d
    e = run("eval", "--help").stdout
    assert "--dnsmos" in e and "examples:\n  speechdae eval" in e
    import argparse

    from speechdae.commands import evaluate

    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    assert [a.dest for a in parser._actions if not a.help] == []  # every eval option has its help text


def test_option_errors_name_the_flag(tmp_path, checkpoint):
    src = write(tmp_path / "x.wav", noise_like(4000), 16000)
    for value in ("-5", "0", "nan", "loud"):
        r = run("denoise", src, "--atten-limit", value, "--model", checkpoint)
        assert r.returncode == 2 and "argument --atten-limit: must be a positive number of dB" in r.stderr, r.stderr
    one_line_error(run("denoise", src, "--threads", "-1", "--model", checkpoint), "--threads")
    r = run("denoise", src, "--threads", "2", "--model", checkpoint, "-q")
    assert r.returncode == 0, r.stderr


def test_torchscript_file_as_model_is_one_line(tmp_path, denoiser):
    from speechdae.export import export

    export(denoiser, tmp_path / "m.ts", "torchscript")
    src = write(tmp_path / "x.wav", noise_like(4000), 16000)
    env_warnings = {**os.environ}  # with warnings on, as a user runs it
    r = subprocess.run([sys.executable, "-m", "speechdae.cli", "denoise", str(src), "--model", str(tmp_path / "m.ts")],
                       capture_output=True, text=True, env=env_warnings, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"speechdae: error: {tmp_path / 'm.ts'}: a TorchScript export, not a speechdae checkpoint "
        "(give the .pt file that training wrote)"]


def test_existing_output_is_replaced_and_said_and_plot_says_where(tmp_path, checkpoint):
    pytest.importorskip("matplotlib")
    src = write(tmp_path / "talk.wav", noise_like(8000), 16000)
    dst = tmp_path / "out.wav"
    dst.write_bytes(b"an old file")
    r = run("denoise", src, "-o", dst, "--plot", "--model", checkpoint)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{src} -> {dst} (replaced the existing file; picture: {tmp_path / 'out.png'})"
    assert sf.info(str(dst)).frames == 8000 and (tmp_path / "out.png").stat().st_size > 0
    r = run("denoise", src, "-o", tmp_path / "new.wav", "--model", checkpoint)
    assert r.stdout.strip() == f"{src} -> {tmp_path / 'new.wav'}"


def test_progress_bars_on_a_terminal_count_files_and_end_cleanly(tmp_path, checkpoint):
    """stderr is a pseudo-terminal here, so the bars are drawn: files N of M, and no TqdmWarning at the end."""
    import fcntl
    import pty
    import struct
    import termios

    inp = tmp_path / "in"
    inp.mkdir()
    for k in range(3):  # 12.3425 s: a bar total rounded to 12.34 s was overrun (the TqdmWarning users saw)
        write(inp / f"f{k}.wav", noise_like(197_480, seed=k), 16000)
    draw_every_update = {"TQDM_MININTERVAL": "0", "TQDM_MINITERS": "1"}  # else the last one is often not drawn
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 columns wide
    proc = subprocess.Popen([sys.executable, "-m", "speechdae.cli", "denoise", str(inp), "--out-dir",
                             str(tmp_path / "out"), "--model", str(checkpoint)], stdout=subprocess.PIPE,
                            stderr=slave, env={**os.environ, **draw_every_update})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, screen
    assert "files:" in screen and "3/3" in screen, screen
    assert "Warning" not in screen, screen


def test_every_command_is_declared_lazily_and_train_lists_its_settings(tmp_path):
    # One parser for every command; its options are declared when the command is used, so -h needs no torch.
    code = "import sys, speechdae.cli as c; c.build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    t = run("train", "--help").stdout
    assert "--model.code" in t and "--corruption.p-babble" in t and "--time-limit" in t, t
    r = run("train", tmp_path / "r.py", "--lrate=1")  # argparse knows every setting: a typo is its error
    assert r.returncode == 2 and "speechdae train: error: unrecognized arguments: --lrate=1" in r.stderr, r.stderr
    assert r.stderr.startswith("usage: speechdae train"), r.stderr  # the command's usage, not the top level's
    r = run("train", tmp_path / "r.py", "--steps=5")  # a known setting gets as far as the recipe
    assert r.returncode == 2 and r.stderr.strip().endswith("r.py: no such recipe file"), r.stderr
