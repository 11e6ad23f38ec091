"""`speechdae export`: the model core as ONNX or TorchScript, for programs that do not run Python.

    speechdae export --format onnx -o denoiser.onnx                   # offline: a whole utterance at once
    speechdae export --format onnx -o denoiser-stream.onnx --streaming  # one step of a stream, state in/out
    speechdae export --format torchscript -o denoiser.ts [--model CKPT] [--streaming]

Only the network is exported; the STFT, the feature compression and the inverse STFT are simple enough to
write in any language and are specified exactly below. Every number comes from the file's own metadata
(`spectral.STFT.describe`): N = n_fft, H = hop, M = synthesis_len, P = pad_left = N - H, K = n_bins = N/2 + 1,
and the two windows `analysis_window` and `synthesis_window` (N numbers each; the synthesis window is zero
before N - M). v1-v10 (N = M = 320, H = 160): both windows are sqrt(hann_periodic(320)). speechdae 2
(N = 512, M = 320, H = 160): a 32 ms analysis window and a 20 ms synthesis window (`window_formula`).

Analysis (mono float32 samples x[0..N) at `sample_rate`)
    xp      = P zeros, then x, then zeros up to (T-1)*H + N samples, T = ceil((len(x) + M - H) / H) frames
    X[k, m] = rfft(analysis_window * xp[m*H : m*H + N])[k], k = 0..K-1   (numpy.fft.rfft, unscaled)

Model input and output
    features[0, k, m] = (|X[k, m]| + 1e-8) ** 0.3      float32, shape (1, K, T): bins, then frames
    mask = model(features)                             float32, shape (1, K, T), values in (0, 1)
    Optional attenuation limit of D dB (as `denoise --atten-limit`): mask = max(mask, 10 ** (-D / 20)).
With a deep filter (metadata `model.df_order` > 0, L = `model.low_bins`), the model also takes the raw spectrum
of the lowest L bins and gives a complex gain there (speechdae/deepfilter.py):
    features = concat(the K rows above, Re X[0..L), Im X[0..L)) shape (1, K + 2L, T)
    mask     = model(features)                            shape (1, K + L, T)
    gain[k]  = mask[k] + 1j * mask[K + k] for k < L, else mask[k]    (complex, K rows; may exceed 1)
    Attenuation limit: where |gain| < 10 ** (-D / 20), gain = 10 ** (-D / 20) * gain / |gain| (1 where gain = 0).

Synthesis
    Y = X * mask      the mask (or gain) multiplies the complex spectrum; with a real mask the noisy phase is kept
    y_m = irfft(Y[:, m], N) * synthesis_window
    overlap-add y_m at offset m*H; denoised sample i = ola[P + i], i = 0..len(x)-1 (drop the padding again).

Streaming (`--streaming`): the step model has inputs `features` (1, K, k) (K + 2L with a deep filter) for
any k >= 1 new frames and `state_in_0..S-1`, and outputs `mask` (1, K, k) (K + L) and `state_out_0..S-1`,
each state_out_i of the same shape as state_in_i (batch, context, channels): the past input frames of one
causal convolution (or of the deep filter's raw bins). Start a stream with all states zero (exactly the
offline convention that the past is silence) and feed each call's state_out_i back as the next call's
state_in_i. The masks then equal the offline model's on the concatenated features,
however the frames are grouped. On the audio side keep a buffer that starts with P zeros: whenever it holds
N samples, that is a frame (analyse it, drop the oldest H); after the model, take y_m's last M samples, add
their first M - H to the overlap tail kept from frame m-1 and output the first H of the sum, keeping the rest as
the new tail; the first M - H samples output are the padding (drop them). Latency: M samples (20 ms) plus the
chunking. The batch axis is dynamic in every input (one row per channel).

Metadata: an ONNX file has the checkpoint's settings in its metadata_props (sample_rate, n_fft, hop,
synthesis_len, pad_left, n_bins, compress, compress_floor, window, window_formula, analysis_window,
synthesis_window, synthesis_scale (symmetric windows only), inputs, outputs, states, opset,
speechdae_version, checkpoint_version, model, metrics ...;
`states` is a JSON list of {input, output, layer, shape}), a TorchScript file has the same as JSON in its
extra file `speechdae.json`, and both get a sidecar `<output>.json` with it (for runtimes such as
onnxruntime-web that do not expose model metadata). Files are written atomically.

ONNX export uses the torch.export-based exporter (`dynamo=True`, needs onnx and onnxscript); the exported
file is checked against torch with onnxruntime when that is installed. TorchScript uses torch.jit.trace.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import SpeechDAEError, first_line
from .model import DenoisingAutoencoder, StreamingStep, initial_states, state_layers

FORMATS = ("onnx", "torchscript")
SUFFIXES = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript", ".torchscript": "torchscript"}
METADATA_FORMAT = "speechdae-export/1"
INSTALL_HINT = "pip install 'speechdae[export]' (onnx, onnxscript, onnxruntime)"


def state_layout(model: DenoisingAutoencoder) -> list[dict]:
    """The streaming state tensors in call order (model.state_layers, named for the exported graph):
    [{input, output, layer, shape: [batch, context, channels]}]."""
    return [{"input": f"state_in_{i}", "output": f"state_out_{i}", "layer": layer,
             "shape": ["batch", context, channels]} for i, (layer, context, channels) in enumerate(state_layers(model))]


def _dtype(model: nn.Module):
    return next(model.parameters()).dtype


def metadata(denoiser, streaming: bool, layout: list[dict] | None = None) -> dict:
    """Everything another program needs to drive the exported network (JSON-serialisable)."""
    from . import __version__

    info = getattr(denoiser, "info", {}) or {}
    inputs = ["features"] + [s["input"] for s in layout or []]
    outputs = ["mask"] + [s["output"] for s in layout or []]
    return {
        "format": METADATA_FORMAT,
        "mode": "streaming" if streaming else "offline",
        "speechdae_version": __version__,
        "checkpoint_version": info.get("version"),
        **denoiser.stft.describe(with_windows=True),  # the STFT's own account of its windows, padding and floor
        "synthesis_scale": denoiser.stft.synthesis_scale,  # symmetric windows: synthesis window = window * this
        "mask_applies_to": "complex_spectrum",
        "receptive_field_frames": denoiser.model.receptive_field,
        "inputs": inputs,
        "outputs": outputs,
        "states": layout or [],
        "model": dataclasses.asdict(denoiser.model.cfg),
        "n_params": denoiser.n_params(),
        "metrics": info.get("metrics") or {},
    }


def _flat(meta: dict) -> dict[str, str]:
    """ONNX metadata_props are strings: scalars as text, lists and dicts as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}


