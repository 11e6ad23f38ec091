"""Training: the denoising-autoencoder recipe loop (single process or torchrun/DDP).

Each step draws clean segments, corrupts them on the device (corrupt.py), runs the shared Denoiser
path, and scores the rebuilt spectrum against the *clean* one. `out/last.pt` is written atomically
every `checkpoint_every` steps with optimizer, RNG state and elapsed time; rerunning the same command resumes.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .checkpoint import checkpoint_path, lineage, read_checkpoint, save_checkpoint
from .corrupt import CorruptionConfig, Corruptor
from .data import AudioBank, is_validation, list_audio, noisy_pairs
from .denoiser import Denoiser
from .errors import SpeechDAEError
from .metrics import score, si_sdr
from .model import ModelConfig
from .spectral import STFTConfig

log = logging.getLogger("speechdae.train")
VARIANTS = ("denoising", "plain", "sparse", "contractive")
SELECT_ON = ("si_sdr", "si_sdr_hp", "stoi")  # validation scores computed on every validation item
PATH_LISTS = ("speech", "noise", "val_noise")  # config keys holding lists of folders, files or manifests


@dataclass
class TrainConfig:
    speech: list = field(default_factory=list)  # folders, files or manifests of clean speech
    noise: list = field(default_factory=list)  # folders, files or manifests of noise recordings
    val_noise: list = field(default_factory=list)  # other noise for validation (default: the training noise)
    out: str = "runs/default"
    steps: int = 2000
    batch_size: int = 16
    segment_seconds: float = 2.0
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 100
    grad_clip: float = 5.0
    variant: str = "denoising"  # denoising | plain (no corruption) | sparse | contractive
    sparse_weight: float = 1e-3  # L1 on the code
    contractive_weight: float = 1e-3  # encoder Jacobian (Frobenius norm, by a random projection)
    complex_weight: float = 0.3  # share of the compressed complex loss vs compressed magnitude loss
    speech_weight: float = 2.0  # > 1 penalises removing speech more than leaving noise
    sisdr_weight: float = 0.0  # optional waveform SI-SDR term (negative dB, scaled by 1/100)
    stoi_weight: float = 0.0  # optional waveform STOI term (torch_stoi's differentiable STOI, negated)
    select_on: str = "si_sdr"  # validation score that picks best.pt: si_sdr | si_sdr_hp | stoi (not the few-item pesq)
    ema_decay: float = 0.0  # > 0: validate and ship a moving average of the weights (e.g. 0.999), not the last step's
    checkpoint_every: int = 100
    val_every: int = 500
    val_fraction: float = 0.05  # file-level split of the speech files
    val_items: int = 24
    val_pesq_items: int = 4
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast on CUDA only
    time_limit_minutes: float | None = None  # stop (with a checkpoint) after this long
    init_from: str | None = None  # fine-tune: start from this checkpoint's weights ("default": the bundled model)
    cache_dir: str | None = ".cache/audio"
    stft: STFTConfig = field(default_factory=STFTConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    corruption: CorruptionConfig = field(default_factory=CorruptionConfig)

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise SpeechDAEError(f"unknown variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        if self.select_on not in SELECT_ON:
            raise SpeechDAEError(f"unknown select_on {self.select_on!r}; choose one of {', '.join(SELECT_ON)}")


def config_from_dict(d: dict) -> TrainConfig:
    """Rebuild a TrainConfig from its asdict() form, refusing unknown or mistyped keys."""
    nested = {"stft": STFTConfig, "model": ModelConfig, "corruption": CorruptionConfig}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(d) - known
    if unknown:
        raise SpeechDAEError(f"unknown training config keys: {', '.join(sorted(unknown))}")
    kw = dict(d)
    for key in PATH_LISTS:
        if isinstance(kw.get(key), str):
            kw[key] = [kw[key]]
    for key, cls in nested.items():
        if isinstance(kw.get(key), dict):
            names = {f.name for f in dataclasses.fields(cls)}
            bad = set(kw[key]) - names
            if bad:
                raise SpeechDAEError(f"unknown {key} config keys: {', '.join(sorted(bad))}")
            kw[key] = cls(**kw[key])
    for f in dataclasses.fields(TrainConfig):  # catch mistyped values here, not deep inside training
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.name in kw and isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(kw[f.name], bool) or not isinstance(kw[f.name], (int, float)):
                raise SpeechDAEError(f"training config: {f.name} must be a number, got {kw[f.name]!r}")
    return TrainConfig(**kw)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def spectral_loss(enhanced: torch.Tensor, clean: torch.Tensor, c: float, complex_weight: float,
                  speech_weight: float) -> torch.Tensor:
    """Compressed-magnitude + compressed-complex MSE, with under-estimates (lost speech) weighted up."""
    em, cm = (enhanced.abs() + 1e-8) ** c, (clean.abs() + 1e-8) ** c
    err = em - cm
    mag = (torch.where(err < 0, speech_weight, 1.0) * err.pow(2)).mean()
    ec = em * enhanced / (enhanced.abs() + 1e-8)
    cc = cm * clean / (clean.abs() + 1e-8)
    cplx = (ec - cc).abs().pow(2).mean()
    return (1 - complex_weight) * mag + complex_weight * cplx


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.device = pick_device(cfg.device)
        if self.distributed:
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            dist.init_process_group(backend)
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
                torch.cuda.set_device(self.device)
        else:
            self.rank, self.world = 0, 1
        self.main = self.rank == 0
        self.out = Path(cfg.out)
        torch.manual_seed(cfg.seed)
        model_cfg = dataclasses.replace(cfg.model, n_bins=cfg.stft.n_bins)
        self.denoiser = Denoiser(cfg.stft, model_cfg).to(self.device)
        self.model = self.denoiser.model  # what the training forward goes through (DDP-wrapped if distributed)
        if self.distributed:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.opt = torch.optim.AdamW(self.denoiser.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        # Small batches make the last step's weights noisy; their running average is what gets scored and shipped.
        self.ema = None
        if cfg.ema_decay:
            self.ema = AveragedModel(self.denoiser, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay))
        self.step = 0
        self.elapsed = 0.0  # seconds spent training, carried across resumes
        self.best = -math.inf
        self.history = []  # the stages this run was fine-tuned from, so the checkpoint describes the whole recipe
        self.rng = np.random.default_rng(cfg.seed + 1000 * self.rank)
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1000 * self.rank + 1)
        self.corruptor = Corruptor(cfg.corruption, cfg.stft.n_bins, self.gen)
        self.stoi_loss = None
        if cfg.stoi_weight:
            # torch_stoi, from pystoi's maintainer, is STOI's own 1/3-octave envelope correlation in torch;
            # pystoi, which scores evaluation, is numpy only and passes no gradients.
            from torch_stoi import NegSTOILoss

            with warnings.catch_warnings():  # its resampler's method name, deprecated by torchaudio
                warnings.simplefilter("ignore", UserWarning)
                self.stoi_loss = NegSTOILoss(cfg.stft.sample_rate).to(self.device)
        self.amp = cfg.amp and self.device.type == "cuda"

    def lr(self) -> float:
        """Warm-up, then cosine decay to 5 %. With a time limit, progress is whichever of steps or time is
        further along, so a run cut short by its time budget still ends with a low learning rate."""
        cfg = self.cfg
        progress = self.step / max(1, cfg.steps)
        if cfg.time_limit_minutes:
            progress = max(progress, self.elapsed / (60 * cfg.time_limit_minutes))
        warm = min(1.0, (self.step + 1) / max(1, cfg.warmup_steps))
        return cfg.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    # -- data -------------------------------------------------------------------------------------------
    def load_data(self):
        cfg, sr = self.cfg, self.cfg.stft.sample_rate
        speech = list_audio(cfg.speech)
        if not speech:
            raise SpeechDAEError(f"no speech files found in {cfg.speech}")
        train_files = [p for p in speech if not is_validation(p, cfg.val_fraction)]
        self.val_files = [p for p in speech if is_validation(p, cfg.val_fraction)] or speech[:1]
        cache = Path(cfg.cache_dir) if cfg.cache_dir else None
        self.speech = AudioBank(train_files, sr, cache)
        self.noise = AudioBank(list_audio(cfg.noise), sr, cache) if cfg.noise else None
        # Noise the model never trains on measures what users meet; the training noise only measures speech.
        held_out = cfg.val_noise and self.main and self.noise is not None  # only rank 0 validates
        self.val_noise = AudioBank(list_audio(cfg.val_noise), sr, cache) if held_out else self.noise
        if self.main:
            log.info("speech: %d files, %.1f min; noise: %s; validation: %d files", len(self.speech.arrays),
                     self.speech.seconds / 60,
                     f"{len(self.noise.arrays)} files, {self.noise.seconds / 60:.1f} min" if self.noise else "none",
                     len(self.val_files))

    def batch(self):
        cfg = self.cfg
        length = int(cfg.segment_seconds * cfg.stft.sample_rate)
        clean = torch.from_numpy(self.speech.segments(cfg.batch_size, length, self.rng)).to(self.device)
        noise = None
        if self.noise is not None:
            noise = torch.from_numpy(self.noise.segments(cfg.batch_size, length, self.rng, weighted=False))
            noise = noise.to(self.device)
        return clean, noise

    # -- one step -----------------------------------------------------------------------------------------
    def loss(self, clean: torch.Tensor, noise: torch.Tensor | None):
        cfg, d = self.cfg, self.denoiser
        n_frames = d.stft.frames_for(clean.shape[-1])
        if cfg.variant == "plain":
            noisy, target, feature_mask = clean, clean, None
        else:
            noisy, target, feature_mask = self.corruptor(clean, noise, n_frames)
        noisy_spec, clean_spec = d.stft(noisy), d.stft(target)
        features = d.features(noisy_spec)  # the same three steps as Denoiser.enhance_spec, spelled out
        if feature_mask is not None:
            features = features * feature_mask
        if cfg.variant == "contractive":
            features.requires_grad_(True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            mask, code = self.model(features, return_code=True)
        enhanced = d.apply_mask(noisy_spec, mask.float())
        loss = spectral_loss(enhanced, clean_spec, cfg.stft.compress, cfg.complex_weight, cfg.speech_weight)
        parts = {"spectral": loss.item()}
        if cfg.sisdr_weight or cfg.stoi_weight:
            wave = d.stft.inverse(enhanced, clean.shape[-1])
        if cfg.sisdr_weight:
            term = -si_sdr(wave, target).mean() / 100
            loss = loss + cfg.sisdr_weight * term
            parts["sisdr"] = term.item()
        if cfg.stoi_weight:
            term = self.stoi_loss(wave, target).mean()
            loss = loss + cfg.stoi_weight * term
            parts["stoi"] = term.item()
        if cfg.variant == "sparse":
            term = code.float().abs().mean()
            loss = loss + cfg.sparse_weight * term
            parts["sparse"] = term.item()
        if cfg.variant == "contractive":
            loss = loss + cfg.contractive_weight * contractive_penalty(code.float(), features, self.gen)
        return loss, parts

    def train_step(self):
        self.denoiser.train()
        clean, noise = self.batch()
        loss, parts = self.loss(clean, noise)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()  # under DDP this also averages the gradients across processes
        norm = torch.nn.utils.clip_grad_norm_(self.denoiser.parameters(), self.cfg.grad_clip)
        lr = self.lr()
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.step()
        if self.ema is not None:
            self.ema.update_parameters(self.denoiser)  # the first update copies the weights
        self.step += 1
        return loss.item(), float(norm), dict(parts, lr=lr)

    # -- validation -----------------------------------------------------------------------------------------
    def make_val_set(self):
        cfg = self.cfg
        items = []
        if self.noise is not None and self.main:  # only rank 0 validates
            files = self.val_files[: max(1, cfg.val_items // 3)]
            items = list(noisy_pairs(files, self.val_noise, (0, 5, 10), cfg.seed, cfg.stft.sample_rate, 6.0))
        self.val_set = items[: cfg.val_items]
        if self.main and self.val_set:
            noisy = np.mean([si_sdr(item["noisy"], item["clean"]) for item in self.val_set])
            log.info("validation set: %d mixtures at 0/5/10 dB with %s noise, noisy input SI-SDR %.2f dB",
                     len(self.val_set), "held-out" if cfg.val_noise else "training", noisy)

    @property
    def shipped(self) -> Denoiser:
        """The weights that validation scores and checkpoints carry: the moving average when there is one."""
        return self.ema.module if self.ema is not None else self.denoiser

    @torch.no_grad()
    def validate(self) -> dict:
        denoiser = self.shipped.eval()
        rows = []
        for i, item in enumerate(self.val_set):
            noisy = torch.from_numpy(item["noisy"])[None].to(self.device)
            est = denoiser(noisy)[0].cpu().numpy()
            rows.append(score(est, item["clean"], self.cfg.stft.sample_rate, with_pesq=i < self.cfg.val_pesq_items))
        keys = {k for r in rows for k in r}
        return {k: float(np.nanmean([r[k] for r in rows if k in r])) for k in keys}

    # -- checkpoints ----------------------------------------------------------------------------------------
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
        for key, cls, now in (("stft", STFTConfig, self.denoiser.stft.cfg), ("model", ModelConfig, self.denoiser.model.cfg)):
            if cls(**payload[key]) != now:
                return f"{path}: was trained with another {key} config"
        return None

    def init_weights(self, source: str):
        """Fine-tuning starts from another run's weights with a fresh optimizer, schedule and step count."""
        path = checkpoint_path(source)
        payload = read_checkpoint(path)
        problem = self.check_same_shape(payload, path)
        if problem:
            raise SpeechDAEError(f"{problem}; fine-tuning needs the same model and STFT settings")
        self.denoiser.load_state_dict(payload["weights"])
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

    # -- the loop --------------------------------------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        self.load_data()
        self.make_val_set()
        if not self.try_resume() and cfg.init_from:  # a resumed fine-tune keeps its own progress
            self.init_weights(cfg.init_from)
        logger = CsvLog(self.out / "log.csv", self.step) if self.main else None
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=self.step, disable=not self.main, dynamic_ncols=True,
                   mininterval=1 if sys.stderr.isatty() else 60)
        metrics = {}
        while self.step < cfg.steps:
            t0 = time.time()
            loss, norm, parts = self.train_step()
            self.elapsed += time.time() - t0
            if self.distributed and cfg.time_limit_minutes:  # ranks must agree on the lr and on when to stop
                t = torch.tensor([self.elapsed], dtype=torch.float64)
                dist.all_reduce(t, op=dist.ReduceOp.MAX)
                self.elapsed = t.item()
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
            row = {"step": self.step, "loss": loss, "grad_norm": norm, **parts}
            timed_out = bool(cfg.time_limit_minutes) and self.elapsed > 60 * cfg.time_limit_minutes
            if self.step % cfg.val_every == 0 or self.step == cfg.steps or timed_out:
                if self.main and self.val_set:
                    metrics = self.validate()
                    row.update({f"val_{k}": v for k, v in metrics.items()})
                    log.info("step %d validation %s", self.step, {k: round(v, 3) for k, v in metrics.items()})
                    if metrics[cfg.select_on] > self.best:
                        self.best = metrics[cfg.select_on]
                        self.save("best.pt", metrics)
            if self.main:
                logger.write(row)
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps or timed_out:
                self.save("last.pt", metrics, logger)
            if timed_out:
                log.info("time limit reached at step %d", self.step)
                break
        bar.close()
        if self.main:
            logger.flush()
            if not (self.out / "best.pt").exists():  # no validation set (no noise given): the last is the best
                self.save("best.pt", metrics)
            self.plot_curves()
        if self.distributed:
            dist.barrier()
            dist.destroy_process_group()
        return metrics


    def plot_curves(self):
        try:
            from .plot import plot_training

            plot_training(self.out / "log.csv", self.out / "training.png")
        except (SpeechDAEError, ImportError) as e:  # matplotlib is an optional extra
            log.warning("no training plot: %s", e)


