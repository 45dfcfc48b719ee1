"""Learning-rate schedules and the moving average of the primal weights (compile)."""

import math

import keras
import numpy as np
import pytest
from conftest import binary_images, tiny_avb

from avb_keras import optimizers


def rate_at(optimizer, step):
    schedule = keras.optimizers.schedules.deserialize(optimizer.get_config()["learning_rate"])
    return float(schedule(step))


def test_cosine_schedule_warms_up_then_decays_for_every_player():
    model = tiny_avb()
    model.compile(lr_schedule="cosine", decay_steps=100, warmup_steps=10)
    for name, lr_0 in model.learning_rates.items():
        optimizer = getattr(model, name)
        # lr(t) = lr_0 t / w during the warm-up, then lr_0 (1 + cos(pi (t - w) / T)) / 2.
        assert rate_at(optimizer, 0) == 0.0
        assert rate_at(optimizer, 5) == pytest.approx(lr_0 / 2, rel=1e-5)
        assert rate_at(optimizer, 10) == pytest.approx(lr_0, rel=1e-5)
        assert rate_at(optimizer, 60) == pytest.approx(lr_0 * (1 + math.cos(math.pi / 2)) / 2,
                                                       rel=1e-4)
        assert rate_at(optimizer, 110) == pytest.approx(0.0, abs=1e-12)


def test_the_average_is_what_fit_leaves_and_what_validation_sees():
    """theta_avg <- m theta_avg + (1 - m) theta after each update (the first: theta)."""
    model = tiny_avb()
    momentum = 0.8
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  adversary_optimizer=keras.optimizers.Adam(1e-2), ema=momentum)
    primal, adversary = model.primal_variables, model.adversary.trainable_variables
    seen = {"train": [], "validation": []}

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen["train"].append([v.numpy().copy() for v in primal])
            seen["adversary"] = [v.numpy().copy() for v in adversary]

        def on_test_end(self, logs=None):  # before the averages are swapped out again
            seen["validation"].append([v.numpy().copy() for v in primal])

    x = binary_images(64)
    model.fit(x, batch_size=16, epochs=2, validation_data=x[:16], verbose=0,
              callbacks=[Record()])
    average = seen["train"][0]
    for weights in seen["train"][1:]:
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights)]
    for variable, expected, validated in zip(primal, average, seen["validation"][-1]):
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(validated, expected, rtol=1e-5, atol=1e-6)
    # The raw weights differ from their average, and the adversary is not averaged.
    assert not np.allclose(seen["train"][-1][0], average[0])
    for variable, raw in zip(adversary, seen["adversary"]):
        np.testing.assert_array_equal(variable.numpy(), raw)


def test_the_players_adam_warms_its_average_up():
    """m_t = min(m, t / (t + 9)) after update t: the first weights do not linger."""
    model = tiny_avb()
    momentum = 0.5
    model.compile(optimizer=optimizers.player_adam(1e-2), ema=momentum)
    seen = []
    for step in range(12):
        model.train_on_batch(binary_images(16, seed=step))
        seen.append([v.numpy().copy() for v in model.primal_variables])
    average = seen[0]
    for t, weights in enumerate(seen[1:], start=1):
        m = min(momentum, t / (t + 9))
        average = [m * a + (1 - m) * w for a, w in zip(average, weights)]
    with optimizers.averaged(model.optimizer, model.primal_variables):
        for variable, expected in zip(model.primal_variables, average):
            np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-6)
    # Keras's rule (m from the second update on) would differ by far more than that.
    keras_rule = seen[0]
    for weights in seen[1:]:
        keras_rule = [momentum * a + (1 - momentum) * w for a, w in zip(keras_rule, weights)]
    assert not np.allclose(keras_rule[0], average[0], rtol=1e-3, atol=1e-4)


def test_averaged_view_restores_the_raw_weights():
    model = tiny_avb()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), ema=0.5)
    for _ in range(3):  # train_on_batch, unlike fit, leaves the raw weights in place
        model.train_on_batch(binary_images(16))
    raw = [v.numpy().copy() for v in model.primal_variables]
    with optimizers.averaged(model.optimizer, model.primal_variables):
        inside = [v.numpy().copy() for v in model.primal_variables]
    assert any(not np.array_equal(a, b) for a, b in zip(raw, inside))
    for variable, value in zip(model.primal_variables, raw):
        np.testing.assert_array_equal(variable.numpy(), value)


