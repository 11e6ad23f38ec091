"""One rate adapter around the stream: any-rate, any-channel audio in and out of the model's StreamingDenoiser.

Files (`enhance.denoise_file`), arrays (`Denoiser.denoise`), the live worker (`live_pipeline.Pipeline`) go through
`RateStream`, so they compute the same samples whatever the block sizes (soxr's streaming resampler is
chunk-invariant, bit for bit, and equals its one-shot call).

Above the model's rate the input is split into two bands that add back to it exactly:

    low  = up(down(x))     what survives soxr's round trip through 16 kHz (flat to 7.4 kHz, gone by 7.9 kHz)
    high = x - low         the rest, at the same sample positions (soxr streams compensate their own delay)

The output is `up(model(down(x))) + gain * high`. With a gain of 1 and a model that passes its input, that is
the input again, to float rounding: the crossover is the complement of soxr's own linear-phase low-pass, so
there is no phase smear or seam at it, and no filter of ours whose delay would have to match soxr's.

The high band's gain is read off the model's top band (the model never sees the high band). The stream's
16 kHz input and output are aligned sample for sample, so the ratio of their energies in its top band (5-8 kHz
at 16 kHz: from 0.625 of the model's Nyquist) is the attenuation the model applied there, at each position.
It is estimated causally, with an 8th-order Butterworth high-pass and a one-pole energy smoother of half a hop
(5 ms: a few dozen periods of that band, still shorter than a syllable), because the stream's output is the
last thing to arrive, and waiting for more of it would add latency: this way the output comes out as soon as
the model's band does. The gain is limited to [the attenuation limit's floor, 1] (never amplify, never remove
more than --atten-limit allows) and interpolated linearly to the output's rate. It lags the model by about the
smoothing time: at a speech onset the first few ms of a consonant's high band are softened, and when speech
stops a few ms of the noise above it are kept.
"""
from __future__ import annotations

import numpy as np
import soxr
from scipy import signal

from .denoiser import fit_length, gain_floor

TOP_BAND = 0.625  # lower edge of the model's band that steers the high band, as a fraction of its Nyquist
EPS = 1e-12  # energy floor (about -120 dB): a silent input band gets gain 1 rather than 0/0


class BandGain:
    """Aligned (n, C) model input and output at the model rate -> (n, C) top-band gain, causally, in chunks."""

    def __init__(self, model_rate: int, hop: int, channels: int, floor: float):
        # Transfer-function form, not sections: a quarter of sosfilt's per-call cost (live: once per hop), and at
        # this cutoff (its poles are well inside the unit circle) the same output to ~1e-14.
        self.ba = signal.butter(8, TOP_BAND * model_rate / 2, "highpass", fs=model_rate)
        self.a = float(np.exp(-2.0 / hop))  # one-pole energy smoother, time constant half a hop
        self.floor = floor
        self.channels = channels
        # Input and output side by side (2C columns): one call of each filter per chunk, not two (live: per hop).
        self.zi = np.zeros((len(self.ba[1]) - 1, 2 * channels))  # band filter states
        self.ze = np.zeros((1, 2 * channels))  # energy smoother states

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if len(x) == 0:  # scipy's filters refuse empty input
            return np.ones((0, self.channels))
        both = np.concatenate([x, y], axis=1, dtype=np.float64)
        band, self.zi = signal.lfilter(*self.ba, both, axis=0, zi=self.zi)
        energy, self.ze = signal.lfilter([1 - self.a], [1, -self.a], band**2, axis=0, zi=self.ze)
        c = self.channels
        return np.clip(np.sqrt((energy[:, c:] + EPS) / (energy[:, :c] + EPS)), self.floor, 1.0)


