"""The `speechdae` command. Each subcommand is a small function; heavy imports happen inside them."""
from __future__ import annotations

import argparse
import glob
import logging
import sys
from pathlib import Path

from .errors import SpeechDAEError

log = logging.getLogger("speechdae")


def _model(args):
    import torch

    from .checkpoint import load_model

    device = getattr(args, "device", "cpu")
    try:
        torch.device(device)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise SpeechDAEError(f"--device {device}: no CUDA device is available here")
    except RuntimeError as e:
        raise SpeechDAEError(f"--device {device}: {str(e).splitlines()[0]}") from None
    return load_model(args.model, device=device)


def _expand_inputs(inputs):
    """Files, folders (recursively; structure mirrored) and quoted globs -> [(file, root or None)]."""
    from .data import list_audio

    out = []
    for spec in inputs:
        p = Path(spec)
        if p.is_dir():
            files = [f for f in list_audio(p) if ".denoised." not in f.name]  # not our own earlier outputs
            if not files:
                raise SpeechDAEError(f"{p}: no audio files in this folder")
            out += [(f, p) for f in files]
        elif not p.exists() and glob.has_magic(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                raise SpeechDAEError(f"{spec}: no files match")
            out += [(Path(m), None) for m in matches]
        else:
            out.append((p, None))
    return out


def denoise_plan(args) -> tuple[list[tuple[Path, Path]], int]:
    """Which files, to which outputs: the (input, output) pairs still to do, and how many inputs in all.
    The one place both the single-process loop and `--ray` (corpus_ray.py) take their work from."""
    from .enhance import output_path_for

    jobs = _expand_inputs(args.inputs)
    if args.output and len(jobs) != 1:
        raise SpeechDAEError("-o/--output takes one input; use --out-dir for several")
    todo = []
    for src, root in jobs:
        if args.output:
            dst = Path(args.output)
        elif args.out_dir:
            dst = output_path_for(src, Path(args.out_dir), root)
        else:
            dst = src.with_name(f"{src.stem}.denoised{src.suffix}")
        if not (args.skip_existing and dst.exists()):
            todo.append((src, dst))
    return todo, len(jobs)


def batch_summary(total: int, done: int, failed: list[str], quiet: bool) -> int:
    """The end of a batch, whichever way it ran: the counts, each failure, and the exit code."""
    if total > 1 and not quiet:
        skipped = total - done - len(failed)
        print(f"denoised {done}, skipped existing {skipped}, failed {len(failed)} of {total} files")
    if failed:
        for reason in failed:
            print(f"failed: {reason}", file=sys.stderr)
        return 1
    return 0


def cmd_denoise(args) -> int:
    from .enhance import denoise_file

    todo, total = denoise_plan(args)
    if args.ray:
        from .corpus_ray import denoise_on_ray

        done, failed = denoise_on_ray(todo, args)
        if total == 1 and failed:  # one file: its error is the command's error, as without --ray
            raise SpeechDAEError(failed[0])
        return batch_summary(total, done, failed, args.quiet)
    model = _model(args)
    failed, done = [], 0
    for src, dst in todo:
        try:
            denoise_file(model, src, dst, atten_limit_db=args.atten_limit, progress=not args.quiet)
            if args.plot:
                from .plot import plot_denoising

                plot_denoising(src, dst, dst.with_suffix(".png"))
        except SpeechDAEError as e:
            if total == 1:
                raise
            log.warning("skipped: %s", e)
            failed.append(str(e))
            continue
        done += 1
        if not args.quiet:
            print(f"{src} -> {dst}")
    return batch_summary(total, done, failed, args.quiet)


def cmd_eval(args) -> int:
    from .evaluate import evaluate, generated_items, markdown_table, paired_items, save_results, summarize

    model = _model(args)
    sr = model.sample_rate
    if args.pairs:
        items = paired_items(args.pairs[0], args.pairs[1], sr, args.limit)
    elif args.clean and args.noise:
        items = generated_items(args.clean, args.noise, args.snr, args.seed, sr, args.limit, args.max_seconds)
    else:
        raise SpeechDAEError("give --pairs CLEAN_DIR NOISY_DIR, or --clean DIR and --noise DIR")
    rows = evaluate({"speechdae": lambda x, rate: model.denoise(x, rate, args.atten_limit)}, items, sr,
                    progress=not args.quiet)
    summary = summarize(rows)
    print(markdown_table(summary))
    save_results(rows, summary, args.json, args.csv)
    return 0


def cmd_demo(args) -> int:
    """The main job on bundled things: denoise the bundled noisy sample, score it against its clean source."""
    from importlib import resources

    from .audio import read_audio
    from .enhance import denoise_file
    from .evaluate import markdown_table, summarize
    from .metrics import score

    samples = Path(str(resources.files("speechdae") / "samples"))
    out = Path(args.out_dir)
    model = _model(args)
    noisy_path, clean_path, dst = samples / "noisy.flac", samples / "clean.flac", out / "denoised.wav"
    denoise_file(model, noisy_path, dst)
    clean, sr = read_audio(clean_path, mono=True)
    rows = [{"system": name, "snr": "all", **score(read_audio(p, sr, mono=True)[0], clean, sr)}
            for name, p in (("noisy", noisy_path), ("speechdae", dst))]
    print(f"denoised {noisy_path.name} -> {dst}")
    print(markdown_table(summarize(rows)))
    return 0


def _recipe_summary(train: dict | None) -> dict:
    keys = ("steps", "variant", "speech", "noise", "lr", "speech_weight", "sisdr_weight", "init_from")
    return {k: v for k, v in (train or {}).items() if k in keys}


def cmd_info(args) -> int:
    import json

    model = _model(args)
    cfg = model.stft.cfg
    print(json.dumps({
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
        "recipe": _recipe_summary(model.info.get("train")),
        "fine_tuned_from": [dict(_recipe_summary(h.get("train")), steps_run=h.get("steps"))
                            for h in model.info.get("history") or []],
    }, indent=1, default=str))
    return 0


def cmd_train(args) -> int:
    import json
    import runpy

    from .train import config_from_dict
    from .train import main as train_main

    recipe = Path(args.recipe)
    if not recipe.is_file():
        raise SpeechDAEError(f"{recipe}: no such recipe file")
    if recipe.suffix == ".json":  # a config as data, e.g. the "train" entry of a checkpoint
        try:
            config = config_from_dict(json.loads(recipe.read_text()))
        except (json.JSONDecodeError, TypeError, ValueError) as e:
            raise SpeechDAEError(f"{recipe}: not a valid training config ({str(e).splitlines()[0]})") from None
    else:
        try:
            config = runpy.run_path(str(recipe)).get("config")
        except TypeError as e:  # e.g. TrainConfig(stepz=...)
            raise SpeechDAEError(f"{recipe}: {e}") from None
        if config is None:
            raise SpeechDAEError(f"{recipe}: a recipe must define `config = TrainConfig(...)`")
    train_main(config, args.overrides)
    return 0


# Subcommands implemented in their own modules: name -> (module, help). Each module has
# add_arguments(parser) and run(args) -> int.
PLUGINS = {
    "live": ("speechdae.live", "denoise a microphone live, to speakers and/or a file"),
    "devices": ("speechdae.live", "list audio devices"),
    "export": ("speechdae.export", "export the model to ONNX or TorchScript"),
    "plot": ("speechdae.plot", "draw noisy/denoised(/clean) spectrograms to a PNG"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="speechdae",
                                description="Speech denoising with a convolutional denoising autoencoder.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    def model_arg(sp):
        sp.add_argument("--model", help="checkpoint (default: the bundled model)")

    d = sub.add_parser("denoise", help="denoise audio files")
    d.add_argument("inputs", nargs="+", help="files, folders or quoted globs")
    g = d.add_mutually_exclusive_group()
    g.add_argument("-o", "--output", help="output file (one input only)")
    g.add_argument("--out-dir", help="folder for outputs; folder inputs keep their structure")
    d.add_argument("--atten-limit", type=float, default=None, metavar="DB",
                   help="never attenuate by more than DB decibels (keeps some background)")
    d.add_argument("--skip-existing", action="store_true", help="leave outputs that already exist (resume a batch)")
    d.add_argument("--plot", action="store_true", help="also write a spectrogram PNG beside each output")
    d.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    d.add_argument("--ray", nargs="?", const="auto", metavar="auto|ADDRESS",
                   help="spread the files over a Ray cluster (auto: join a running one or start a local one); "
                        "paths must be on a filesystem every node shares. Needs pip install 'speechdae[ray]'")
    d.add_argument("--ray-workers", type=int, metavar="N", help="with --ray: N workers (default: one per CPU)")
    d.add_argument("-q", "--quiet", action="store_true")
    model_arg(d)
    d.set_defaults(func=cmd_denoise)

    e = sub.add_parser("eval", help="score denoising (PESQ, STOI, SI-SDR) against clean references")
    e.add_argument("--pairs", nargs=2, metavar=("CLEAN_DIR", "NOISY_DIR"))
    e.add_argument("--clean", nargs="+", help="clean speech folder(s) for a generated noisy set")
    e.add_argument("--noise", nargs="+", help="noise folder(s) for a generated noisy set")
    e.add_argument("--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0])
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--limit", type=int, help="at most this many clean files")
    e.add_argument("--max-seconds", type=float, help="cut clean files to this length")
    e.add_argument("--atten-limit", type=float, default=None, metavar="DB")
    e.add_argument("--json")
    e.add_argument("--csv")
    e.add_argument("-q", "--quiet", action="store_true")
    model_arg(e)
    e.set_defaults(func=cmd_eval)

    m = sub.add_parser("demo", help="denoise the bundled sample with the bundled model and print its scores")
    m.add_argument("--out-dir", default="speechdae-demo")
    model_arg(m)
    m.set_defaults(func=cmd_demo)

    i = sub.add_parser("info", help="describe a checkpoint")
    model_arg(i)
    i.set_defaults(func=cmd_info)

    t = sub.add_parser("train", help="train with a recipe (.py defining `config`) or a JSON config; resumes")
    t.add_argument("recipe")
    t.add_argument("overrides", nargs=argparse.REMAINDER, help="--out, --steps, --device, --speech, --noise ...")
    t.set_defaults(func=cmd_train)

    import importlib.util

    for name, (module, help_text) in PLUGINS.items():
        if importlib.util.find_spec(module) is None:
            continue
        sp = sub.add_parser(name, help=help_text, add_help=False)
        sp.set_defaults(plugin=(module, name))
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s")
    try:
        if getattr(args, "plugin", None):
            import importlib

            module_name, name = args.plugin
            module = importlib.import_module(module_name)
            sp = argparse.ArgumentParser(prog=f"speechdae {name}")
            module.add_arguments(sp, name)
            return module.run(sp.parse_args(rest), name)
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return args.func(args)
    except SpeechDAEError as e:
        print(f"speechdae: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("speechdae: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
