"""The `speechdae` subcommands, one module each, all of one shape: `HELP` (the line in `speechdae -h`),
`add_arguments(parser)` and `run(args) -> int`. cli.py adds every one to a single argparse parser, so each
command's -h, its option errors and its exit code 2 are argparse's, the same for all. Options several commands
take (--model, --device, --threads, --atten-limit) are declared once, in options.py.

These modules import only what declaring options needs, and cli.CommandParser declares a command's options
only when that command is used; the work (and torch, ~2 s) is imported inside run(), so that `speechdae -h`
and a mistyped option answer at once.
"""
# In the order `speechdae -h` lists them.
NAMES = ("demo", "denoise", "eval", "live", "devices", "info", "export", "plot", "train")
MODULES = {"eval": "evaluate"}  # module names that differ from the command's
