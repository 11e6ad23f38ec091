"""`speechdae demo`: the main job on bundled things: denoise the bundled noisy sample, score it against its
clean source."""
from __future__ import annotations

from pathlib import Path

from .options import load_for, model_options

HELP = "denoise the bundled sample with the bundled model and print its scores"


def add_arguments(parser):
    parser.description = ("Denoise the bundled noisy sample and print PESQ, STOI and SI-SDR before and after, "
                          "against its clean source.")
    parser.add_argument("--out-dir", default="speechdae-demo", help="where denoised.wav goes (default speechdae-demo)")
    model_options(parser)


def run(args) -> int:
    from importlib import resources

    from ..audio import read_audio
    from ..enhance import denoise_file
    from ..evaluate import markdown_table, summarize
    from ..metrics import score

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
