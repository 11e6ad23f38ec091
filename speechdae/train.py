"""Training: the denoising-autoencoder recipe loop (single process or torchrun/DDP).

Each step draws clean segments, corrupts them on the device (corrupt.py), runs the shared Denoiser
path, and scores the rebuilt spectrum against the *clean* one. `out/last.pt` is written atomically
every `checkpoint_every` steps with optimizer, RNG state and elapsed time; rerunning the same command resumes.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from . import distrib, precision
from .checkpoint import read_checkpoint
from .config import PATH_LISTS, SELECT_ON, VARIANTS, TrainConfig, apply_overrides, config_dict, config_from_dict
from .corrupt import Corruptor
from .data import AudioBank, is_validation, list_audio, noisy_pairs
from .denoiser import Denoiser
from .errors import SpeechDAEError
from .losses import Loss, pesq_loss, Target, contractive_penalty
from .metrics import score, si_sdr
from .resume import Resumable
from .threads import set_threads
from .trainlog import CsvLog, plot_curves

__all__ = ["TrainConfig", "Trainer", "main", "config_from_dict", "config_dict", "apply_overrides", "PATH_LISTS",
           "SELECT_ON", "VARIANTS"]

log = logging.getLogger("speechdae.train")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Trainer(Resumable):
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        set_threads(cfg.threads or None)  # torch's default thread count stalls on a busy machine: threads.py
        self.device, self.rank, self.world = distrib.init(pick_device(cfg.device))
        self.distributed, self.main = self.world > 1, self.rank == 0
        self.out = Path(cfg.out)
        torch.manual_seed(cfg.seed)
        model_cfg = dataclasses.replace(cfg.model, n_bins=cfg.stft.n_bins, hop=cfg.stft.hop)
        self.denoiser = Denoiser(cfg.stft, model_cfg).to(self.device)
        self.model = self.denoiser.model  # what the training forward goes through (DDP-wrapped if distributed)
        if self.distributed:
            self.model = distrib.wrap(self.model, self.device)
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
        self.pesq_loss = None
        if cfg.pesq_weight:
            self.pesq_loss = pesq_loss(cfg.stft.sample_rate).to(self.device)
        self.loss_fn = Loss(cfg, self.denoiser.stft, self.stoi_loss, self.pesq_loss)
        self.autocast = precision.autocast_dtype(cfg.amp, self.device)  # the model's forward only: see precision.py

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
        t = Target.make(d.stft(noisy), d.stft(target), target, cfg.stft.compress)
        features = d.features(t.noisy_spec, t.noisy_mag)  # from the magnitude computed once
        if feature_mask is not None:  # masking noise on the magnitudes; the deep filter's raw bins are the signal
            features = torch.cat([features[:, : feature_mask.shape[1]] * feature_mask,
                                  features[:, feature_mask.shape[1] :]], dim=1)
        if cfg.variant == "contractive":
            features.requires_grad_(True)
        with torch.autocast(self.device.type, dtype=self.autocast or torch.bfloat16, enabled=self.autocast is not None):
            mask, code = self.model(features, return_code=True)
        loss, parts = self.loss_fn(mask.float(), t)
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

    # -- the loop --------------------------------------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        if self.main:  # a kill during a checkpoint write leaves its temporary file (audio.atomic_path): clear those
            for stale in self.out.glob(".*.partial*"):
                stale.unlink(missing_ok=True)
            log.info("%s; %d torch thread(s) per process, %d process(es); model %s, %d parameters",
                     precision.describe(cfg.amp, self.device), torch.get_num_threads(), self.world,
                     self.device, self.denoiser.n_params())
        self.load_data()
        self.make_val_set()
        if not self.try_resume() and cfg.init_from:  # a resumed fine-tune keeps its own progress
            self.init_weights(cfg.init_from)
        logger = CsvLog(self.out / "log.csv", self.step) if self.main else None
        # A bar only on a terminal; into a log file, a line every 60 s instead (tqdm redraws per postfix otherwise).
        tty = sys.stderr.isatty()
        bar = progress_bar(cfg, self.step, self.elapsed, enabled=self.main and tty)
        last_line = time.time()
        metrics = {}
        limit = 60 * cfg.time_limit_minutes if cfg.time_limit_minutes else math.inf
        while self.step < cfg.steps and self.elapsed <= limit:  # a finished run, rerun, does no further step
            t0 = time.time()
            loss, norm, parts = self.train_step()
            self.elapsed += time.time() - t0
            if self.distributed and cfg.time_limit_minutes:  # ranks must agree on the lr and on when to stop
                self.elapsed = distrib.max_over_ranks(self.elapsed)
            bar.update(max(0.0, min(time.time() - t0, bar.total - bar.n)) if cfg.time_limit_minutes else 1)
            bar.set_postfix(step=self.step, loss=f"{loss:.4f}", refresh=False)
            if self.main and not tty and time.time() - last_line > 60:
                last_line = time.time()
                log.info("step %d loss %.4f, %.1f of %s training minutes", self.step, loss, self.elapsed / 60,
                         f"{cfg.time_limit_minutes:g}" if cfg.time_limit_minutes else "unlimited")
            row = {"step": self.step, "loss": loss, "grad_norm": norm, **parts}
            timed_out = self.elapsed > limit
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
            plot_curves(self.out)
        if self.distributed:
            distrib.finish()
        return metrics


def progress_bar(cfg: TrainConfig, step: int, elapsed: float, enabled: bool):
    """A run with a time limit ends on its clock, not at `steps` (recipes set steps=10**7), so its bar counts
    training seconds: its ETA is then the time left; a run without one counts steps."""
    from tqdm import tqdm

    if cfg.time_limit_minutes:
        total = 60.0 * cfg.time_limit_minutes
        return tqdm(total=total, initial=min(elapsed, total), unit="s", disable=not enabled, dynamic_ncols=True,
                    bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}")
    return tqdm(total=cfg.steps, initial=step, disable=not enabled, dynamic_ncols=True)


def usage(cfg: TrainConfig) -> str:
    lines = ["Train a speechdae denoiser (rerunning the same command resumes from OUT/last.pt).",
             "Every setting of the recipe can be changed as --key=value (lists: --speech DIR DIR ...);",
             "nested ones by a dotted path, e.g. --model.code=96 --corruption.p_babble=0.3.",
             "Settings and recipe values:"]
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            lines += [f"  --{f.name}.{k}={v}" for k, v in dataclasses.asdict(value).items()]
        else:
            lines.append(f"  --{f.name}={value}")
    return "\n".join(lines)


def main(cfg: TrainConfig, argv=None):
    """Run a recipe, with every setting overridable from the command line (`--key=value`)."""
    if argv is None:  # run as a recipe script: an error is one line and exit code 2, as `speechdae train` does it
        try:
            return main(cfg, sys.argv[1:])
        except SpeechDAEError as e:
            print(f"speechdae: error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
    if any(a in ("-h", "--help") for a in argv):
        print(usage(cfg))
        return {}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    cfg = apply_overrides(cfg, argv)
    metrics = Trainer(cfg).run()
    if int(os.environ.get("RANK", "0")) == 0:
        best = Path(cfg.out) / "best.pt"  # what best.pt holds, which may be an earlier validation than the last
        held = read_checkpoint(best)["metrics"] if best.exists() else metrics
        print(f"done: {best} {({k: round(v, 3) for k, v in held.items()})}")
    return metrics
