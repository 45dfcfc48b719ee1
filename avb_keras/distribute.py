"""Training on several devices or machines with TensorFlow's own `tf.distribute`.

`make_strategy(name)` builds the strategy `avb-keras train --strategy` names:

    default       no distribution: TensorFlow's default strategy, one device
    mirrored      `tf.distribute.MirroredStrategy`: one replica per GPU of this
                  machine (without GPUs, one per logical CPU device: one,
                  unless the process configured more)
    multi_worker  `tf.distribute.MultiWorkerMirroredStrategy`: one replica per
                  device on every machine named in the `TF_CONFIG` environment
                  variable, e.g. on the first of two machines

                    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                                "task": {"type": "worker", "index": 0}}'

                  and the same with "index": 1 on the second. It must be built
                  before any other TensorFlow op of the process.

Every replica computes its share of the global batch and the gradients are
summed over replicas, so the batch size given to `fit` is the global one:

    replica r sees B / R examples,   grad = sum_r grad(loss_r / R) = grad of the
                                     mean loss over the global batch of B

(`PlayerModel.apply_gradients` divides each replica's loss by R). Models that
estimate a statistic over the batch (Adaptive Contrast in `AdversarialVI`) sum
it across replicas with `global_moments`; models that draw their whole batch
from noise take their share of one global draw with `replica_share`, so R
replicas compute exactly what one device computes on the same global batch.

Under multi-worker training one worker, the chief (task "chief", or worker 0
when the cluster has no chief), writes the run's files; `is_chief` tells which.
The others run the same code (saving involves every worker) but write into a
temporary directory that is deleted (TensorFlow's multi-worker Keras guide).
"""

import json
import os

import numpy as np
import tensorflow as tf

from avb_keras import contrast

#: The names `make_strategy` accepts (the command line's --strategy choices).
STRATEGIES = ("default", "mirrored", "multi_worker")

# One strategy of each kind per process: a second MirroredStrategy on the same
# devices reuses collective keys and its all-reduces collide with the first's;
# a second MultiWorkerMirroredStrategy cannot be created at all.
_STRATEGIES = {}


def make_strategy(name):
    """The process's `tf.distribute.Strategy` of kind `name` (see the module docstring).

    Raises:
      ValueError: an unknown name, or for "multi_worker" a missing or
        malformed `TF_CONFIG`.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}.")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multi_worker":
        check_tf_config(os.environ.get("TF_CONFIG"))
    if name not in _STRATEGIES:
        if name == "mirrored":
            devices = (tf.config.list_logical_devices("GPU")
                       or tf.config.list_logical_devices("CPU"))
            _STRATEGIES[name] = tf.distribute.MirroredStrategy([d.name for d in devices])
        else:
            _STRATEGIES[name] = tf.distribute.MultiWorkerMirroredStrategy()
    return _STRATEGIES[name]


def check_tf_config(text):
    """Parses `TF_CONFIG` as TensorFlow defines it; returns (cluster, task type, index).

    Expected form: {"cluster": {"worker": ["host:port", ...], "chief": [...]?},
    "task": {"type": "worker" or "chief", "index": i}}.
    """
    form = ('expected JSON like {"cluster": {"worker": ["host1:port", "host2:port"]}, '
            '"task": {"type": "worker", "index": 0}}')
    if not text:
        raise ValueError(f"--strategy multi_worker needs the TF_CONFIG environment variable; "
                         f"{form}.")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}); {form}.") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict) or not all(
            isinstance(v, list) and all(isinstance(a, str) for a in v) for v in cluster.values()):
        raise ValueError(f"TF_CONFIG needs a 'cluster' of address lists and a 'task'; {form}.")
    kind, index = task.get("type"), task.get("index")
    if kind not in ("worker", "chief") or not isinstance(index, int) or not (
            0 <= index < len(cluster.get(kind, []))):
        raise ValueError(f"TF_CONFIG's task {task} is not in its cluster {cluster}: the type "
                         f"must be 'worker' or 'chief' with an index into that list; {form}.")
    return cluster, kind, index


def is_chief(strategy):
    """Whether this process writes the run's files: always, unless a non-chief worker."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    kind, index = resolver.task_type, resolver.task_id
    if kind is None or kind == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return kind == "worker" and index == 0 and not has_chief


