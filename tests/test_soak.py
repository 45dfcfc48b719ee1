"""The exported decoder under load, and the request helper under property-based bad input."""

import numpy as np
import pytest
from conftest import load_script
from export_helpers import export_all
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from avb_keras.export.requests import BadRequest, OfflineServer, make_predict_request

soak_serving = load_script("benchmarks/soak_serving.py")


@pytest.fixture(scope="module")
def exported():
    return export_all()["avb_ac_moment"]  # (model, decoder version dir, encoder version dir)


@pytest.mark.parametrize("requests", [2000, pytest.param(30000, marks=pytest.mark.slow)])
def test_eight_threads_get_the_single_threaded_results_and_memory_stays_flat(exported,
                                                                              requests):
    figures = soak_serving.soak(exported[1], requests=requests, threads=8)
    print(figures)
    assert figures["num_errors"] == 0, figures["errors"]
    assert figures["mismatches"] == 0
    # Flat: under 32 MiB of growth (allocator noise) for thousands of requests.
    assert figures["rss_growth_mib"] < 32, figures


# ------------------------------------------------------------ the request helper, fuzzed

FEW = settings(max_examples=25, deadline=None)


@pytest.fixture(scope="module")
def server(exported):
    return OfflineServer(exported[1].parent)


@st.composite
def z_arrays(draw):
    """Near the expected form z [batch, 3] float32: other dtypes, ranks, sizes, NaN/Inf."""
    dtype = np.dtype(draw(st.sampled_from(["float32", "float64", "float16", "int32",
                                           "int64", "bool"])))
    shape = draw(st.one_of(st.integers(1, 4).map(lambda b: (b, 3)),
                           hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)))
    if dtype.kind == "f":
        values = st.one_of(st.floats(-3, 3, width=16), st.sampled_from([np.nan, np.inf]))
    elif dtype.kind == "b":
        values = st.booleans()
    else:
        values = st.integers(-3, 3)
    return draw(hnp.arrays(dtype, shape, elements=values))


def _good(z, exact_dtype):
    numeric = z.dtype.kind == "f" or (not exact_dtype and z.dtype.kind in "iu")
    dtype_ok = z.dtype == np.float32 if exact_dtype else numeric
    return dtype_ok and z.ndim == 2 and z.shape[1] == 3 and bool(np.all(np.isfinite(z)))


@FEW
@given(z=z_arrays())
def test_grpc_requests_pass_iff_well_formed(server, exported, z):
    request = make_predict_request("avb", z=z)
    if _good(z, exact_dtype=True):
        import tensorflow as tf

        probs = tf.make_ndarray(server.predict(request).outputs["probs"])
        np.testing.assert_allclose(probs, exported[0].decode(z), atol=1e-5)
    else:
        with pytest.raises(BadRequest, match="'z'"):
            server.predict(request)


@FEW
@given(z=z_arrays(), form=st.sampled_from(["instances", "inputs"]))
def test_rest_requests_pass_iff_well_formed(server, exported, z, form):
    body = {form: z.tolist()}
    if _good(z, exact_dtype=False):
        out = server.rest(body)
        probs = (np.asarray([row["probs"] for row in out["predictions"]])
                 if form == "instances" else np.asarray(out["outputs"]["probs"]))
        np.testing.assert_allclose(probs, exported[0].decode(z.astype("float32")), atol=1e-5)
    else:
        with pytest.raises(BadRequest, match="'z'|instances"):
            server.rest(body)


def test_missing_inputs_and_huge_batches(server):
    with pytest.raises(BadRequest, match=r"Missing input\(s\) \['z'\]"):
        server.rest({"inputs": {}})
    with pytest.raises(BadRequest, match="num_samples"):
        server.rest({"signature_name": "sample",
                     "inputs": {"num_samples": 10**6, "seed": 0}})
    big = server.rest({"inputs": np.zeros((20000, 3)).tolist()})["outputs"]["probs"]
    assert np.asarray(big).shape == (20000, 4, 4, 1)
