"""Adam as one fused kernel per variable: the players' default optimizer.

Keras's Adam (Kingma and Ba 2015) updates each variable with about a dozen
element-wise TensorFlow ops,

    alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m    += (g - m) (1 - beta_1)
    v    += (g^2 - v) (1 - beta_2)
    var  -= alpha m / (sqrt(v) + epsilon),

each a pass over the variable's memory. On a CPU that is a large share of a
training step here (about a third of the `mnist_mlp` AVB+AC step's op time:
docs/PERFORMANCE.md). TensorFlow's `ResourceApplyAdam` kernel computes the same
formula, in the same order of operations, in one multi-threaded kernel.

`Adam` is `keras.optimizers.Adam` with that kernel on the TensorFlow backend:
the same arguments, state, learning-rate schedules, clipping, weight decay,
loss scaling and moving averages (Keras applies those outside `update_step`).
With `amsgrad`, for sparse gradients or on another backend it falls back to
Keras's update. The results agree with Keras's Adam to float32 rounding
(tests/test_optimizers.py).
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="avb_keras")
class Adam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose update is TensorFlow's fused Adam kernel."""

    def update_step(self, gradient, variable, learning_rate):
        if (self.amsgrad or isinstance(gradient, tf.IndexedSlices)
                or keras.backend.backend() != "tensorflow"):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


def _handle(variable):
    """The resource handle of a Keras or TensorFlow variable (this device's copy)."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle
