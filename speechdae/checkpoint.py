"""Self-describing checkpoints: everything needed to rebuild the Denoiser travels in the file."""
from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

import torch

from . import __version__
from .audio import atomic_path
from .denoiser import Denoiser
from .errors import SpeechDAEError
from .model import ModelConfig
from .spectral import STFTConfig

FORMAT = "speechdae-checkpoint/1"


def default_checkpoint() -> Path:
    return Path(str(resources.files("speechdae") / "pretrained" / "default.pt"))


def checkpoint_path(spec=None) -> Path:
    """A checkpoint given as a path, or None / "default" for the bundled model."""
    return default_checkpoint() if spec in (None, "", "default") else Path(spec)


def save_checkpoint(path, denoiser: Denoiser, *, train: dict | None = None, metrics: dict | None = None,
                    state: dict | None = None, history: list | None = None):
    """Write atomically. `train` is the recipe/config that made it; `history` the earlier stages it was
    fine-tuned from (oldest first, each {"train", "steps"}); `state` holds resumable training state."""
    payload = {
        "format": FORMAT,
        "version": __version__,
        "stft": dataclasses.asdict(denoiser.stft.cfg),
        "model": dataclasses.asdict(denoiser.model.cfg),
        "weights": {k: v.detach().cpu() for k, v in denoiser.state_dict().items()},
        "train": train or {},
        "metrics": metrics or {},
        "n_params": denoiser.n_params(),
        "history": history or [],
    }
    if state is not None:
        payload["state"] = state
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise SpeechDAEError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for foreign or truncated files
        raise SpeechDAEError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SpeechDAEError(f"{path}: not a speechdae checkpoint")
    return payload


def lineage(payload: dict) -> list:
    """The history a model fine-tuned from this checkpoint carries: its stages, then this one."""
    step = (payload.get("state") or {}).get("step", (payload.get("metrics") or {}).get("validation_step"))
    return payload.get("history", []) + [{"train": payload.get("train", {}), "steps": step}]


def build(payload: dict, path="checkpoint") -> Denoiser:
    try:
        denoiser = Denoiser(STFTConfig(**payload["stft"]), ModelConfig(**payload["model"]))
        denoiser.load_state_dict(payload["weights"])
    except (TypeError, ValueError, KeyError, RuntimeError) as e:
        raise SpeechDAEError(f"{path}: checkpoint does not match this version of speechdae ({e})".splitlines()[0])
    denoiser.info = {k: payload.get(k) for k in ("version", "train", "metrics", "n_params")}
    denoiser.info["history"] = payload.get("history", [])  # absent in checkpoints from before fine-tuning existed
    return denoiser.eval()


def load_model(path=None, device: str = "cpu") -> Denoiser:
    """Load a checkpoint (default: the bundled model), ready for `.denoise()` or `.stream()`."""
    path = checkpoint_path(path)
    return build(read_checkpoint(path), path).to(device)


def blend_checkpoints(start, tuned, alpha: float, output) -> Path:
    """Write `(1 - alpha) * START + alpha * TUNED`, weight by weight, to `output` (atomically); return its path.

    Why (WiSE-FT, Wortsman et al. 2022): a fine-tune toward one metric (recipes/bundled.py's `pesq` stage)
    trades another away (SI-SDR), and points between it and its start keep much of the gain at a smaller cost;
    choosing alpha costs evaluations, not training. The blend keeps TUNED's description and lineage; its metrics
    hold only the blend (TUNED's validation scores, kept inside it, are not the blend's)."""
    a, b = read_checkpoint(start), read_checkpoint(tuned)
    if (a["stft"], a["model"]) != (b["stft"], b["model"]):
        raise SpeechDAEError(f"{start} and {tuned} have different models or STFTs: only one model's weights blend")
    # integer buffers (counters) are not weights: TUNED's are kept
    weights = {k: a["weights"][k].lerp(w, alpha) if w.is_floating_point() else w for k, w in b["weights"].items()}
    metrics = {"blend": {"start": str(start), "tuned": str(tuned), "alpha": alpha, "tuned_metrics": b["metrics"]}}
    save_checkpoint(output, build(dict(b, weights=weights), tuned), train=b["train"], metrics=metrics,
                    history=b.get("history"))
    return Path(output)
