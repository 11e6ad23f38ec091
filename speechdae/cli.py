"""The `speechdae` command. Each subcommand is a small function; heavy imports happen inside them."""
from __future__ import annotations

import argparse
import glob
import logging
import sys
from pathlib import Path

from .errors import SpeechDAEError, first_line

log = logging.getLogger("speechdae")


def threads_from(args) -> int:
    """Set torch's CPU threads from --threads (None: speechdae.threads' default of one); returns the count."""
    from .threads import set_threads

    try:
        return set_threads(getattr(args, "threads", None))
    except ValueError as e:
        raise SpeechDAEError(f"--threads: {e}") from None


def load_for(args):
    """The model a command's --model and --device name, with --threads set first."""
    import torch

    threads_from(args)
    device = getattr(args, "device", "cpu")
    try:
        torch.device(device)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise SpeechDAEError(f"--device {device}: no CUDA device is available here")
    except RuntimeError as e:
        raise SpeechDAEError(f"--device {device}: {first_line(e)}") from None
    return load_quietly(args.model, device)


def load_quietly(path, device: str = "cpu"):
    """load_model, where a TorchScript file is one line saying so rather than torch's two warning lines."""
    import warnings

    from .checkpoint import load_model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = load_model(path, device=device)
        except SpeechDAEError:
            if any("TorchScript" in str(w.message) for w in caught):
                raise SpeechDAEError(f"{path}: a TorchScript export, not a speechdae checkpoint "
                                     "(give the .pt file that training wrote)") from None
            raise
    for w in caught:  # anything else is passed on as it was
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return model


def atten_limit_arg(text: str) -> float:
    """argparse type for --atten-limit: a positive number of dB (argparse names the flag in its error)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of dB, got {text!r}")
    return value


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
    from tqdm import tqdm

    model = load_for(args)
    failed, done = [], 0
    # N of M files, on a terminal only (disable=None); each file's own bar is drawn below it.
    files = tqdm(todo, desc="files", unit="file", disable=None if len(todo) > 1 and not args.quiet else True)
    for src, dst in files:
        replaced = dst.exists()  # said, not refused: the old file stays until the new one is complete
        try:
            denoise_file(model, src, dst, atten_limit_db=args.atten_limit, progress=not args.quiet)
            if args.plot:
                from .plot import plot_denoising

                plot_denoising(src, dst, dst.with_suffix(".png"))
        except SpeechDAEError as e:
            if total == 1:
                raise
            failed.append(str(e))  # printed once, by batch_summary
            continue
        done += 1
        if not args.quiet:
            notes = (["replaced the existing file"] if replaced else []) + \
                ([f"picture: {dst.with_suffix('.png')}"] if args.plot else [])
            tqdm.write(f"{src} -> {dst}" + (f" ({'; '.join(notes)})" if notes else ""))
    files.close()
    return batch_summary(total, done, failed, args.quiet)


def cmd_demo(args) -> int:
    """The main job on bundled things: denoise the bundled noisy sample, score it against its clean source."""
    from importlib import resources

    from .audio import read_audio
    from .enhance import denoise_file
    from .evaluate import markdown_table, summarize
    from .metrics import score

    samples = Path(str(resources.files("speechdae") / "samples"))
    out = Path(args.out_dir)
    model = load_for(args)
    noisy_path, clean_path, dst = samples / "noisy.flac", samples / "clean.flac", out / "denoised.wav"
    denoise_file(model, noisy_path, dst)
    clean, sr = read_audio(clean_path, mono=True)
    rows = [{"system": name, "snr": "all", **score(read_audio(p, sr, mono=True)[0], clean, sr)}
            for name, p in (("noisy", noisy_path), ("speechdae", dst))]
    print(f"denoised {noisy_path.name} -> {dst}")
    print(markdown_table(summarize(rows)))
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
            raise SpeechDAEError(f"{recipe}: not a valid training config ({first_line(e)})") from None
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
    "eval": ("speechdae.evaluate", "score denoising: PESQ/STOI/SI-SDR against references, DNSMOS without"),
    "info": ("speechdae.info", "describe a checkpoint (--json: every detail)"),
    "live": ("speechdae.live", "denoise a microphone live, to speakers and/or a file"),
    "devices": ("speechdae.live", "list audio devices"),
    "export": ("speechdae.export", "export the model to ONNX or TorchScript"),
    "plot": ("speechdae.plot", "draw noisy/denoised(/clean) spectrograms to a PNG"),
}


EXAMPLES = """examples:
  speechdae demo                                 # denoise the bundled sample, print its scores
  speechdae denoise talk.wav                     # -> talk.denoised.wav beside it
  speechdae denoise recordings/ --out-dir clean/ # a folder, structure mirrored
  speechdae eval --dnsmos recordings/            # scores without a clean reference
  speechdae live                                 # microphone -> speakers, denoised
  speechdae COMMAND -h                           # each command's options and examples"""

