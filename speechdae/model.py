"""The denoising autoencoder: causal 1-D convolutions over STFT magnitude frames.

Frequency bins are the input channels and time is the convolution axis. The encoder narrows the
`n_bins`-wide frame to a `code`-wide representation, dilated causal convolutions give the code about
1.3 s of past context, and the decoder widens it back to one gain per bin (a sigmoid mask) that is applied
to the noisy magnitude; the noisy phase is reused.

With `low_bins` set (speechdae 2), the frame is first merged into bands: the lowest `low_bins` bins stay as they
are (a voice's harmonics are resolved there) and the rest are merged into `bands` bands equally spaced on the ERB
scale, as GTCRN and DeepFilterNet do; the decoder then gives one gain per band, spread back over the bins by
the same triangular filters (`gain="bands"`), or one gain per bin (`gain="bins"`). Both maps are fixed matrices:
they cost one small matrix product per frame and carry no weights.

With `df_order` set, the kept bins get a deep filter instead of a real gain (deepfilter.py): the model also
takes their raw spectrum, feeds their phase advance to the encoder beside the magnitudes, and returns a complex
gain there (`n_outputs` rows: every bin's real part, then the kept bins' imaginary parts).

Every convolution is causal and can run in two modes that compute the same numbers:
offline (the past is zeros) and streaming (the past is a cache carried between calls).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .deepfilter import DeepFilter, FrameHistory, with_past


@dataclass(frozen=True)
class ModelConfig:
    n_bins: int = 161
    hidden: int = 256
    code: int = 128  # smaller than n_bins: the autoencoder's bottleneck
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)  # receptive field 1 + 3*(k-1) + 2*63 = 133 frames ~ 1.3 s
    low_bins: int = 0  # > 0: keep these lowest bins, merge the rest into `bands` ERB bands (0: every bin, as v1-v10)
    bands: int = 0
    gain: str = "bins"  # "bins": one gain per STFT bin; "bands": one per band, spread back over the bins
    nyquist_hz: float = 8000.0  # where the top bin lies, for the ERB band edges
    df_order: int = 0  # > 0: a deep filter over this many frames on the kept bins (deepfilter.py); 0: a real gain
    hop: int = 160  # the STFT hop in samples: the deep filter turns back each bin's phase advance per hop

    def __post_init__(self):
        object.__setattr__(self, "dilations", tuple(self.dilations))
        if self.code >= self.n_bins:
            raise ValueError(f"code width {self.code} must be smaller than n_bins {self.n_bins}")
        if self.gain not in ("bins", "bands"):
            raise ValueError(f"gain must be 'bins' or 'bands', got {self.gain!r}")
        if self.low_bins and (self.bands < 2 or self.low_bins + self.bands > self.n_bins):
            raise ValueError(f"{self.low_bins} kept bins and {self.bands} bands do not fit {self.n_bins} bins")
        if self.gain == "bands" and not self.low_bins:
            raise ValueError("gain='bands' needs low_bins and bands")
        if self.df_order and (not self.low_bins or self.gain != "bins"):
            raise ValueError("df_order needs low_bins and gain='bins'")

    @property
    def n_features(self) -> int:
        """Width of the encoder's input frame: bins, or kept bins plus bands (plus their phase features)."""
        return self.low_bins * (3 if self.df_order else 1) + self.bands if self.low_bins else self.n_bins

    @property
    def n_inputs(self) -> int:
        """Rows of the model's input (Denoiser.features): compressed magnitudes, then with the deep filter the
        raw (re, im) of the kept bins."""
        return self.n_bins + 2 * self.low_bins if self.df_order else self.n_bins

    @property
    def n_outputs(self) -> int:
        """Rows of the model's output (Denoiser.apply_mask): real gains, then with the deep filter the imaginary
        part of the kept bins' gains."""
        return self.n_bins + self.low_bins if self.df_order else self.n_bins


def erb_rate(hz: torch.Tensor) -> torch.Tensor:
    """Glasberg and Moore's ERB-rate scale (ERBs below `hz`)."""
    return 21.4 * torch.log10(1 + 0.00437 * hz)


