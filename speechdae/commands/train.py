"""`speechdae train RECIPE [--key=value ...]`: a recipe (.py defining `config`) or a JSON config, with any
setting changed on the command line. Rerunning the same command resumes from OUT/last.pt."""
from __future__ import annotations

from pathlib import Path

from ..errors import SpeechDAEError, first_line

HELP = "train with a recipe (.py defining `config`) or a JSON config; resumes"


def add_arguments(parser):
    from ..config import add_setting_arguments  # imports torch: cli.CommandParser calls this only for `train`

    parser.description = ("Train a denoiser with a recipe (a .py file defining `config = TrainConfig(...)`, e.g.\n"
                          "recipes/quick.py) or a JSON training config (e.g. the \"train\" entry of `speechdae info\n"
                          "--json`); any setting changed as --key=value. Rerunning the same command resumes from\n"
                          "OUT/last.pt.")
    parser.usage = "speechdae train [-h] RECIPE [--key=value ...]"
    parser.add_argument("recipe", help="a recipe .py or a JSON training config")
    add_setting_arguments(parser)


def load_recipe(path: Path):
    """The TrainConfig a recipe file or a JSON config describes."""
    import json
    import runpy

    from ..config import config_from_dict

    if not path.is_file():
        raise SpeechDAEError(f"{path}: no such recipe file")
    if path.suffix == ".json":  # a config as data, e.g. the "train" entry of a checkpoint
        try:
            return config_from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError, ValueError) as e:
            raise SpeechDAEError(f"{path}: not a valid training config ({first_line(e)})") from None
    try:
        config = runpy.run_path(str(path)).get("config")
    except TypeError as e:  # e.g. TrainConfig(stepz=...)
        raise SpeechDAEError(f"{path}: {e}") from None
    if config is None:
        raise SpeechDAEError(f"{path}: a recipe must define `config = TrainConfig(...)`")
    return config


def run(args) -> int:
    from ..train import main as train_main

    train_main(load_recipe(Path(args.recipe)), args.settings)
    return 0
