"""Training settings from the command line, the bf16 precision switch and the real-valued spectral loss."""
import dataclasses

import pytest
import torch

from speechdae import precision
from speechdae.config import TrainConfig, apply_overrides, config_from_dict
from speechdae.errors import SpeechDAEError
from speechdae.losses import Target, spectral_loss
from speechdae.model import DenoisingAutoencoder, ModelConfig
from speechdae.spectral import STFT, STFTConfig

BASE = TrainConfig(speech=["s"], noise=["n"])


def test_top_level_nested_and_list_settings_are_parsed_by_their_declared_types():
    cfg = apply_overrides(BASE, ["--lr=5e-4", "--batch-size", "8", "--model.code=96", "--corruption.p_babble=0.3",
                                 "--speech", "a", "b", "--time-limit=12.5", "--init-from=none",
                                 "--model.dilations=1,2,4", "--corruption.snr_db=(-5, 10)", "--amp=off",
                                 "--stft.synthesis=320", "--stft.n_fft=512", "--model.n_bins=257"])
    assert cfg.lr == 5e-4 and cfg.batch_size == 8 and cfg.time_limit_minutes == 12.5 and cfg.init_from is None
    assert cfg.model.code == 96 and cfg.model.dilations == (1, 2, 4)
    assert cfg.corruption.p_babble == 0.3 and cfg.corruption.snr_db == (-5.0, 10.0)
    assert cfg.speech == ["a", "b"] and cfg.noise == ["n"] and cfg.amp == "off"
    assert cfg.stft == STFTConfig(n_fft=512, synthesis=320)
    assert BASE.lr == 1e-3 and BASE.model.code == 128  # the recipe's own config is left as it was


@pytest.mark.parametrize("argv, message", [
    (["--lr=fast"], "--lr: expected float"),
    (["--steps=1.5"], "--steps: expected int"),
    (["--model.code=big"], "--model.code: expected int"),
    (["--ema-decay"], "expected one value"),
    (["--lr=1", "2"], "expected one value"),
    (["--lrate=1"], "--lrate: unknown setting"),
    (["--model.width=3"], "--model.width: unknown setting"),
    (["--optimizer.lr=3"], "--optimizer.lr: unknown setting"),
    (["--corruption.snr_db=1,2,3"], "expected 2 comma-separated values"),
    (["--amp=fp8"], "unknown amp 'fp8'"),
    (["--stft.synthesis=300"], "invalid setting"),
    (["stray"], "unexpected argument"),
])
def test_wrong_types_and_unknown_keys_are_refused_in_one_line(argv, message):
    with pytest.raises(SpeechDAEError, match=message) as e:
        apply_overrides(BASE, argv)
    assert "\n" not in str(e.value)


def test_checkpoints_from_before_the_precision_setting_still_load():
    d = dataclasses.asdict(BASE)
    d["amp"] = True  # v1-v10 stored amp as a CUDA-only switch
    assert config_from_dict(d).amp == "auto"
    d["amp"] = False
    assert config_from_dict(d).amp == "off"


def test_auto_precision_uses_bf16_only_where_the_cpu_has_bf16_units():
    cpu = torch.device("cpu")
    assert precision.autocast_dtype("off", cpu) is None
    assert precision.autocast_dtype("bf16", cpu) is torch.bfloat16
    want = torch.bfloat16 if precision.cpu_has_bf16_units() and precision.cpu_bf16_speedup() > 1.5 else None
    assert precision.autocast_dtype("auto", cpu) is want
    assert "precision:" in precision.describe("auto", cpu)


def test_the_bf16_timing_is_not_decided_by_one_preempted_round(monkeypatch):
    # Three runs starting at once on two cores once made "auto" pick fp32 for one of them: the fastest of the
    # rounds decides. Here bf16 is 2.5x faster except in the rounds another process took the core.
    calls = {torch.float32: 0, torch.bfloat16: 0}

    def timing(dtype):
        calls[dtype] += 1
        slow = calls[dtype] in (2, 3)  # untimed first call, then two pre-empted rounds
        return (0.1 if slow else 0.0) + (2.5e-3 if dtype is torch.float32 else 1e-3)

    monkeypatch.setattr(precision, "_time_matmul", timing)
    assert precision.cpu_bf16_speedup.__wrapped__(rounds=5) == pytest.approx(2.5)


def test_bf16_autocast_on_the_cpu_gives_a_finite_loss_and_gradients_close_to_fp32():
    torch.manual_seed(0)
    stft = STFT(STFTConfig())
    model = DenoisingAutoencoder(ModelConfig(hidden=32, code=16, dilations=(1, 2)))
    clean = torch.randn(2, 4000) * 0.1
    noisy = clean + 0.05 * torch.randn(2, 4000)
    t = Target.make(stft(noisy), stft(clean), clean, 0.3)
    features = stft.compress(t.noisy_mag)

    def grads(dtype):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is torch.bfloat16):
            mask = model(features)
        loss = spectral_loss(mask.float(), t, 0.3, 0.3, 2.0)  # the loss stays fp32: see precision.py
        loss.backward()
        return loss, torch.cat([p.grad.flatten() for p in model.parameters()])

    loss32, g32 = grads(torch.float32)
    loss16, g16 = grads(torch.bfloat16)
    assert torch.isfinite(loss16) and torch.isfinite(g16).all()
    assert abs(loss16 - loss32) < 0.02 * abs(loss32)
    cos = torch.nn.functional.cosine_similarity(g16, g32, dim=0)
    assert cos > 0.99, cos  # bf16 keeps 8 bits of mantissa: the gradient's direction, to about 1 %
    assert (g16 - g32).norm() < 0.1 * g32.norm()


def reference_spectral_loss(enhanced, clean, c, complex_weight, speech_weight):
    """The loss as v1-v10 computed it, on complex tensors."""
    em, cm = (enhanced.abs() + 1e-8) ** c, (clean.abs() + 1e-8) ** c
    err = em - cm
    mag = (torch.where(err < 0, speech_weight, 1.0) * err.pow(2)).mean()
    ec = em * enhanced / (enhanced.abs() + 1e-8)
    cc = cm * clean / (clean.abs() + 1e-8)
    cplx = (ec - cc).abs().pow(2).mean()
    return (1 - complex_weight) * mag + complex_weight * cplx


def test_real_valued_spectral_loss_equals_the_complex_one_with_its_gradient():
    torch.manual_seed(1)
    stft = STFT(STFTConfig(n_fft=512, synthesis=320))
    clean = torch.randn(2, 8000, dtype=torch.float64)
    noisy = clean + torch.randn(2, 8000, dtype=torch.float64)
    stft = stft.double()
    noisy_spec, clean_spec = stft(noisy), stft(clean)
    mask = torch.rand(noisy_spec.shape, dtype=torch.float64, requires_grad=True)
    ours = spectral_loss(mask, Target.make(noisy_spec, clean_spec, clean, 0.3), 0.3, 0.3, 4.0)
    (g_ours,) = torch.autograd.grad(ours, mask)
    ref = reference_spectral_loss(noisy_spec * mask, clean_spec, 0.3, 0.3, 4.0)
    (g_ref,) = torch.autograd.grad(ref, mask)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(g_ours, g_ref, rtol=1e-4, atol=1e-12)
