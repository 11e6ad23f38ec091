"""DNSMOS (speechdae.dnsmos, `speechdae eval --dnsmos`): reference-free scores of real speech, from models that
ship inside the speechmos wheel (nothing downloaded), and a one-line hint where the extra is missing."""
import json
import os
import subprocess
import sys

import pytest
import soundfile as sf

from conftest import SAMPLES, write

NO_NETWORK = """
import socket, sys
def refuse(*a, **k):
    raise OSError("network use in a test that must not need it")
socket.socket.connect = socket.create_connection = socket.getaddrinfo = refuse
from speechdae.cli import main
sys.exit(main(sys.argv[1:]))
"""


def need_speechmos():
    pytest.importorskip("speechmos", reason="DNSMOS needs pip install 'speechdae[dnsmos]'")


def cli(*args, env=None, code=None):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", **(env or {})}
    cmd = [sys.executable, *(["-c", code] if code else ["-m", "speechdae.cli"]), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def test_bundled_clean_noisy_and_denoised_sample_are_ranked_by_background():
    need_speechmos()
    from speechdae import load_model
    from speechdae.dnsmos import dnsmos

    noisy, sr = sf.read(str(SAMPLES / "noisy.flac"), dtype="float32")
    clean, _ = sf.read(str(SAMPLES / "clean.flac"), dtype="float32")
    denoised = load_model().denoise(noisy, sr)
    s = {name: dnsmos(x, sr) for name, x in (("noisy", noisy), ("clean", clean), ("denoised", denoised))}
    for scores in s.values():
        assert set(scores) == {"sig", "bak", "ovrl"} and all(1.0 <= v <= 5.0 for v in scores.values()), s
    assert s["clean"]["bak"] > s["noisy"]["bak"] + 1.0, s  # the sample's noise is loud: BAK sees it
    assert s["denoised"]["bak"] > s["noisy"]["bak"] + 1.0, s
    assert s["denoised"]["ovrl"] > s["noisy"]["ovrl"], s
    # Any rate and stereo are taken (resampled to 16 kHz, mixed to mono) and give nearly the same scores.
    import soxr

    stereo44 = soxr.resample(clean, sr, 44100)[:, None].repeat(2, axis=1)
    assert abs(dnsmos(stereo44, 44100)["bak"] - s["clean"]["bak"]) < 0.15


def test_eval_on_recordings_without_reference_offline(tmp_path):
    """A folder of recordings (our own earlier outputs left out), scored before and after, with sockets refused."""
    need_speechmos()
    folder = tmp_path / "recordings"
    folder.mkdir()
    x, sr = sf.read(str(SAMPLES / "noisy.flac"), dtype="float32")
    write(folder / "talk.wav", x, sr)
    write(folder / "talk.denoised.wav", x, sr)  # an earlier output: not a recording to score
    r = cli("eval", "--dnsmos", folder, "--json", tmp_path / "r.json", "-q", code=NO_NETWORK)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "| system | SIG | BAK | OVRL |"
    assert lines[2].startswith("| noisy |") and lines[3].startswith("| speechdae |")
    result = json.loads((tmp_path / "r.json").read_text())
    assert [(i["system"], i["item"]) for i in result["items"]] == [("noisy", "talk.wav"), ("speechdae", "talk.wav")]
    noisy, ours = result["items"]
    assert ours["bak"] > noisy["bak"] + 1.0 and "pesq" not in noisy


def test_eval_dnsmos_adds_columns_to_reference_scores(tmp_path, checkpoint):
    need_speechmos()
    (tmp_path / "c").mkdir()
    (tmp_path / "n").mkdir()
    for name in ("clean", "noisy"):
        x, sr = sf.read(str(SAMPLES / f"{name}.flac"), dtype="float32")
        write(tmp_path / name[0] / "a.wav", x[: 3 * sr], sr)
    r = cli("eval", "--pairs", tmp_path / "c", tmp_path / "n", "--dnsmos", "--model", checkpoint,
            "--csv", tmp_path / "r.csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "| system | PESQ | STOI | SI-SDR | SI-SDR >120 Hz | SIG | BAK | OVRL |"
    assert r.stderr == ""  # no progress bar into a pipe
    header = (tmp_path / "r.csv").read_text().splitlines()[0]
    assert header == "system,item,snr,noise,pesq,stoi,si_sdr,si_sdr_hp,sig,bak,ovrl"
    r = cli("eval", "--pairs", tmp_path / "c", tmp_path / "n", "--dnsmos", tmp_path / "n", "--model", checkpoint)
    assert r.returncode == 2 and r.stderr.startswith("speechdae: error: --dnsmos PATH... scores recordings"), r.stderr


def test_missing_extra_is_one_line_with_the_install_hint(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "speechmos.py").write_text("raise ModuleNotFoundError(\"No module named 'speechmos'\", name='speechmos')\n")
    r = cli("eval", "--dnsmos", SAMPLES / "noisy.flac",
            env={"PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["speechdae: error: DNSMOS needs the 'speechmos' package: "
                                             "pip install 'speechdae[dnsmos]' (speechmos, onnxruntime)"]