def band_filters(cfg: ModelConfig) -> torch.Tensor:
    """(n_bins, n_features) weights: identity on the kept bins, triangles equally spaced in ERB-rate above.

    The triangles overlap by half, so at every bin above the first band centre the weights sum to one: read down
    a row they interpolate band gains back to bins; divided by their column sums they average bins into bands.
    """
    hz = torch.arange(cfg.n_bins, dtype=torch.float64) * cfg.nyquist_hz / (cfg.n_bins - 1)
    centres = torch.linspace(float(erb_rate(hz[cfg.low_bins])), float(erb_rate(hz[-1])), cfg.bands, dtype=torch.float64)
    pos = erb_rate(hz)[:, None]
    spacing = centres[1] - centres[0]
    tri = (1 - (pos - centres[None]).abs() / spacing).clamp(min=0)
    tri[pos[:, 0] <= centres[0], 0] = 1  # flat below the first centre and above the last: rows still sum to one
    tri[pos[:, 0] >= centres[-1], -1] = 1
    tri[: cfg.low_bins] = 0
    keep = torch.zeros(cfg.n_bins, cfg.low_bins, dtype=torch.float64)
    keep[: cfg.low_bins, : cfg.low_bins] = torch.eye(cfg.low_bins, dtype=torch.float64)
    return torch.cat([keep, tri], dim=1).float()


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
            x = with_past(x, self.context, cache)
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
        k, width = cfg.kernel, cfg.n_features
        self.encoder = nn.ModuleList([Block(width, cfg.hidden, k), Block(cfg.hidden, cfg.code, k)])
        self.context = nn.ModuleList([Block(cfg.code, cfg.code, k, d, residual=True) for d in cfg.dilations])
        self.decoder = nn.ModuleList([Block(cfg.code, cfg.hidden, k)])
        self.head = CausalConv(cfg.hidden, width if cfg.gain == "bands" else cfg.n_bins, 1)
        if cfg.df_order:
            self.deep_filter = DeepFilter(cfg.low_bins, cfg.df_order, cfg.hidden, cfg.n_bins, cfg.hop)
        if cfg.low_bins:  # fixed maps, rebuilt from the config: not in the state dict, so old checkpoints load
            filters = band_filters(cfg)
            self.register_buffer("to_bands", filters / filters.sum(0, keepdim=True), persistent=False)
            self.register_buffer("to_bins", filters.T.contiguous(), persistent=False)

    def encode(self, x: torch.Tensor, cache: ConvCache | None = None) -> torch.Tensor:
        for layer in [*self.encoder, *self.context]:
            x = layer(x, cache)
        return x

    def decode(self, code: torch.Tensor, cache: ConvCache | None = None, frames: torch.Tensor | None = None):
        x = code
        for layer in self.decoder:
            x = layer(x, cache)
        gain = torch.sigmoid(self.head(x))
        if self.cfg.df_order:
            return self.deep_filter.gain(gain, x, frames)
        return gain @ self.to_bins if self.cfg.gain == "bands" else gain

    def forward(self, features: torch.Tensor, cache: ConvCache | None = None, return_code: bool = False):
        """(B, n_inputs, T) features (Denoiser.features) -> (B, n_outputs, T) gains: a mask in [0, 1], or with
        the deep filter a complex gain on the kept bins (deepfilter.py).

        With `cache` (a fresh ConvCache at the start of a stream), each convolution's past frames are taken
        from and returned to it, so a stream can be fed a few frames at a time.
        """
        if cache is not None:
            cache.rewind()
        x = features.transpose(1, 2)
        frames = None
        if self.cfg.df_order:
            n, L = self.cfg.n_bins, self.cfg.low_bins
            frames = self.deep_filter.frames(x[..., n:], cache)
            phase = self.deep_filter.phase_features(frames, x[..., :L])
            x = torch.cat([x[..., :n] @ self.to_bands, phase], dim=-1)
        elif self.cfg.low_bins:
            x = x @ self.to_bands
        code = self.encode(x, cache)
        mask = self.decode(code, cache, frames).transpose(1, 2)
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


def state_layers(model: DenoisingAutoencoder) -> list[tuple[str, int, int]]:
    """(layer name, context frames, channels) of each stream state, in call order: what StreamingStep carries.

    Found by running one zero frame through the model with a ConvCache, so the order is the order in which the
    convolutions take their past frames, whatever the architecture; `initial_states` and export.state_layout
    are both made from it.
    """
    order = []
    convs = [m for m in model.modules() if isinstance(m, (CausalConv, FrameHistory)) and m.context > 0]
    hooks = [m.register_forward_pre_hook(lambda mod, _inp: order.append(mod)) for m in convs]
    p = next(model.parameters())
    cache = ConvCache()
    try:
        with torch.no_grad():
            model(torch.zeros(1, model.cfg.n_inputs, 1, dtype=p.dtype, device=p.device), cache)
    finally:
        for h in hooks:
            h.remove()
    if len(order) != len(cache.states):
        raise RuntimeError("the causal convolutions and the stream cache disagree")
    names = {m: n for n, m in model.named_modules()}
    return [(names[m], int(s.shape[1]), int(s.shape[2])) for m, s in zip(order, cache.states)]


def initial_states(model: DenoisingAutoencoder, batch: int, like: torch.Tensor) -> list[torch.Tensor]:
    """Zero past frames for every causal convolution, in call order, with `like`'s dtype and device."""
    return [like.new_zeros(batch, context, channels) for _, context, channels in state_layers(model)]


class _Traces(dict):
    """The traced graphs kept on a module. A copy of the module starts without them (deepcopy and pickling give an
    empty cache): the graphs hold the original's parameters, so a copy would otherwise stream with those."""

    def __deepcopy__(self, memo):
        return _Traces()

    def __reduce__(self):
        return _Traces, ()


def cached_trace(owner: nn.Module, key: tuple, build: Callable[[], tuple[nn.Module, tuple]]):
    """A TorchScript trace of the (module, example inputs) that `build()` gives, made once per `key`, kept on `owner`.

    The one cache of traced graphs (`traced_step` here, stream.traced_hop). It is stored outside nn.Module's
    registry, so state_dict() and checkpoints never see it, and a copy of `owner` starts without it. The traces
    are not frozen: they keep using the module's live parameters, so training or loading weights later is seen
    (freezing measured no faster). Buffers (STFT windows, band maps) are replaced by `.to()`, hence a key names
    the device and dtype.
    """
    import warnings

    cache = owner.__dict__.setdefault("_traces", _Traces())
    if key not in cache:
        module, example = build()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit.trace's deprecation and tracer notices
            cache[key] = torch.jit.trace(module, example, check_trace=False)
    return cache[key]


def traced_step(model: DenoisingAutoencoder):
    """A TorchScript trace of StreamingStep, cached on the model (per device and dtype).

    Streaming runs the model on one 10 ms frame at a time, where eager PyTorch spends most of its time in
    Python and operator dispatch; the trace halves the per-frame cost. Shapes stay dynamic.
    """
    p = next(model.parameters())

    def build():
        example = torch.zeros(1, model.cfg.n_inputs, 2, dtype=p.dtype, device=p.device)
        return StreamingStep(model), (example, *initial_states(model, 1, example))

    return cached_trace(model, ("step", p.device, p.dtype), build)
