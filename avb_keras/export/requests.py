"""Check a TF Serving request offline: request -> signature call -> the server's response.

    server = OfflineServer("saved_models/avb_mnist_z32/decoder")   # the latest version
    server.rest({"signature_name": "serving_default", "instances": [[0.0] * 32]})
    # -> {"predictions": [{"probs": [...], "logits": [...]}]}
    server.predict(make_predict_request("avb", "sample", num_samples=4, seed=0))
    # -> a tensorflow_serving.apis.predict_pb2.PredictResponse

The conversions follow TF Serving's Predict API:

- gRPC: a `PredictRequest` whose `inputs` map each signature input to a
  `TensorProto` (`tf.make_tensor_proto`); the response maps each output to one.
- REST, row form: {"signature_name": ..., "instances": [row, ...]}. A row is a
  value when the signature has one input, else an object {input: value}; rows
  are stacked along a new batch axis. The response is {"predictions": [...]},
  one entry per row (an object {output: value} when there are several outputs).
  Inputs of rank 0 (`num_samples`, `seed`) have no batch axis, so signatures
  with such inputs take the columnar form only.
- REST, columnar form: {"signature_name": ..., "inputs": value or {input: value}};
  the response is {"outputs": value or {output: value}}.

A request is rejected with `BadRequest` (a `ValueError`) that names the
problem and the expected form: an unknown signature, a missing or unknown
input, a wrong dtype or shape, NaN or Inf, a malformed body. Errors raised by
the signature's own checks (pixel range, number of samples) are reported the
same way. All inputs are required, as in TF Serving; the request helper does
not fill the SignatureDef's default values.
"""

import json
import re
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from avb_keras import validation

DEFAULT_SIGNATURE = "serving_default"


class BadRequest(ValueError):
    """A request TF Serving would reject (status INVALID_ARGUMENT / HTTP 400)."""


