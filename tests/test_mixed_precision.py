"""Mixed precision: 16-bit networks, float32 densities and variables, loss scaling for
every player (a skipped step on overflow is not divergence), saving under the policy."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import binary_images, clipped_sgd_steps, tiny_aae, tiny_avb, tiny_vae

from avb_keras import AdversarialVI
from avb_keras.callbacks import DivergenceGuard, TrainingDiverged

LossScale = keras.optimizers.LossScaleOptimizer


@pytest.fixture
def policy():
    """Sets the global dtype policy for one test and restores float32 afterwards."""
    def set_policy(name):
        keras.mixed_precision.set_global_policy(name)
    yield set_policy
    keras.mixed_precision.set_global_policy("float32")


def tiny_adversarial_vi(seed=0):
    def log_density(z):  # an unnormalized N((1, -1), I)
        return -0.5 * tf.reduce_sum(tf.square(z - [1.0, -1.0]), axis=-1)
    return AdversarialVI.for_target(log_density, dim=2, hidden_units=(8,), adversary_units=(8,),
                                    batch_size=16, seed=seed)


MODELS = {"vae": tiny_vae, "avb": tiny_avb, "aae": tiny_aae,
          "adversarial_vi": tiny_adversarial_vi}


def first_step(make):
    """A fresh model (fixed seeds), compiled, and its metrics after one step on fixed data."""
    keras.utils.set_random_seed(1234)
    model = make()
    model.compile(jit_compile=False)
    x = binary_images(16, seed=1)
    logs = model.train_on_batch(x if make is not tiny_adversarial_vi else np.zeros(16, "float32"),
                                return_dict=True)
    return model, {k: float(v) for k, v in logs.items()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bfloat16_networks_float32_densities_and_the_float32_first_step(name, policy):
    _, reference = first_step(MODELS[name])
    policy("mixed_bfloat16")
    model, mixed = first_step(MODELS[name])
    dense = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dense)]
    assert dense and all(layer.compute_dtype == "bfloat16" for layer in dense)
    assert all(v.dtype == "float32" for v in model.weights if "seed_generator" not in v.path)
    assert all(t.result().dtype == tf.float32 for t in model.metrics)
    terms = (model.compute_terms() if name == "adversarial_vi"
             else model.compute_terms(model.images(binary_images(4))))
    assert all(value.dtype == tf.float32 for value in terms.values())  # densities in float32
    # The same weights and noise; bf16 keeps 8 bits of mantissa (unit round-off 2^-8 = 0.4%).
    # The first step's metrics differ by at most 0.15% of their largest value here; allowed 1%.
    assert reference.keys() == mixed.keys()
    scale = max(abs(v) for v in reference.values())
    for key in reference:
        assert abs(mixed[key] - reference[key]) <= 0.01 * scale, (key, reference, mixed)
    data = (dict(steps_per_epoch=3) if name == "adversarial_vi"
            else dict(x=binary_images(48), batch_size=16))
    history = model.fit(epochs=1, verbose=0, **data).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert not any(isinstance(o, LossScale) for o in (model.optimizer,))  # bf16 needs no scaling


def test_float16_wraps_every_player_once_and_saves_and_loads(policy, tmp_path):
    policy("mixed_float16")
    model = tiny_avb()
    model.compile(adversary_optimizer=LossScale(keras.optimizers.Adam(1e-3)), clipnorm=0.5)
    for optimizer in (model.optimizer, model.adversary_optimizer):
        assert isinstance(optimizer, LossScale)
        assert not isinstance(optimizer.inner_optimizer, LossScale)  # no double wrapping
        assert optimizer.inner_optimizer.clipnorm == 0.5  # clips after unscaling
    model.fit(binary_images(32), batch_size=16, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.dtype_policy.name == "mixed_float16"
    for name in ("optimizer", "adversary_optimizer"):
        saved, restored = getattr(model, name), getattr(loaded, name)
        assert isinstance(restored, LossScale) and not isinstance(restored.inner_optimizer,
                                                                  LossScale)
        assert restored.inner_optimizer.clipnorm == 0.5
        assert int(restored.iterations) == int(saved.iterations) > 0  # (a step may overflow)
        assert float(restored.dynamic_scale) == float(saved.dynamic_scale)
        np.testing.assert_array_equal(restored.variables[-1], saved.variables[-1])
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    history = loaded.fit(binary_images(32), batch_size=16, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][-1]) and loaded.nonfinite_updates()["primal"] == 0


def test_clipping_under_loss_scaling_bounds_the_unscaled_step(policy):
    policy("mixed_float16")
    # Had the scaled gradient been clipped, the step would be 2^15 times smaller.
    for name, step in clipped_sgd_steps(tiny_avb()).items():
        assert 0.05 < step <= 0.1 + 1e-3, name


class Trace(keras.callbacks.Callback):
    """Per batch: each player's inner iterations, loss scale, and whether its weights moved."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_begin(self, logs=None):
        self.previous = self._weights()

    def _weights(self):
        return {name: [np.asarray(v).copy() for v in variables]
                for name, variables in self.model.player_variables.items()}

    def on_train_batch_end(self, batch, logs=None):
        now = self._weights()
        self.rows.append({name: (int(getattr(self.model, name).inner_optimizer.iterations),
                                 float(getattr(self.model, name).dynamic_scale),
                                 any(np.any(a != b) for a, b in zip(now[name],
                                                                    self.previous[name])))
                          for name in now})
        self.previous = now


