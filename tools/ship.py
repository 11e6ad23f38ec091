"""Make a trained checkpoint the bundled default: drop the resumable training state, keep the description.

    python tools/ship.py runs/bundled/best.pt [--metrics dev.json]

Writes speechdae/pretrained/default.pt (atomically). `--metrics` adds a JSON summary (e.g. from
`speechdae eval --json`) to the checkpoint's metrics, so `speechdae info` shows the dev-set scores.
"""
import argparse
import json
from pathlib import Path

from speechdae.checkpoint import build, checkpoint_path, default_checkpoint, lineage, read_checkpoint, save_checkpoint


def earlier_stages(init_from: str | None) -> list:
    """Lineage of a fine-tune written before checkpoints carried their history: read it from the start point."""
    if not init_from:
        return []
    return lineage(read_checkpoint(checkpoint_path(init_from)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--metrics", help="JSON written by `speechdae eval --json`")
    p.add_argument("-o", "--output", default=str(default_checkpoint()))
    a = p.parse_args()
    payload = read_checkpoint(a.checkpoint)
    metrics = dict(payload["metrics"], validation_step=payload.get("state", {}).get("step"))
    if a.metrics:
        summary = json.loads(Path(a.metrics).read_text())["summary"]
        metrics["dev"] = [s for s in summary if s["snr"] == "all"]
    history = payload.get("history") or earlier_stages(payload["train"].get("init_from"))
    save_checkpoint(a.output, build(payload, a.checkpoint), train=payload["train"], metrics=metrics,
                    history=history)
    print(f"{a.checkpoint} -> {a.output} ({Path(a.output).stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
