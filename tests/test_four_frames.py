"""The paper's synthetic example: four one-hot 2x2 images, a 2-d latent.

The exact maximum log-likelihood is -log 4 = -1.386 nats per example, and
log p(x) of a trained model is computed exactly by quadrature over the latent
plane. AVB with Adaptive Contrast, trained by `model.fit` with the preset
(2000 steps), must come within 0.15 nats of the optimum (the VAE, 0.23 away in
docs/RESULTS.md, does not).

The default suite checks this in seconds: on the shipped run of that training
(`four_frames_avb_ac`), and with a short training (128 steps) of a fresh decoder
behind that run's encoder, whose gain it checks in direction and size. The slow tests
train from scratch: the preset's full budget, and the example's AVB against the VAE.
"""

import math

import numpy as np
import pytest
from conftest import (FOUR_FRAMES_OPTIMUM, check_four_frames_short_training,
                      four_frames_log_likelihood, load_script)

from avb_keras import AVB, VAE
from avb_keras.evaluation import quadrature_log_likelihood

FRAMES = np.eye(4, dtype="float32").reshape(4, 2, 2, 1)
OPTIMUM = FOUR_FRAMES_OPTIMUM
#: The short training: epochs of 16 steps.
SHORT_EPOCHS = 8


def test_quadrature_is_exact_for_a_known_model():
    # A decoder that ignores z and outputs p = 1/4 per pixel: log p(x) = 1*log(1/4) + 3*log(3/4).
    model = VAE.from_preset("four_frames")
    last = model.decoder.layers[-2]
    weights = [np.zeros_like(w) for w in last.get_weights()]
    weights[1][:] = math.log(0.25 / 0.75)
    last.set_weights(weights)
    expected = math.log(0.25) + 3 * math.log(0.75)
    np.testing.assert_allclose(quadrature_log_likelihood(model, FRAMES), expected, atol=1e-5)


def test_the_shipped_training_reached_the_optimum():
    """The run behind saved_models/presets/four_frames_avb_ac is the training of the slow
    test below (`avb-keras train`: the four_frames preset, diagonal contrast, 2000 steps,
    seed 0); its weights, loaded as a preset, must be within the slow test's 0.15 nats."""
    model = AVB.from_preset("four_frames_avb_ac")
    assert model.adaptive_contrast == "diagonal" and model.latent_dim == 2
    log_likelihood = float(np.mean(quadrature_log_likelihood(model, FRAMES)))
    print(f"four_frames_avb_ac: log p(x) = {log_likelihood:.4f} (optimum {OPTIMUM:.4f})")
    # Its card records -1.4157 (the same quadrature on the exported decoder); no model of
    # the four frames can exceed the optimum.
    assert OPTIMUM - 0.15 < log_likelihood <= OPTIMUM


def test_a_short_training_of_the_decoder_closes_most_of_the_gap():
    """128 steps of the preset's training (all players) behind the shipped encoder and
    adversary: a fresh decoder must gain more than a nat, well past the -2.249 of the
    best decoder that ignores z (p = 1/4 a pixel), toward the optimum."""
    # tolerance_measurements.py four_frames_short_training (diagonal), seeds 0-5: before
    # -2.805 to -2.760, gain 1.161 to 1.184, gap to the optimum 0.192 to 0.238; tolerances
    # 1.0 and 0.33 (the spread over seeds, 0.05, twice over).
    check_four_frames_short_training(True, SHORT_EPOCHS, min_gain=1.0, max_gap=0.33)


@pytest.mark.slow
def test_avb_with_adaptive_contrast_reaches_the_optimum():
    """The preset's full budget from scratch (about 2 minutes on 2 CPU cores). The
    full-covariance r(z|x) is in test_four_frames_full_contrast.py (its own module, so
    that the two long trainings can run in two pytest workers)."""
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
    example = load_script("examples/four_frames.py")
    scores = {name: row["log_px"] for name, row in example.main(["--out", str(tmp_path)])[
        "models"].items()}
    print("four_frames log p(x), same budget:", {k: round(v, 4) for k, v in scores.items()})
    assert scores["AVB+AC"] > OPTIMUM - 0.1
    assert scores["AVB+AC"] > scores["VAE"]
    assert (tmp_path / "four_frames.png").stat().st_size > 0
