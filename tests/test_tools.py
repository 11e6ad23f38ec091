"""tools/interpolate.py, run as a user runs it (a subprocess on real checkpoint files)."""
import subprocess
import sys
from pathlib import Path

import torch

from conftest import small_denoiser
from speechdae.checkpoint import load_model, read_checkpoint, save_checkpoint
from speechdae.spectral import STFTConfig

ROOT = Path(__file__).resolve().parents[1]


def run_tool(*args):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "interpolate.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


def test_interpolate_blends_every_weight_and_keeps_the_tuned_description(tmp_path):
    start, tuned = tmp_path / "start.pt", tmp_path / "tuned.pt"
    save_checkpoint(start, small_denoiser(seed=0), train={"recipe": "a"})
    save_checkpoint(tuned, small_denoiser(seed=1), train={"recipe": "b"}, history=[{"train": {"recipe": "a"}}])
    w0, w1 = read_checkpoint(start)["weights"], read_checkpoint(tuned)["weights"]
    for alpha in (0.0, 0.25, 1.0):
        out = tmp_path / f"blend{alpha}.pt"
        assert run_tool(start, tuned, "--alpha", alpha, "-o", out).returncode == 0
        blend = read_checkpoint(out)
        for name, w in blend["weights"].items():
            if w.is_floating_point():
                torch.testing.assert_close(w, w0[name] + alpha * (w1[name] - w0[name]), rtol=0, atol=1e-6)
        assert blend["train"] == {"recipe": "b"} and blend["history"] == [{"train": {"recipe": "a"}}]
        assert blend["metrics"] == {"blend": {"start": str(start), "tuned": str(tuned), "alpha": alpha,
                                              "tuned_metrics": {}}}
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)  # the two ends differ, so the checks above can fail
    load_model(tmp_path / "blend0.25.pt")  # a blend is an ordinary checkpoint


def test_interpolate_refuses_two_different_models_in_one_line(tmp_path):
    start, tuned = tmp_path / "start.pt", tmp_path / "tuned.pt"
    save_checkpoint(start, small_denoiser(), train={})
    save_checkpoint(tuned, small_denoiser(STFTConfig(n_fft=512, hop=160, synthesis=320)), train={})
    done = run_tool(start, tuned, "--alpha", 0.5, "-o", tmp_path / "out.pt")
    assert done.returncode != 0 and "different models" in done.stderr and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "out.pt").exists()