@contextlib.contextmanager
def _quiet_export():
    """Exporters log their optimisation passes and warn about deprecations (torch.jit) and missing
    torchvision ops; none of it concerns this model, and real failures still raise."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _example(denoiser, streaming: bool, frames: int = 5):
    model = denoiser.model.eval()
    dtype = _dtype(model)
    features = torch.rand(1, model.cfg.n_inputs, frames, dtype=dtype)
    if not streaming:
        return model, (features,), None
    return StreamingStep(model).eval(), (features, *initial_states(model, 1, features)), state_layout(model)


def onnx_model(denoiser, streaming: bool = False):
    """-> (onnx.ModelProto with metadata, metadata dict)."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise SpeechDAEError(f"ONNX export needs the '{e.name}' package: {INSTALL_HINT}") from None
    module, args, layout = _example(denoiser, streaming)
    batch = torch.export.Dim("batch", min=1, max=4096)
    frames = torch.export.Dim("frames", min=1)
    if streaming:
        dynamic = ({0: batch, 2: frames}, tuple({0: batch} for _ in layout))
    else:
        dynamic = ({0: batch, 2: frames},)
    meta = metadata(denoiser, streaming, layout)
    try:
        with _quiet_export(), torch.no_grad():
            program = torch.onnx.export(module, args, dynamo=True, dynamic_shapes=dynamic, verbose=False,
                                        input_names=meta["inputs"], output_names=meta["outputs"])
    except Exception as e:  # the exporter raises many types; users need one line
        raise SpeechDAEError(f"ONNX export failed ({type(e).__name__}: {first_line(e)})") from None
    proto = program.model_proto
    proto.doc_string = "speechdae denoiser mask network; see the metadata and speechdae/export.py for use"
    meta["opset"] = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    del proto.metadata_props[:]
    for k, v in _flat(meta).items():
        proto.metadata_props.add(key=k, value=v)
    return proto, meta


