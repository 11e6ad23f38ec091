"""`speechdae export`: ONNX (offline and streaming step) and TorchScript give torch's numbers, and the
recipe documented in speechdae/export.py, written with numpy around onnxruntime, reproduces Denoiser."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import SAMPLES, V2_BANDS, V2_STFT, small_denoiser
from speechdae.export import export, state_layout

TOL = 1e-5
# torch 2.14 marks torch.jit (trace/save/load) deprecated; TorchScript export still works and is tested here.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")


def need_onnx():
    for name in ("onnx", "onnxscript"):
        pytest.importorskip(name, reason=f"ONNX export needs {name} (pip install 'speechdae[export]')")
    return pytest.importorskip("onnxruntime", reason="ONNX checks need onnxruntime (pip install 'speechdae[export]')")


def session(path):
    ort = need_onnx()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def model():
    return small_denoiser(seed=3)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, model):
    """path(fmt, streaming) -> exported file, made once per module."""
    root, made = tmp_path_factory.mktemp("export"), {}

    def get(fmt, streaming=False):
        if (fmt, streaming) not in made:
            if fmt == "onnx":
                need_onnx()
            out = root / f"{'stream' if streaming else 'offline'}.{'onnx' if fmt == 'onnx' else 'ts'}"
            export(model, out, fmt, streaming=streaming)
            made[fmt, streaming] = out
        return made[fmt, streaming]

    return get


def features(batch, frames, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 161, frames, generator=g) * 4  # compressed magnitudes of loud and quiet bins


def torch_mask(model, x):
    with torch.no_grad():
        return model.model(x).numpy()


def stream_masks(step, layout, x, sizes):
    """Feed x (B, F, T) in groups of `sizes` frames through a step function; concatenated masks."""
    states = [np.zeros((x.shape[0], *s["shape"][1:]), np.float32) for s in layout]
    masks, start = [], 0
    for k in sizes:
        mask, *states = step(x[:, :, start: start + k], states)
        assert mask.shape == (x.shape[0], 161, k)
        assert [s.shape for s in states] == [(x.shape[0], *s["shape"][1:]) for s in layout]
        masks.append(mask)
        start += k
    assert start == x.shape[-1]
    return np.concatenate(masks, axis=-1)


def random_sizes(total, rng, largest):
    sizes = []
    while sum(sizes) < total:
        sizes.append(min(int(rng.integers(1, largest + 1)), total - sum(sizes)))
    return sizes


# -- ONNX ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch,frames", [(1, 1), (1, 2), (1, 17), (1, 400), (3, 33)])
def test_onnx_offline_matches_torch(exported, model, batch, frames):
    sess = session(exported("onnx"))
    x = features(batch, frames, seed=frames)
    (got,) = sess.run(["mask"], {"features": x.numpy()})
    np.testing.assert_allclose(got, torch_mask(model, x), atol=TOL, rtol=0)


def test_onnx_names_dynamic_axes_and_metadata(exported, model):
    import onnx

    proto = onnx.load(str(exported("onnx")))
    assert [i.name for i in proto.graph.input] == ["features"]
    assert [o.name for o in proto.graph.output] == ["mask"]
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1] == 161 and isinstance(dims[2], str)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert (meta["sample_rate"], meta["n_fft"], meta["hop"], meta["pad_left"], meta["n_bins"]) == \
        ("16000", "320", "160", "160", "161")
    assert meta["window"] == "sqrt_hann_periodic" and float(meta["compress"]) == 0.3
    assert float(meta["synthesis_scale"]) == 1.0 and meta["mode"] == "offline"
    assert meta["speechdae_version"] and meta["checkpoint_version"] == "null"  # an in-memory model, never saved
    assert json.loads(meta["model"])["code"] == 24
    sidecar = json.loads((exported("onnx").parent / "offline.onnx.json").read_text())
    assert sidecar["sample_rate"] == 16000 and sidecar["file"] == "offline.onnx"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_onnx_in_random_groups_reproduces_offline_torch(exported, model, seed):
    sess = session(exported("onnx", streaming=True))
    layout = state_layout(model.model)
    rng = np.random.default_rng(seed)
    batch, frames = (1, 2, 1)[seed], 120
    x = features(batch, frames, seed=seed)
    # groups from single frames to more than the longest context (the dilated layers need 8 here)
    sizes = random_sizes(frames, rng, largest=(3, 12, 40)[seed])

    def step(chunk, states):
        return sess.run(None, {"features": chunk, **{s["input"]: v for s, v in zip(layout, states)}})

    got = stream_masks(step, layout, x.numpy(), sizes)
    np.testing.assert_allclose(got, torch_mask(model, x), atol=TOL, rtol=0)


def test_streaming_onnx_declares_its_state(exported, model):
    import onnx

    proto = onnx.load(str(exported("onnx", streaming=True)))
    meta = {p.key: p.value for p in proto.metadata_props}
    states = json.loads(meta["states"])
    assert meta["mode"] == "streaming" and len(states) == len(state_layout(model.model)) == 6
    assert json.loads(meta["inputs"]) == [i.name for i in proto.graph.input]
    assert json.loads(meta["outputs"]) == [o.name for o in proto.graph.output]
    graph_inputs = {i.name: i for i in proto.graph.input}
    for s in states:
        dims = [d.dim_param or d.dim_value for d in graph_inputs[s["input"]].type.tensor_type.shape.dim]
        assert dims[1:] == s["shape"][1:] and isinstance(dims[0], str)
    assert [s["shape"][1] for s in states] == [2, 2, 2, 4, 8, 2]  # (kernel-1)*dilation frames per causal conv


# -- the documented recipe, outside torch --------------------------------------------------------------------
def sqrt_hann(n):
    return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n))


def noisy_sample(seconds=1.5):
    x, sr = sf.read(SAMPLES / "noisy.flac", dtype="float32")
    x = x if x.ndim == 1 else x.mean(axis=1)
    return x[: int(seconds * sr)]


@pytest.fixture(scope="module")
def v2_exported(tmp_path_factory):
    """speechdae 2's front end (asymmetric windows, bands): (model, offline onnx, streaming onnx, metadata)."""
    need_onnx()
    model = small_denoiser(V2_STFT, seed=5, **V2_BANDS)
    root = tmp_path_factory.mktemp("export_v2")
    export(model, root / "offline.onnx", "onnx")
    export(model, root / "stream.onnx", "onnx", streaming=True)
    meta = json.loads((root / "offline.onnx.json").read_text())
    return model, root / "offline.onnx", root / "stream.onnx", meta


