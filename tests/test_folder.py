"""Images from a folder (`datasets.load("folder")`), the celeba_conv preset and
`avb-keras train --dataset folder`, on a generated folder of coloured shapes."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

from avb_keras import AVB, VAE, cli, datasets, flops, presets, saving, seeding
from avb_keras.datasets import folder

NUM_IMAGES = 300
SIZE = 16


def write_shapes(root, num_images=NUM_IMAGES, size=SIZE, seed=0):
    """`num_images` PNGs of one coloured square or disc on black, in squares/ and discs/."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[:size, :size]
    for i in range(num_images):
        centre = rng.uniform(4, size - 4, 2)
        radius = rng.uniform(2, 5)
        colour = rng.integers(60, 256, 3).astype(np.uint8)
        if i % 2:
            mask = (rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 < radius ** 2
        else:
            mask = (abs(rows - centre[0]) < radius) & (abs(columns - centre[1]) < radius)
        image = np.zeros((size, size, 3), np.uint8)
        image[mask] = colour
        sub = root / ("discs" if i % 2 else "squares")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:04d}.png").write_bytes(tf.io.encode_png(image).numpy())
    return root


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_shapes(tmp_path_factory.mktemp("shapes"))


@pytest.fixture
def tiny_preset(monkeypatch):
    """celeba_conv's family (folder data, Gaussian pixels, conv networks) at a few units."""
    tiny = dataclasses.replace(
        presets.PRESETS["celeba_conv"], data_shape=(SIZE, SIZE, 3), latent_dim=8,
        hidden_units=(32,), adversary_units=(32,), inner_dim=16, noise_dim=8,
        conv_filters=(8, 16), decoder_filters=(16, 8), num_basis=4, moment_samples=4)
    monkeypatch.setitem(presets.PRESETS, "celeba_tiny", tiny)
    return "celeba_tiny"


def collect(ds):
    return [np.concatenate(part) for part in zip(*ds.as_numpy_iterator())]


def test_a_folder_gives_rgb_images_in_the_unit_interval_with_fixed_disjoint_splits(shapes):
    names = {s: folder.files(shapes, s)[0] for s in datasets.SPLITS}
    assert sum(map(len, names.values())) == NUM_IMAGES
    assert not (set(names["train"]) & set(names["valid"]) or set(names["train"]) & set(
        names["test"]) or set(names["valid"]) & set(names["test"]))
    # crc32 mod 10 of the name: 243/29/28 of these 300 names.
    assert [datasets.size("folder", s, path=shapes) for s in datasets.SPLITS] == [243, 29, 28]
    assert datasets.data_shape("folder", 16) == (16, 16, 3)
    assert datasets.data_shape("folder") == (64, 64, 3)

    load = dict(path=shapes, image_size=(8, 8), batch_size=50, with_labels=True)
    x, labels = collect(datasets.load("folder", "train", seed=1, **load))
    assert x.shape == (243, 8, 8, 3) and x.dtype == np.float32
    assert x.min() == 0.0 and 0.9 < x.max() <= 1.0
    assert set(labels) == {0, 1}  # discs/ and squares/
    again, _ = collect(datasets.load("folder", "train", seed=1, **load))
    other, _ = collect(datasets.load("folder", "train", seed=2, **load))
    np.testing.assert_array_equal(x, again)
    assert not np.array_equal(x, other)
    np.testing.assert_array_equal(np.sort(x.reshape(243, -1), 0), np.sort(other.reshape(243, -1), 0))


def test_a_folder_too_large_for_memory_is_decoded_on_every_read(shapes, monkeypatch):
    load = dict(path=shapes, image_size=12, batch_size=16, shuffle=False)
    cached = collect(datasets.load("folder", "valid", with_labels=True, **load))
    monkeypatch.setattr(folder, "CACHE_FRACTION", 0.0)
    assert not folder.fits_in_memory(1, (12, 12))
    streamed_dataset = datasets.load("folder", "valid", with_labels=True, **load)
    # Decoding in parallel with fixed sizes: tf.data's autotuning stays off (pipeline.py).
    assert streamed_dataset.options().autotune.enabled is False
    streamed = collect(streamed_dataset)
    for a, b in zip(cached, streamed):
        np.testing.assert_array_equal(a, b)


