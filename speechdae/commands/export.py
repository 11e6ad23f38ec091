"""`speechdae export`: the network as ONNX or TorchScript; what the files hold is in speechdae/export.py."""
from __future__ import annotations

from pathlib import Path

from ..errors import SpeechDAEError
from .options import load_quietly, model_options

HELP = "export the model to ONNX or TorchScript"


def add_arguments(parser):
    parser.description = "Export the denoiser network to ONNX or TorchScript (see speechdae/export.py for its use)."
    parser.add_argument("--format", help="onnx or torchscript (default: from the output suffix, .onnx, .pt/.ts)")
    parser.add_argument("-o", "--output", required=True, help="output file; metadata also goes to OUTPUT.json")
    parser.add_argument("--streaming", action="store_true",
                        help="export one stream step: (features, state_in_*) -> (mask, state_out_*)")
    parser.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check of an ONNX export")
    model_options(parser, device=False, threads=False)  # traced on the CPU; the file runs anywhere


def run(args) -> int:
    from ..export import SUFFIXES, export, sidecar_path

    out = Path(args.output)
    fmt = args.format or SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise SpeechDAEError(f"{out}: cannot tell the format from '{out.suffix}'; give --format onnx or torchscript")
    denoiser = load_quietly(args.model)  # a TorchScript file is one line, not torch's warnings
    meta = export(denoiser, out, fmt, streaming=args.streaming, verify=not args.no_verify)
    mode = "streaming step" if args.streaming else "offline"
    print(f"exported {mode} {fmt} model -> {out} (metadata: {sidecar_path(out)})")
    if args.streaming:
        print(f"  {len(meta['states'])} state tensors: "
              + ", ".join(f"{s['input']}{tuple(s['shape'][1:])}" for s in meta["states"]))
    err = meta.get("verified_max_abs_diff")
    if err is not None:
        print(f"  onnxruntime matches torch: max |difference| {err:.2g}")
    elif fmt == "onnx" and not args.no_verify:
        print("  not checked: onnxruntime is not installed")
    return 0