@pytest.fixture(scope="module")
def df_exported(tmp_path_factory):
    """speechdae 2's front end with the deep filter on the kept bins: as v2_exported."""
    need_onnx()
    model = small_denoiser(V2_STFT, seed=7, **V2_BANDS, df_order=3)
    root = tmp_path_factory.mktemp("export_df")
    export(model, root / "offline.onnx", "onnx")
    export(model, root / "stream.onnx", "onnx", streaming=True)
    meta = json.loads((root / "offline.onnx.json").read_text())
    return model, root / "offline.onnx", root / "stream.onnx", meta


def np_features(spec, meta):
    """The documented model input of (K, T) spectra: compressed magnitudes, then Re and Im of the kept bins
    when the model has a deep filter."""
    rows = [(np.abs(spec) + meta["compress_floor"]) ** meta["compress"]]
    if meta["model"]["df_order"]:
        low = spec[: meta["model"]["low_bins"]]
        rows += [low.real, low.imag]
    return np.concatenate(rows).astype(np.float32)[None]


def np_gain(mask, meta):
    """The documented gain of the model output (K or K + L rows): complex on the kept bins with a deep filter."""
    k = meta["n_bins"]
    gain = mask[:k].astype(np.complex128)
    gain[: mask.shape[0] - k] += 1j * mask[k:]
    return gain


def front_ends(exported, model, v2_exported, which, df_exported=None):
    """(model, onnx path, metadata read from the file's sidecar) for v1's or v2's front end (or v2's with the
    deep filter)."""
    if which in ("v2", "df"):
        return v2_exported if which == "v2" else df_exported
    offline, stream = exported("onnx"), exported("onnx", streaming=True)
    return model, offline, stream, json.loads(offline.with_name(offline.name + ".json").read_text())


