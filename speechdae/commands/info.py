"""`speechdae info`: what a checkpoint is, in a dozen lines (`--json`: everything, as JSON)."""
from __future__ import annotations

import json

from .options import load_for, model_options

HELP = "describe a checkpoint (--json: every detail)"


def add_arguments(parser):
    parser.description = "Describe a checkpoint: network, STFT and latency, training, lineage and scores."
    parser.epilog = "examples:\n  speechdae info\n  speechdae info --model runs/quick/best.pt --json > info.json"
    parser.add_argument("--json", action="store_true", help="print every detail as JSON (paths, full lineage)")
    model_options(parser, device=False, threads=False)


def _recipe(train: dict | None) -> dict:
    keys = ("steps", "variant", "speech", "noise", "lr", "speech_weight", "sisdr_weight", "init_from")
    return {k: v for k, v in (train or {}).items() if k in keys}


def details(model) -> dict:
    cfg = model.stft.cfg
    return {
        "parameters": model.n_params(),
        "sample_rate": cfg.sample_rate,
        "n_fft": cfg.n_fft,
        "hop": cfg.hop,
        "stft": model.stft.describe(),  # the DSP contract, as exported models carry it
        "latency_ms": 1000 * cfg.latency_samples / cfg.sample_rate,
        "receptive_field_ms": 1000 * model.model.receptive_field * cfg.hop / cfg.sample_rate,
        "model": vars(model.model.cfg) if hasattr(model.model.cfg, "__dict__") else str(model.model.cfg),
        "version": model.info.get("version"),
        "metrics": model.info.get("metrics"),
        "recipe": _recipe(model.info.get("train")),
        "fine_tuned_from": [dict(_recipe(h.get("train")), steps_run=h.get("steps"))
                            for h in model.info.get("history") or []],
    }


def _scores(m: dict) -> str:
    parts = [f"{label} {m[k]:.{digits}f}" for k, label, digits in
             (("pesq", "PESQ", 3), ("stoi", "STOI", 3), ("si_sdr", "SI-SDR", 2)) if isinstance(m.get(k), float)]
    return (", ".join(parts) + (" dB" if "si_sdr" in m else "")) or "n/a"


def summary(model, name: str) -> str:
    d = details(model)
    net, train = d["model"], model.info.get("train") or {}
    lines = [f"model       {name} (speechdae {d['version'] or '?'})"]
    if isinstance(net, dict):
        bands = f" ({net['bands']} bands above bin {net.get('low_bins')})" if net.get("bands") else ""
        lines.append(f"network     {d['parameters'] / 1e6:.2f} M parameters: {net.get('n_bins')} bins{bands} -> "
                     f"{net.get('hidden')} -> code {net.get('code')}, dilations {tuple(net.get('dilations', ()))}")
    synthesis = d["stft"].get("synthesis_len", d["n_fft"]) if isinstance(d["stft"], dict) else d["n_fft"]
    window = f"{d['n_fft']}" + (f" (synthesis {synthesis})" if synthesis != d["n_fft"] else "")
    lines.append(f"audio       {d['sample_rate']} Hz; STFT window {window}, hop {d['hop']}; "
                 f"latency {d['latency_ms']:.1f} ms; context {d['receptive_field_ms'] / 1000:.2f} s")
    if train:
        limit = f", {train['time_limit_minutes']} min limit" if train.get("time_limit_minutes") else ""
        lines.append(f"training    variant {train.get('variant', '?')}, lr {train.get('lr', '?')}, "
                     f"batch {train.get('batch_size', '?')}{limit}"
                     + (f", from {train['init_from']}" if train.get("init_from") else ""))
    lines.append(f"lineage     {len(d['fine_tuned_from']) + 1} training stage(s)")
    metrics = d["metrics"] or {}
    if any(k in metrics for k in ("pesq", "stoi", "si_sdr")):
        step = f" (step {metrics['validation_step']})" if "validation_step" in metrics else ""
        lines.append(f"validation  {_scores(metrics)}{step}")
    if blend := metrics.get("blend"):
        lines.append(f"blend       {blend['start']} x{1 - blend['alpha']:g} + {blend['tuned']} x{blend['alpha']:g}")
    dev = {r.get("system"): r for r in metrics.get("dev") or [] if r.get("snr") == "all"}
    if "noisy" in dev and len(dev) > 1:
        ours = next(r for s, r in dev.items() if s != "noisy")
        lines.append(f"dev set     noisy {_scores(dev['noisy'])} -> denoised {_scores(ours)} "
                     f"({ours.get('n', '?')} items)")
    lines.append("more        speechdae info --json")
    return "\n".join(lines)


def run(args) -> int:
    model = load_for(args)
    if args.json:
        print(json.dumps(details(model), indent=1, default=str))
    else:
        print(summary(model, args.model or "bundled default"))
    return 0
