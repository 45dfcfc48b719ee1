"""The random state of a model: its `keras.random.SeedGenerator`s.

Every noise source of a model (the encoder's noise layers, the moment sampler,
the model's own generator for prior and contrast samples) is a SeedGenerator
whose state is a variable. `.keras` files do not store these states;
checkpoints, monitoring, exports and seeded evaluations save, set or restore
them through the one list `seed_state_variables`.
"""

import contextlib

import tensorflow as tf


def seed_state_variables(layer):
    """The state variables of every `keras.random.SeedGenerator` in `layer`, in order."""
    return [v for v in layer.variables if v.path.endswith("seed_generator_state")]


def reseed(states, seed):
    """Sets generator i to the stateless seed pair [seed, (i + 1) * 2^32].

    Distinct counters keep the generators' streams apart; works eagerly and
    inside a `tf.function` (`seed` may be a tensor).
    """
    seed = tf.cast(seed, tf.int64)
    for i, state in enumerate(states):
        state.assign(tf.cast(tf.stack([seed, tf.constant((i + 1) << 32, tf.int64)]),
                             state.dtype))


@contextlib.contextmanager
def unchanged_random_state(layer):
    """Runs the block, then restores every seed generator of `layer` (eager only).

    Draws made inside the block (monitoring, a seeded evaluation) leave the
    model's own random streams, and so a training run, as they were.
    """
    states = seed_state_variables(layer)
    saved = [v.numpy() for v in states]
    try:
        yield
    finally:
        for variable, value in zip(states, saved):
            variable.assign(value)


@contextlib.contextmanager
def seeded(layer, seed):
    """Draws inside the block repeat for the same int `seed`; None leaves them unseeded.

    Every generator of `layer` is reseeded from `seed` (see `reseed`) and
    restored afterwards, so the model's own streams are unchanged.
    """
    if seed is None:
        yield
        return
    with unchanged_random_state(layer):
        reseed(seed_state_variables(layer), int(seed))
        yield
