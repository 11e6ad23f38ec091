"""A deep filter on the kept low bins: a complex gain where a real one leaves the noise's phase.

A real gain keeps the noisy phase, and below 2 kHz, where the kept bins are, that phase is what is left of the
noise: on the peer set a perfect real gain scores DNSMOS BAK 3.61 and the clean phase below 2 kHz adds about
+0.17 (benchmarks/oracle.py, RESULTS.md). A voice's harmonic keeps its phase advance from one frame to the next
and noise does not, so a complex filter over a bin's current and past frames can add up the harmonic coherently
and the noise not: DeepFilterNet's deep filtering (Schroeter et al. 2022), here causal (no look-ahead, so the
latency stays the synthesis window's):

    Y(t, k) = g(t, k) X(t, k) + sum_{i < order} c_i(t, k) X(t - i, k) e^{j i w_k}      (k < low_bins)

`g` is the model's real gain, `c_i` are complex coefficients from a linear head on the decoder's output (zero at
initialisation, so a model grown from a real-gain one starts out computing the same), and `e^{j i w_k}` turns
back the phase that bin k's centre frequency advances in i hops, so that `c_i` only has to follow a harmonic's
offset from the bin centre. The model sees that offset through its phase features: the phase advance of each
kept bin since the last frame (also turned back by w_k), weighted by the bin's compressed magnitude so that
silent bins say nothing.

The output is a complex gain G = Y / X, so the one signal path (spec * gain, denoiser.apply_mask) is unchanged:
the model returns `n_bins + low_bins` rows, the real part of every bin's gain and then the imaginary part of the
kept bins'. Everything here is real arithmetic on (re, im) pairs, as ONNX has no complex type. The past frames
come from the stream cache (FrameHistory), as a causal convolution's do, so streaming stays exact.
"""
from __future__ import annotations

import math

import torch
from torch import nn

EPS = 1e-12  # of |X|^2 (the STFT's own scale): keeps G = Y / X finite at a silent bin, where Y is then ~ 0 too


def with_past(x: torch.Tensor, context: int, cache=None) -> torch.Tensor:
    """(B, T, C) frames -> (B, context + T, C): the same frames after the `context` frames before them, taken
    from and given back to the stream cache (model.ConvCache) when there is one; offline the past is zeros."""
    past = cache.take() if cache is not None else None
    if past is None:
        past = x.new_zeros(x.shape[0], context, x.shape[2])
    x = torch.cat([past, x], dim=1)
    if cache is not None:
        cache.put(x[:, -context:])
    return x


class FrameHistory(nn.Module):
    """A stream cache entry of its own, as a causal convolution's past is: `with_past` as a module."""

    def __init__(self, context: int):
        super().__init__()
        self.context = context

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:
        return with_past(x, self.context, cache)


class DeepFilter(nn.Module):
    def __init__(self, low_bins: int, order: int, hidden: int, n_bins: int, hop: int):
        super().__init__()
        self.low_bins, self.order = low_bins, order
        self.history = FrameHistory(max(order - 1, 1))  # the phase features need one past frame even at order 1
        self.coefs = nn.Linear(hidden, 2 * order * low_bins)
        nn.init.zeros_(self.coefs.weight)
        nn.init.zeros_(self.coefs.bias)
        n_fft = 2 * (n_bins - 1)
        taps = torch.arange(max(order, 2))[:, None]  # tap 1 also turns back the phase features
        turn = 2 * math.pi * hop / n_fft * taps * torch.arange(low_bins)[None]
        self.register_buffer("turn_re", torch.cos(turn), persistent=False)  # (taps, low_bins): e^{j i w_k}
        self.register_buffer("turn_im", torch.sin(turn), persistent=False)

    def frames(self, raw: torch.Tensor, cache=None) -> torch.Tensor:
        """(B, T, 2L) raw (re, im) of the kept bins -> (B, context + T, 2L) with their past frames."""
        return self.history(raw, cache)

    def _tap(self, frames: torch.Tensor, i: int, n: int):
        """(re, im) of X(t - i) for the last n frames."""
        start = frames.shape[1] - n - i
        x = frames[:, start : start + n]
        return x[..., : self.low_bins], x[..., self.low_bins :]

    def phase_features(self, frames: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
        """(B, T, 2L): the phase advance of each kept bin since the last frame, less its centre frequency's,
        as (cos, sin) weighted by `magnitude` (B, T, L), the bin's compressed magnitude."""
        n = magnitude.shape[1]
        a, b = self._tap(frames, 0, n)
        c, d = self._tap(frames, 1, n)
        re, im = a * c + b * d, b * c - a * d  # X(t) conj(X(t - 1))
        re, im = re * self.turn_re[1] + im * self.turn_im[1], im * self.turn_re[1] - re * self.turn_im[1]  # e^{-j w_k}
        norm = magnitude / ((a * a + b * b) * (c * c + d * d)).sqrt().clamp(min=EPS)
        return torch.cat([re * norm, im * norm], dim=-1)

    def gain(self, gain: torch.Tensor, hidden: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Real gains (B, T, F) and the decoder's output -> (B, T, F + L): the complex gain's real part for every
        bin, then its imaginary part for the kept bins. Above the kept bins the gain stays real."""
        n, L = gain.shape[1], self.low_bins
        coef = self.coefs(hidden).float().unflatten(-1, (self.order, 2, L))
        xr, xi = self._tap(frames, 0, n)
        inverse = 1 / (xr * xr + xi * xi + EPS)
        g_re, g_im = gain[..., :L], torch.zeros_like(inverse)
        for i in range(self.order):
            a, b = self._tap(frames, i, n)
            if i:  # tap 0 needs no turn
                a, b = a * self.turn_re[i] - b * self.turn_im[i], a * self.turn_im[i] + b * self.turn_re[i]
            q_re, q_im = (a * xr + b * xi) * inverse, (b * xr - a * xi) * inverse  # X~(t - i) / X(t)
            alpha, beta = coef[..., i, 0, :], coef[..., i, 1, :]
            g_re = g_re + alpha * q_re - beta * q_im
            g_im = g_im + alpha * q_im + beta * q_re
        return torch.cat([g_re, gain[..., L:], g_im], dim=-1)


def grown_weights(weights: dict, model: nn.Module) -> dict:
    """A real-gain model's weights -> the state dict of `model`, the same model with a deep filter added.

    The first layer's inputs for the phase features and the filter's coefficients start at zero, so the grown
    model computes exactly what the real-gain one did; a fine-tune (`--init-from`) then learns the filter."""
    grown = {}
    for name, new in model.state_dict().items():
        old = weights.get(name)
        if old is None:  # the deep filter's own weights
            grown[name] = torch.zeros_like(new)
        elif old.shape == new.shape:
            grown[name] = old
        elif old.ndim == 3 and old.shape[0] == new.shape[0] and old.shape[1] < new.shape[1]:  # the first conv
            grown[name] = torch.cat([old, old.new_zeros(old.shape[0], new.shape[1] - old.shape[1], old.shape[2])], 1)
        else:
            raise ValueError(f"{name}: {tuple(old.shape)} does not grow into {tuple(new.shape)}")
    return grown
