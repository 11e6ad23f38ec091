"""The bundled model on the development set (../shared/data): it must clean real recordings."""
import numpy as np

import speechdae
from speechdae.data import list_audio
from speechdae.evaluate import evaluate, generated_items, summarize


def test_bundled_model_beats_the_noisy_input_on_the_dev_set(shared_data):
    model = speechdae.load_model()
    items = generated_items(shared_data / "speech" / "dev", shared_data / "noise" / "dev", (0, 5, 10), seed=0,
                            sample_rate=16000, limit=12, max_seconds=6.0)
    rows = evaluate({"speechdae": model.denoise}, items, 16000, progress=False)
    dev_noise = {f.name for f in list_audio(shared_data / "noise" / "dev")}  # FLAC and OGG
    assert {r["noise"] for r in rows} <= dev_noise and len({r["noise"] for r in rows}) > 1  # each row names its noise
    s = {r["system"]: r for r in summarize(rows) if r["snr"] == "all"}
    noisy, ours = s["noisy"], s["speechdae"]
    assert ours["si_sdr"] > noisy["si_sdr"], (noisy, ours)
    # In the speech band: the dev references carry low-frequency rumble that the model removes (metrics.py).
    assert ours["si_sdr_hp"] > noisy["si_sdr_hp"] + 2.0, (noisy, ours)
    assert ours["pesq"] > noisy["pesq"] + 0.2, (noisy, ours)
    assert ours["stoi"] >= noisy["stoi"], (noisy, ours)  # intelligibility is not traded away
    assert np.isfinite([ours["stoi"], ours["pesq"], ours["si_sdr"]]).all()
