"""TensorBoard in a real browser: the dashboards list a monitored run's tags.

Needs Debian's `chromium` and `chromium-driver` and the `selenium` package
(`.ci/run` installs the browser); skips with the reason when they are absent.
The screenshots are kept under the test's tmp_path (the path is printed).
"""

import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import binary_images, tiny_avb

from avb_keras import callbacks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import tensorboard_screenshot as browser  # noqa: E402

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(browser.missing_browser() is not None,
                                 reason=str(browser.missing_browser()))]


def test_scalars_and_images_dashboards_list_the_runs_tags(tmp_path):
    logs = tmp_path / "run" / "logs"
    model = tiny_avb(latent_dim=2)
    model.compile()
    x = binary_images(32)
    model.fit(x, batch_size=8, epochs=2, validation_data=x[:8], verbose=0,
              callbacks=[keras.callbacks.TensorBoard(str(logs), write_graph=False),
                         *callbacks.monitoring_callbacks(logs / "avb", (x[:16], np.arange(16) % 4),
                                                         log_every=2)])
    scalar_tags = ["adversary/separation", "adversary/logit_q_mean", "gradient_norm/primal",
                   "gradient_norm/adversary", "learning_rate/adversary", "metrics/kl",
                   "posterior/sigma_mean", "epoch/val_elbo"]
    image_tags = ["images/prior_samples", "images/reconstructions", "images/posteriors"]
    with browser.start_tensorboard(logs) as url, browser.chromium() as driver:
        # Each tag's card ("tag: NAME") under a filter matching exactly these tags.
        scalars = browser.open_dashboard(driver, url, "scalars", [f"tag: {t}" for t in scalar_tags],
                                         tag_filter=_exactly(scalar_tags))
        driver.save_screenshot(str(tmp_path / "scalars.png"))
        images = browser.open_dashboard(driver, url, "images", [f"tag: {t}" for t in image_tags],
                                        tag_filter=_exactly(image_tags))
        driver.save_screenshot(str(tmp_path / "images.png"))
    print(f"screenshots: {tmp_path / 'scalars.png'} {tmp_path / 'images.png'}")
    # The filter matched these tags and no others; the run selector lists our writer beside
    # Keras's two; the images' slider stands at the last primal step.
    assert f"/ {_exactly(scalar_tags)} / {len(scalar_tags)}" in scalars
    assert f"/ {_exactly(image_tags)} / {len(image_tags)}" in images
    assert all(run in scalars for run in ("avb", "train", "validation"))
    assert "step 8" in images
    for name in ("scalars.png", "images.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _exactly(tags):
    return "|".join(f"^{t}$" for t in tags)
