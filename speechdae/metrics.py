"""Speech quality metrics: PESQ (wideband, ITU-T P.862.2 via `pesq`), STOI (`pystoi`) and SI-SDR.

SI-SDR is written here because it is three lines and neither pesq nor pystoi provides it. It is reported twice:
over the full band, and over the speech band (both signals high-passed at 120 Hz), because many "clean"
recordings carry low-frequency rumble (7.7 % of the energy of the LibriSpeech test-other dev set lies
below 120 Hz, up to 31 % in single files) that a denoiser rightly removes and full-band SI-SDR then counts as
lost signal.
"""
from __future__ import annotations

import numpy as np
import torch

from .audio import resample


def si_sdr(estimate, reference, eps: float = 1e-8):
    """Scale-invariant SDR in dB over the last axis (Le Roux et al., 2019). Works on numpy or torch."""
    if torch.is_tensor(estimate):
        reference = reference - reference.mean(-1, keepdim=True)
        estimate = estimate - estimate.mean(-1, keepdim=True)
        scale = (estimate * reference).sum(-1, keepdim=True) / (reference.pow(2).sum(-1, keepdim=True) + eps)
        target = scale * reference
        return 10 * torch.log10((target.pow(2).sum(-1) + eps) / ((estimate - target).pow(2).sum(-1) + eps))
    as64 = lambda a: torch.from_numpy(np.array(a, np.float64))  # a copy: negative strides are fine
    return si_sdr(as64(estimate), as64(reference)).numpy()


def si_sdr_speech_band(estimate, reference, sample_rate: int, cutoff: float = 120.0):
    """SI-SDR after a zero-phase 4th-order Butterworth high-pass of both signals at `cutoff` Hz."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, cutoff, "highpass", fs=sample_rate, output="sos")
    if len(reference) <= 27:  # sosfiltfilt's minimum length for this filter
        return float(si_sdr(estimate, reference))
    return float(si_sdr(sosfiltfilt(sos, estimate), sosfiltfilt(sos, reference)))


def pesq_wb(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """Wideband PESQ (MOS-LQO, 1.04..4.64) at 16 kHz; NaN when PESQ cannot score (e.g. no speech)."""
    from pesq import PesqError, pesq

    ref = resample(reference[:, None], sample_rate, 16000)[:, 0]
    est = resample(estimate[:, None], sample_rate, 16000)[:, 0]
    try:
        return float(pesq(16000, ref.astype(np.float64), est.astype(np.float64), "wb"))
    except (PesqError, ValueError):  # ValueError: its C code meets a NaN on some short clips of the dev set
        return float("nan")


def stoi(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    from pystoi import stoi as _stoi

    return float(_stoi(reference, estimate, sample_rate, extended=False))


def score(estimate: np.ndarray, reference: np.ndarray, sample_rate: int, with_pesq: bool = True) -> dict:
    """All three metrics for one mono pair of equal length (PESQ, the slow one, can be left out)."""
    n = min(len(estimate), len(reference))
    est, ref = np.asarray(estimate[:n], np.float64), np.asarray(reference[:n], np.float64)
    scores = {"pesq": pesq_wb(est, ref, sample_rate)} if with_pesq else {}
    return {
        **scores,
        "stoi": stoi(est, ref, sample_rate),
        "si_sdr": float(si_sdr(est, ref)),
        "si_sdr_hp": si_sdr_speech_band(est, ref, sample_rate),
    }
