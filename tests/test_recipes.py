"""The recipes users run: each builds a valid config, and bundled.py is what trained the shipped model."""
import dataclasses
import runpy
from pathlib import Path

import pytest

from speechdae.checkpoint import checkpoint_path, read_checkpoint
from speechdae.config import TrainConfig, apply_overrides, config_from_dict

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def recipe(name: str) -> TrainConfig:
    return runpy.run_path(str(RECIPES / name))["config"]


def without_paths(cfg: TrainConfig) -> TrainConfig:
    """Where the data and runs live differs between machines; which data folders were used does not."""
    names = lambda folders: [Path(f).name for f in folders]  # noqa: E731
    return dataclasses.replace(cfg, speech=names(cfg.speech), noise=names(cfg.noise), val_noise=names(cfg.val_noise),
                               out="", init_from="", cache_dir="", device="", threads=0, batch_size=0)


@pytest.mark.parametrize("name", sorted(p.name for p in RECIPES.glob("*.py")))
def test_every_recipe_builds_a_config_that_takes_overrides(name):
    cfg = recipe(name)
    assert isinstance(cfg, TrainConfig)
    assert apply_overrides(cfg, ["--steps=5", "--model.code=16"]).model.code == 16


def test_bundled_recipe_trains_from_scratch_within_the_latency_and_size_bounds():
    cfg = recipe("bundled.py")
    assert cfg.init_from is None  # one recipe, from scratch: no chain of fine-tuning stages
    assert cfg.stft.latency_samples / cfg.stft.sample_rate == 0.020
    from speechdae.denoiser import Denoiser

    assert Denoiser(cfg.stft, cfg.model).n_params() < 1_000_000


def test_bundled_recipe_runs_its_stages_in_order_each_from_the_last_ones_best():
    stages = runpy.run_path(str(RECIPES / "bundled.py"))["stage_configs"]
    scratch, pesq = stages(["--out=runs/x", "--batch-size=8"])
    assert (scratch.out, scratch.init_from, scratch.pesq_weight) == ("runs/x/scratch", None, 0.0)
    assert (pesq.out, pesq.init_from, pesq.select_on) == ("runs/x/pesq", "runs/x/scratch/best.pt", "pesq")
    assert scratch.batch_size == pesq.batch_size == 8 and pesq.pesq_weight > 0  # settings reach every stage
    assert [s.out for s in stages(["--out=runs/x", "--stage=pesq"])] == ["runs/x/pesq"]


def test_bundled_recipe_rejects_an_unknown_stage_in_one_line():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(RECIPES / "bundled.py"), "--stage=fast"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "speechdae: error: unknown stage 'fast'; choose one of scratch, pesq"]


def test_the_shipped_checkpoint_describes_the_recipe_that_trained_it():
    # The bundled model is recipes/bundled.py's OUT/bundled.pt: its scratch stage, then its pesq stage, blended at
    # BLEND (benchmarks/RESULTS.md); v10's thirteen stage recipes are in git history and in v10's checkpoint.
    ns = runpy.run_path(str(RECIPES / "bundled.py"))
    scratch, pesq = ns["stage_configs"]([])
    payload = read_checkpoint(checkpoint_path(None))
    shipped = config_from_dict(payload["train"])
    assert without_paths(shipped) == without_paths(pesq)  # the pesq stage's settings, as the recipe has them
    assert shipped.init_from.endswith("scratch/best.pt") and payload["metrics"]["blend"]["alpha"] == ns["BLEND"]
    [first] = payload["history"]  # the stage the pesq stage started from: the scratch stage, which was run with
    # --steps=21000 --time-limit=0 (RESULTS.md) so that other work on the machine could not cut its steps
    budget = dict(steps=0, time_limit_minutes=0)
    first = dataclasses.replace(config_from_dict(first["train"]), **budget)
    assert without_paths(first) == without_paths(dataclasses.replace(scratch, **budget))


def test_finetune_recipe_starts_from_the_bundled_model_with_its_settings():
    cfg, shipped = recipe("finetune.py"), config_from_dict(read_checkpoint(checkpoint_path(None))["train"])
    assert cfg.init_from == "default" and (cfg.model, cfg.stft) == (shipped.model, shipped.stft)


def test_bundled_recipe_ends_by_blending_its_two_stages_into_bundled_pt(tmp_path):
    # Training is what the other tests cover; here each stage "trains" by saving a small model, so that what the
    # recipe does after its stages (the blend at BLEND into OUT/bundled.pt) runs on real checkpoint files.
    from conftest import small_denoiser
    from speechdae.checkpoint import save_checkpoint

    ns = runpy.run_path(str(RECIPES / "bundled.py"))
    def train(cfg, argv):
        save_checkpoint(Path(cfg.out) / "best.pt", small_denoiser(seed=len(cfg.out)), train={"out": cfg.out})

    ns["run"]([f"--out={tmp_path}"], train)
    scratch, pesq, bundled = (read_checkpoint(tmp_path / f) for f in ("scratch/best.pt", "pesq/best.pt", "bundled.pt"))
    alpha = ns["BLEND"]
    assert 0 < alpha < 1 and bundled["metrics"]["blend"]["alpha"] == alpha and bundled["train"] == pesq["train"]
    floats = [k for k, w in scratch["weights"].items() if w.is_floating_point()]
    assert any(not scratch["weights"][k].equal(pesq["weights"][k]) for k in floats)  # the two stages differ
    for k in floats:
        w0, w1 = scratch["weights"][k], pesq["weights"][k]
        assert bundled["weights"][k].allclose(w0 + alpha * (w1 - w0), atol=1e-6), k
    ns["run"]([f"--out={tmp_path / 'one'}", "--stage=scratch"], train)  # no pesq stage run: nothing to blend
    assert not (tmp_path / "one" / "bundled.pt").exists()
