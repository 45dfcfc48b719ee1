"""Floating-point operations of a training step, two ways.

A FLOP here is one multiply or one add, so a matrix product [m, k] x [k, n]
costs 2 m k n, and only matrix products and convolutions are counted (the
element-wise work is small next to them and is not what a matmul rate measures).

From the layer sizes (`train_step_flops`): each network's forward cost per
example is summed over its weighted layers,

    Dense                  2 * fan_in * units
    Conv2D                 2 * k_h * k_w * c_in * c_out * H_out * W_out
    Conv2DTranspose        2 * k_h * k_w * c_in * c_out * H_in * W_in
    MomentSampler          2 * m * sum_layers fan_in * units   (m basis MLPs)

and a backward pass through a network costs twice its forward pass (the
gradients with respect to the weights and to the inputs), the usual "3x" rule.
The rule slightly overcounts: a layer that reads the data or the noise needs no
gradient with respect to its input.

On the traced step (`graph_flops`): TensorFlow's registered FLOP statistics of
every MatMul, BatchMatMul and convolution (forward and gradient) that the
step's outputs and variable updates depend on, so exactly the matrix work a
step executes, pruned as TensorFlow prunes it.
"""

import keras
import tensorflow as tf

from avb_keras.checks import positive_int
from avb_keras.networks.layers import MomentSampler

#: Op types whose FLOPs `graph_flops` counts: the matrix work.
MATRIX_OPS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Conv2D",
              "Conv2DBackpropInput", "Conv2DBackpropFilter", "DepthwiseConv2dNative")


def layer_flops(layer):
    """Forward FLOPs per example of one built layer (0 for layers without a matrix product)."""
    if isinstance(layer, keras.layers.Dense):
        return 2 * int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
    if isinstance(layer, keras.layers.Conv2DTranspose):
        k_h, k_w, c_out, c_in = layer.kernel.shape
        (_, h_in, w_in, _), _ = _io_shapes(layer)
        return 2 * k_h * k_w * c_in * c_out * h_in * w_in
    if isinstance(layer, keras.layers.Conv2D):
        k_h, k_w, c_in, c_out = layer.kernel.shape
        _, (_, h_out, w_out, _) = _io_shapes(layer)
        return 2 * k_h * k_w * c_in * c_out * h_out * w_out
    if isinstance(layer, MomentSampler):
        return 2 * sum(int(k.shape[0]) * int(k.shape[1]) * int(k.shape[2]) for k in layer.kernels)
    return 0


def network_flops(network, layers=None):
    """Forward FLOPs per example of `network` (or of its sub-layers `layers`)."""
    layers = layers if layers is not None else _weighted_layers(network)
    return sum(layer_flops(layer) for layer in layers)


def adversary_flops(adversary):
    """(per x, per z) forward FLOPs of an adversary T(x, z): its x-branch runs once
    per example, its z-branch once per latent it is shown (the adversary's
    `branch_layers`)."""
    if not hasattr(adversary, "branch_layers"):
        raise TypeError(f"No FLOP count for an adversary of type {type(adversary).__name__}; "
                        "it needs a `branch_layers()` method (see avb_keras.networks).")
    x_branch, z_branch = adversary.branch_layers()
    return (network_flops(adversary, _expand(x_branch)),
            network_flops(adversary, _expand(z_branch)))


def train_step_flops(model):
    """FLOPs per example of one `train_step` of `model`, from the layer sizes.

    With E, D the encoder's and decoder's forward FLOPs, A_x and A_z the
    adversary's x- and z-branch (the z-branch sees a q-sample and a prior
    sample per example), K the Monte Carlo moment samples (1 without them) and
    s the adversary steps:

        VAE:      3 (E + D)
        AVB/AAE:  K E + D + A_x + 2 A_z               forward (K = `encoder_passes`)
                  + 2 (E + D) + A_z                    primal backward (through T's z-branch
                                                       on the q-sample: input gradient only)
                  + 2 (A_x + 2 A_z)                    adversary backward
                  + 2 (A_x + 2 A_z)                    the gradient of T's mean logit, with
                                                       `offset_stability` (the rate limit)
                  + (s - 1) (K E + 3 (A_x + 2 A_z))    extra adversary steps
    """
    from avb_keras.models.base import LatentVariableModel

    if not isinstance(model, LatentVariableModel):
        raise TypeError(f"No FLOP count for {type(model).__name__}; expected a VAE, AVB or AAE.")
    e, d = network_flops(model.encoder), network_flops(model.decoder)
    if model.adversary is None:
        return 3 * (e + d)
    a_x, a_z = adversary_flops(model.adversary)
    k = model.encoder_passes
    adversary_pass = 3 * (a_x + 2 * a_z)
    primal = k * e + d + 2 * (e + d) + a_z
    rate_limit = 2 * (a_x + 2 * a_z) if getattr(model, "offset_stability", None) else 0
    return (primal + adversary_pass + rate_limit
            + (model.adversary_steps - 1) * (k * e + adversary_pass))


def graph_flops(model, batch_size):
    """Matrix FLOPs per example that one traced `train_step` executes.

    Traces `model.train_step` on a [batch_size, *data_shape] batch (nothing
    runs) and sums TensorFlow's FLOP statistics over the matrix ops that the
    step's outputs and side effects (variable updates) depend on.
    """
    spec = tf.TensorSpec((positive_int(batch_size, "batch_size"),) + tuple(model.data_shape), tf.float32)
    graph = tf.function(model.train_step).get_concrete_function(spec).graph
    live, stack = set(), [t.op for t in graph.outputs] + list(graph.control_outputs)
    while stack:
        op = stack.pop()
        if op.name in live:
            continue
        live.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    # TensorFlow's per-op FLOP statistics (the registry tf.profiler reads).
    from tensorflow.python.framework import ops

    total = sum(ops.get_stats_for_node_def(graph, op.node_def, "flops").value or 0
                for op in graph.get_operations() if op.name in live and op.type in MATRIX_OPS)
    return total / batch_size


def _weighted_layers(network):
    return [layer for layer in network._flatten_layers(include_self=False) if layer.weights
            and not list(layer._flatten_layers(include_self=False))]


def _expand(layers):
    """The leaf layers of `layers` (Sequential stacks and models are opened up)."""
    leaves = []
    for layer in layers:
        inner = _weighted_layers(layer)
        leaves.extend(inner if inner else [layer])
    return leaves


def _io_shapes(layer):
    """(input shape, output shape) of a built single-input layer."""
    (input_shape,) = layer._build_shapes_dict.values()
    return tuple(input_shape), tuple(layer.compute_output_shape(input_shape))
