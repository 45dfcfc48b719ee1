"""Checks that data are images in the form a model expects; each mistake has one message.

The models consume float images shaped `[batch, H, W, C]`. A Bernoulli
likelihood needs pixel values in [0, 1]; a Gaussian one any finite values
(the likelihood's `support`: "unit_interval" or "real"). The checks turn a
silent mistake (raw uint8 pixels, a missing channel axis, NaNs, an empty
dataset) into an error that says what is wrong and what was expected:

    TypeError   the dtype is not floating point
    ValueError  empty data, a wrong shape, NaN or Inf, values outside [0, 1]

Three ways in, one set of messages:

- `checked(data, data_shape, support)`: what `fit` / `evaluate` (and every other
  consumer of a model's data) call. Arrays, tuples and dicts are checked now;
  a `tf.data.Dataset` has its form checked now and its values as it is read
  (`value_checks`, mapped over it), since XLA drops run-time assertions inside a
  compiled step. Inside tf.data a failed check is an `InvalidArgumentError` with
  the message buried in a graph trace; `plain_value_errors` re-raises it as a
  `ValueError` whose text is the message.
- `image_batch(data, data_shape, support, dtype)`: the images of one batch, form-checked
  at trace time (`LatentVariableModel.images`).
- `validate_images(x, data_shape, support)`: any array with any leading axes,
  returned as float32 (`avb_keras.datasets.validate_images`).

The export's signatures and the request helper take their messages from here
too: each message function and `value_checks` take a `name` for such inputs
(e.g. "Input 'x'").
"""

import contextlib

import numpy as np
import tensorflow as tf

SUPPORTS = ("unit_interval", "real")
#: What the messages call the data given to fit / evaluate.
DATA = "The data"
#: The advice for the commonest mistake: raw 8-bit pixels.
EIGHT_BIT_HINT = "divide 8-bit images by 255"


# ---------------------------------------------------------------------- messages

def dtype_message(dtype, support, layout, name=DATA):
    """Not floating point; integers (8-bit pixels, mostly) get the hint."""
    integers = _tf_dtype(dtype) is not None and _tf_dtype(dtype).is_integer
    hint = f" ({EIGHT_BIT_HINT})" if support == "unit_interval" and integers else ""
    values = " with values in [0, 1]" if support == "unit_interval" else ""
    return (f"{name} must be floating point{values}; got dtype {_dtype_name(dtype)}"
            f"{hint}. Expected float32 images{_shaped(layout)}.")


def empty_message(layout, name=DATA, shape=None):
    where = "" if shape is None else f" (shape {tuple(shape)})"
    return f"{name} is empty{where}: expected images{_shaped(layout)}."


def shape_message(shape, layout, name=DATA, reader="the model"):
    return f"{name} has shape {list(shape)}, but {reader} expects {layout}."


def nonfinite_message(name=DATA, expected="pixel values"):
    return f"{name} contains NaN or Inf: expected finite {expected}."


def range_message(bound, name=DATA, reader="a Bernoulli likelihood"):
    """Values `bound` ("below 0" or "above 1") where `reader` needs pixels in [0, 1]."""
    hint = f" ({EIGHT_BIT_HINT})" if bound == "above 1" else ""
    return (f"{name} has values {bound}: {reader} expects pixel "
            f"values in [0, 1]{hint}.")


def value_messages(support, name=DATA):
    """The messages of `value_checks`, in its order."""
    bounds = ("below 0", "above 1") if support == "unit_interval" else ()
    return [nonfinite_message(name)] + [range_message(bound, name) for bound in bounds]


def layout(data_shape, leading="batch"):
    """"[batch, H, W, C]": how the messages write the expected shape."""
    return f"[{', '.join([leading, *map(str, data_shape)])}]"


# ------------------------------------------------------------------ model data

def checked(data, data_shape, support):
    """`data` for fit / evaluate: bad forms raise now; a dataset's values are checked as read.

    Args:
      data: a NumPy array or tensor of images, an `(images, labels[, weights])`
        tuple, a dict with an "image" key, a `tf.data.Dataset` of any of these,
        or None (returned as is); other inputs (generators, PyDatasets) pass.
      data_shape: the model's `(H, W, C)`.
      support: the likelihood's, "unit_interval" or "real".

    Returns:
      `data` itself, or for a dataset `data.map(...)` with `value_checks`.
    """
    if data is None:
        return None
    if isinstance(data, tf.data.Dataset):
        return _checked_dataset(data, data_shape, support)
    images = unpack_images(data) if isinstance(data, (dict, tuple)) else data
    if isinstance(images, (np.ndarray, tf.Tensor, list)):
        _check_array(np.asarray(images), data_shape, support, DATA)
    return data


def image_batch(data, data_shape, support, dtype):
    """The images of one batch (see `checked` for the forms), form-checked, cast to `dtype`."""
    x = unpack_images(data)
    check_form(x.shape, x.dtype, data_shape, support)
    return tf.cast(x, dtype)


def unpack_images(data):
    """The images of a batch: a tensor, the first item of a tuple, or a dict's "image"."""
    if isinstance(data, dict):
        if "image" not in data:
            raise ValueError(
                f"A batch given as a dict needs an 'image' key; got keys {sorted(data)}. "
                "Expected a tensor of images, an (images, labels) tuple or {'image': images}.")
        return data["image"]
    if isinstance(data, (tuple, list)):
        return unpack_images(data[0])
    return data