def num_replicas():
    """R, the replicas summing their gradients (1 outside a replica context)."""
    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def replica_sum(value):
    """sum_r value_r over the replicas (all-reduced); `value` itself with one replica."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def step_logs(logs):
    """The {name: scalar} logs of a train or test step, in the form Keras can reduce.

    Keras 3 reduces a step's logs over the replicas of a multi-worker
    MultiWorkerMirroredStrategy with `strategy.reduce("MEAN", v, axis=0)`, which
    fails on scalars (tensorflow/tensorflow#72388); there each value gets a
    length-1 axis, which that reduction removes. Elsewhere the logs are unchanged.
    """
    strategy = tf.distribute.get_strategy()
    if not (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and _has_cluster(strategy)):
        return logs
    return {name: tf.reshape(value, [1]) for name, value in logs.items()}


def _has_cluster(strategy):
    """Whether a MultiWorkerMirroredStrategy spans a cluster (TF_CONFIG), not one local worker."""
    resolver = strategy.cluster_resolver
    return resolver is not None and bool(resolver.cluster_spec().as_dict())


def replica_share(global_batch):
    """This replica's rows of a [B, ...] tensor that every replica computed alike.

        replica r of R gets rows r B/R, ..., (r + 1) B/R - 1

    Outside a replica context (or with one replica) the whole batch.

    Raises:
      ValueError: B is not a multiple of R.
    """
    replicas = num_replicas()
    if replicas == 1:
        return global_batch
    size = int(global_batch.shape[0])
    if size % replicas:
        raise ValueError(f"The global batch of {size} does not split evenly over {replicas} "
                         f"replicas; expected a multiple of {replicas}.")
    shares = tf.reshape(global_batch, [replicas, size // replicas] + global_batch.shape[1:])
    return tf.gather(shares, tf.distribute.get_replica_context().replica_id_in_sync_group)


def global_moments(samples, covariance="diagonal"):
    """The moments over axis 0 of the global batch, held constant for gradients.

    Each replica holds n_r rows z_ri of the global batch; `contrast.moments`
    estimates the moments of all n = sum_r n_r rows, its sums all-reduced across
    replicas (`replica_sum`):

        mu = sum_ri z_ri / n,   sigma^2 = sum_ri (z_ri - mu)^2 / n
        Sigma = sum_ri (z_ri - mu)(z_ri - mu)^T / n     (covariance="full"; shrunk
                                                         as there when n <= d)

    With one replica these are the moments of `samples` itself. Returns
    {"mean", "variance"[, "covariance"]}.
    """
    return contrast.moments(tf.stop_gradient(samples), covariance, reduce_sum=replica_sum)


def check_workers_agree(strategy, values, what):
    """Raises ValueError unless every replica of `strategy` holds the same `values`.

    The mean of v and of v^2 are all-reduced; they agree with one value on
    every replica exactly when the variance mean(v^2) - mean(v)^2 is 0. All
    replicas see the same means, so all of them raise (none is left waiting).

    Args:
      values: a list of numbers (e.g. the epoch and step a run resumes from).
      what: what they are, for the message.
    """
    if strategy.num_replicas_in_sync == 1:
        return
    local = tf.constant(values, tf.float64)

    def means():
        context = tf.distribute.get_replica_context()
        return (context.all_reduce(tf.distribute.ReduceOp.MEAN, local),
                context.all_reduce(tf.distribute.ReduceOp.MEAN, tf.square(local)))

    mean, mean_square = (np.asarray(t) for t in strategy.experimental_local_results(
        strategy.run(tf.function(means, autograph=False)))[0])
    if np.any(mean_square - np.square(mean) > 1e-6 * np.maximum(1.0, mean_square)):
        raise ValueError(f"The workers disagree on {what}: {values} here, mean {mean.tolist()} "
                         "over all replicas.")
