"""Bad input, tried systematically: the command line, and (property-based) the data checks.

Every bad input gets the named error; every good input passes.
"""

import numpy as np
import pytest
import tensorflow as tf
from conftest import binary_images, tiny_avb
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from avb_keras import cli, datasets, validation

# ------------------------------------------------------------------------ command line


def _cli_cases(tmp_path):
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("not an npz")
    return [
        (["train", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["launch"], "invalid choice: 'launch'"),
        ([], "the following arguments are required: command"),
        (["train", "--epochs", "-2"], "--epochs: expected a positive integer, got -2"),
        (["train", "--epochs", "two"], "expected a positive integer, got 'two'"),
        (["train", "--latent-dim", "0"], "--latent-dim: expected a positive integer, got 0"),
        (["train", "--steps-per-epoch", "0"], "expected a positive integer"),
        (["train", "--clip-norm", "nan"], "--clip-norm: expected a positive number"),
        (["train", "--clip-norm", "-1"], "expected a positive number"),
        (["train", "--model", "gan"], "invalid choice: 'gan'"),
        (["train", "--dataset", "four_frames", "--batch-size", "9000"],
         "--batch-size 9000 is larger than the 8192 training examples of four_frames"),
        (["train", "--dataset", "mnist", "--data-path", str(tmp_path / "missing.npz")],
         "MNIST file not found at path="),
        (["train", "--dataset", "mnist", "--data-path", str(tmp_path)], "MNIST file not found"),
        (["train", "--dataset", "mnist", "--data-path", str(a_file)],
         "as a .npz archive"),
        (["train", "--dataset", "four_frames", "--run-dir", str(a_file)], "is a file"),
        (["train", "--dataset", "four_frames", "--run-dir", str(a_file / "run")],
         "Not a directory"),
        (["export", str(tmp_path / "missing"), "--out", str(tmp_path / "out")], "missing"),
        (["export", str(a_file), "--out", str(tmp_path / "out"), "--version", "-1"],
         "expected a non-negative integer"),
        (["export", str(a_file)], "the following arguments are required: --out"),
    ]


def test_every_command_line_mistake_is_one_line_and_exit_2(tmp_path, capsys):
    # In process: the console script's `main`, without paying a TF import per case.
    for args, message in _cli_cases(tmp_path):
        try:
            code = cli.main(args)
        except SystemExit as exit_:  # argparse's own errors
            code = exit_.code
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert message in err, (args, err)
        assert "Traceback" not in err and err.strip().count("\n") == 0, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file.txt"]  # nothing written


# -------------------------------------------------------------------------- data checks

SHAPE = (4, 4, 1)
DTYPES = ["float16", "float32", "float64", "int32", "uint8", "bool"]
FEW = settings(max_examples=25, deadline=None)


@st.composite
def image_arrays(draw):
    """Arrays near the expected form: any of DTYPES, ranks 0-5, sizes 0-5, with NaN,
    Inf and values outside [0, 1] sometimes."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(st.one_of(
        st.integers(0, 5).map(lambda b: (b,) + SHAPE),  # the right form
        hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5)))
    if dtype.kind == "f":
        values = st.one_of(st.sampled_from([0.0, 1.0, np.nan, np.inf, -np.inf, -0.5, 1.5]),
                           st.floats(0, 1, width=16))
    elif dtype.kind == "b":
        values = st.booleans()
    else:
        values = st.integers(0, 255)
    return draw(hnp.arrays(dtype, shape, elements=values))


def _expected_problem(x, data_shape, any_leading_axes=False):
    """What is wrong with `x`, in the order the checks look, or None."""
    if x.size == 0:
        return "empty"
    if x.dtype.kind != "f":
        return TypeError
    leading = x.ndim - len(data_shape)
    if not (leading >= 0 if any_leading_axes else leading == 1) or x.shape[leading:] != data_shape:
        return "shape"
    if not np.all(np.isfinite(x)):
        return "finite"
    if x.min() < 0:
        return "below"
    if x.max() > 1:
        return "above"
    return None


MESSAGES = {"empty": "is empty", "finite": "contains NaN or Inf",
            "below": r"has values below 0: .*\[0, 1\]\.$",
            "above": r"has values above 1: .*\(divide 8-bit images by 255\)\.$"}


@pytest.fixture(scope="module")
def model():
    return tiny_avb()


@FEW
@given(x=image_arrays(), form=st.sampled_from(["array", "tuple", "dict"]))
def test_the_model_checks_name_every_bad_array(model, x, form):
    data = {"array": x, "tuple": (x, np.zeros(len(x) if x.ndim else 0)),
            "dict": {"image": x}}[form]
    problem = _expected_problem(x, SHAPE)
    if problem is None:
        assert model.checked(data) is data
    elif problem is TypeError:
        with pytest.raises(TypeError, match="^The data must be floating point"):
            model.checked(data)
    else:
        message = (r"has shape .*, but the model expects \[batch, 4, 4, 1\]\.$"
                   if problem == "shape" else MESSAGES[problem])
        with pytest.raises(ValueError, match="^The data " + message):
            model.checked(data)


@FEW
@given(x=image_arrays())
def test_validate_images_names_every_bad_array_as_the_model_does(model, x):
    # validate_images takes any leading axes, so only the trailing axes make the shape.
    problem = _expected_problem(x, SHAPE, any_leading_axes=True)
    if problem is None:
        out = datasets.validate_images(x, SHAPE)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, x.astype(np.float32))
        return
    with pytest.raises((TypeError, ValueError)) as raised:
        datasets.validate_images(x, SHAPE, name="The data")
    assert raised.type is (TypeError if problem is TypeError else ValueError)
    if problem == "shape":
        assert r"expects [..., 4, 4, 1]" in str(raised.value)
    elif x.ndim == len(SHAPE) + 1:  # a batch the model takes: the same words
        with pytest.raises(raised.type) as from_model:
            model.checked(x)
        assert str(from_model.value).replace("[batch,", "[...,") == str(raised.value)


def test_a_dict_without_an_image_key_or_with_bad_images_is_named_before_training():
    model = tiny_avb()
    model.compile()
    x = binary_images(8)
    before = [np.asarray(v) for v in model.weights]
    with pytest.raises(ValueError, match="'image' key.*'pixels'"):
        model.fit({"pixels": x}, batch_size=4, verbose=0)
    bad = x.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        model.fit({"image": bad}, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.fit(tf.data.Dataset.from_tensor_slices(x).filter(lambda b: False).batch(4),
                  verbose=0)  # empty, with a cardinality unknown until read
    for a, b in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))


def test_a_bad_value_read_from_a_dataset_is_the_first_line_of_the_error():
    model = tiny_avb()
    model.compile()
    good = tf.data.Dataset.from_tensor_slices(binary_images(8)).batch(4)
    x = binary_images(8)
    x[5] = 255.0  # raw 8-bit pixels in the second batch
    bad = tf.data.Dataset.from_tensor_slices(x).batch(4)
    for read in (lambda: model.fit(bad, verbose=0),
                 lambda: model.fit(good, validation_data=bad, verbose=0),
                 lambda: model.evaluate(bad, verbose=0)):
        with pytest.raises(ValueError) as raised:
            read()
        assert str(raised.value).splitlines()[0] == validation.range_message("above 1")
        # TensorFlow's error is chained (Keras's traceback filter keeps it as the context).
        assert isinstance(raised.value.__context__, tf.errors.InvalidArgumentError)


def test_other_graph_errors_pass_through_the_plain_value_errors_context():
    with pytest.raises(tf.errors.InvalidArgumentError, match="not ours"):
        with validation.plain_value_errors("unit_interval"):
            tf.debugging.assert_equal(1, 2, message="not ours")
