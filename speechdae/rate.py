"""One rate adapter around the stream: any-rate, any-channel audio in and out of the model's StreamingDenoiser.

Files (`enhance.denoise_file`), arrays (`Denoiser.denoise`) and the live worker (`live.Pipeline`) all go through
`RateStream`, so they compute the same samples whatever the block sizes (soxr's streaming resampler is
chunk-invariant, bit for bit, and equals its one-shot call).

Above the model's rate the input is split into two bands that add back to it exactly:

    low  = up(down(x))          what survives soxr's round trip through the model rate (below ~0.91 x 8 kHz)
    high = x - low              the rest, at the same sample positions (soxr streams compensate their delay)

The low band's copy that goes through the model is `up(model(down(x)))`; the output is that plus `gain * high`.
With a gain of 1 and a model that passes its input, the output is the input (to float rounding): the crossover
is the complement of soxr's own linear-phase low-pass, so there is no phase smear or seam, and no filter of ours
whose delay would have to match soxr's.

The high band's gain is read off the model's own top band, because the model never sees the high band: the
stream's 16 kHz input and output are aligned sample for sample, so the ratio of their energies in the top band
(5-8 kHz at 16 kHz: 0.625 of the model's Nyquist up to it) is the attenuation the model applied there, at each
sample position. It is estimated causally (a Butterworth high-pass and a one-pole energy smoother of half a hop,
5 ms: long enough to average a few periods of that band, short enough to follow syllables), because the
stream's output is the last thing to arrive and the high band must not wait for more of it: the output comes out
as soon as the model's band does (the same latency). The gain is limited to [the attenuation limit's floor, 1]
(never amplify; never remove more than --atten-limit allows), and interpolated linearly to the file's rate.
It lags the model by about that smoothing time, which at speech onsets softens the first few ms of a
consonant's top band rather than letting noise through.
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
        self.sos = signal.butter(8, TOP_BAND * model_rate / 2, "highpass", fs=model_rate, output="sos")
        self.a = float(np.exp(-2.0 / hop))  # one-pole energy smoother, time constant half a hop
        self.floor = floor
        self.zi = [np.zeros((len(self.sos), 2, channels)) for _ in range(2)]  # input, output band filters
        self.ze = [np.zeros((1, channels)) for _ in range(2)]  # input, output energy smoothers

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if len(x) == 0:  # scipy's filters refuse empty input
            return np.ones((0, x.shape[1]))
        energy = []
        for k, s in enumerate((x, y)):
            band, self.zi[k] = signal.sosfilt(self.sos, s.astype(np.float64), axis=0, zi=self.zi[k])
            e, self.ze[k] = signal.lfilter([1 - self.a], [1, -self.a], band**2, axis=0, zi=self.ze[k])
            energy.append(e)
        return np.clip(np.sqrt((energy[1] + EPS) / (energy[0] + EPS)), self.floor, 1.0)


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