def check_form(shape, dtype, data_shape, support, name=DATA):
    """Raises unless `dtype` is floating and `shape` is `[batch, *data_shape]` (None: any)."""
    expected = layout(data_shape)
    if not _is_floating(dtype):
        raise TypeError(dtype_message(dtype, support, expected, name))
    shape = tuple(shape)
    if len(shape) != len(data_shape) + 1 or any(
            d is not None and d != e for d, e in zip(shape[1:], data_shape)):
        raise ValueError(shape_message(shape, expected, name))


def value_checks(x, support, name=DATA):
    """Graph assertions on the values of `x` (finite; in [0, 1] for "unit_interval")."""
    messages = value_messages(support, name)
    checks = [tf.debugging.assert_all_finite(x, messages[0])]
    if support == "unit_interval":
        checks += [tf.debugging.assert_greater_equal(x, tf.cast(0, x.dtype), messages[1]),
                   tf.debugging.assert_less_equal(x, tf.cast(1, x.dtype), messages[2])]
    return checks


@contextlib.contextmanager
def plain_value_errors(support, name=DATA):
    """Re-raises a failed `value_checks` assertion as `ValueError(its message)`.

    Wrap whatever reads a dataset from `checked` (fit, evaluate, an evaluation
    loop): the message becomes the whole first line, with TensorFlow's error
    chained as the cause. Other errors pass unchanged.
    """
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        # An assertion's text is "... assertion failed: [MESSAGE] ...", a finiteness
        # check's "...: MESSAGE : Tensor had NaN values"; either holds MESSAGE whole.
        text = error.message.replace("\\'", "'")
        for message in value_messages(support, name):
            if message in text:
                raise ValueError(message) from error
        raise


# ------------------------------------------------------------- any image array

def validate_images(x, data_shape=None, support="unit_interval", name="x"):
    """Returns `x` as a float32 NumPy array after checking its form and values.

    Args:
      x: array-like (NumPy array, eager tensor, nested lists) of images.
      data_shape: the expected trailing shape, e.g. `(28, 28, 1)`, after any
        number of leading axes; None skips the shape check.
      support: "unit_interval" (values must lie in [0, 1]) or "real" (any
        finite value).
      name: what to call the array in error messages.

    Raises:
      TypeError: `x` is not floating point.
      ValueError: `x` is empty, has the wrong trailing shape, contains
        NaN/Inf, or lies outside [0, 1] when `support="unit_interval"`.
    """
    if support not in SUPPORTS:
        raise ValueError(f"support must be one of {SUPPORTS}; got {support!r}.")
    x = np.asarray(x)
    _check_array(x, data_shape, support, name, leading="...")
    return x.astype(np.float32, copy=False)


def _check_array(array, data_shape, support, name, leading="batch"):
    """Empty, dtype, shape, then values: the first problem found is raised."""
    expected = None if data_shape is None else layout(data_shape, leading)
    if array.size == 0:
        raise ValueError(empty_message(expected, name, array.shape))
    if not _is_floating(array.dtype):
        raise TypeError(dtype_message(array.dtype, support, expected, name))
    if data_shape is not None and not _has_shape(array.shape, tuple(data_shape), leading):
        raise ValueError(shape_message(array.shape, expected, name))
    for message, bad in zip(value_messages(support, name), _value_problems(array, support)):
        if bad:
            raise ValueError(message)


def _has_shape(shape, data_shape, leading):
    if leading == "batch":
        return len(shape) == len(data_shape) + 1 and shape[1:] == data_shape
    return len(shape) >= len(data_shape) and shape[len(shape) - len(data_shape):] == data_shape


def _value_problems(array, support):
    """For each of `value_messages`: whether `array` has that problem."""
    finite = bool(np.all(np.isfinite(array)))
    problems = [not finite]
    if support == "unit_interval":
        problems += [finite and array.min() < 0, finite and array.max() > 1]
    return problems


def _checked_dataset(data, data_shape, support):
    cardinality = int(data.cardinality())
    if cardinality == tf.data.UNKNOWN_CARDINALITY:
        # (filter, generators) Only reading tells; one element, once, before training.
        cardinality = len(list(data.take(1)))
    if cardinality == 0:
        raise ValueError(empty_message(layout(data_shape), "The dataset"))
    spec = unpack_images(data.element_spec)
    check_form(spec.shape, spec.dtype, data_shape, support)

    def with_value_checks(*element):
        element = element[0] if len(element) == 1 else element
        with tf.control_dependencies(value_checks(unpack_images(element), support)):
            return tf.nest.map_structure(tf.identity, element)

    return data.map(with_value_checks)


# ------------------------------------------------------------------------ dtypes

def _tf_dtype(dtype):
    """`dtype` as a tf.DType, or None for what TensorFlow has no dtype for (strings, objects)."""
    try:
        return tf.as_dtype(dtype)
    except TypeError:
        return None


def _is_floating(dtype):
    return _tf_dtype(dtype) is not None and _tf_dtype(dtype).is_floating


def _dtype_name(dtype):
    return getattr(dtype, "name", str(dtype))


def _shaped(layout_text):
    return "" if layout_text is None else f" shaped {layout_text}"
