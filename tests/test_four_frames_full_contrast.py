"""The paper's synthetic example with full-covariance Adaptive Contrast (issue 12):
AVB trained by `model.fit` with the `four_frames` preset (2000 steps) and r(z|x) the
full Gaussian must come within 0.15 nats of the optimum -log 4, like the paper's diagonal
r(z|x) in test_four_frames.py."""

from conftest import FOUR_FRAMES_OPTIMUM, four_frames_log_likelihood

from avb_keras import AVB


def test_avb_with_full_covariance_adaptive_contrast_reaches_the_optimum():
    log_likelihood = four_frames_log_likelihood(AVB, adaptive_contrast="full")
    print(f"four_frames AVB+AC (full): log p(x) = {log_likelihood:.4f} "
          f"(optimum {FOUR_FRAMES_OPTIMUM:.4f})")
    # tests/tolerance_measurements.py four_frames_training: 0.090 at seed 0 (the diagonal
    # contrast in the same session: 0.029), within the diagonal's measured run-to-run
    # spread of 0.03 to 0.095. Tolerance 0.15, as for the diagonal contrast.
    assert log_likelihood > FOUR_FRAMES_OPTIMUM - 0.15
