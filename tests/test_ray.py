"""`speechdae denoise --ray` on a real local Ray cluster (2 CPUs, started once for this module) and real files."""
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import noise_like, small_denoiser, write
from speechdae.checkpoint import save_checkpoint
from speechdae.cli import main
from speechdae.corpus_ray import DenoiseWorker

try:
    import ray
except ImportError:
    ray = None
needs_ray = pytest.mark.skipif(ray is None, reason="ray is not installed (pip install -e '.[ray]')")

# Small and quiet: no usage reporting, no dashboard, a minimal object store (only paths and counts travel).
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0", "PYTHONWARNINGS": "ignore"}


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster with 2 CPUs for the whole module; its address for subprocesses to join."""
    saved = {k: os.environ.get(k) for k in RAY_ENV}
    os.environ.update(RAY_ENV)
    ctx = ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20,
                   logging_level=logging.ERROR)
    try:
        yield ctx.address_info["address"]
    finally:
        ray.shutdown()  # stops the raylet, GCS and workers this module started
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A folder of short real files (several rates, channels, formats, a subfolder) and one broken file,
    a small checkpoint, and the single-process command's outputs for them."""
    root = tmp_path_factory.mktemp("corpus")
    inp = root / "in"
    (inp / "sub" / "deeper").mkdir(parents=True)
    write(inp / "a.wav", noise_like(8000, seed=1), 16000)
    write(inp / "sub" / "b.flac", noise_like(22050, 2, seed=2), 44100, "PCM_24")
    write(inp / "sub" / "deeper" / "c.wav", noise_like(4000, seed=3), 8000, "PCM_16")
    write(inp / "d.ogg", noise_like(12000, seed=4), 24000)
    (inp / "sub" / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    ckpt = root / "small.pt"
    save_checkpoint(ckpt, small_denoiser(), train={"recipe": "tests"})
    # --model and --atten-limit must reach the workers: the bundled model or no limit gives other samples.
    opts = ["--model", str(ckpt), "--atten-limit", "12"]
    assert main(["denoise", str(inp), "--out-dir", str(root / "single"), "-q", *opts]) == 1
    return root, inp, opts


GOOD = ["a.wav", "sub/b.flac", "sub/deeper/c.wav", "d.ogg"]


def assert_same_as_single(root, out):
    for rel in GOOD:
        ref, r_rate = sf.read(root / "single" / rel, dtype="float64")
        got, g_rate = sf.read(out / rel, dtype="float64")
        assert g_rate == r_rate and got.shape == ref.shape, rel
        # Same samples up to float32 rounding and one step of the file's 16/24-bit quantisation (the workers'
        # resampler and the driver's may round one sample differently).
        assert np.abs(got - ref).max() <= 2.0 ** -14, f"{rel}: differs from the single-process output"
        assert sf.info(str(out / rel)).subtype == sf.info(str(root / "single" / rel)).subtype
    produced = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert produced == sorted(GOOD)  # nothing for the broken file, no partial files, no probe marker


def run(*args):
    return subprocess.run([sys.executable, "-m", "speechdae.cli", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **RAY_ENV}, timeout=300)


@needs_ray
def test_ray_writes_what_the_single_process_command_writes(cluster, corpus, capsys):
    root, inp, opts = corpus
    out = root / "ray_inprocess"
    assert main(["denoise", str(inp), "--out-dir", str(out), "--ray", "auto", *opts]) == 1
    std = capsys.readouterr()
    assert_same_as_single(root, out)
    assert "denoised 4, skipped existing 0, failed 1 of 5 files" in std.out
    assert "ray: 2 workers, 1 thread each, on 1 node:" in std.out
    failures = [line for line in std.err.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 1 and "broken.wav" in failures[0], std.err


@needs_ray
def test_ray_command_joins_a_cluster_by_address_and_resumes_without_redoing_work(cluster, corpus):
    root, inp, opts = corpus
    out = root / "ray_cli"
    r = run("denoise", inp, "--out-dir", out, "--ray", cluster, "--ray-workers", "2", *opts)
    assert r.returncode == 1, r.stderr
    assert "denoised 4, skipped existing 0, failed 1 of 5 files" in r.stdout
    assert "failed: " in r.stderr and "broken.wav" in r.stderr
    assert "Traceback" not in r.stderr
    assert_same_as_single(root, out)

    stamps = {rel: (out / rel).stat().st_mtime_ns for rel in GOOD}
    r = run("denoise", inp, "--out-dir", out, "--ray", "auto", "--skip-existing", *opts)
    assert r.returncode == 1, r.stderr  # the broken file is tried again, and fails again
    assert "denoised 0, skipped existing 4, failed 1 of 5 files" in r.stdout
    assert {rel: (out / rel).stat().st_mtime_ns for rel in GOOD} == stamps  # no output rewritten


@needs_ray
def test_ray_skip_existing_with_nothing_left_needs_no_cluster(corpus, tmp_path, capsys):
    root, inp, opts = corpus
    out = tmp_path / "done"
    for rel in GOOD + ["sub/broken.wav"]:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"already here")
    assert main(["denoise", str(inp), "--out-dir", str(out), "--ray", "auto", "--skip-existing", *opts]) == 0
    assert "denoised 0, skipped existing 5, failed 0 of 5 files" in capsys.readouterr().out
    assert all((out / rel).read_bytes() == b"already here" for rel in GOOD)


@needs_ray
def test_ray_asks_for_no_more_workers_than_the_cluster_has(cluster, corpus, capsys):
    root, inp, opts = corpus
    rc = main(["denoise", str(inp), "--out-dir", str(root / "too_many"), "--ray", "--ray-workers", "3", *opts])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--ray-workers 3 needs 3 CPUs" in err and "the Ray cluster has 2 CPUs" in err
    assert not (root / "too_many").exists()


@needs_ray
def test_ray_given_a_folder_as_its_address_says_how_to_write_it(corpus, capsys):
    root, inp, opts = corpus
    assert main(["denoise", "--ray", str(inp), str(inp / "a.wav"), "--out-dir", str(root / "x"), *opts]) == 2
    err = capsys.readouterr().err
    assert "not a Ray address" in err and "--ray auto" in err


def test_a_worker_that_cannot_see_a_path_says_the_filesystem_must_be_shared(tmp_path, corpus):
    root, inp, opts = corpus
    worker = DenoiseWorker(opts[1], "cpu", None, 12.0, False)  # the actor's class, run here without Ray
    hello = worker.hello([str(inp / "a.wav"), str(tmp_path / "elsewhere" / "x.wav")])
    assert hello["error"] is None and hello["missing"] == [str(tmp_path / "elsewhere" / "x.wav")]
    seconds, reason = worker.denoise(str(tmp_path / "elsewhere" / "x.wav"), str(tmp_path / "y.wav"))
    assert seconds == 0 and "not found on" in reason and "filesystem that every node mounts" in reason
    seconds, reason = worker.denoise(str(inp / "a.wav"), str(tmp_path / "a.wav"))
    assert reason is None and seconds == 0.5
    assert np.array_equal(sf.read(tmp_path / "a.wav")[0], sf.read(root / "single" / "a.wav")[0])


def test_without_ray_installed_the_flag_gives_an_install_hint(tmp_path, corpus):
    root, inp, opts = corpus
    code = ("import sys; sys.modules['ray'] = None; from speechdae.cli import main; "  # None: import ray fails
            "sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, "denoise", str(inp), "--out-dir", str(tmp_path), "--ray",
                        *opts], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == "speechdae: error: --ray needs Ray: pip install 'speechdae[ray]' (or pip install " \
                               "'ray>=2.9')"
    assert list(tmp_path.iterdir()) == []