DENOISE_EXAMPLES = """examples:
  speechdae denoise talk.wav                       # -> talk.denoised.wav beside it
  speechdae denoise in.flac -o clean.flac
  speechdae denoise recordings/ --out-dir clean/ --skip-existing   # (resume) a batch
  speechdae denoise talk.wav --atten-limit 20 --plot               # keep some ambience; draw a PNG
An existing output file is replaced (atomically, when the new one is complete) and the command says so;
an input is never overwritten. Use --skip-existing to leave existing outputs alone."""


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    raw = argparse.RawDescriptionHelpFormatter  # keeps the examples' lines
    p = argparse.ArgumentParser(prog="speechdae", epilog=EXAMPLES, formatter_class=raw,
                                description="Speech denoising with a convolutional denoising autoencoder.")
    p.add_argument("--version", action="version", version=f"speechdae {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug messages (and PortAudio's own)")
    sub = p.add_subparsers(dest="command", required=True)

    def model_arg(sp):
        sp.add_argument("--model", help="checkpoint (default: the bundled model)")

    d = sub.add_parser("denoise", help="denoise audio files", epilog=DENOISE_EXAMPLES, formatter_class=raw,
                       description="Denoise audio files (any format, rate, channels and length).")
    d.add_argument("inputs", nargs="+", help="files, folders or quoted globs")
    g = d.add_mutually_exclusive_group()
    g.add_argument("-o", "--output",
                   help="output file (one input only; default: IN.denoised.EXT beside the input)")
    g.add_argument("--out-dir", help="folder for outputs; folder inputs keep their structure")
    d.add_argument("--atten-limit", type=atten_limit_arg, default=None, metavar="DB",
                   help="never attenuate by more than DB decibels (keeps some background)")
    d.add_argument("--skip-existing", action="store_true", help="leave outputs that already exist (resume a batch)")
    d.add_argument("--plot", action="store_true", help="also write a spectrogram PNG beside each output")
    d.add_argument("--device", default="cpu", help="cpu, cuda, ... (default cpu)")
    d.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default 1)")
    d.add_argument("--ray", nargs="?", const="auto", metavar="auto|ADDRESS",
                   help="spread the files over a Ray cluster (auto: join a running one or start a local one); "
                        "paths must be on a filesystem every node shares. Needs pip install 'speechdae[ray]'")
    d.add_argument("--ray-workers", type=int, metavar="N", help="with --ray: N workers (default: one per CPU)")
    d.add_argument("-q", "--quiet", action="store_true", help="print only errors (bars are drawn only on a terminal)")
    model_arg(d)
    d.set_defaults(func=cmd_denoise)

    m = sub.add_parser("demo", help="denoise the bundled sample with the bundled model and print its scores")
    m.add_argument("--out-dir", default="speechdae-demo", help="where denoised.wav goes (default speechdae-demo)")
    model_arg(m)
    m.set_defaults(func=cmd_demo)

    t = sub.add_parser("train", help="train with a recipe (.py defining `config`) or a JSON config; resumes")
    t.add_argument("recipe", help="a recipe .py (e.g. recipes/quick.py) or a JSON training config")
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
            sp = argparse.ArgumentParser(prog=f"speechdae {name}", formatter_class=argparse.RawDescriptionHelpFormatter)
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