class RateStream:
    """Feed (n, channels) chunks at `rate`; get the denoised (m, channels) float32 samples that are final.

    The outputs of all calls plus `flush()` add up to exactly the input's length, and equal one whole-array
    call to float rounding. At the model's rate it is the plain stream, sample for sample.
    """

    def __init__(self, denoiser, rate: int, channels: int = 1, atten_limit_db: float | None = None):
        self.rate, self.channels = rate, channels
        self.model_rate = m = denoiser.sample_rate
        self.stream = denoiser.stream(channels, atten_limit_db)
        make = lambda a, b: soxr.ResampleStream(a, b, channels, dtype="float32")  # noqa: E731
        self.down = make(rate, m) if rate != m else None
        self.up = make(m, rate) if rate != m else None
        self.high = rate > m  # below the model's rate there is nothing above its band to keep
        if self.high:
            self.up_ref = make(m, rate)  # the low band without the model: what the high band is the rest of
            self.gain = BandGain(m, denoiser.stft.cfg.hop, channels, gain_floor(atten_limit_db))
            empty = np.zeros((0, channels), np.float32)
            self._x, self._ref, self._low, self._d = empty, empty, empty, empty
            self._g = np.ones((0, channels), np.float32)  # top-band gains at model-rate positions _g0, _g0 + 1...
            self._g0 = 0  # model-rate index of _g[0]
            self._n_model = 0  # model-rate samples of stream output so far
            self._t = 0  # output samples emitted so far (the index of the next)
        self.samples_in = self.samples_out = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), self.channels)
        self.samples_in += len(x)
        return self._emit(self._step(x, last=False))

    def flush(self) -> np.ndarray:
        """The rest, so that the total output has exactly the input's length (resamplers round lengths)."""
        y = self._step(np.zeros((0, self.channels), np.float32), last=True)
        y = y[: self.samples_in - self.samples_out]
        out = fit_length(y, self.samples_in - self.samples_out)
        self.samples_out += len(out)
        return out

    def run(self, x: np.ndarray, seconds: float = 10.0) -> np.ndarray:
        """A whole (samples, channels) array, in blocks of `seconds` (the file path's default block)."""
        block = max(1, int(seconds * self.rate))
        parts = [self.process(x[i : i + block]) for i in range(0, len(x), block)]
        return np.concatenate([*parts, self.flush()])

    def _emit(self, y: np.ndarray) -> np.ndarray:
        y = y[: self.samples_in - self.samples_out]  # never more than came in (the flush pads the rest)
        self.samples_out += len(y)
        return y

    def _denoise(self, d: np.ndarray, last: bool) -> np.ndarray:
        """Model-rate (n, C) -> the stream's final model-rate samples."""
        y = self.stream.process(d.T).T.cpu().numpy() if len(d) else np.zeros((0, self.channels), np.float32)
        if last:
            y = np.concatenate([y, self.stream.flush().T.cpu().numpy()])
        return y

    def _step(self, x: np.ndarray, last: bool) -> np.ndarray:
        if self.down is None:
            return self._denoise(x, last)
        d = self.down.resample_chunk(x, last=last)
        y = self._denoise(d, last)
        low = self.up.resample_chunk(y, last=last)
        if not self.high:
            return low
        # The high band: the input minus its own soxr round trip, at the same positions.
        self._x = np.concatenate([self._x, x])
        self._ref = np.concatenate([self._ref, self.up_ref.resample_chunk(d, last=last)])
        self._low = np.concatenate([self._low, low])
        # The model's top-band gain, from its input and output at the same model-rate positions.
        self._d = np.concatenate([self._d, d])
        self._g = np.concatenate([self._g, self.gain(self._d[: len(y)], y)])
        self._d = self._d[len(y) :]
        self._n_model += len(y)
        # Output sample t sits at model-rate position t * m / rate, between gains k and k + 1: emit those
        # whose k + 1 is known (all, at the end). The model's band is the later of the two to arrive.
        n = min(len(self._x), len(self._ref), len(self._low))
        if not last:
            n = min(n, -(-(self._n_model - 1) * self.rate // self.model_rate) - self._t)
        n = max(n, 0)
        pos = (self._t + np.arange(n)) * (self.model_rate / self.rate) - self._g0
        g = np.stack([np.interp(pos, np.arange(len(self._g)), self._g[:, c]) for c in range(self.channels)], 1) \
            if len(self._g) else np.ones((n, self.channels))
        out = self._low[:n] + (g * (self._x[:n] - self._ref[:n])).astype(np.float32)
        self._x, self._ref, self._low = self._x[n:], self._ref[n:], self._low[n:]
        self._t += n
        # Gains before the next output's left neighbour are done (one more kept against float rounding).
        keep = max(0, min(self._t * self.model_rate // self.rate - 1 - self._g0, len(self._g) - 1))
        self._g, self._g0 = self._g[keep:], self._g0 + keep
        return out