def torchscript_model(denoiser, streaming: bool = False):
    """-> (traced torch.jit.ScriptModule, metadata dict)."""
    module, args, layout = _example(denoiser, streaming)
    with _quiet_export(), torch.no_grad():
        traced = torch.jit.trace(module, args)
    return traced, metadata(denoiser, streaming, layout)


def verify_onnx(proto, denoiser, streaming: bool, frames: int = 37, seed: int = 0) -> float | None:
    """Max |onnxruntime - torch| on random features (fed in uneven groups when streaming); None without ORT."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    import numpy as np

    gen = torch.Generator().manual_seed(seed)
    model = denoiser.model.eval()
    features = torch.rand(1, model.cfg.n_inputs, frames, generator=gen, dtype=_dtype(model)) * 3
    with torch.no_grad():
        expected = model(features).float().numpy()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = features.float().numpy()
    if not streaming:
        got = session.run(["mask"], {"features": x})[0]
    else:
        layout = state_layout(model)
        states = [s.numpy() for s in initial_states(model, 1, torch.from_numpy(x))]
        masks, start, step = [], 0, 1
        while start < frames:
            feeds = {"features": x[:, :, start: start + step], **{s["input"]: v for s, v in zip(layout, states)}}
            mask, *states = session.run(None, feeds)
            masks.append(mask)
            start, step = start + step, step % 7 + 1
        got = np.concatenate(masks, axis=-1)
    return float(abs(got - expected).max())


def sidecar_path(out) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".json")


def export(denoiser, out, fmt: str, streaming: bool = False, verify: bool = True) -> dict:
    """Write the model to `out` (and its metadata to `out`.json), atomically. Returns the metadata."""
    from .audio import atomic_path

    out = Path(out)
    if fmt not in FORMATS:
        raise SpeechDAEError(f"unknown export format {fmt!r} (use {' or '.join(FORMATS)})")
    if out.is_dir():
        raise SpeechDAEError(f"{out}: is a directory; give a file name such as denoiser.onnx")
    denoiser = copy.deepcopy(denoiser).cpu().float().eval()  # the caller's model stays where and as it was
    if fmt == "onnx":
        proto, meta = onnx_model(denoiser, streaming)  # first: it turns a missing onnx into the install hint
        import onnx

        if verify:
            err = verify_onnx(proto, denoiser, streaming)
            meta["verified_max_abs_diff"] = err
            if err is not None and not err < 1e-4:
                raise SpeechDAEError(f"exported ONNX model differs from torch by {err:.2g}; not written")
        with atomic_path(out) as tmp:
            onnx.save(proto, str(tmp))
    else:
        traced, meta = torchscript_model(denoiser, streaming)
        with atomic_path(out) as tmp, _quiet_export():
            torch.jit.save(traced, str(tmp), _extra_files={"speechdae.json": json.dumps(meta)})
    with atomic_path(sidecar_path(out)) as tmp:
        tmp.write_text(json.dumps({**meta, "file": out.name, "file_format": fmt}, indent=1) + "\n")
    return meta
