"""Fine-tune the bundled model on your own speech and noise (the same model size, STFT and loss as it was trained with).

    python recipes/finetune.py --speech my-data/speech --noise my-data/noise [--out runs/finetune] [--time-limit=30]
    python recipes/finetune.py --speech ... --noise ... --stoi-weight=1.0 --select-on=stoi   # favour intelligibility

Starts from the bundled weights with a fresh optimizer, a short warm-up and a lower learning rate, and keeps
the bundled model's own training settings (read from its checkpoint), so only the data changes. Any setting
can be changed as `--key=value` (see `--help`). Lay the data out as data/README.md says. The result loads with
`speechdae.load_model("runs/finetune/best.pt")` or `speechdae denoise --model runs/finetune/best.pt`.
"""
import dataclasses

from speechdae.checkpoint import checkpoint_path, read_checkpoint
from speechdae.config import config_from_dict
from speechdae.train import main

bundled = config_from_dict(read_checkpoint(checkpoint_path("default"))["train"])
config = dataclasses.replace(
    bundled,
    speech=[], noise=[], val_noise=[],  # yours: --speech DIR --noise DIR [--val-noise DIR]
    out="runs/finetune",
    init_from="default",
    steps=10**7,
    time_limit_minutes=30,
    lr=bundled.lr / 3,
    warmup_steps=100,
)

if __name__ == "__main__":
    main(config)
