"""Local presets: model.save_to_preset(dir) and Cls.from_preset(dir), and their errors."""

import json

import keras
import numpy as np
import pytest
from conftest import binary_images, tiny_avb, tiny_vae

from avb_keras import AVB, VAE, LatentVariableModel, preset_files, seeding


@pytest.fixture
def saved(tmp_path):
    """(a tiny AVB, the folder it was saved to as a preset)."""
    model = tiny_avb()
    return model, model.save_to_preset(tmp_path / "preset")


def _encoded(model, x, seed=3):
    with seeding.seeded(model, seed):
        return np.asarray(model.encode(x)), np.asarray(model.decode(np.ones((2, 2), "float32")))


def test_keras_hubs_layout_with_library_versions(saved):
    _, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "metadata.json", "model.weights.h5"]
    assert json.loads((folder / "config.json").read_text())["class_name"] == "AVB"
    metadata = json.loads((folder / "metadata.json").read_text())
    assert set(metadata) == {"avb_keras_version", "keras_version", "tensorflow_version",
                             "tensorflow_probability_version"}


@pytest.mark.parametrize("cls", [AVB, LatentVariableModel])
def test_a_round_trip_gives_identical_outputs(saved, cls):
    model, folder = saved
    loaded = cls.from_preset(folder)
    assert isinstance(loaded, AVB)
    saved_config = json.loads((folder / "config.json").read_text())
    assert json.loads(json.dumps(keras.saving.serialize_keras_object(loaded))) == saved_config
    x = binary_images(8)
    for before, after in zip(_encoded(model, x), _encoded(loaded, x)):
        np.testing.assert_array_equal(before, after)


def test_without_weights_the_architecture_is_fresh(saved):
    model, folder = saved
    bare = AVB.from_preset(folder, load_weights=False)
    assert [w.shape for w in bare.weights] == [w.shape for w in model.weights]
    assert any(not np.array_equal(a, b) for a, b in zip(bare.weights, model.weights))


def test_named_presets_still_build_architectures():
    assert AVB.from_preset("four_frames", latent_dim=3).latent_dim == 3


def _damage(folder, name, text):
    (folder / name).write_text(text)


@pytest.mark.parametrize("change, cls, error, message", [
    (lambda f: _damage(f, "config.json", '{"class_name": "AV'), AVB, ValueError,
     r"config.json is damaged \(not valid JSON\)"),
    (lambda f: (f / "model.weights.h5").write_bytes(b"\x89HDF\r\n"), AVB, ValueError,
     "weights file .* is damaged"),
    (lambda f: _damage(f, "metadata.json", json.dumps({"avb_keras_version": "1.0.0"})), AVB,
     ValueError, "saved by avb_keras 1.0.0, which is incompatible"),
    (lambda f: (f / "metadata.json").unlink(), AVB, FileNotFoundError, "No metadata.json"),
    (lambda f: None, VAE, ValueError, "holds a model of class 'AVB', not VAE"),
])
def test_a_preset_that_cannot_load_says_why(saved, change, cls, error, message):
    _, folder = saved
    change(folder)
    with pytest.raises(error, match=message):
        cls.from_preset(folder)


def test_a_vae_round_trips_too(tmp_path):
    model = tiny_vae()
    loaded = VAE.from_preset(model.save_to_preset(tmp_path / "vae"))
    np.testing.assert_array_equal(_encoded(model, binary_images(4))[1],
                                  _encoded(loaded, binary_images(4))[1])
    assert preset_files.is_preset_dir(tmp_path / "vae")


def test_a_local_preset_takes_no_overrides(saved):
    with pytest.raises(ValueError, match=r"got overrides \['latent_dim'\]"):
        AVB.from_preset(saved[1], latent_dim=3)


def test_a_trained_models_preset_holds_its_weights_without_optimizer_state(tmp_path):
    import h5py

    model = tiny_vae()
    model.compile()
    model.fit(binary_images(16), epochs=1, batch_size=8, verbose=0)
    folder = model.save_to_preset(tmp_path / "trained")
    with h5py.File(folder / "model.weights.h5") as weights:
        assert "optimizer" not in weights
    loaded = VAE.from_preset(folder)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a, b)
