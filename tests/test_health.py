"""The per-step health of a run: each player's gradient norm and the adversary's logits,
the peak since the last read (what the TensorBoard panel health/ shows)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import binary_images, tiny_avb, tiny_vae

from avb_keras import seeding
from avb_keras.models.adversarial import adversary_loss


def frozen(model):
    """`model` compiled with rate 0 for every player: a step changes no weight."""
    model.compile(**{name: keras.optimizers.Adam(0.0) for name in model.optimizer_names})
    return model


def test_peaks_are_the_steps_own_gradient_norms_and_logits():
    model = frozen(tiny_avb(latent_dim=2, encoder_type="moment", adaptive_contrast="full"))
    x = tf.constant(binary_images(16))
    states = seeding.seed_state_variables(model)
    saved = [s.numpy() for s in states]
    expected = {}
    for _ in range(3):  # the same weights, fresh draws each step
        with tf.GradientTape(persistent=True) as tape:
            terms = model.compute_terms(x)
            primal = tf.reduce_mean(model.primal_loss(terms))
            adversary = tf.reduce_mean(adversary_loss(terms["t_q"], terms["t_p"]))
        step = {
            "gradient_norm/primal": tf.linalg.global_norm(
                tape.gradient(primal, model.primal_variables)),
            "gradient_norm/adversary": tf.linalg.global_norm(
                tape.gradient(adversary, model.adversary.trainable_variables)),
            "adversary/logit_peak": tf.reduce_max(tf.abs(tf.stack([terms["t_q"], terms["t_p"]]))),
            "adversary/logit_offset": tf.abs(tf.reduce_mean(terms["t_q"])
                                             + tf.reduce_mean(terms["t_p"])) / 2}
        expected = {k: max(expected.get(k, 0.0), float(v)) for k, v in step.items()}
    for state, value in zip(states, saved):  # replay the same draws in the train steps
        state.assign(value)
    for _ in range(3):
        model.train_step(x)
    health = model.health()
    assert set(health) == set(expected)
    for name, value in expected.items():
        assert health[name] == pytest.approx(value, rel=1e-5), name
    assert health["gradient_norm/primal"] > 0 and health["adversary/logit_peak"] > 0


def test_reading_resets_the_peaks_and_a_nan_is_kept():
    model = frozen(tiny_vae())
    model.train_step(tf.constant(binary_images(8)))
    assert model.health()["gradient_norm/primal"] > 0
    assert model.health() == {"gradient_norm/primal": 0.0}
    model.record_peak("gradient_norm/primal", 2.0)
    model.record_peak("gradient_norm/primal", np.nan)
    model.record_peak("gradient_norm/primal", 3.0)
    assert np.isnan(model.health()["gradient_norm/primal"])


def test_a_shifted_adversary_shows_its_offset():
    """T + c on every input: the offset peak moves by c, the logit peak by at least c."""
    model = frozen(tiny_avb(latent_dim=2))
    x = tf.constant(binary_images(16))
    model.train_step(x)
    before = model.health()
    model.adversary.t_z.bias.assign(model.adversary.t_z.bias + 50.0)
    model.train_step(x)
    after = model.health()
    assert after["adversary/logit_offset"] == pytest.approx(50.0, abs=before["adversary/logit_offset"] + 1.0)
    assert after["adversary/logit_peak"] >= 50.0 - before["adversary/logit_peak"]
