"""`speechdae eval`: PESQ, STOI and SI-SDR against clean references (a generated noisy set or existing pairs),
and/or DNSMOS, which needs none. The scoring itself is speechdae/evaluate.py's."""
from __future__ import annotations

from ..errors import SpeechDAEError
from .options import atten_limit_option, load_for, model_options, threads_from

HELP = "score denoising: PESQ/STOI/SI-SDR against references, DNSMOS without"
EXAMPLES = """examples:
  speechdae eval --clean speech/ --noise noise/ --snr 0 5 10 --seed 0 --json results.json
  speechdae eval --pairs clean_dir/ noisy_dir/           # pairs matched by relative path
  speechdae eval --dnsmos recordings/ talk.wav           # real recordings, no reference: DNSMOS before/after
  speechdae eval --clean speech/ --noise noise/ --dnsmos # PESQ/STOI/SI-SDR plus DNSMOS SIG/BAK/OVRL"""


def add_arguments(parser):
    parser.description = ("Score the denoiser: PESQ, STOI and SI-SDR against clean references (a generated\n"
                          "noisy set or existing pairs), and/or DNSMOS (SIG, BAK, OVRL), which needs none.")
    parser.epilog = EXAMPLES
    add = parser.add_argument
    add("--clean", nargs="+", metavar="DIR", help="clean speech folder(s) (or manifests) to mix a noisy set from")
    add("--noise", nargs="+", metavar="DIR", help="noise folder(s) (or manifests) for that noisy set")
    add("--snr", type=float, nargs="+", default=[0.0, 5.0, 10.0], metavar="DB",
        help="SNRs to mix each clean file at (default: 0 5 10)")
    add("--seed", type=int, default=0, help="seed for the noise choice and placement (default 0)")
    add("--max-seconds", type=float, metavar="S", help="cut clean files to this length")
    add("--pairs", nargs=2, metavar=("CLEAN_DIR", "NOISY_DIR"),
        help="score existing noisy files against clean ones with the same relative path")
    add("--dnsmos", nargs="*", metavar="PATH",
        help="with files/folders: score those recordings (no reference) before and after denoising; "
             "alone: add DNSMOS SIG/BAK/OVRL columns to --clean/--noise or --pairs. "
             "Needs pip install 'speechdae[dnsmos]'")
    add("--limit", type=int, metavar="N", help="at most N clean files (--pairs, --dnsmos PATH: N noisy files)")
    atten_limit_option(parser)
    add("--json", metavar="FILE", help="write the summary and every item's scores here")
    add("--csv", metavar="FILE", help="write every item's scores here")
    add("-q", "--quiet", action="store_true", help="no progress bar (none is drawn into pipes anyway)")
    model_options(parser, threads_help="CPU threads for the model and DNSMOS (default 1)")


def run(args) -> int:
    import functools

    from .. import evaluate as ev

    threads = threads_from(args)
    extra = None
    if args.dnsmos is not None:
        from ..dnsmos import dnsmos, scorer

        scorer(threads)  # now, so that a missing extra is one line before any work, not after the first item
        extra = functools.partial(dnsmos, threads=threads)
    if args.dnsmos and (args.pairs or args.clean or args.noise):
        raise SpeechDAEError("--dnsmos PATH... scores recordings that have no reference; "
                             "give --dnsmos without paths to add its columns to --clean/--noise or --pairs")
    model = load_for(args)
    sr = model.sample_rate
    if args.dnsmos:
        items = ev.recording_items(args.dnsmos, sr, args.limit)
    elif args.pairs:
        items = ev.paired_items(args.pairs[0], args.pairs[1], sr, args.limit)
    elif args.clean and args.noise:
        items = ev.generated_items(args.clean, args.noise, args.snr, args.seed, sr, args.limit, args.max_seconds)
    else:
        raise SpeechDAEError("give --clean DIR and --noise DIR, --pairs CLEAN_DIR NOISY_DIR, or --dnsmos PATH...")
    rows = ev.evaluate({"speechdae": lambda x, rate: model.denoise(x, rate, args.atten_limit)}, items, sr,
                       progress=not args.quiet, extra=extra)
    summary = ev.summarize(rows)
    print(ev.markdown_table(summary))
    ev.save_results(rows, summary, args.json, args.csv)
    return 0
