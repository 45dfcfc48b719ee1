"""What TF Serving relies on: loading in a fresh process (TF2 and TF1 session paths) and
requests (PredictRequest protos, REST row and columnar JSON) through the request helper."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_SHAPE, binary_images, tiny_vae
from export_helpers import MODELS, export_all

from avb_keras.export import BadRequest, OfflineServer, make_predict_request, reseed, \
    seed_generators
from avb_keras.export.savedmodel import encoder_moments, export_decoder

SEED = 21

#: Run in a fresh Python: loads every export as a server would and prints the largest
#: differences from the Keras outputs the parent process computed.
FRESH_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf

cases = json.loads(sys.argv[1])
report = {}
for name, case in cases.items():
    data = np.load(case["arrays"])
    expected = {k: data[k] for k in data.files}
    z, x, seed = expected.pop("z_in"), expected.pop("x_in"), np.int64(case["seed"])
    feeds = {"decoder": {"serving_default": {"z": z}},
             "encoder": {"encode": {"x": x, "seed": seed}}}
    result = {}
    for part in ("decoder", "encoder"):
        (signature, inputs), = feeds[part].items()
        # TF2: the object-graph loader.
        loaded = tf.saved_model.load(case[part])
        out = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        result["tf2_" + part] = {k: float(np.max(np.abs(out[k].numpy() - expected[k])))
                                 for k in out}
        # TF1: a Session, the MetaGraph's SignatureDef, tensors fed and fetched by name.
        with tf.Graph().as_default(), tf.compat.v1.Session() as session:
            meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], case[part])
            sig = meta.signature_def[signature]
            fetched = session.run({k: v.name for k, v in sig.outputs.items()},
                                  feed_dict={sig.inputs[k].name: v for k, v in inputs.items()})
        result["tf1_" + part] = {k: float(np.max(np.abs(fetched[k] - expected[k])))
                                 for k in fetched}
        result["tf1_names_" + part] = sorted(v.name for v in sig.inputs.values())
    report[name] = result
print("REPORT " + json.dumps(report))
"""


@pytest.fixture(scope="module")
def exported():
    return export_all()


def keras_outputs(model, z, x, seed):
    """What the Keras model gives for the decoder at z and the encoder at x with `seed`."""
    reseed(seed_generators(model), seed)
    encoded = encoder_moments(model)(tf.constant(x))
    return {"probs": np.asarray(model.decode(z)), "logits": np.asarray(model.decoder(z)),
            **{k: v.numpy() for k, v in encoded.items()}}


@pytest.mark.e2e
def test_fresh_process_loaders_reproduce_the_keras_outputs(exported, tmp_path):
    z = np.random.default_rng(1).normal(size=(5, 3)).astype("float32")
    x = binary_images(5, seed=2)
    cases = {}
    for name, (model, decoder_dir, encoder_dir) in exported.items():
        arrays = tmp_path / f"{name}.npz"
        np.savez(arrays, z_in=z, x_in=x, **keras_outputs(model, z, x, SEED))
        cases[name] = {"decoder": str(decoder_dir), "encoder": str(encoder_dir),
                       "arrays": str(arrays), "seed": SEED}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS, json.dumps(cases)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.split("REPORT ", 1)[1])
    for name, outputs in MODELS.items():
        got = report[name]
        for loader in ("tf2", "tf1"):
            assert set(got[f"{loader}_decoder"]) == {"probs", "logits"}
            assert set(got[f"{loader}_encoder"]) == outputs[1]
            for part in ("decoder", "encoder"):
                for key, diff in got[f"{loader}_{part}"].items():
                    assert diff < 1e-5, (name, loader, key, diff)
        assert got["tf1_names_decoder"] == ["serving_default_z:0"]
        assert got["tf1_names_encoder"] == ["encode_seed:0", "encode_x:0"]


# -------------------------------------------------------------------------- requests

@pytest.fixture(scope="module")
def servers(exported, tmp_path_factory):
    model, decoder_dir, encoder_dir = exported["avb_ac_moment"]
    # A Gaussian likelihood has no logits: its decoder's serving_default has one output.
    gaussian = export_decoder(tiny_vae(latent_dim=3, likelihood="gaussian"),
                              tmp_path_factory.mktemp("gaussian") / "decoder")
    return {"model": model, "decoder": OfflineServer(decoder_dir.parent),
            "encoder": OfflineServer(encoder_dir), "gaussian_decoder": OfflineServer(gaussian)}


def test_predict_request_protos_round_trip(servers):
    model, decoder = servers["model"], servers["decoder"]
    z = np.random.default_rng(3).normal(size=(4, 3)).astype("float32")
    request = make_predict_request("avb", z=z)
    assert request.model_spec.signature_name == "serving_default"
    response = decoder.predict(request)
    assert set(response.outputs) == {"probs", "logits"}
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["probs"]), model.decode(z),
                               atol=1e-6)

    sample = decoder.predict(make_predict_request("avb", "sample", num_samples=np.int32(3),
                                                  seed=np.int64(9)))
    again = decoder.predict(make_predict_request("avb", "sample", num_samples=np.int32(3),
                                                 seed=np.int64(9)))
    images = tf.make_ndarray(sample.outputs["images"])
    assert images.shape == (3, *TINY_SHAPE)
    np.testing.assert_array_equal(images, tf.make_ndarray(again.outputs["images"]))

    x = binary_images(2)
    encoded = servers["encoder"].predict(make_predict_request("avb", "encode", x=x,
                                                              seed=np.int64(4)))
    assert set(encoded.outputs) == {"z", "z_mean", "z_std"}
    assert tf.make_ndarray(encoded.outputs["z_std"]).shape == (2, 3)