def test_folder_mistakes_are_named(tmp_path):
    with pytest.raises(ValueError, match="needs path="):
        datasets.load("folder", "train")
    with pytest.raises(FileNotFoundError, match="Image folder not found.*PNG or JPEG"):
        datasets.load("folder", "train", path=tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="No images in .*expected a folder of PNG or JPEG"):
        datasets.size("folder", path=tmp_path)
    write_shapes(tmp_path / "few", num_images=3)
    with pytest.raises(ValueError, match="split of .* is empty"):
        datasets.size("folder", "test", path=tmp_path / "few")
    broken = write_shapes(tmp_path / "broken", num_images=40)
    (broken / "squares" / "0002.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(ValueError, match="Cannot decode .*0002.png.*expected a PNG or JPEG"):
        datasets.load("folder", "train", path=broken, image_size=8)
    with pytest.raises(ValueError, match="image_size must be"):
        datasets.load("folder", "train", path=broken, image_size=(8, 0))


@pytest.mark.parametrize("model_class", [AVB, VAE])
def test_celeba_conv_takes_64x64_rgb_images(model_class):
    model = model_class.from_preset("celeba_conv", seed=0)
    assert model.data_shape == (64, 64, 3) and model.latent_dim == 64
    assert type(model.likelihood).__name__ == "Gaussian"
    assert model.likelihood.initial_scale == pytest.approx(0.1)
    model.compile()
    x = np.random.default_rng(0).uniform(size=(2, 64, 64, 3)).astype("float32")
    logs = model.train_on_batch(x, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    assert model.sample(2, seed=0).shape == (2, 64, 64, 3)


def test_folder_small_is_sized_for_a_cpu():
    """Its training step costs at most 1/30 of celeba_conv's FLOPs at the same 32x32 (the
    README states 1/36; benchmarks/folder_speed.py times both), and its model file (the
    weights and both players' Adam states, 12 bytes a weight) stays under 20 MB."""
    small = AVB.from_preset("folder_small", seed=0)
    assert small.data_shape == (32, 32, 3)
    celeba = AVB.from_preset("celeba_conv", data_shape=(32, 32, 3), seed=0)
    assert flops.train_step_flops(celeba) >= 30 * flops.train_step_flops(small)
    assert 12 * small.count_params() < 20e6


def read_images(log_dir):
    """{tag: [height, width, channels] of its last image} in `log_dir`."""
    accumulator = EventAccumulator(str(log_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    images = {}
    for tag in accumulator.Tags()["tensors"]:
        if tag.startswith("images/"):
            png = tensor_util.make_ndarray(accumulator.Tensors(tag)[-1].tensor_proto)[2]
            images[tag] = tf.io.decode_png(png).shape
    return images


def test_train_on_a_folder_improves_reconstruction_and_writes_rgb_panels(
        shapes, tiny_preset, tmp_path, capsys):
    run_dir = tmp_path / "run"
    untrained = AVB.from_preset(tiny_preset, seed=0)
    untrained.compile()
    test = datasets.load("folder", "test", path=shapes, image_size=SIZE, batch_size=32)
    with seeding.seeded(untrained, 0):
        before = untrained.evaluate(test, return_dict=True, verbose=0)["reconstruction"]
    assert cli.main(["train", "--dataset", "folder", "--data-path", str(shapes),
                     "--image-size", str(SIZE), "--preset", tiny_preset, "--epochs", "3",
                     "--batch-size", "32", "--learning-rate", "1e-3",
                     "--adversary-learning-rate", "1e-3", "--log-every", "1000",
                     "--run-dir", str(run_dir)]) == 0
    assert "Training AVB (celeba_tiny, latent 8)" in capsys.readouterr().out
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["image_size"] == SIZE
    assert summary["data_path"] == os.fspath(shapes.resolve())
    after = summary["test"]["reconstruction"]
    # Measured (seed 0): 2215 nats per image before, 221 after these 24 steps (0.10x).
    assert after < 0.25 * before, (before, after)
    assert saving.load_model(run_dir / "model.keras").data_shape == (SIZE, SIZE, 3)
    panels = read_images(run_dir / "logs" / "avb")
    assert panels["images/prior_samples"][-1] == 3
    assert panels["images/reconstructions"][-1] == 3


@pytest.mark.parametrize("args, message", [
    (["--image-size", "16"], "--image-size applies to --dataset folder only"),
    (["--dataset", "folder"], "The folder data set needs path=... (--data-path)"),
    (["--dataset", "folder", "--data-path", "nowhere"], "Image folder not found: 'nowhere'"),
    (["--dataset", "folder", "--data-path", ".", "--preset", "mnist_mlp"],
     "Preset 'mnist_mlp' is built for data shaped (28, 28, 1), but 'folder' has (28, 28, 3)"),
])
def test_folder_mistakes_on_the_command_line_are_one_line(args, message, shapes, tmp_path,
                                                          monkeypatch, capsys):
    monkeypatch.chdir(shapes if "." in args else tmp_path)
    assert cli.main(["train", "--run-dir", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.slow
def test_the_celeba_example_writes_samples_and_interpolations(shapes, tmp_path):
    """examples/celeba.py end to end at 16x16 (about 20 s on 2 cores)."""
    import subprocess
    import sys
    script = os.path.join(os.path.dirname(__file__), "..", "examples", "celeba.py")
    result = subprocess.run([sys.executable, script, "--data-path", str(shapes), "--out",
                             str(tmp_path), "--image-size", "16", "--epochs", "1",
                             "--steps-per-epoch", "3", "--batch-size", "16"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    samples = tf.io.decode_png((tmp_path / "samples.png").read_bytes())
    rows = tf.io.decode_png((tmp_path / "interpolations.png").read_bytes())
    assert samples.shape == (8 * 17 + 1, 8 * 17 + 1, 3)  # 8x8 cells of 16 + 1 pixel padding
    assert rows.shape == (8 * 17 + 1, 12 * 17 + 1, 3)