@pytest.mark.parametrize("settings, message", [
    (dict(lr_schedule="linear"), "lr_schedule must be one of"),
    (dict(lr_schedule="cosine"), "needs decay_steps"),
    (dict(lr_schedule="cosine", decay_steps=10, warmup_steps=-1), "warmup_steps"),
    (dict(ema=1.5), r"ema .* must be in \(0, 1\)"),
])
def test_bad_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        tiny_avb().compile(**settings)


def adam_reference(gradients, learning_rate, beta_1, beta_2, epsilon, update_clipping=None):
    """Adam (Kingma and Ba 2015; epsilon added to sqrt(v), as Keras and TensorFlow do) in
    float64 numpy, with Adafactor's update clipping: each step's rate divided by
    max(1, sqrt(mean(g^2 / v_hat)) / d)."""
    w = np.zeros_like(gradients[0], dtype=np.float64)
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(gradients, start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g ** 2
        v_hat = v / (1 - beta_2 ** t)
        rate = learning_rate
        if update_clipping is not None:
            rate /= max(1.0, np.sqrt(np.mean(g ** 2 / np.maximum(v_hat, epsilon ** 2)))
                        / update_clipping)
        w = w - rate * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t) * m / (np.sqrt(v) + epsilon)
    return w


def run_adam(gradients, **kwargs):
    variable = keras.Variable(np.zeros_like(gradients[0]))
    optimizer = optimizers.Adam(**kwargs)
    for g in gradients:
        optimizer.apply([keras.ops.convert_to_tensor(g)], [variable])
    return variable.numpy()


def quiet_then_coherent(seed=0, steps=200, size=256, jump=30.0):
    """Zero-mean gradients of one scale, then a few as large as `jump` times that scale in
    one direction: the burst that turns Adam's steps into whole-size sign steps."""
    rng = np.random.default_rng(seed)
    quiet = [rng.normal(0.0, 1e-3, size).astype("float32") for _ in range(steps)]
    burst = [np.full(size, jump * 1e-3, "float32") for _ in range(3)]
    return quiet, burst


def test_update_clipping_leaves_steady_gradients_alone():
    quiet, _ = quiet_then_coherent()
    settings = dict(learning_rate=1e-2, beta_1=0.5, beta_2=0.999, epsilon=1e-7)
    plain = run_adam(quiet, **settings)
    np.testing.assert_allclose(plain, adam_reference(quiet, **settings), rtol=1e-4, atol=1e-7)
    # Where v averages g^2, mean(g^2 / v_hat) is about 1: in these 200 steps its root
    # reaches at most 1.11 (measured), so clipping at 2 never acts and the run is Adam's.
    np.testing.assert_array_equal(run_adam(quiet, update_clipping=2.0, **settings), plain)
    # Clipping at 1 trims the steps a little where the root passes 1, by the formula.
    np.testing.assert_allclose(run_adam(quiet, update_clipping=1.0, **settings),
                               adam_reference(quiet, update_clipping=1.0, **settings),
                               rtol=1e-4, atol=1e-7)


def test_update_clipping_scales_a_coherent_burst_down_by_its_rms():
    quiet, burst = quiet_then_coherent()
    settings = dict(learning_rate=1e-2, beta_1=0.5, beta_2=0.999, epsilon=1e-7)
    for clipping in (None, 1.0, 2.0):
        np.testing.assert_allclose(run_adam(quiet + burst, update_clipping=clipping, **settings),
                                   adam_reference(quiet + burst, update_clipping=clipping,
                                                  **settings), rtol=1e-4, atol=1e-7)
    before = adam_reference(quiet, **settings)
    plain = adam_reference(quiet + burst, **settings) - before
    # Plain Adam moves every weight by several times its rate each burst step, one way (the
    # burst's g / sqrt(v_hat) is about 11: 0.19 to 0.20 in all, measured); clipped, by a
    # fraction of that (at most 0.22 and 0.15 of it at 2 and 1, measured).
    assert np.all(plain < -0.18)
    for clipping, fraction in ((2.0, 0.25), (1.0, 0.17)):
        clipped = adam_reference(quiet + burst, update_clipping=clipping, **settings) - before
        assert np.all(np.abs(clipped) < fraction * np.abs(plain)), clipping


def test_update_clipping_is_checked_and_saved():
    with pytest.raises(ValueError, match="update_clipping must be a positive number"):
        optimizers.Adam(update_clipping=0.0)
    optimizer = optimizers.Adam(update_clipping=2.0)
    assert optimizers.Adam.from_config(optimizer.get_config()).update_clipping == 2.0
