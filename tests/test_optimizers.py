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