def contractive_penalty(code: torch.Tensor, features: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """||J||_F^2 of the encoder, estimated by one random projection: E_v ||J^T v||^2 = ||J||_F^2."""
    v = torch.randn(code.shape, generator=gen, device=code.device)
    (jtv,) = torch.autograd.grad(code, features, grad_outputs=v, create_graph=True)
    return jtv.pow(2).sum() / code.shape[0] / code.shape[-1]


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


def config_dict(cfg: TrainConfig) -> dict:
    d = dataclasses.asdict(cfg)
    for key in PATH_LISTS:
        d[key] = [str(p) for p in getattr(cfg, key)]
    return d


def main(cfg: TrainConfig, argv=None):
    """Run a recipe, with command-line overrides of the common settings."""
    p = argparse.ArgumentParser(description="Train a speechdae denoiser (resumes from OUT/last.pt).")
    p.add_argument("--out", default=cfg.out)
    p.add_argument("--steps", type=int, default=cfg.steps)
    p.add_argument("--batch-size", type=int, default=cfg.batch_size)
    p.add_argument("--device", default=cfg.device)
    p.add_argument("--speech", nargs="+", default=cfg.speech)
    p.add_argument("--noise", nargs="+", default=cfg.noise)
    p.add_argument("--val-noise", nargs="+", default=cfg.val_noise, help="noise for validation only")
    p.add_argument("--variant", default=cfg.variant, choices=VARIANTS)
    p.add_argument("--time-limit", type=float, default=cfg.time_limit_minutes, help="minutes")
    p.add_argument("--seed", type=int, default=cfg.seed)
    p.add_argument("--init-from", default=cfg.init_from, metavar="CHECKPOINT",
                   help='fine-tune: start from these weights ("default": the bundled model)')
    a = p.parse_args(argv)
    cfg = dataclasses.replace(cfg, out=a.out, steps=a.steps, batch_size=a.batch_size, device=a.device,
                              speech=a.speech, noise=a.noise, val_noise=a.val_noise, variant=a.variant,
                              time_limit_minutes=a.time_limit, seed=a.seed, init_from=a.init_from)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    metrics = Trainer(cfg).run()
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"done: {cfg.out}/best.pt {metrics}")
    return metrics