def test_rest_row_and_columnar_forms_give_the_servers_response(servers):
    model, decoder = servers["model"], servers["decoder"]
    z = np.random.default_rng(4).normal(size=(2, 3)).astype("float32")
    expected = np.asarray(model.decode(z))

    rows = decoder.rest({"instances": z.tolist()})  # one input: bare rows
    assert set(rows) == {"predictions"} and len(rows["predictions"]) == 2
    assert set(rows["predictions"][0]) == {"probs", "logits"}
    np.testing.assert_allclose(rows["predictions"][1]["probs"], expected[1], atol=1e-6)
    named = decoder.rest(json.dumps({"signature_name": "serving_default",
                                     "instances": [{"z": row} for row in z.tolist()]}))
    assert named == rows

    columns = decoder.rest({"inputs": {"z": z.tolist()}})
    assert set(columns) == {"outputs"} and set(columns["outputs"]) == {"probs", "logits"}
    np.testing.assert_allclose(columns["outputs"]["probs"], expected, atol=1e-6)
    assert decoder.rest({"inputs": z.tolist()}) == columns  # one input: a bare value

    sample = decoder.rest({"signature_name": "sample", "inputs": {"num_samples": 2, "seed": 0}})
    assert np.asarray(sample["outputs"]["images"]).shape == (2, *TINY_SHAPE)

    # A single output is returned bare, as TF Serving does.
    plain = servers["gaussian_decoder"].rest({"inputs": {"z": z.tolist()}})
    assert np.asarray(plain["outputs"]).shape == (len(z), *TINY_SHAPE)


@pytest.mark.parametrize("server, body, message", [
    ("decoder", {"instances": [[0.0, 0.0]]}, "has shape [1, 2]; expected [batch, 3]"),
    ("decoder", {"inputs": {"z": [0.0, 1.0, 2.0]}}, "has shape [3]; expected [batch, 3]"),
    ("decoder", {"inputs": {"z": [[0, 0, "a"]]}},
     "has string values; the signature expects float32"),
    ("decoder", {"inputs": {"z": [[0.0, float("nan"), 0.0]]}}, "contains NaN or Inf"),
    ('decoder', '{"inputs": {"z": [[0.0, NaN, 0.0]]}}', "contains NaN or Inf"),
    ("decoder", {"inputs": {"q": [[0.0, 0.0, 0.0]]}}, "Missing input(s) ['z']"),
    ("decoder", {"signature_name": "sample", "inputs": {"num_samples": 2}},
     "Missing input(s) ['seed']; this signature expects num_samples: int32 [], seed: int64 []"),
    ("decoder", {"signature_name": "sample", "inputs": {"num_samples": 2.5, "seed": 0}},
     "has floating-point values; the signature expects int32"),
    ("decoder", {"signature_name": "sample", "inputs": {"num_samples": 0, "seed": 0}},
     "Input 'num_samples' must be in [1, 10000]."),
    ("decoder", {"signature_name": "sample", "instances": [{"num_samples": 2, "seed": 0}]},
     "takes the columnar form"),
    ("decoder", {"signature_name": "decode", "instances": [[0.0] * 3]},
     "Unknown signature_name 'decode'"),
    ("decoder", {"instances": [[0.0] * 3], "inputs": {"z": [[0.0] * 3]}}, "exactly one of"),
    ("decoder", "{not json", "not valid JSON"),
    ("decoder", {"instances": [[0.0] * 3, [0.0] * 2]}, "ragged"),
    ("encoder", {"signature_name": "encode", "inputs": {"x": (binary_images(1) * 255).tolist(),
                                                        "seed": 0}},
     "Input 'x' has values above 1: a Bernoulli likelihood expects pixel values in [0, 1]"),
    ("encoder", {"signature_name": "encode", "inputs": {"x": binary_images(1).tolist(),
                                                        "seed": 0, "extra": 1}},
     "Unknown input(s) ['extra']"),
])
def test_bad_rest_requests_are_rejected_with_a_clear_error(servers, server, body, message):
    with pytest.raises(BadRequest) as error:
        servers[server].rest(body)
    assert message in str(error.value)


def test_bad_predict_requests_are_rejected_with_a_clear_error(servers):
    decoder = servers["decoder"]
    cases = [
        (make_predict_request("m", z=np.zeros((2, 3), "float64")),
         "has dtype float64; the signature expects float32"),
        (make_predict_request("m", z=np.zeros((2, 3, 1), "float32")), "has shape [2, 3, 1]"),
        (make_predict_request("m", z=np.full((1, 3), np.inf, "float32")), "contains NaN or Inf"),
        (make_predict_request("m", "sample", num_samples=np.int64(2), seed=np.int64(0)),
         "has dtype int64; the signature expects int32"),
        (make_predict_request("m", "sample", num_samples=np.int32(20000), seed=np.int64(0)),
         "must be in [1, 10000]"),
        (make_predict_request("m", "sample", num_samples=np.int32(1), seed=np.int64(-3)),
         "'seed' must be a non-negative integer, or -1"),
    ]
    for request, message in cases:
        with pytest.raises(BadRequest) as error:
            decoder.predict(request)
        assert message in str(error.value), (message, str(error.value))
