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

import keras
import numpy as np
import pytest

from avb_keras import AVB, VAE, datasets
from avb_keras.evaluation import quadrature_log_likelihood

OPTIMUM = -math.log(4.0)
FRAMES = np.eye(4, dtype="float32").reshape(4, 2, 2, 1)


def train_and_score(cls, **overrides):
    keras.utils.set_random_seed(0)
    model = cls.from_preset("four_frames", seed=0, **overrides)
    # Graph mode: measured about 2x faster than XLA for this tiny preset on CPU.
    model.compile(jit_compile=False)
    data = datasets.load("four_frames", batch_size=512, seed=0)
    model.fit(data, epochs=model_epochs(), verbose=0)
    return float(np.mean(quadrature_log_likelihood(model, FRAMES)))


def model_epochs():
    from avb_keras import presets
    return presets.get("four_frames").epochs


def test_quadrature_is_exact_for_a_known_model():
    # A decoder that ignores z and outputs p = 1/4 per pixel: log p(x) = 1*log(1/4) + 3*log(3/4).
    model = VAE.from_preset("four_frames")
    last = model.decoder.layers[-2]
    weights = [np.zeros_like(w) for w in last.get_weights()]
    weights[1][:] = math.log(0.25 / 0.75)
    last.set_weights(weights)
    expected = math.log(0.25) + 3 * math.log(0.75)
    np.testing.assert_allclose(quadrature_log_likelihood(model, FRAMES), expected, atol=1e-5)


@pytest.mark.parametrize("adaptive_contrast", [True, "full"])
def test_avb_with_adaptive_contrast_reaches_the_optimum(adaptive_contrast):
    """The paper's diagonal r(z|x), and the full-covariance one."""
    log_likelihood = train_and_score(AVB, adaptive_contrast=adaptive_contrast)
    print(f"four_frames AVB+AC ({adaptive_contrast}): log p(x) = {log_likelihood:.4f} "
          f"(optimum {OPTIMUM:.4f})")
    # The gap depends on the run, and another machine's round-off makes another run.
    # tests/tolerance_measurements.py four_frames_training (diagonal): 0.043 here (seed 0),
    # 0.030 with XLA, 0.093 with seed 1; the shipped saved_models/ run 0.095. The full
    # covariance: 0.090 at seed 0 (diagonal in the same session: 0.029). Tolerance 0.15.
    assert log_likelihood > OPTIMUM - 0.15


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