def test_an_overflow_skips_both_players_step_and_is_not_divergence(policy):
    policy("mixed_float16")
    model = tiny_avb()
    # A scale of 2^20 overflows float16 gradients (max 65504) for a few steps.
    model.compile(optimizer=LossScale(keras.optimizers.Adam(1e-3), initial_scale=2.0**20),
                  adversary_optimizer=LossScale(keras.optimizers.Adam(1e-3),
                                                initial_scale=2.0**20))
    trace = Trace()
    history = model.fit(binary_images(160), batch_size=16, epochs=1, verbose=0,
                        callbacks=[DivergenceGuard(), trace]).history  # does not raise
    first = trace.rows[0]
    for name in ("optimizer", "adversary_optimizer"):
        assert first[name] == (0, 2.0**19, False)  # skipped: no update, scale halved
        iterations, scale, _ = trace.rows[-1][name]
        assert 0 < iterations < 10 and scale < 2.0**19  # then training proceeded
        assert any(row[name][2] for row in trace.rows)
    assert model.nonfinite_updates() == {"primal": 0, "adversary": 0}
    assert np.isfinite(history["loss"][-1])


def test_a_real_nan_under_loss_scaling_is_still_divergence(policy):
    policy("mixed_float16")
    model = tiny_avb()
    model.compile()
    model.fit(binary_images(16), batch_size=16, epochs=1, verbose=0)
    kernel = model.decoder.trainable_variables[0]
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    with pytest.raises(TrainingDiverged, match="primal player"):
        model.fit(binary_images(32), batch_size=16, epochs=1, verbose=0,
                  callbacks=[DivergenceGuard()])
    assert model.nonfinite_updates()["primal"] == 1


def test_the_cli_trains_with_mixed_precision_and_xla_and_records_them(policy, tmp_path, capsys):
    import json

    from avb_keras import checkpoints, cli

    run_dir = tmp_path / "run"
    common = ["train", "--model", "vae", "--dataset", "four_frames", "--epochs", "1",
              "--steps-per-epoch", "2",
              "--batch-size", "64", "--run-dir", str(run_dir)]
    assert cli.main(common + ["--mixed-precision", "mixed_bfloat16", "--jit-compile", "on"]) == 0
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["mixed_precision"] == "mixed_bfloat16" and summary["jit_compile"] is True
    assert all(np.isfinite(v) for v in summary["test"].values())
    model, state = checkpoints.latest(run_dir / "checkpoints")
    assert state["settings"]["mixed_precision"] == "mixed_bfloat16"
    assert state["settings"]["jit_compile"] == "on"
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert model.decoder.layers[-2].compute_dtype == "bfloat16"
    # Resuming under another policy would silently keep the saved one: refused.
    capsys.readouterr()
    assert cli.main(common[:6] + ["2"] + common[7:]) == 2
    assert "trained with --mixed-precision mixed_bfloat16" in capsys.readouterr().err