def version_dir(path):
    """`path` if it holds a saved_model.pb, else its highest integer version folder
    (the one TF Serving serves by default)."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    numbered = sorted((int(p.name), p) for p in path.glob("*") if p.is_dir() and p.name.isdigit())
    if not numbered:
        raise FileNotFoundError(f"No SavedModel at {path}: expected saved_model.pb there, or "
                                "integer version folders (TF Serving's layout BASE_DIR/1/...).")
    return numbered[-1][1]


def read_signature_defs(path):
    """{name: SignatureDef} of the "serve" MetaGraph in saved_model.pb, as the server reads it."""
    saved = saved_model_pb2.SavedModel.FromString(
        (version_dir(path) / "saved_model.pb").read_bytes())
    for meta_graph in saved.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            # "__saved_model_init_op" is the loader's, not a servable signature.
            return {name: sig for name, sig in meta_graph.signature_def.items()
                    if not name.startswith("__")}
    raise ValueError(f"The SavedModel at {path} has no MetaGraph tagged 'serve'.")


def make_predict_request(model_name, signature_name=DEFAULT_SIGNATURE, version=None,
                         **inputs):
    """A `PredictRequest` with each input converted by `tf.make_tensor_proto`.

    Scalars for int32/int64 inputs should be given as numpy scalars of that
    dtype (e.g. `np.int32(4)`), since the proto carries the dtype.
    """
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


class OfflineServer:
    """A SavedModel loaded with TensorFlow's loader, answering Predict requests.

    Args:
      path: a version folder, or a base folder (its highest version is used).
    """

    def __init__(self, path):
        self.path = version_dir(path)
        self.signature_defs = read_signature_defs(self.path)
        self.loaded = tf.saved_model.load(str(self.path), tags=["serve"])

    # ---------------------------------------------------------------- entry points

    def predict(self, request):
        """PredictRequest -> PredictResponse (the gRPC API)."""
        from tensorflow_serving.apis import predict_pb2

        name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        signature = self._signature(name)
        arrays = {}
        for key, proto in request.inputs.items():
            try:
                arrays[key] = tf.make_ndarray(proto)
            except Exception as error:  # a malformed TensorProto
                raise BadRequest(f"Input '{key}' is not a valid TensorProto: {error}") from None
        outputs = self.call(name, self._checked(signature, arrays, exact_dtype=True))
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        response.model_spec.signature_name = name
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    def rest(self, body):
        """A REST predict body (dict or JSON text) -> the server's response dict."""
        if isinstance(body, (str, bytes)):
            try:
                body = json.loads(body)
            except json.JSONDecodeError as error:
                raise BadRequest(f"The request body is not valid JSON: {error}.") from None
        if not isinstance(body, dict):
            raise BadRequest('The request body must be a JSON object: {"instances": [...]} '
                             'or {"inputs": ...}.')
        name = body.get("signature_name", DEFAULT_SIGNATURE)
        signature = self._signature(name)
        forms = [key for key in ("instances", "inputs") if key in body]
        if len(forms) != 1:
            raise BadRequest('The request body must have exactly one of "instances" (row '
                             f'form) or "inputs" (columnar form); got keys {sorted(body)}.')
        if forms[0] == "instances":
            arrays = self._rows(signature, body["instances"])
        else:
            arrays = self._columns(signature, body["inputs"])
        outputs = self.call(name, self._checked(signature, arrays, exact_dtype=False))
        outputs = {key: value.tolist() for key, value in outputs.items()}
        if forms[0] == "instances":
            return {"predictions": _rows_of(outputs)}
        return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}

    def call(self, name, inputs):
        """Runs signature `name` on checked numpy inputs; returns numpy outputs."""
        try:
            outputs = self.loaded.signatures[name](
                **{key: tf.constant(value) for key, value in inputs.items()})
        except tf.errors.InvalidArgumentError as error:
            raise BadRequest(graph_error_message(error)) from None
        return {key: value.numpy() for key, value in outputs.items()}

    # --------------------------------------------------------------------- checks

    def _signature(self, name):
        if name not in self.signature_defs:
            raise BadRequest(f"Unknown signature_name {name!r}; this model has "
                             f"{sorted(self.signature_defs)}.")
        return self.signature_defs[name]

    def _rows(self, signature, instances):
        if not isinstance(instances, list) or not instances:
            raise BadRequest('"instances" must be a non-empty list of rows.')
        names = sorted(signature.inputs)
        scalars = [n for n in names if len(signature.inputs[n].tensor_shape.dim) == 0]
        if scalars:
            raise BadRequest(f"Inputs {scalars} are scalars (no batch axis), so this signature "
                             'takes the columnar form: {"inputs": {...}}.')
        if len(names) == 1 and not all(isinstance(row, dict) for row in instances):
            return {names[0]: _array(names[0], instances)}
        if not all(isinstance(row, dict) for row in instances):
            raise BadRequest(f"With several inputs {names}, each row of \"instances\" must be "
                             "an object {input_name: value}.")
        keys = set().union(*instances)
        for i, row in enumerate(instances):
            if set(row) != keys:
                raise BadRequest(f"Row {i} of \"instances\" has inputs {sorted(row)}; every row "
                                 f"must name the same inputs ({sorted(keys)}).")
        return {key: _array(key, [row[key] for row in instances]) for key in keys}

    def _columns(self, signature, inputs):
        names = sorted(signature.inputs)
        if not isinstance(inputs, dict):
            if len(names) != 1:
                raise BadRequest(f'This signature has inputs {names}: "inputs" must be an '
                                 "object {input_name: value}.")
            inputs = {names[0]: inputs}
        return {key: _array(key, value) for key, value in inputs.items()}

    def _checked(self, signature, arrays, exact_dtype):
        """Arrays with the signature's dtypes, after the checks the server makes."""
        expected = {name: (tf.as_dtype(info.dtype),
                           [d.size for d in info.tensor_shape.dim]
                           if not info.tensor_shape.unknown_rank else None)
                    for name, info in signature.inputs.items()}
        form = ", ".join(f"{n}: {d.name} {_shape_text(s)}"
                         for n, (d, s) in sorted(expected.items()))
        missing = sorted(set(expected) - set(arrays))
        if missing:
            raise BadRequest(f"Missing input(s) {missing}; this signature expects {form}.")
        unknown = sorted(set(arrays) - set(expected))
        if unknown:
            raise BadRequest(f"Unknown input(s) {unknown}; this signature expects {form}.")
        checked = {}
        for name, array in arrays.items():
            dtype, shape = expected[name]
            checked[name] = _converted(name, array, dtype, exact_dtype)
            if shape is not None and (len(shape) != array.ndim or any(
                    e != -1 and e != a for e, a in zip(shape, array.shape))):
                raise BadRequest(f"Input '{name}' has shape {list(array.shape)}; expected "
                                 f"{_shape_text(shape)} ({dtype.name}).")
            if dtype.is_floating and not np.all(np.isfinite(checked[name])):
                raise BadRequest(validation.nonfinite_message(f"Input '{name}'",
                                                              f"{dtype.name} values"))
        return checked


