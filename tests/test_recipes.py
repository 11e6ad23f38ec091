"""The bundled model's recipes: one chain of stages, and the last one is what trained the shipped weights."""
import dataclasses
import runpy
from pathlib import Path

from speechdae.checkpoint import checkpoint_path, read_checkpoint
from speechdae.train import TrainConfig, config_from_dict

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def stages() -> list[TrainConfig]:
    """The bundled recipes in training order, from stage 1 (no init_from) along each init_from."""
    configs = [runpy.run_path(str(p))["config"] for p in sorted(RECIPES.glob("bundled*.py"))]
    assert all(isinstance(c, TrainConfig) for c in configs)
    by_parent = {c.init_from: c for c in configs}
    assert len(by_parent) == len(configs), "two stages start from the same checkpoint"
    chain = [by_parent[None]]
    while f"{chain[-1].out}/best.pt" in by_parent:
        chain.append(by_parent[f"{chain[-1].out}/best.pt"])
    assert len(chain) == len(configs), f"stages off the chain: {sorted({c.out for c in configs} - {c.out for c in chain})}"
    return chain


def without_paths(cfg: TrainConfig) -> TrainConfig:
    """Where the data and runs live differs between machines; which noise folders were used does not."""
    names = lambda folders: [Path(f).name for f in folders]
    return dataclasses.replace(cfg, speech=names(cfg.speech), noise=names(cfg.noise), val_noise=names(cfg.val_noise),
                               out="", init_from="", cache_dir="", device="")


def test_bundled_recipes_form_one_chain_of_one_model_size():
    chain = stages()
    assert len(chain) >= 10
    assert len({(c.model, c.stft) for c in chain}) == 1


def test_the_last_stage_is_the_recipe_of_the_shipped_model():
    shipped = config_from_dict(read_checkpoint(checkpoint_path(None))["train"])
    last = stages()[-1]
    assert without_paths(shipped) == without_paths(last)
