"""benchmarks/oracle.py: the oracle gains are what they say, through the model's own STFT."""
import numpy as np

import speechdae
from benchmarks.oracle import oracle_gains


def test_oracle_gains_undo_a_known_corruption_only_as_far_as_their_form_allows():
    model = speechdae.load_model()
    clean = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    # Half the level: a real gain of 0.5 in every bin undoes it exactly.
    np.testing.assert_allclose(oracle_gains(model, 2 * clean, clean), clean, atol=1e-4)
    # Inverted and doubled: the level is undone, but a real gain keeps the noisy (flipped) phase ...
    flipped = -2 * clean
    np.testing.assert_allclose(oracle_gains(model, flipped, clean), -clean, atol=1e-4)
    # ... and the clean phase below 2 kHz undoes the flip there only; below 9 kHz (all of it), everywhere.
    low = oracle_gains(model, flipped, clean, 2000.0)
    assert 0.1 < np.mean((low - clean) ** 2) / np.mean(clean**2) < 3.9
    np.testing.assert_allclose(oracle_gains(model, flipped, clean, 9000.0), clean, atol=1e-4)
