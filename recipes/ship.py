"""Make a trained checkpoint the bundled default: drop the resumable training state, keep the description.

    python recipes/ship.py runs/bundled/best.pt [--metrics dev.json]

Writes speechdae/pretrained/default.pt (atomically). `--metrics` adds a JSON summary (e.g. from
`speechdae eval --json`) to the checkpoint's metrics, so `speechdae info` shows the dev-set scores.
"""
import argparse
import json
from pathlib import Path

from speechdae.checkpoint import build, default_checkpoint, read_checkpoint, save_checkpoint


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
    save_checkpoint(a.output, build(payload, a.checkpoint), train=payload["train"], metrics=metrics)
    print(f"{a.checkpoint} -> {a.output} ({Path(a.output).stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