def test_metadata_windows_are_the_documented_formulas(exported, model, v2_exported):
    _, _, _, v1 = front_ends(exported, model, v2_exported, "v1")
    np.testing.assert_allclose(v1["analysis_window"], sqrt_hann(320), atol=1e-7)
    np.testing.assert_allclose(v1["synthesis_window"], sqrt_hann(320), atol=1e-7)  # 320/160: overlap gain 1
    _, _, _, v2 = front_ends(exported, model, v2_exported, "v2")
    a, s = np.array(v2["analysis_window"]), np.array(v2["synthesis_window"])
    np.testing.assert_allclose(a, np.concatenate([sqrt_hann(704)[:352], sqrt_hann(320)[160:]]), atol=1e-7)
    assert (s[:192] == 0).all()
    np.testing.assert_allclose((a * s)[192:], sqrt_hann(320) ** 2, atol=1e-7)  # hann(320) / (its sum / 160) = 1
    assert (v2["n_fft"], v2["synthesis_len"], v2["hop"], v2["pad_left"], v2["n_bins"]) == (512, 320, 160, 352, 257)


@pytest.mark.parametrize("which", ["v1", "v2", "df"])
def test_documented_offline_recipe_reproduces_denoiser(exported, model, v2_exported, df_exported, which):
    model, path, _, meta = front_ends(exported, model, v2_exported, which, df_exported)
    sess = session(path)
    n_fft, hop, m, pad = meta["n_fft"], meta["hop"], meta["synthesis_len"], meta["pad_left"]
    a, s = np.array(meta["analysis_window"]), np.array(meta["synthesis_window"])
    x = noisy_sample()
    n = len(x)
    t = int(np.ceil((n + m - hop) / hop))
    xp = np.zeros((t - 1) * hop + n_fft)
    xp[pad: pad + n] = x
    spec = np.stack([np.fft.rfft(a * xp[k * hop: k * hop + n_fft]) for k in range(t)], axis=1)  # (K, T)
    (mask,) = sess.run(["mask"], {"features": np_features(spec, meta)})
    y_spec = spec * np_gain(mask[0], meta)
    ola = np.zeros_like(xp)
    for k in range(t):
        ola[k * hop: k * hop + n_fft] += np.fft.irfft(y_spec[:, k], n_fft) * s
    ours = ola[pad: pad + n]
    with torch.no_grad():
        expected = model(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)
    assert np.abs(expected).max() > 1e-3  # not trivially silent


@pytest.mark.parametrize("which", ["v1", "v2", "df"])
def test_documented_streaming_recipe_reproduces_denoiser(exported, model, v2_exported, df_exported, which):
    """Audio in odd-sized chunks, P zeros primed, one frame per hop, an overlap tail of M - H samples."""
    model, _, path, meta = front_ends(exported, model, v2_exported, which, df_exported)
    sess = session(path)
    layout = state_layout(model.model)
    n_fft, hop, m, pad = meta["n_fft"], meta["hop"], meta["synthesis_len"], meta["pad_left"]
    a, s = np.array(meta["analysis_window"]), np.array(meta["synthesis_window"])[n_fft - m:]
    x = noisy_sample(1.0)
    buf, tail, out = np.zeros(pad), np.zeros(m - hop), []
    states = [np.zeros((1, *st["shape"][1:]), np.float32) for st in layout]
    n = len(x)
    frames = int(np.ceil((n + m - hop) / hop))
    stream = np.concatenate([x, np.zeros((frames - 1) * hop + n_fft - pad - n, np.float32)])  # completes the last frame
    rng = np.random.default_rng(0)
    pos = 0
    while pos < len(stream):
        chunk = stream[pos: pos + int(rng.integers(1, 700))]
        pos += len(chunk)
        buf = np.concatenate([buf, chunk])
        specs = []
        while len(buf) >= n_fft:
            specs.append(np.fft.rfft(a * buf[:n_fft]))
            buf = buf[hop:]
        if not specs:
            continue
        spec = np.stack(specs, axis=1)
        feeds = {"features": np_features(spec, meta), **{st["input"]: v for st, v in zip(layout, states)}}
        mask, *states = sess.run(None, feeds)
        for k in range(spec.shape[1]):
            y = np.fft.irfft(spec[:, k] * np_gain(mask[0, :, k], meta), n_fft)[n_fft - m:] * s
            y[: m - hop] += tail
            out.append(y[:hop])
            tail = y[hop:]
    ours = np.concatenate(out)[m - hop: m - hop + n]
    with torch.no_grad():
        expected = model(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)


