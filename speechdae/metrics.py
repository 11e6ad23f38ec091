"""Speech quality metrics: PESQ (wideband, ITU-T P.862.2 via `pesq`), STOI (`pystoi`) and SI-SDR.

SI-SDR is written here because it is three lines and neither pesq nor pystoi provides it.
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
    return si_sdr(torch.as_tensor(np.asarray(estimate, np.float64)), torch.as_tensor(np.asarray(reference, np.float64))).numpy()


def pesq_wb(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """Wideband PESQ (MOS-LQO, 1.04..4.64) at 16 kHz; NaN when PESQ cannot score (e.g. no speech)."""
    from pesq import PesqError, pesq

    ref, est = resample(reference[:, None], sample_rate, 16000)[:, 0], resample(estimate[:, None], sample_rate, 16000)[:, 0]
    try:
        return float(pesq(16000, ref.astype(np.float64), est.astype(np.float64), "wb"))
    except PesqError:
        return float("nan")


def stoi(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    from pystoi import stoi as _stoi

    return float(_stoi(reference, estimate, sample_rate, extended=False))


def score(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> dict:
    """All three metrics for one mono pair of equal length."""
    n = min(len(estimate), len(reference))
    est, ref = np.asarray(estimate[:n], np.float64), np.asarray(reference[:n], np.float64)
    return {
        "pesq": pesq_wb(est, ref, sample_rate),
        "stoi": stoi(est, ref, sample_rate),
        "si_sdr": float(si_sdr(est, ref)),
    }
