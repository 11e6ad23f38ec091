"""Training state on disk: what last.pt and best.pt hold, resuming a killed run, and starting a fine-tune.

A mixin of `train.Trainer`, kept apart so that the loop reads top to bottom. A resumed run continues exactly
(same weights, optimizer, moving average, random generators and elapsed time; tested against an uninterrupted
run); a fine-tune takes another run's weights with a fresh optimizer and schedule and records its lineage.
"""
from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import torch

from .checkpoint import checkpoint_path, lineage, read_checkpoint, save_checkpoint
from .config import config_dict
from .deepfilter import grown_weights
from .errors import SpeechDAEError
from .model import ModelConfig
from .spectral import STFTConfig

log = logging.getLogger("speechdae.train")


class Resumable:
    def state(self) -> dict:
        averaged = {}
        if self.ema is not None:  # the checkpoint's weights are the average; training goes on from these
            averaged = {"weights": self.denoiser.state_dict(), "ema_updates": int(self.ema.n_averaged)}
        return {
            **averaged,
            "step": self.step,
            "best": self.best,
            "optimizer": self.opt.state_dict(),
            "elapsed": self.elapsed,
            "numpy_rng": self.rng.bit_generator.state,
            "torch_gen": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def save(self, name: str, metrics: dict | None = None, logger=None):
        if self.main:
            if logger is not None:  # the log never lags the checkpoint, so a resume leaves no gap
                logger.flush()
            save_checkpoint(self.out / name, self.shipped, train=config_dict(self.cfg),
                            metrics=metrics or {}, state=self.state(), history=self.history)

    def check_same_shape(self, payload: dict, path):
        d = self.denoiser
        for key, cls, now in (("stft", STFTConfig, d.stft.cfg), ("model", ModelConfig, d.model.cfg)):
            if cls(**payload[key]) != now:
                return f"{path}: was trained with another {key} config"
        return None

    def init_weights(self, source: str):
        """Fine-tuning starts from another run's weights with a fresh optimizer, schedule and step count."""
        path = checkpoint_path(source)
        payload = read_checkpoint(path)
        weights = payload["weights"]
        source = ModelConfig(**payload["model"])
        now = self.denoiser.model.cfg
        if now.df_order and not source.df_order:  # adding a deep filter to a real-gain model: it starts at zero
            grown = dataclasses.replace(source, df_order=now.df_order, hop=now.hop)
            payload = dict(payload, model=dataclasses.asdict(grown))
            weights = grown_weights(weights, self.denoiser)
        problem = self.check_same_shape(payload, path)
        if problem:
            raise SpeechDAEError(f"{problem}; fine-tuning needs the same model and STFT settings")
        self.denoiser.load_state_dict(weights)
        self.history = lineage(payload)
        if self.main:
            log.info("starting from the weights of %s", path)

    def try_resume(self) -> bool:
        path = self.out / "last.pt"
        if not path.exists():
            return False
        payload = read_checkpoint(path)
        problem = self.check_same_shape(payload, path)
        if problem:
            raise SpeechDAEError(f"{problem}; use another --out")
        s = payload["state"]
        self.denoiser.load_state_dict(s.get("weights", payload["weights"]))
        if self.ema is not None:
            if "ema_updates" not in s:
                raise SpeechDAEError(f"{path}: was trained without ema_decay; use another --out")
            self.ema.module.load_state_dict(payload["weights"])
            self.ema.n_averaged.fill_(s["ema_updates"])
        self.opt.load_state_dict(s["optimizer"])
        self.step, self.best, self.elapsed = s["step"], s["best"], s["elapsed"]
        self.history = payload.get("history", [])
        if (self.out / "best.pt").exists():  # best.pt may be newer than last.pt
            scores = read_checkpoint(self.out / "best.pt")["metrics"]
            self.best = max(self.best, scores.get(self.cfg.select_on, -math.inf))
        if self.distributed:  # last.pt holds rank 0's generators only: give every rank its own fresh draw
            self.rng = np.random.default_rng([self.cfg.seed, self.rank, self.step])
            self.gen.manual_seed(hash((self.cfg.seed, self.rank, self.step)) % 2**63)
        else:
            self.rng.bit_generator.state = s["numpy_rng"]
            gen_state = s["torch_gen"]
            self.gen.set_state(gen_state.to(torch.uint8) if gen_state.device.type == "cpu" else gen_state)
            torch.set_rng_state(s["torch_rng"])
        if self.main:
            log.info("resumed from %s at step %d", path, self.step)
        return True
