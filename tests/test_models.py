"""VAE and AVB: the API, metrics, serialization with both optimizers, bad input."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_SHAPE, binary_images, tiny_avb, tiny_vae

from avb_keras import AVB, VAE, presets

AVB_METRICS = {"loss", "reconstruction", "kl", "elbo", "adversary_loss", "adversary_accuracy"}


@pytest.mark.parametrize("make", [tiny_avb, lambda: tiny_avb(encoder_type="moment"),
                                  lambda: tiny_avb(adaptive_contrast=False), tiny_vae])
def test_fit_reports_the_shared_metrics(make):
    model = make()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(binary_images(64), batch_size=16, epochs=2, verbose=0).history
    expected = AVB_METRICS if isinstance(model, AVB) else AVB_METRICS - {
        "adversary_loss", "adversary_accuracy"}
    assert set(history) == expected
    for name, values in history.items():
        assert np.all(np.isfinite(values)), name
    np.testing.assert_allclose(history["elbo"], -np.array(history["loss"]), rtol=1e-6)
    np.testing.assert_allclose(
        history["loss"], np.add(history["reconstruction"], history["kl"]), rtol=1e-5)
    if isinstance(model, AVB):
        assert all(0.0 <= a <= 1.0 for a in history["adversary_accuracy"])


def test_training_lowers_the_loss_of_both_players():
    model = tiny_avb()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), adversary_optimizer=keras.optimizers.Adam(3e-3))
    x = binary_images(256)
    before = model.evaluate(x, batch_size=256, verbose=0, return_dict=True)
    model.fit(x, batch_size=32, epochs=15, verbose=0)
    after = model.evaluate(x, batch_size=256, verbose=0, return_dict=True)
    # tests/tolerance_measurements.py training_progress, 4 runs (these seeds and three
    # others): the reconstruction fell by 0.551-1.333 nats (0.551 here, a hair above the
    # 0.5 once asserted), the adversary's loss by 0.20-0.52. Asserted: 0.25 and > 0.
    assert after["reconstruction"] < before["reconstruction"] - 0.25
    assert after["adversary_loss"] < before["adversary_loss"]


def test_encode_decode_sample_shapes_and_ranges():
    for model in (tiny_avb(), tiny_vae()):
        x = binary_images(5)
        z = model.encode(x)
        assert z.shape == (5, model.latent_dim)
        assert model.latent_dim == 2 and model.data_shape == TINY_SHAPE
        recon = model.decode(z)
        assert recon.shape == (5,) + TINY_SHAPE
        assert np.all((recon.numpy() >= 0) & (recon.numpy() <= 1))
        samples = model.sample(7, seed=3)
        assert samples.shape == (7,) + TINY_SHAPE
        np.testing.assert_allclose(samples, model.sample(7, seed=3))  # repeatable with a seed
        assert model.encoder is not None and model.decoder is not None
    assert tiny_avb().adversary is not None


def test_implicit_encoder_is_stochastic():
    model = tiny_avb()
    x = np.repeat(binary_images(1), 200, axis=0)
    z = model.encode(x).numpy()
    assert z.std(axis=0).min() > 1e-3  # noise is always present, also at inference


def test_compile_defaults_are_the_presets_adam_optimizers():
    model = AVB.from_preset("four_frames")
    model.compile()
    for optimizer in (model.optimizer, model.adversary_optimizer):
        assert isinstance(optimizer, keras.optimizers.Adam)
        assert float(optimizer.beta_1) == 0.5
    assert model.optimizer is not model.adversary_optimizer
    vae = VAE.from_preset("mnist_mlp")
    vae.compile()
    assert float(vae.optimizer.learning_rate) == pytest.approx(1e-3)
    assert not hasattr(vae, "adversary_optimizer")  # no unused optimizer is built


def test_unknown_preset_lists_the_valid_names():
    with pytest.raises(ValueError, match="four_frames.*mnist_conv.*mnist_mlp"):
        AVB.from_preset("cifar")


def test_presets_build_the_documented_networks():
    avb = AVB.from_preset("mnist_mlp", latent_dim=8)
    assert avb.latent_dim == 8 and avb.data_shape == (28, 28, 1)
    assert avb.moment_estimator == "analytic" and avb.adaptive_contrast == "full"
    # The preset's contrast unless given; conv and four_frames keep the paper's diagonal.
    assert AVB.from_preset("mnist_mlp", adaptive_contrast=True).adaptive_contrast == "diagonal"
    assert AVB.from_preset("mnist_conv").adaptive_contrast == "diagonal"
    plain = AVB.from_preset("mnist_mlp", adaptive_contrast=False)
    assert not plain.adaptive_contrast and plain.moment_estimator == "monte_carlo"
    ff = AVB.from_preset("four_frames")
    assert ff.latent_dim == 2 and ff.adversary_steps == 2
    conv = AVB.from_preset("mnist_conv")
    assert any(isinstance(layer, keras.layers.Conv2D) for layer in conv.encoder.layers)
    assert conv.adversary.inner_dim == 8192


def as_json(config):
    """A config as it reads back from a saved file (tuples become lists)."""
    return json.loads(json.dumps(config))


def _variables(objects):
    """Weights and optimizer variables (not RNG states, which .keras files do not keep)."""
    return [v.numpy() for obj in objects for v in obj.variables
            if "seed_generator" not in v.name]


def _seed_states(model):
    return [v for v in model.variables if "seed_generator" in v.name]


@pytest.mark.parametrize("make", [tiny_avb, tiny_vae, lambda: tiny_avb(encoder_type="moment")])
def test_keras_round_trip_restores_weights_config_optimizers_and_training(make, tmp_path):
    model = make()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), **(
        {"adversary_optimizer": keras.optimizers.Adam(2e-2, beta_1=0.3)}
        if isinstance(model, AVB) else {}))
    x = binary_images(32)
    model.fit(x, batch_size=16, epochs=1, verbose=0, shuffle=False)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)

    assert type(loaded) is type(model)
    assert as_json(loaded.get_config()) == as_json(model.get_config())
    for a, b in zip(_variables([model]), _variables([loaded]), strict=True):
        np.testing.assert_array_equal(a, b)
    optimizers = ["optimizer"] + (["adversary_optimizer"] if isinstance(model, AVB) else [])
    for name in optimizers:
        original, restored = getattr(model, name), getattr(loaded, name)
        assert as_json(restored.get_config()) == as_json(original.get_config())
        assert int(restored.iterations) == int(original.iterations) == 2
        for a, b in zip(_variables([original]), _variables([restored])):
            np.testing.assert_array_equal(a, b)

    # Training continues identically given the same random stream (Keras's format
    # does not store RNG states, so copy them): the optimizers' moments carry over.
    for source, target in zip(_seed_states(model), _seed_states(loaded), strict=True):
        target.assign(source)
    model.fit(x, batch_size=16, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(_variables([model]), _variables([loaded])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_fit_accepts_tuples_and_tfds_style_dicts():
    x = binary_images(32)
    labels = np.arange(32)
    model = tiny_avb()
    model.compile()
    for dataset in (tf.data.Dataset.from_tensor_slices((x, labels)).batch(8),
                    tf.data.Dataset.from_tensor_slices({"image": x, "label": labels}).batch(8)):
        history = model.fit(dataset, epochs=1, verbose=0).history
        assert np.isfinite(history["loss"][0])


@pytest.mark.parametrize("make", [tiny_avb, tiny_vae])
@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((8, 5, 5, 1), "float32"), ValueError, r"shape \[8, 5, 5, 1\].*\[batch, 4, 4, 1\]"),
    (np.zeros((8, 16), "float32"), ValueError, r"expects \[batch, 4, 4, 1\]"),
    (np.zeros((8, 4, 4, 1), "uint8"), TypeError, "floating point.*uint8.*divide"),
    (np.full((8, 4, 4, 1), 2.0, "float32"), ValueError, r"\[0, 1\]"),
    (np.full((8, 4, 4, 1), np.nan, "float32"), ValueError, "NaN"),
    (np.zeros((0, 4, 4, 1), "float32"), ValueError, "empty"),
])
def test_bad_arrays_are_rejected_before_training(make, bad, error, message):
    model = make()
    model.compile()
    before = _variables([model])
    with pytest.raises(error, match=message):
        model.fit(bad, batch_size=4, epochs=1, verbose=0)
    for a, b in zip(before, _variables([model])):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("values, message", [(2.0, "above 1"), (-1.0, "below 0"),
                                             (np.nan, "NaN or Inf")])
def test_bad_values_in_a_dataset_stop_training_before_weights_change(values, message):
    model = tiny_avb()
    model.compile()
    x = binary_images(16)
    x[9] = values  # a later batch is bad
    before = _variables([model.adversary])
    with pytest.raises(ValueError, match=message):
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=1, verbose=0)
    for a, b in zip(before, _variables([model.adversary])):
        np.testing.assert_array_equal(a, b)


def test_bad_dataset_forms_are_named():
    model = tiny_avb()
    model.compile()
    x = binary_images(8)
    with pytest.raises(ValueError, match="empty"):
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(4).take(0), verbose=0)
    with pytest.raises(ValueError, match="'image' key.*'pixels'"):
        model.fit(tf.data.Dataset.from_tensor_slices({"pixels": x}).batch(4), verbose=0)
    with pytest.raises(TypeError, match="int32"):
        model.fit(tf.data.Dataset.from_tensor_slices(x.astype("int32")).batch(4), verbose=0)
    with pytest.raises(ValueError, match=r"\[batch, 4, 4, 1\]"):
        model.fit(tf.data.Dataset.from_tensor_slices(x.reshape(8, 16)).batch(4), verbose=0)


def test_constructor_rejects_impossible_settings():
    with pytest.raises(ValueError, match="adversary_steps"):
        tiny_avb(adversary_steps=0)
    with pytest.raises(ValueError, match="analytic"):
        tiny_avb(moment_estimator="analytic")  # the implicit encoder has no moments
    with pytest.raises(ValueError, match="latent_dim"):
        AVB.from_preset("four_frames", latent_dim=-1)


@pytest.mark.parametrize("make", [tiny_avb, tiny_vae])
def test_an_uncompiled_model_saves_and_loads(make, tmp_path):
    model = make()
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert not loaded.compiled
    for a, b in zip(_variables([model]), _variables([loaded]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_preset_scales_its_adversarys_widths_and_refuses_a_bad_factor():
    # mnist_mlp lists 2x512 and inner dimension 512: a quarter of that for full AC only.
    mnist = presets.configured("mnist_mlp")
    assert mnist.adversary_widths("full") == ((128, 128), 128)
    assert mnist.adversary_widths("diagonal") == mnist.adversary_widths() == ((512, 512), 512)
    assert AVB.from_preset("mnist_mlp").adversary.inner_dim == 128  # full AC by default
    diagonal = AVB.from_preset("mnist_mlp", adaptive_contrast="diagonal", latent_dim=2)
    assert diagonal.adversary.hidden_units == (512, 512)
    # A factor given applies to every model and contrast.
    half = presets.configured("mnist_mlp", adversary_width=0.5)
    assert half.adversary_widths("full") == half.adversary_widths() == ((256, 256), 256)
    assert presets.configured("four_frames").adversary_widths("full") == ((64,) * 3, 64)
    for bad in (0, -1, True, "0.5"):
        with pytest.raises(ValueError, match="adversary_width must be a positive factor"):
            presets.configured("mnist_mlp", adversary_width=bad)
