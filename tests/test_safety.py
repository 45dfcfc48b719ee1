"""Safety: models load with safe_mode=True, nothing is written outside the folder given,
and no pickle anywhere."""

import re
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import binary_images, tiny_avb, tiny_vae

from avb_keras import AVB, checkpoints, networks, saving
from avb_keras.export import export_decoder, export_encoder

PACKAGE = Path(__file__).resolve().parents[1] / "avb_keras"


def _with_moment_and_gaussian_encoders():
    # The moment encoder uses `_shifted_elu`, the Gaussian encoder `_positive_scale`.
    return [tiny_avb(encoder_type="moment"), tiny_vae(), tiny_avb()]


def test_every_model_loads_in_safe_mode_with_its_registered_functions(tmp_path):
    for i, model in enumerate(_with_moment_and_gaussian_encoders()):
        model.compile()
        model.fit(binary_images(16), batch_size=8, epochs=1, verbose=0)
        path = saving.save_model(model, tmp_path / f"m{i}.keras")
        loaded = keras.saving.load_model(path, safe_mode=True)
        for a, b in zip(model.weights, loaded.weights, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        config = str(loaded.get_config())
        assert all(f"avb_keras>{name}" in config for name in (
            ["_shifted_elu"] if i == 0 else ["_positive_scale"] if i == 1 else []))
        # A .keras file is JSON + HDF5: no pickled members.
        with zipfile.ZipFile(path) as archive:
            assert set(archive.namelist()) == {"config.json", "metadata.json",
                                               "model.weights.h5"}


def test_safe_mode_does_refuse_code_in_a_model_file(tmp_path):
    # The control: safe mode is on, and a lambda (arbitrary code) is refused.
    decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16),
                                keras.layers.Lambda(lambda t: t), keras.layers.Reshape((4, 4, 1))])
    encoder = networks.implicit_encoder((4, 4, 1), 2, hidden_units=(8,), noise_dim=4)
    model = AVB(encoder, decoder, networks.InnerProductAdversary(hidden_units=(8,), inner_dim=4),
                moment_samples=4)
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(tmp_path / "lambda.keras", safe_mode=True)


def test_exports_and_checkpoints_write_only_inside_the_folder_given(tmp_path):
    model = tiny_avb()
    model.compile()
    inside = tmp_path / "given"
    inside.mkdir()
    export_decoder(model, inside / "decoder")
    export_encoder(model, inside / "encoder")
    saver = checkpoints.TrainingCheckpoint(inside / "checkpoints", journal=inside / "j.jsonl")
    saver.set_model(model)
    saver.on_epoch_end(0, {"loss": 1.0})
    saving.save_model(model, inside / "model.keras")
    assert [p.name for p in tmp_path.iterdir()] == ["given"]
    names = {p.relative_to(inside).parts[0] for p in inside.rglob("*")}
    assert names == {"decoder", "encoder", "checkpoints", "j.jsonl", "model.keras"}


def test_no_pickle_in_the_package():
    sources = {p: p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}
    assert len(sources) > 20
    forbidden = re.compile(r"\b(import\s+(c?pickle|dill|joblib|cloudpickle|shelve|marshal)|"
                           r"from\s+(c?pickle|dill|joblib|cloudpickle|shelve)\s+import|"
                           r"allow_pickle\s*=\s*True|pickle\.load)")
    offenders = [f"{p.relative_to(PACKAGE)}: {m.group(0)}"
                 for p, text in sources.items() for m in forbidden.finditer(text)]
    assert not offenders
    # Every numpy load says so explicitly.
    loads = [line for text in sources.values() for line in text.splitlines()
             if "np.load(" in line]
    assert loads and all("allow_pickle=False" in line for line in loads)
    assert not list(PACKAGE.rglob("*.pkl")) and not list(PACKAGE.rglob("*.pickle"))
