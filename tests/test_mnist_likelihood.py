"""benchmarks/mnist_likelihood.py at its default (tiny) budget, on the full MNIST."""

import json

import numpy as np
import pytest
from conftest import MNIST_PATH, load_script


@pytest.mark.slow
@pytest.mark.skipif(not MNIST_PATH.exists(), reason=f"full MNIST not found at {MNIST_PATH}")
def test_default_budget_table(tmp_path):
    # About 3 minutes on 2 CPU cores: six models, 100 steps each, AIS on 50 test images.
    benchmark = load_script("benchmarks/mnist_likelihood.py")
    result = benchmark.main(["--out", str(tmp_path), "--data-path", str(MNIST_PATH)])
    rows = json.loads((tmp_path / "mnist_likelihood.json").read_text())["rows"]
    assert rows == result["rows"] and len(rows) == 6
    assert {(r["model"], r["latent_dim"]) for r in rows} == {
        (m, d) for m in ("VAE", "AVB", "AVB+AC") for d in (8, 32)}
    for r in rows:
        assert np.isfinite([r["ais_log_px"], r["elbo"], r["reconstruction"]]).all()
        assert r["train_steps"] == 100
        if r["model"] == "VAE":  # a true bound: AIS (in expectation above it) within 3 se
            assert r["ais_log_px"] > r["elbo"] - 3 * r["ais_standard_error"]
    assert "| AVB+AC | 32 |" in (tmp_path / "mnist_likelihood.md").read_text()
    assert (tmp_path / "mnist_likelihood.png").stat().st_size > 0
