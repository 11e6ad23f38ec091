"""The denoising autoencoder: causal 1-D convolutions over STFT magnitude frames.

Frequency bins are the input channels and time is the convolution axis. The encoder narrows the
`n_bins`-wide frame to a `code`-wide representation, dilated causal convolutions give the code about
1.3 s of past context, and the decoder widens it back to one gain per bin (a sigmoid mask) that is applied
to the noisy magnitude; the noisy phase is reused.

Every convolution is causal and can run in two modes that compute the same numbers:
offline (the past is zeros) and streaming (the past is a cache carried between calls).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    n_bins: int = 161
    hidden: int = 256
    code: int = 128  # smaller than n_bins: the autoencoder's bottleneck
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)  # receptive field 1 + 3*(k-1) + 2*63 = 133 frames ~ 1.3 s

    def __post_init__(self):
        object.__setattr__(self, "dilations", tuple(self.dilations))
        if self.code >= self.n_bins:
            raise ValueError(f"code width {self.code} must be smaller than n_bins {self.n_bins}")


class CausalConv(nn.Module):
    """Conv1d over (B, T, C) frames that sees only the current and past frames; `context` frames of history.

    The layers run channels-last, (batch, frames, channels): a convolution is then one `F.linear` over the
    stacked kernel taps and LayerNorm needs no transposes, which matters most in streaming, where each call is
    one 10 ms frame and the step's cost is mostly operator dispatch. The weights keep nn.Conv1d's layout.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, dilation=dilation)
        self.context = (kernel - 1) * dilation

    def forward(self, x: torch.Tensor, cache: "ConvCache | None" = None) -> torch.Tensor:
        if self.context:
            past = cache.take() if cache is not None else None
            if past is None:
                past = x.new_zeros(x.shape[0], self.context, x.shape[2])
            x = torch.cat([past, x], dim=1)
            if cache is not None:
                cache.put(x[:, -self.context :])
        return F.linear(self._taps(x), self.conv.weight.flatten(1), self.conv.bias)

    def _taps(self, x: torch.Tensor) -> torch.Tensor:
        """(B, context + T, C) -> (B, T, C * k): each frame's k dilated input frames, channel-major like the weight.

        The same arithmetic as nn.Conv1d as one matrix product: PyTorch's CPU conv1d takes a slow per-channel
        loop for dilated kernels (slow_conv_dilated2d) and is slow for the few frames of a streaming call.
        Two ways to the same numbers: `Tensor.unfold` is a view, 11 % cheaper per stream step, but its backward
        made a CPU training step twice as slow, so training stacks slices instead.
        """
        if self.context == 0:
            return x
        d, frames = self.conv.dilation[0], x.shape[1] - self.context
        if torch.is_grad_enabled():
            return torch.stack([x[:, j * d : j * d + frames] for j in range(self.conv.kernel_size[0])], -1).flatten(2)
        return x.unfold(1, self.context + 1, 1)[..., ::d].flatten(2)


class ConvCache:
    """The past input frames of every causal convolution, in call order, carried between stream calls."""

    def __init__(self):
        self.states: list[torch.Tensor] = []
        self.index = 0

    def rewind(self):
        self.index = 0

    def take(self) -> torch.Tensor | None:
        return self.states[self.index] if self.index < len(self.states) else None

    def put(self, state: torch.Tensor):
        if self.index < len(self.states):
            self.states[self.index] = state
        else:
            self.states.append(state)
        self.index += 1


class FrameNorm(nn.Module):
    """LayerNorm over channels at each frame: causal, so it streams exactly."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):
        return self.norm(x)


class Block(nn.Module):
    def __init__(self, cin, cout, kernel=1, dilation=1, residual=False):
        super().__init__()
        self.conv = CausalConv(cin, cout, kernel, dilation)
        self.norm = FrameNorm(cout)
        self.act = nn.PReLU(cout)
        self.residual = residual

    def forward(self, x, cache=None):
        y = self.norm(self.conv(x, cache))
        y = F.prelu(y.flatten(0, 1), self.act.weight).view_as(y)  # PReLU's channels are dim 1: (B*T, C)
        return x + y if self.residual else y


class DenoisingAutoencoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        k = cfg.kernel
        self.encoder = nn.ModuleList([Block(cfg.n_bins, cfg.hidden, k), Block(cfg.hidden, cfg.code, k)])
        self.context = nn.ModuleList([Block(cfg.code, cfg.code, k, d, residual=True) for d in cfg.dilations])
        self.decoder = nn.ModuleList([Block(cfg.code, cfg.hidden, k)])
        self.head = CausalConv(cfg.hidden, cfg.n_bins, 1)

    def encode(self, features: torch.Tensor, cache: ConvCache | None = None) -> torch.Tensor:
        x = features
        for layer in [*self.encoder, *self.context]:
            x = layer(x, cache)
        return x

    def decode(self, code: torch.Tensor, cache: ConvCache | None = None) -> torch.Tensor:
        x = code
        for layer in self.decoder:
            x = layer(x, cache)
        return torch.sigmoid(self.head(x))

    def forward(self, features: torch.Tensor, cache: ConvCache | None = None, return_code: bool = False):
        """(B, n_bins, T) compressed noisy magnitudes -> (B, n_bins, T) mask in [0, 1].

        With `cache` (a fresh ConvCache at the start of a stream), each convolution's past frames are taken
        from and returned to it, so a stream can be fed a few frames at a time.
        """
        if cache is not None:
            cache.rewind()
        code = self.encode(features.transpose(1, 2), cache)
        mask = self.decode(code, cache).transpose(1, 2)
        return (mask, code.transpose(1, 2)) if return_code else mask

    @property
    def receptive_field(self) -> int:
        return 1 + sum(m.context for m in self.modules() if isinstance(m, CausalConv))

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class StreamingStep(nn.Module):
    """One stream step with explicit state: (features (B, F, k), *states) -> (mask (B, F, k), *new states).

    The states are the ConvCache contents in call order, as plain tensors, so that the step can be traced
    (the streaming fast path, see `traced_step`) and exported (export.py).
    """

    def __init__(self, model: DenoisingAutoencoder):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, *states: torch.Tensor):
        cache = ConvCache()
        cache.states = list(states)
        mask = self.model(features, cache)
        return (mask, *cache.states)


def initial_states(model: DenoisingAutoencoder, batch: int, like: torch.Tensor) -> list[torch.Tensor]:
    """Zero past frames for every causal convolution, in call order."""
    cache = ConvCache()
    with torch.no_grad():
        model(like.new_zeros(batch, model.cfg.n_bins, 1), cache)
    return [torch.zeros_like(s) for s in cache.states]


def traced_step(model: DenoisingAutoencoder):
    """A TorchScript trace of StreamingStep, cached on the model.

    Streaming runs the model on one 10 ms frame at a time, where eager PyTorch spends most of its time in
    Python and operator dispatch; the trace halves the per-frame cost. It is not frozen, so it keeps using
    the module's live parameters (training or loading weights later is seen). Shapes stay dynamic.
    """
    import warnings

    if model.__dict__.get("_traced_step") is None:
        p = next(model.parameters())
        example = torch.zeros(1, model.cfg.n_bins, 2, dtype=p.dtype, device=p.device)
        states = initial_states(model, 1, example)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit.trace's deprecation and tracer notices
            traced = torch.jit.trace(StreamingStep(model), (example, *states), check_trace=False)
        # Stored outside nn.Module's registry so state_dict() and checkpoints never see it.
        model.__dict__["_traced_step"] = traced
    return model.__dict__["_traced_step"]