# -- TorchScript ----------------------------------------------------------------------------------------------
def test_torchscript_offline_matches_torch_and_carries_metadata(exported, model):
    extra = {"speechdae.json": ""}
    ts = torch.jit.load(str(exported("torchscript")), _extra_files=extra)
    assert json.loads(extra["speechdae.json"])["hop"] == 160
    for batch, frames in [(1, 1), (1, 50), (2, 7)]:
        x = features(batch, frames, seed=frames)
        with torch.no_grad():
            got = ts(x).numpy()
        np.testing.assert_allclose(got, torch_mask(model, x), atol=TOL, rtol=0)


def test_torchscript_streaming_reproduces_offline(exported, model):
    ts = torch.jit.load(str(exported("torchscript", streaming=True)))
    layout = state_layout(model.model)
    x = features(1, 90, seed=5)

    def step(chunk, states):
        with torch.no_grad():
            return [t.numpy() for t in ts(torch.from_numpy(chunk), *map(torch.from_numpy, states))]

    got = stream_masks(step, layout, x.numpy(), random_sizes(90, np.random.default_rng(7), 11))
    np.testing.assert_allclose(got, torch_mask(model, x), atol=TOL, rtol=0)


# -- command line ---------------------------------------------------------------------------------------------
def cli(*args, cwd=None):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "speechdae.cli", "export", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def one_line_error(r, *words):
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("speechdae: error:"), r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_cli_exports_streaming_onnx(tmp_path, checkpoint, model):
    need_onnx()
    out = tmp_path / "models" / "denoiser.onnx"
    r = cli("--model", checkpoint, "-o", out, "--streaming")
    assert r.returncode == 0, r.stderr
    assert "onnxruntime matches torch" in r.stdout and r.stderr.strip() == "", r.stderr
    assert out.is_file() and (tmp_path / "models" / "denoiser.onnx.json").is_file()
    assert not [p for p in out.parent.iterdir() if "partial" in p.name]
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["mode"] == "streaming" and meta["checkpoint_version"]
    assert json.loads(meta["metrics"]) == {"si_sdr": 1.0}


def test_cli_exports_torchscript(tmp_path, checkpoint):
    out = tmp_path / "denoiser.pt"
    r = cli("--format", "torchscript", "--model", checkpoint, "-o", out)
    assert r.returncode == 0, r.stderr
    ts = torch.jit.load(str(out))
    assert ts(torch.rand(1, 161, 4)).shape == (1, 161, 4)


def test_cli_bad_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"definitely not a checkpoint")
    out = tmp_path / "x.onnx"
    one_line_error(cli("--model", bad, "-o", out, "--format", "onnx"), "bad.pt", "checkpoint")
    one_line_error(cli("--model", tmp_path / "missing.pt", "-o", out), "missing.pt")
    one_line_error(cli("-o", tmp_path / "x.bin"), "--format")
    assert list(tmp_path.iterdir()) == [bad]


def test_cli_without_onnx_gives_the_install_hint(tmp_path, checkpoint):
    """The README's plain install has no onnx: a shim on PYTHONPATH makes it unimportable, as it is there."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "onnx.py").write_text("raise ModuleNotFoundError(\"No module named 'onnx'\", name='onnx')\n")
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "speechdae.cli", "export", "-o", tmp_path / "x.onnx", "--model",
                        checkpoint], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "speechdae: error: ONNX export needs the 'onnx' package: pip install 'speechdae[export]' "
        "(onnx, onnxscript, onnxruntime)"]
    assert not (tmp_path / "x.onnx").exists()
