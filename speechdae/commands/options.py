"""Options that several commands share, declared once: the model a command runs (--model, --device, --threads)
and --atten-limit; and loading that model as those options say."""
from __future__ import annotations

import argparse
import math

from ..errors import SpeechDAEError, first_line


def model_options(parser: argparse.ArgumentParser, device: bool = True, threads: bool = True,
                  model_help: str = "checkpoint (default: the bundled model)",
                  threads_help: str = "CPU threads for torch (default 1)"):
    """--model, and (where the command can use them) --device and --threads."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", help=model_help)
    if device:
        group.add_argument("--device", default="cpu", help="cpu, cuda, ... (default cpu)")
    if threads:
        group.add_argument("--threads", type=int, metavar="N", help=threads_help)


def positive(kind, what: str):
    """An argparse type: a finite number above zero of `kind`, else argparse's one line naming the flag."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:  # nan and inf would fail later, as tracebacks
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


def atten_limit_option(parser: argparse.ArgumentParser):
    parser.add_argument("--atten-limit", type=positive(float, "a positive number of dB"), default=None, metavar="DB",
                        help="never attenuate by more than DB decibels (keeps some background)")


def threads_from(args) -> int:
    """Set torch's CPU threads from --threads (None: speechdae.threads' default of one); returns the count."""
    from ..threads import set_threads

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

    from ..checkpoint import load_model

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
