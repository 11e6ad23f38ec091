"""The training log: one CSV row a step (loss, its terms, learning rate, validation scores), and its plot."""
from __future__ import annotations

import csv
import logging
from pathlib import Path

from .errors import SpeechDAEError

log = logging.getLogger("speechdae.train")


class CsvLog:
    """Appends one row a step; on resume, rows past the checkpoint's step are dropped."""

    def __init__(self, path: Path, step: int):
        self.path = path
        self.fields = None
        if path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
            self.rows = rows
        else:
            self.rows = []

    def write(self, row: dict):
        self.rows.append(row)
        if row["step"] % 50 == 0 or any(k.startswith("val_") for k in row):
            self.flush()

    def flush(self):
        fields = []
        for r in self.rows:
            fields += [k for k in r if k not in fields]
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fields)
            w.writeheader()
            w.writerows(self.rows)
        tmp.replace(self.path)


def plot_curves(out: Path):
    try:
        from .plot import plot_training

        plot_training(out / "log.csv", out / "training.png")
    except (SpeechDAEError, ImportError) as e:  # matplotlib is an optional extra
        log.warning("no training plot: %s", e)
