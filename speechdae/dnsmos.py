"""DNSMOS P.835: speech quality (SIG), background noise (BAK) and overall quality (OVRL), 1 to 5, no reference.

Real recordings have no clean copy to score against; the DNS challenge ranks noise suppressors on such
recordings with these three predicted opinion scores. The models are Microsoft's ONNX files inside the
`speechmos` wheel (MIT licence, the DNS challenge organisers' package); nothing is downloaded at run time.
speechmos's DNSMOS class scores exactly as the challenge's `dnsmos_local.py` does: 9.01 s windows every 1 s
(a shorter clip is repeated to fill one), each window's raw outputs mapped through the challenge's
polynomials, then averaged. Only the onnxruntime sessions are made here, to give them a thread count
(onnxruntime otherwise starts one thread per core, which on a busy machine is slower, not faster).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .audio import resample
from .errors import SpeechDAEError

COLUMNS = ("sig", "bak", "ovrl")
LABELS = {"sig": "SIG", "bak": "BAK", "ovrl": "OVRL"}
RATE = 16000  # the models' only rate
INSTALL_HINT = "pip install 'speechdae[dnsmos]' (speechmos, onnxruntime)"


@functools.lru_cache(maxsize=4)
def scorer(threads: int = 1):
    """speechmos's DNSMOS scorer with sessions on `threads` CPU threads (cached: loading takes ~0.1 s)."""
    try:
        import onnxruntime as ort
        from speechmos import dnsmos as smos
    except ImportError as e:
        raise SpeechDAEError(f"DNSMOS needs the '{e.name}' package: {INSTALL_HINT}") from None
    folder = Path(smos.__file__).parent / "dnsmos_models"
    primary, p808 = folder / "sig_bak_ovr.onnx", folder / "model_v8.onnx"
    for f in (primary, p808):
        if not f.is_file():
            raise SpeechDAEError(f"DNSMOS model {f} is missing (a broken speechmos install?): {INSTALL_HINT}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    cpu = ["CPUExecutionProvider"]
    # Its __init__ only opens the two sessions, with onnxruntime's default threads; open them here instead.
    model = smos.DNSMOS.__new__(smos.DNSMOS)
    model.primary_model_path = str(primary)
    model.onnx_sess = ort.InferenceSession(str(primary), opts, providers=cpu)
    model.p808_onnx_sess = ort.InferenceSession(str(p808), opts, providers=cpu)
    return model


def dnsmos(x: np.ndarray, sample_rate: int, threads: int = 1) -> dict:
    """{"sig", "bak", "ovrl"} for one signal: (samples,) or (samples, channels) (mixed to mono), any rate."""
    x = np.asarray(x, np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if len(x) == 0:
        raise SpeechDAEError("DNSMOS: no samples to score")
    if sample_rate != RATE:
        x = resample(x[:, None], sample_rate, RATE)[:, 0]
    # speechmos refuses samples outside [-1, 1]; a denoiser's output (or soxr's ringing) can overshoot a little.
    r = scorer(threads)(np.clip(x, -1.0, 1.0), RATE, False)
    return {"sig": float(r["sig_mos"]), "bak": float(r["bak_mos"]), "ovrl": float(r["ovrl_mos"])}
