"""The `speechdae` command: one argparse parser over the subcommands in speechdae/commands/, and the one place
where a SpeechDAEError becomes `speechdae: error: ...` and exit code 2."""
from __future__ import annotations

import argparse
import logging
import sys

from .errors import SpeechDAEError

EXAMPLES = """examples:
  speechdae demo                                 # denoise the bundled sample, print its scores
  speechdae denoise talk.wav                     # -> talk.denoised.wav beside it
  speechdae denoise recordings/ --out-dir clean/ # a folder, structure mirrored
  speechdae eval --dnsmos recordings/            # scores without a clean reference
  speechdae live                                 # microphone -> speakers, denoised
  speechdae COMMAND -h                           # each command's options and examples"""


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser, whose options are declared when it is used (parsed or asked for -h) rather than
    when `speechdae` starts: declaring train's settings reads TrainConfig, whose modules import torch (~2 s),
    and `speechdae -h` or a mistyped option should answer at once."""

    declare = None  # the command's add_arguments, until it has run

    def _declared(self):
        declare, self.declare = self.declare, None
        if declare is not None:
            declare(self)

    def parse_known_args(self, args=None, namespace=None):
        self._declared()
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:  # said here, under this command's usage; argparse would print the top-level usage instead
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def format_usage(self):
        self._declared()
        return super().format_usage()

    def format_help(self):
        self._declared()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from . import __version__
    from .commands import MODULES, NAMES

    raw = argparse.RawDescriptionHelpFormatter  # keeps the examples' lines
    p = argparse.ArgumentParser(prog="speechdae", epilog=EXAMPLES, formatter_class=raw,
                                description="Speech denoising with a convolutional denoising autoencoder.")
    p.add_argument("--version", action="version", version=f"speechdae {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug messages (and PortAudio's own)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    for name in NAMES:
        command = importlib.import_module(f".commands.{MODULES.get(name, name)}", __package__)
        sp = sub.add_parser(name, help=command.HELP, formatter_class=raw)
        sp.declare = command.add_arguments
        sp.set_defaults(run=command.run)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s")
    try:
        return args.run(args)
    except SpeechDAEError as e:
        print(f"speechdae: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("speechdae: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
