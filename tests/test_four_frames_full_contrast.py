"""The paper's synthetic example with full-covariance Adaptive Contrast (issue 12), like
the paper's diagonal r(z|x) in test_four_frames.py: AVB trained by `model.fit` with the
`four_frames` preset (2000 steps) and r(z|x) the full Gaussian must come within 0.15 nats
of the optimum -log 4, and a short training of a fresh decoder and a fresh full-contrast
adversary behind the shipped encoder must close most of the gap (both slow: the default
suite keeps test_four_frames.py's short training with the preset's diagonal contrast, and
checks the full contrast's KL estimate in test_adversary.py and test_full_contrast.py)."""

import pytest
from conftest import (FOUR_FRAMES_OPTIMUM, check_four_frames_short_training,
                      four_frames_log_likelihood)

from avb_keras import AVB


@pytest.mark.slow
def test_a_short_training_with_full_contrast_closes_most_of_the_gap():
    """As test_four_frames.py::test_a_short_training_of_the_decoder_closes_most_of_the_gap,
    with r(z|x) the full Gaussian and its adversary freshly initialized."""
    # tolerance_measurements.py four_frames_short_training (full), seeds 0-5: before
    # -2.805 to -2.760, gain 1.220 to 1.248, gap to the optimum 0.150 to 0.174; tolerances
    # 1.05 and 0.27 (the spread over seeds, 0.03, three times over).
    check_four_frames_short_training("full", 8, min_gain=1.05, max_gap=0.27)


@pytest.mark.slow
def test_avb_with_full_covariance_adaptive_contrast_reaches_the_optimum():
    log_likelihood = four_frames_log_likelihood(AVB, adaptive_contrast="full")
    print(f"four_frames AVB+AC (full): log p(x) = {log_likelihood:.4f} "
          f"(optimum {FOUR_FRAMES_OPTIMUM:.4f})")
    # tests/tolerance_measurements.py four_frames_training: 0.090 at seed 0 (the diagonal
    # contrast in the same session: 0.029), within the diagonal's measured run-to-run
    # spread of 0.03 to 0.095. Tolerance 0.15, as for the diagonal contrast.
    assert log_likelihood > FOUR_FRAMES_OPTIMUM - 0.15
