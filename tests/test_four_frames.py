"""The paper's synthetic example: four one-hot 2x2 images, a 2-d latent.

The exact maximum log-likelihood is -log 4 = -1.386 nats per example, and
log p(x) of a trained model is computed exactly by quadrature over the latent
plane. AVB with Adaptive Contrast, trained by `model.fit` with the preset
(2000 steps), must come within 0.15 nats of the optimum (the VAE, 0.23 away in
docs/RESULTS.md, does not); in the slow test it must also beat the VAE trained
with the same budget.
"""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import FOUR_FRAMES_OPTIMUM, four_frames_log_likelihood

from avb_keras import AVB, VAE
from avb_keras.evaluation import quadrature_log_likelihood

FRAMES = np.eye(4, dtype="float32").reshape(4, 2, 2, 1)
OPTIMUM = FOUR_FRAMES_OPTIMUM


def test_quadrature_is_exact_for_a_known_model():
    # A decoder that ignores z and outputs p = 1/4 per pixel: log p(x) = 1*log(1/4) + 3*log(3/4).
    model = VAE.from_preset("four_frames")
    last = model.decoder.layers[-2]
    weights = [np.zeros_like(w) for w in last.get_weights()]
    weights[1][:] = math.log(0.25 / 0.75)
    last.set_weights(weights)
    expected = math.log(0.25) + 3 * math.log(0.75)
    np.testing.assert_allclose(quadrature_log_likelihood(model, FRAMES), expected, atol=1e-5)


def test_avb_with_adaptive_contrast_reaches_the_optimum():
    """The paper's diagonal r(z|x); the full-covariance one is in
    test_four_frames_full_contrast.py (its own module, so that the two long trainings can
    run in two pytest workers)."""
    log_likelihood = four_frames_log_likelihood(AVB, adaptive_contrast=True)
    print(f"four_frames AVB+AC (diagonal): log p(x) = {log_likelihood:.4f} "
          f"(optimum {FOUR_FRAMES_OPTIMUM:.4f})")
    # The gap depends on the run, and another machine's round-off makes another run.
    # tests/tolerance_measurements.py four_frames_training (diagonal): 0.043 here (seed 0),
    # 0.030 with XLA, 0.093 with seed 1; the shipped saved_models/ run 0.095. Tolerance 0.15.
    assert log_likelihood > FOUR_FRAMES_OPTIMUM - 0.15


@pytest.mark.slow
def test_example_avb_beats_the_vae_at_equal_budget(tmp_path):
    # examples/four_frames.py at its default budget (the preset's), about 5 minutes.
    spec = importlib.util.spec_from_file_location(
        "four_frames_example", Path(__file__).resolve().parents[1] / "examples" / "four_frames.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    scores = {name: row["log_px"] for name, row in example.main(["--out", str(tmp_path)])[
        "models"].items()}
    print("four_frames log p(x), same budget:", {k: round(v, 4) for k, v in scores.items()})
    assert scores["AVB+AC"] > OPTIMUM - 0.1
    assert scores["AVB+AC"] > scores["VAE"]
    assert (tmp_path / "four_frames.png").stat().st_size > 0
