"""`speechdae plot`: spectrograms of what the denoiser did, or a training log's curves (speechdae/plot.py)."""
from __future__ import annotations

from pathlib import Path

from ..errors import SpeechDAEError
from .options import atten_limit_option, load_for, model_options

HELP = "draw noisy/denoised(/clean) spectrograms to a PNG"


def add_arguments(parser):
    parser.description = ("Draw noisy/denoised(/clean) spectrograms and waveforms, or (given a training "
                          "log.csv) the loss and validation curves, to an image.")
    parser.add_argument("noisy", help="noisy audio file, or a training log.csv")
    parser.add_argument("denoised", nargs="?", help="denoised file (default: denoise NOISY with the model)")
    parser.add_argument("--clean", help="clean reference for the same utterance")
    parser.add_argument("-o", "--output", required=True, help="image file (.png; .svg and .pdf work too)")
    parser.add_argument("--dpi", type=int, default=110)
    atten_limit_option(parser)
    model_options(parser, model_help="checkpoint used when DENOISED is not given (default: bundled model)")


def run(args) -> int:
    from .. import plot

    out = Path(args.output)
    plot.image_format(out)  # before any work: a wrong suffix is one line now, not after denoising
    if Path(args.noisy).suffix.lower() == ".csv":
        if args.denoised or args.clean:
            raise SpeechDAEError("a training log is plotted alone: no DENOISED or --clean with log.csv")
        plot.plot_training(args.noisy, out, dpi=args.dpi)
    elif args.denoised:
        plot.plot_denoising(args.noisy, args.denoised, out, clean_path=args.clean, dpi=args.dpi)
    else:
        from ..audio import read_audio

        noisy, sr = read_audio(args.noisy, mono=True)
        signals = {"noisy": (noisy, Path(args.noisy).name)}
        model = load_for(args)
        denoised = model.denoise(noisy, sr, atten_limit_db=args.atten_limit)
        signals["denoised"] = (denoised, f"{Path(args.noisy).name} denoised by speechdae")
        if args.clean:
            signals["clean"] = (read_audio(args.clean, sr, mono=True)[0], Path(args.clean).name)
        plot.plot_signals(signals, sr, out, dpi=args.dpi)
    print(f"wrote {out}")
    return 0