def graph_error_message(error):
    """The message of the signature check that failed, without the graph's node trace."""
    text = error.message.replace("\\'", "'")
    # "assertion failed: [MESSAGE] [Condition ...]"; MESSAGE may contain brackets itself.
    found = re.search(r"assertion failed: \[(.*?)\s*\] \[", text)
    if found:
        return found.group(1).strip().rstrip(".") + "."
    noise = ("Graph execution error", "Detected at node", "<stack traces", "[[")
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(noise):
            return line.split(" : ")[0]
    return repr(error)


def _array(name, value):
    try:
        array = np.asarray(value)
    except ValueError:
        raise BadRequest(f"Input '{name}' is ragged: every row must have the same shape.") from None
    if array.dtype == object:
        raise BadRequest(f"Input '{name}' is ragged or mixes types: expected a "
                         "rectangular array of numbers.")
    return array


def _converted(name, array, dtype, exact_dtype):
    """`array` as `dtype`: gRPC protos must match exactly; JSON numbers may be cast
    the way TF Serving parses them (integers to floats, never floats to integers)."""
    target = dtype.as_numpy_dtype
    if exact_dtype and array.dtype != target:
        raise BadRequest(f"Input '{name}' has dtype {tf.as_dtype(array.dtype).name}; the "
                         f"signature expects {dtype.name}.")
    kind = array.dtype.kind
    if dtype.is_floating and kind in "iuf":
        return array.astype(target)
    if dtype.is_integer and kind in "iu":
        info = np.iinfo(target)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise BadRequest(f"Input '{name}' does not fit in {dtype.name}.")
        return array.astype(target)
    raise BadRequest(f"Input '{name}' has {_kind_text(kind)} values; the signature expects "
                     f"{dtype.name}.")


def _kind_text(kind):
    return {"f": "floating-point", "i": "integer", "u": "integer", "b": "boolean",
            "U": "string", "S": "string"}.get(kind, "non-numeric")


def _shape_text(shape):
    if shape is None:
        return "any shape"
    return "[" + ", ".join("batch" if d == -1 else str(d) for d in shape) + "]"


def _rows_of(outputs):
    """Row-form predictions: split every output along its batch axis."""
    names = sorted(outputs)
    sizes = {len(outputs[n]) if isinstance(outputs[n], list) else None for n in names}
    if len(sizes) != 1 or None in sizes:
        raise BadRequest("The outputs do not share a batch axis; use the columnar form "
                         '{"inputs": ...}.')
    if len(names) == 1:
        return outputs[names[0]]
    return [{n: outputs[n][i] for n in names} for i in range(sizes.pop())]
