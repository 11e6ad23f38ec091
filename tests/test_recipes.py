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
    # The bundled model is speechdae 2, the scratch stage of recipes/bundled.py (benchmarks/RESULTS.md); v10's
    # thirteen stage recipes are in git history and in v10's checkpoint.
    payload = read_checkpoint(checkpoint_path(None))
    shipped = config_from_dict(payload["train"])
    scratch = recipe("bundled.py")
    assert shipped.init_from is None and not payload["history"]
    assert (shipped.model, shipped.stft, shipped.speech_weight) == (scratch.model, scratch.stft, scratch.speech_weight)


def test_finetune_recipe_starts_from_the_bundled_model_with_its_settings():
    cfg, shipped = recipe("finetune.py"), config_from_dict(read_checkpoint(checkpoint_path(None))["train"])
    assert cfg.init_from == "default" and (cfg.model, cfg.stft) == (shipped.model, shipped.stft)
