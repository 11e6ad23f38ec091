"""`speechdae denoise`: files, folders and globs, one after another here or spread over a Ray cluster."""
from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from ..errors import SpeechDAEError
from .options import atten_limit_option, load_for, model_options

HELP = "denoise audio files"
EXAMPLES = """examples:
  speechdae denoise talk.wav                       # -> talk.denoised.wav beside it
  speechdae denoise in.flac -o clean.flac
  speechdae denoise recordings/ --out-dir clean/ --skip-existing   # (resume) a batch
  speechdae denoise talk.wav --atten-limit 20 --plot               # keep some ambience; draw a PNG
An existing output file is replaced (atomically, when the new one is complete) and the command says so;
an input is never overwritten. Use --skip-existing to leave existing outputs alone."""


def add_arguments(parser: argparse.ArgumentParser):
    parser.description = "Denoise audio files (any format, rate, channels and length)."
    parser.epilog = EXAMPLES
    parser.add_argument("inputs", nargs="+", help="files, folders or quoted globs")
    g = parser.add_mutually_exclusive_group()
    g.add_argument("-o", "--output", help="output file (one input only; default: IN.denoised.EXT beside the input)")
    g.add_argument("--out-dir", help="folder for outputs; folder inputs keep their structure")
    atten_limit_option(parser)
    parser.add_argument("--skip-existing", action="store_true",
                        help="leave outputs that already exist (resume a batch)")
    parser.add_argument("--plot", action="store_true", help="also write a spectrogram PNG beside each output")
    parser.add_argument("--ray", nargs="?", const="auto", metavar="auto|ADDRESS",
                        help="spread the files over a Ray cluster (auto: join a running one or start a local one); "
                             "paths must be on a filesystem every node shares. Needs pip install 'speechdae[ray]'")
    parser.add_argument("--ray-workers", type=int, metavar="N", help="with --ray: N workers (default: one per CPU)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only errors (bars are drawn only on a terminal)")
    model_options(parser)


def _expand_inputs(inputs):
    """Files, folders (recursively; structure mirrored) and quoted globs -> [(file, root or None)]."""
    from ..data import list_audio

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
    from ..enhance import output_path_for

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


def run(args) -> int:
    from ..enhance import denoise_file

    todo, total = denoise_plan(args)
    if args.ray:
        from ..corpus_ray import denoise_on_ray

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
                from ..plot import plot_denoising

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
