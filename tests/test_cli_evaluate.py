"""`avb-keras evaluate` and `avb-keras sample` on a tiny four_frames run, and their user errors."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from avb_keras import cli, evaluation, saving, seeding
from avb_keras.cli import evaluating
from avb_keras.cli.common import first_images, load_split

#: |AIS - quadrature| of the mean log p(x) over the first 64 test images with 50 AIS
#: steps: at most 0.025 nats over seeds 0-15 (0.006 at the seed used here).
AIS_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A four_frames AVB run of 2 steps (its 2-d latent allows exact quadrature)."""
    run_dir = tmp_path_factory.mktemp("evaluate") / "run"
    assert cli.main(["train", "--dataset", "four_frames", "--epochs", "1",
                     "--steps-per-epoch", "2", "--batch-size", "32", "--log-every", "1000",
                     "--run-dir", str(run_dir)]) == 0
    return run_dir


def test_evaluate_reports_the_runs_test_metrics_kl_bound_and_ais(run_dir, capsys):
    assert cli.main(["evaluate", str(run_dir), "--ais", "--num-examples", "64",
                     "--ais-steps", "50"]) == 0
    out = capsys.readouterr().out
    assert "AIS log p(x)" in out
    report = json.loads((run_dir / "evaluation.json").read_text())
    # An adversary's ELBO is labelled as its estimate, and corrected by the KL bound.
    assert f"elbo: {report['test']['elbo']:.4f} (the adversary's estimate)" in out
    bound = report["kl_lower_bound"]
    shortfall = max(0.0, bound["mean"] - bound["model_kl_mean"])
    assert report["corrected"]["elbo"] == pytest.approx(report["test"]["elbo"] - shortfall,
                                                        abs=1e-4)
    assert f"bound-corrected elbo: {report['corrected']['elbo']:.4f}" in out
    assert f"Report written to {run_dir / 'evaluation.json'}" in out
    assert report["data"] == {"dataset": "four_frames", "data_path": None, "image_size": None,
                              "batch_size": 32, "seed": 0}
    # The run's test split, with the model's draws seeded by the run's seed.
    model = saving.load_model(run_dir / "model.keras")
    test_data = load_split("four_frames", "test", 32, None, 0, None)
    with seeding.seeded(model, 0):
        expected = model.evaluate(test_data, return_dict=True, verbose=0)
    assert report["test"] == pytest.approx(expected, rel=1e-5)
    assert bound["num_examples"] == 64 and bound["mean"] > 0
    assert np.isfinite(bound["model_kl_mean"])
    # AIS against the exact log-likelihood of the same images.
    exact = evaluation.quadrature_log_likelihood(model, first_images(model, test_data, 64))
    assert report["ais"]["num_examples"] == 64
    assert report["ais"]["mean"] == pytest.approx(float(np.mean(exact)), abs=AIS_TOLERANCE)


def test_evaluate_a_bare_model_file_with_dataset_and_out(run_dir, tmp_path):
    out = tmp_path / "report.json"
    assert cli.main(["evaluate", str(run_dir / "model.keras"), "--dataset", "four_frames",
                     "--seed", "5", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["data"]["batch_size"] == 128 and report["data"]["seed"] == 5
    assert "ais" not in report and all(np.isfinite(v) for v in report["test"].values())


@pytest.mark.parametrize("make_args, message", [
    (lambda run, tmp: ["evaluate", str(tmp / "missing")], "No model at"),
    (lambda run, tmp: ["evaluate", str(run / "model.keras")], "give --dataset"),
    (lambda run, tmp: ["evaluate", str(run), "--dataset", "mnist_small"],
     "takes data shaped (2, 2, 1)"),
    (lambda run, tmp: ["evaluate", str(_damaged_copy(run, tmp))], "damaged or truncated"),
    (lambda run, tmp: ["sample", str(_damaged_copy(run, tmp)), "--out", str(tmp / "g.png")],
     "damaged or truncated"),
    (lambda run, tmp: ["sample", str(run), "--num", "0", "--out", str(tmp / "g.png")],
     "expected a positive integer, got 0"),
])
def test_user_errors_are_one_line_and_exit_2(make_args, message, run_dir, tmp_path, capsys):
    try:
        code = cli.main(make_args(run_dir, tmp_path))
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    stderr = capsys.readouterr().err
    assert code == 2
    assert message in stderr and len(stderr.strip().splitlines()) == 1


def _damaged_copy(run_dir, tmp_path):
    """A copy of the run folder whose model.keras is cut in half."""
    copy = tmp_path / "damaged"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("logs", "checkpoints"))
    data = (copy / "model.keras").read_bytes()
    (copy / "model.keras").write_bytes(data[:len(data) // 2])
    return copy


def test_sample_writes_a_grid_of_the_data_shape_repeatably(run_dir, tmp_path):
    paths = [tmp_path / name for name in ("a.png", "b.png", "c.png")]
    for path, seed in zip(paths, (1, 1, 2)):
        assert cli.main(["sample", str(run_dir), "--num", "10", "--out", str(path),
                         "--seed", str(seed)]) == 0
    grid = tf.io.decode_png(paths[0].read_bytes()).numpy()
    # 10 images of 2x2x1 in 4 columns and 3 rows, one pixel of padding around each.
    assert grid.shape == (3 * 3 + 1, 4 * 3 + 1, 1)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_elbos_above_the_ais_log_likelihood_are_flagged():
    report = {"test": {"elbo": -0.90}, "corrected": {"elbo": -1.40},  # 1 s.e. above: not flagged
              "ais": {"mean": -1.42, "standard_error": 0.02}}
    assert evaluating.impossible_elbos(report) == ["adversary's elbo estimate"]
    report["corrected"]["elbo"] = -1.35  # 3.5 standard errors above: flagged too
    assert len(evaluating.impossible_elbos(report)) == 2
    vae = {"test": {"elbo": -1.45}, "ais": {"mean": -1.42, "standard_error": 0.02}}
    assert evaluating.impossible_elbos(vae) == []


def test_evaluating_a_pretrained_preset_flags_its_impossible_elbo(tmp_path, monkeypatch, capsys):
    """four_frames_avb_ac: the adversary's ELBO, -0.90, is above log p(x) <= -log 4."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["evaluate", "four_frames_avb_ac", "--ais", "--num-examples", "16",
                     "--ais-steps", "20"]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "four_frames_avb_ac.evaluation.json").read_text())
    assert report["test"]["elbo"] > -np.log(4) > report["ais"]["mean"]
    assert "adversary's elbo estimate" in report["impossible"]
    assert "IMPOSSIBLE: the adversary's elbo estimate" in out
    assert "Report written to four_frames_avb_ac.evaluation.json" in out


def test_sample_writes_to_a_default_file_it_names(run_dir, tmp_path, monkeypatch, capsys):
    assert cli.main(["sample", str(run_dir), "--num", "4"]) == 0
    assert f"to {run_dir / 'samples.png'}" in capsys.readouterr().out
    assert tf.io.decode_png((run_dir / "samples.png").read_bytes()).shape == (7, 7, 1)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["sample", "four_frames_avb_ac", "--num", "4"]) == 0
    assert "to four_frames_avb_ac.samples.png" in capsys.readouterr().out
    assert (tmp_path / "four_frames_avb_ac.samples.png").is_file()
