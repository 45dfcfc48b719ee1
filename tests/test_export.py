"""SavedModel export: signature defs, the signatures' behaviour, versions, atomicity, card, CLI.

Loading in a fresh process and requests are in test_serving.py.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_SHAPE, binary_images
from export_helpers import MODELS, export_all

from avb_keras import cli, contrast
from avb_keras.saving import save_model
from avb_keras.export import (export_decoder, export_encoder, next_version, read_signature_defs,
                              reseed, seed_generators, versions)
from avb_keras.export import model_card, savedmodel

PREDICT = "tensorflow/serving/predict"
#: TensorFlow's script beside the Python running the tests (any virtualenv, not only the
#: repository's .venv).
SAVED_MODEL_CLI = Path(sys.executable).parent / "saved_model_cli"


@pytest.fixture(scope="module")
def exported():
    return export_all()


def spec(info):
    return tf.as_dtype(info.dtype).name, [d.size for d in info.tensor_shape.dim]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_signature_defs_have_the_documented_names_dtypes_and_shapes(exported, name):
    model, decoder_dir, encoder_dir = exported[name]
    d, image = model.latent_dim, [-1, *TINY_SHAPE]

    decoder = read_signature_defs(decoder_dir)
    assert set(decoder) == {"serving_default", "sample"}
    assert {sig.method_name for sig in decoder.values()} == {PREDICT}
    default = decoder["serving_default"]
    assert {k: spec(v) for k, v in default.inputs.items()} == {"z": ("float32", [-1, d])}
    assert {k: spec(v) for k, v in default.outputs.items()} == {
        "probs": ("float32", image), "logits": ("float32", image)}
    sample = decoder["sample"]
    assert {k: spec(v) for k, v in sample.inputs.items()} == {
        "num_samples": ("int32", []), "seed": ("int64", [])}
    assert {k: spec(v) for k, v in sample.outputs.items()} == {
        "images": ("float32", image), "z": ("float32", [-1, d])}

    encoder = read_signature_defs(encoder_dir)
    assert set(encoder) == {"encode"} and encoder["encode"].method_name == PREDICT
    assert {k: spec(v) for k, v in encoder["encode"].inputs.items()} == {
        "x": ("float32", image), "seed": ("int64", [])}
    assert {k: spec(v) for k, v in encoder["encode"].outputs.items()} == {
        key: ("float32", [-1, d]) for key in MODELS[name][1]}

    # TensorFlow's loader sees the same signatures.
    loaded = tf.saved_model.load(str(decoder_dir))
    assert set(loaded.signatures) == {"serving_default", "sample"}
    assert loaded.signatures["serving_default"].structured_input_signature[1]["z"].shape \
        .as_list() == [None, d]


@pytest.mark.e2e
def test_saved_model_cli_shows_the_signatures(exported):
    _, decoder_dir, _ = exported["avb_ac_moment"]
    _, _, encoder_dir = exported["vae"]
    shown = {}
    for path in (decoder_dir, encoder_dir):
        result = subprocess.run([str(SAVED_MODEL_CLI), "show", "--dir", str(path), "--all"],
                                capture_output=True, text=True, timeout=120,
                                env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, result.stderr[-2000:]
        shown[path] = result.stdout
    decoder, encoder = shown[decoder_dir], shown[encoder_dir]
    for text in (decoder, encoder):
        assert "MetaGraphDef with tag-set: 'serve'" in text
        assert text.count(f"Method name is: {PREDICT}") == (2 if text is decoder else 1)
    assert "signature_def['serving_default']" in decoder and "signature_def['sample']" in decoder
    for line in ("inputs['z'] tensor_info:", "outputs['probs'] tensor_info:",
                 "outputs['logits'] tensor_info:", "inputs['num_samples'] tensor_info:",
                 "outputs['images'] tensor_info:", "dtype: DT_INT32", "shape: (-1, 3)",
                 "shape: (-1, 4, 4, 1)", "name: serving_default_z:0"):
        assert line in decoder, line
    for line in ("signature_def['encode']", "inputs['x'] tensor_info:", "inputs['seed']",
                 "dtype: DT_INT64", "outputs['z_mean']", "outputs['z_std']"):
        assert line in encoder, line


# ------------------------------------------------------------------ signature behaviour

def test_decoder_signatures_match_the_model_and_sampling_is_seeded(exported):
    model, decoder_dir, _ = exported["avb_ac_implicit"]
    signatures = tf.saved_model.load(str(decoder_dir)).signatures
    z = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    out = signatures["serving_default"](z=tf.constant(z))
    np.testing.assert_allclose(out["probs"], model.decode(z), atol=1e-6)
    np.testing.assert_allclose(out["logits"], model.decoder(z), atol=1e-5)

    def sample(n, seed):
        return signatures["sample"](num_samples=tf.constant(n, tf.int32),
                                    seed=tf.constant(seed, tf.int64))

    a, b, c = sample(2000, 7), sample(2000, 7), sample(2000, 8)
    np.testing.assert_array_equal(a["images"], b["images"])
    assert not np.allclose(a["z"], c["z"])
    assert not np.allclose(sample(4, -1)["z"], sample(4, -1)["z"])  # -1: fresh noise
    # z ~ N(0, I): 6000 draws, mean within 5 standard errors, unit variance within 5%
    # (its standard error is 1.8%). tests/tolerance_measurements.py export_sample, 20
    # seeds: |mean| at most 2.1 standard errors (0.46 here), |var - 1| at most 0.026.
    assert abs(float(np.mean(a["z"]))) < 5 / np.sqrt(6000)
    assert abs(float(np.var(a["z"])) - 1) < 0.05
    # images are E[x|z] at the returned z, within [0, 1].
    np.testing.assert_allclose(a["images"][:10], model.decode(a["z"][:10]), atol=1e-6)
    assert a["images"].shape == (2000, *TINY_SHAPE)
    assert 0 <= float(np.min(a["images"])) and float(np.max(a["images"])) <= 1


@pytest.mark.parametrize("name", sorted(MODELS))
def test_encode_is_repeatable_with_a_seed_and_equals_the_keras_encoder(exported, name):
    model, _, encoder_dir = exported[name]
    encode = tf.saved_model.load(str(encoder_dir)).signatures["encode"]
    x = binary_images(6, seed=3)

    def run(seed):
        return {k: v.numpy() for k, v in encode(x=tf.constant(x),
                                                  seed=tf.constant(seed, tf.int64)).items()}

    first, again, other = run(11), run(11), run(12)
    assert set(first) == MODELS[name][1]
    np.testing.assert_array_equal(first["z"], again["z"])
    assert not np.allclose(first["z"], other["z"])
    reseed(seed_generators(model), 11)
    keras_out = savedmodel.encoder_moments(model)(tf.constant(x))
    for key in first:
        np.testing.assert_allclose(first[key], keras_out[key], atol=1e-5, err_msg=key)


def test_encoder_moments_are_the_models_own():
    from export_helpers import MODELS as builders
    x = tf.constant(binary_images(64, seed=4))
    vae = builders["vae"][0]()
    out = savedmodel.encoder_moments(vae)(x)
    np.testing.assert_allclose(out["z_mean"], vae.encoder(x)["mean"], atol=1e-6)
    np.testing.assert_allclose(out["z_std"], vae.encoder(x)["stddev"], atol=1e-6)

    # Moment encoder at batch 256 (no tiling): z from one pass, then r = N(mean,
    # variance + 1e-4) from the next pass of the same generators.
    avb = builders["avb_ac_moment"][0]()
    x = tf.constant(binary_images(256, seed=4))
    states = seed_generators(avb)
    reseed(states, 5)
    out = savedmodel.encoder_moments(avb)(x)
    reseed(states, 5)
    z = avb.encoder(x)["z"]
    raw = avb.encoder(x)
    r = contrast.auxiliary_gaussian(raw["mean"], raw["variance"])
    np.testing.assert_allclose(out["z"], z, atol=1e-6)
    np.testing.assert_allclose(out["z_mean"], r.mean(), atol=1e-6)
    np.testing.assert_allclose(out["z_std"], r.stddev(), atol=1e-6)
    # One image alone is tiled to 256 noise draws: its sigma is not the 1e-2 floor of a
    # zero variance, and agrees with the batch-256 value within the Monte Carlo error.
    single = savedmodel.encoder_moments(avb)(x[:1])
    assert np.all(single["z_std"].numpy() > 0.0101)
    np.testing.assert_allclose(single["z_std"][0], out["z_std"][0], rtol=0.25)


def test_signatures_reject_nan_and_out_of_range_inputs(exported):
    _, decoder_dir, encoder_dir = exported["vae"]
    decoder = tf.saved_model.load(str(decoder_dir)).signatures
    encode = tf.saved_model.load(str(encoder_dir)).signatures["encode"]
    z = np.zeros((2, 3), "float32")
    z[1, 2] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="Input 'z' contains NaN or Inf"):
        decoder["serving_default"](z=tf.constant(z))
    for n in (0, savedmodel.MAX_SAMPLES + 1):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"num_samples\\?' must be in"):
            decoder["sample"](num_samples=tf.constant(n), seed=tf.constant(0, tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"seed\\?' must be a non-neg"):
        decoder["sample"](num_samples=tf.constant(1), seed=tf.constant(-5, tf.int64))
    x = binary_images(2)
    seed = tf.constant(0, tf.int64)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
        encode(x=tf.constant(x * 255), seed=seed)
    x[0, 0, 0, 0] = np.inf
    with pytest.raises(tf.errors.InvalidArgumentError, match="Input 'x' contains NaN or Inf"):
        encode(x=tf.constant(x), seed=seed)
    # A server feeds tensors by name without Python's checks: the graph checks the shape.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[2,4\] is not compatible"):
        decoder["serving_default"](z=tf.zeros((2, 4)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="is not compatible"):
        encode(x=tf.zeros((2, 5, 4, 1)), seed=seed)


# -------------------------------------------------------------- versions and atomicity

def test_versions_are_next_free_explicit_and_never_overwritten(exported, tmp_path):
    model = exported["vae"][0]
    base = tmp_path / "decoder"
    assert next_version(base) == 1
    first = export_decoder(model, base)
    assert first == base / "1" and next_version(base) == 2
    assert export_decoder(model, base, version=7) == base / "7"
    assert export_decoder(model, base) == base / "8"
    assert versions(base) == [1, 7, 8]
    before = (first / "saved_model.pb").read_bytes()
    with pytest.raises(FileExistsError, match="never overwritten"):
        export_decoder(model, base, version=1)
    assert (first / "saved_model.pb").read_bytes() == before
    for bad in (-1, "2", 1.5, True):
        with pytest.raises(ValueError, match="non-negative integer"):
            export_decoder(model, base, version=bad)
    assert sorted(p.name for p in base.iterdir()) == ["1", "7", "8", "MODEL_CARD.md",
                                                      "model_card.json"]


def test_a_failure_mid_export_leaves_no_partial_version(exported, tmp_path, monkeypatch):
    model = exported["vae"][0]
    base = tmp_path / "decoder"
    export_decoder(model, base)
    card_before = (base / "model_card.json").read_text()
    real_save = tf.saved_model.save

    def crash_after_writing(obj, export_dir, signatures=None):
        real_save(obj, export_dir, signatures=signatures)  # fully written, then a crash
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(savedmodel.tf.saved_model, "save", crash_after_writing)
    with pytest.raises(OSError, match="simulated"):
        export_decoder(model, base)
    assert sorted(p.name for p in base.iterdir()) == ["1", "MODEL_CARD.md", "model_card.json"]
    assert (base / "model_card.json").read_text() == card_before
    assert tf.saved_model.load(str(base / "1")).signatures["serving_default"] is not None


def test_model_card_records_the_model_and_merges_metrics(exported, tmp_path):
    model = exported["avb_ac_moment"][0]
    base = tmp_path / "demo" / "encoder"
    export_encoder(model, base, card={"data": "tiny", "training_budget": "1 step",
                                      "command": "pytest"})
    model_card.update_model_card(base, 1, {"test_metrics": {"reconstruction": 1.5}})
    card = json.loads((base / "model_card.json").read_text())
    info = card["versions"]["1"]
    assert card["name"] == "demo/encoder"
    assert info["model_class"] == "AVB" and info["encoder_type"] == "moment"
    assert info["moment_estimator"] == "analytic" and info["latent_dim"] == 3
    assert info["test_metrics"] == {"reconstruction": 1.5} and info["data"] == "tiny"
    assert info["signatures"]["encode"]["outputs"]["z_std"] == ["float32", [-1, 3]]
    assert info["example_requests"]["encode"]["signature_name"] == "encode"
    text = (base / "MODEL_CARD.md").read_text()
    for piece in ("## Version 1", "**model_class**: AVB", "reconstruction: 1.5", "pytest",
                  "| `encode` |", "POST /v1/models/NAME:predict"):
        assert piece in text, piece


def _run_summary(model, adversary_kl, bound):
    adversary = {"adversary_accuracy": 0.9} if model != "vae" else {}
    return {"model": model, "dataset": "mnist", "epochs": 1, "batch_size": 8, "seed": 0,
            "train_seconds": 1.0, "command": "avb-keras train",
            "test": {"elbo": -100.0, "kl": 20.0, "reconstruction": 80.0, "loss": 100.0,
                     **adversary},
            "kl_lower_bound": {"mean": bound, "standard_error": 0.3, "model_kl_mean": adversary_kl,
                               "num_examples": 256, "num_samples": 256}}


@pytest.mark.parametrize("adversary_kl, bound, kl, elbo, source", [
    (15.0, 146.0, 146.0, -231.0, "adversary-free lower bound"),  # plain AVB's adversary
    (25.0, 24.5, 25.0, -100.0, "adversary")])
def test_a_card_never_reports_an_adversarys_kl_below_its_bound(adversary_kl, bound, kl, elbo,
                                                               source):
    card = model_card.card_from_run(_run_summary("avb", adversary_kl, bound))
    assert card["kl"]["value"] == kl and card["kl"]["elbo"] == elbo
    assert card["kl"]["source"] == source
    assert (card["kl"]["adversary_kl"], card["kl"]["lower_bound"]) == (adversary_kl, bound)
    # model.evaluate's adversary estimates keep their values under names that say so.
    assert card["test_metrics"]["keras_evaluate"] == {
        "adversary_elbo": -100.0, "adversary_kl": 20.0, "reconstruction": 80.0, "loss": 100.0,
        "adversary_accuracy": 0.9}


def test_a_vae_card_keeps_its_exact_kl():
    card = model_card.card_from_run(_run_summary("vae", 20.0, 20.0))
    assert "kl" not in card
    assert card["test_metrics"]["keras_evaluate"]["kl"] == 20.0


# ------------------------------------------------------------------------- command line

def test_cli_exports_a_model_file_and_reports_user_errors(tmp_path, capsys):
    model = MODELS["avb_plain"][0]()
    model.compile()  # saving an uncompiled AVB fails in base.get_compile_config (reported)
    model_path = save_model(model, tmp_path / "model.keras")
    out = tmp_path / "served"
    assert cli.main(["export", str(model_path), "--out", str(out)]) == 0
    assert cli.main(["export", str(model_path), "--out", str(out / "enc"), "--encoder",
                     "--version", "3"]) == 0
    assert versions(out) == [1] and versions(out / "enc") == [3]
    assert set(read_signature_defs(out / "enc")) == {"encode"}
    capsys.readouterr()

    for args, message in [
        ([str(model_path), "--out", str(out), "--version", "1"], "never overwritten"),
        ([str(tmp_path / "missing"), "--out", str(out)], "No model at"),
        ([str(out), "--out", str(out)], "No model at"),  # a folder without model.keras
    ]:
        assert cli.main(["export", *args]) == 2
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("avb-keras: error:")]
        assert len(errors) == 1 and message in errors[0] and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", str(model_path), "--out", str(out), "--version", "-2"])
    assert exit_info.value.code == 2
    assert "expected a non-negative integer" in capsys.readouterr().err


def test_removing_old_versions_keeps_the_new_one_and_its_card(tmp_path):
    model = MODELS["vae"][0]()
    first = export_decoder(model, tmp_path / "decoder")
    second = export_decoder(model, tmp_path / "decoder")
    assert (first.name, second.name) == ("1", "2")
    model_card.remove_versions(tmp_path / "decoder", keep=second.name)
    assert sorted(p.name for p in (tmp_path / "decoder").iterdir() if p.is_dir()) == ["2"]
    card = json.loads((tmp_path / "decoder" / "model_card.json").read_text())
    assert list(card["versions"]) == ["2"]
    rendered = (tmp_path / "decoder" / "MODEL_CARD.md").read_text()
    assert "## Version 2" in rendered and "## Version 1" not in rendered
    assert tf.saved_model.load(str(second)).signatures["serving_default"] is not None
