"""Tests for avb_keras.datasets: the tf.data pipelines, MNIST file lookup and
validate_images. The full-MNIST tests use ../shared/data/mnist.npz (next to the
repository) and are skipped when it is absent; everything else is self-contained.
"""

import hashlib
import importlib.resources
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from avb_keras import datasets
from avb_keras.datasets import mnist

MNIST_FULL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist.npz"
SMALL_SIZES = {"train": 8000, "valid": 1000, "test": 1000}
FOUR_FRAMES_SIZES = {"train": 8192, "valid": 1024, "test": 1024}


def collect(ds):
    """All batches of one pass, concatenated: images, or (images, labels)."""
    batches = list(ds.as_numpy_iterator())
    if isinstance(batches[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*batches))
    return np.concatenate(batches)


def small_raw():
    """The shipped mnist_small arrays, read straight from the npz."""
    resource = importlib.resources.files("avb_keras.datasets") / "mnist_small.npz"
    with resource.open("rb") as fh, np.load(fh) as f:
        return {k: f[k] for k in f.files}


def image_hashes(x):
    return {hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest() for img in x}


def write_fake_mnist(path, n_train=5010, n_test=7, **overrides):
    """A tiny file in the Keras mnist.npz layout (overrides replace/remove keys)."""
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
              "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, n_test).astype(np.uint8)}
    arrays.update(overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.fixture
def no_mnist_env(monkeypatch, tmp_path):
    """No $AVB_KERAS_MNIST and an empty Keras home, so only `path=` can match."""
    monkeypatch.delenv(mnist.ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path


# --- shapes, dtypes, sizes ------------------------------------------------------------

@pytest.mark.parametrize("name,sizes", [("four_frames", FOUR_FRAMES_SIZES),
                                        ("mnist_small", SMALL_SIZES)])
@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_shape_dtype_range_and_size(name, sizes, split):
    ds = datasets.load(name, split, batch_size=3000, seed=0)
    batches = list(ds.as_numpy_iterator())
    n = sizes[split]
    # Full batches, then the partial remainder is kept.
    assert [len(b) for b in batches] == [3000] * (n // 3000) + ([n % 3000] if n % 3000 else [])
    for b in batches:
        assert b.dtype == np.float32
        assert b.shape[1:] == datasets.data_shape(name)
        assert b.min() >= 0 and b.max() <= 1


def test_data_shape():
    assert datasets.data_shape("four_frames") == (2, 2, 1)
    assert datasets.data_shape("mnist") == datasets.data_shape("mnist_small") == (28, 28, 1)
    assert set(datasets.NAMES) == {"four_frames", "mnist", "mnist_small", "folder"}
    with pytest.raises(ValueError, match="mnist_small"):
        datasets.data_shape("cifar")


def test_num_examples():
    assert len(collect(datasets.load("four_frames", batch_size=64, num_examples=100))) == 100
    assert len(collect(datasets.load("mnist_small", "test", batch_size=64,
                                     num_examples=10))) == 10
    with pytest.raises(ValueError, match="exceeds"):
        datasets.load("mnist_small", "valid", num_examples=1001)


@pytest.mark.parametrize("binarize", ["dynamic", "static", None])
@pytest.mark.parametrize("with_labels", [False, True])
def test_pipelines_run_without_tf_data_autotuning(binarize, with_labels):
    # With it, freeing an iterator (Keras does at every epoch's end) sometimes waits out
    # its tuning thread's sleep of up to a minute (pipeline.py, benchmarks/iterator_stall.py).
    ds = datasets.load("mnist_small", "valid", batch_size=8, binarize=binarize,
                       with_labels=with_labels, num_examples=16, shuffle=True, seed=0)
    assert ds.options().autotune.enabled is False
    assert sum(len(b[0] if with_labels else b) for b in ds.as_numpy_iterator()) == 16


def test_the_datasets_keras_builds_in_the_tests_run_without_autotuning(monkeypatch):
    # conftest switches it off where Keras distributes a dataset, for the suite's speed.
    import tensorflow as tf
    from conftest import tiny_vae
    iterated, iterate = [], tf.data.Dataset.__iter__
    monkeypatch.setattr(tf.data.Dataset, "__iter__",
                        lambda ds: iterated.append(ds.options().autotune.enabled) or iterate(ds))
    model = tiny_vae()
    model.compile(optimizer="adam")
    x = np.random.default_rng(0).random((8, 4, 4, 1)).astype("float32")
    model.fit(x, batch_size=4, epochs=2, verbose=0, validation_data=(x,))
    assert len(iterated) >= 3 and set(iterated) == {False}


def test_repeat_crosses_epoch_boundaries():
    ds = datasets.load("four_frames", batch_size=4, num_examples=10, repeat=True, seed=0)
    assert [len(b) for b in ds.take(6).as_numpy_iterator()] == [4] * 6


# --- four_frames ----------------------------------------------------------------------

def test_four_frames_one_hot_uniform_and_labelled():
    x, y = collect(datasets.load("four_frames", batch_size=8192, seed=1, with_labels=True))
    flat = x.reshape(len(x), 4)
    assert set(np.unique(flat)) == {0.0, 1.0}
    assert (flat.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(flat.argmax(axis=1), y)
    # Chi-square goodness of fit to uniform, 3 dof: P(stat > 16.27) = 0.001.
    counts = np.bincount(y, minlength=4)
    expected = len(y) / 4
    assert ((counts - expected) ** 2 / expected).sum() < 16.27, counts


def test_four_frames_seeded_per_split():
    def draw(split, seed):
        return collect(datasets.load("four_frames", split, batch_size=1024, seed=seed,
                                     shuffle=False, num_examples=1024))
    np.testing.assert_array_equal(draw("valid", 5), draw("valid", 5))
    assert not np.array_equal(draw("valid", 5), draw("valid", 6))
    assert not np.array_equal(draw("valid", 5), draw("test", 5))


# --- mnist_small ----------------------------------------------------------------------

@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_mnist_small_stratified(split):
    _, y = collect(datasets.load("mnist_small", split, batch_size=5000, binarize=None,
                                 with_labels=True))
    assert y.dtype in (np.int32, np.int64)
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [SMALL_SIZES[split] // 10] * 10)


def test_mnist_small_train_valid_disjoint():
    train = collect(datasets.load("mnist_small", "train", batch_size=5000, binarize=None))
    valid = collect(datasets.load("mnist_small", "valid", batch_size=5000, binarize=None))
    train_hashes, valid_hashes = image_hashes(train), image_hashes(valid)
    assert len(train_hashes) == len(train) and len(valid_hashes) == len(valid)
    assert not train_hashes & valid_hashes


def test_mnist_small_file_layout_and_size():
    raw = small_raw()
    assert set(raw) == {f"{p}_{s}" for p in "xy" for s in SMALL_SIZES}
    for split, n in SMALL_SIZES.items():
        assert raw[f"x_{split}"].shape == (n, 28, 28) and raw[f"x_{split}"].dtype == np.uint8
        assert raw[f"y_{split}"].shape == (n,)
    path = importlib.resources.files("avb_keras.datasets") / "mnist_small.npz"
    assert len(path.read_bytes()) < 3 * 2**20


def test_grey_levels_unshuffled_match_file():
    raw = small_raw()
    x, y = collect(datasets.load("mnist_small", "valid", batch_size=300, binarize=None,
                                 with_labels=True))
    np.testing.assert_array_equal(np.rint(x[..., 0] * 255).astype(np.uint8), raw["x_valid"])
    np.testing.assert_array_equal(y, raw["y_valid"])
    assert len(np.unique(x)) > 2  # really grey levels, not binarized


def test_train_shuffled_each_pass_deterministically():
    raw = small_raw()
    ds = datasets.load("mnist_small", batch_size=8000, binarize=None, seed=4, with_labels=True)
    (_, y1), (_, y2) = collect(ds), collect(ds)
    _, y_again = collect(datasets.load("mnist_small", batch_size=8000, binarize=None, seed=4,
                                       with_labels=True))
    assert not np.array_equal(y1, raw["y_train"])  # shuffled by default for train
    assert not np.array_equal(y1, y2)  # reshuffled on the next pass
    np.testing.assert_array_equal(y1, y_again)  # same seed, same order
    np.testing.assert_array_equal(np.sort(y1), np.sort(raw["y_train"]))


def test_with_labels_yields_pairs():
    x, y = next(iter(datasets.load("mnist_small", "test", batch_size=16, with_labels=True)))
    assert x.shape == (16, 28, 28, 1) and y.shape == (16,)
    assert y.dtype.is_integer
    assert ((y.numpy() >= 0) & (y.numpy() <= 9)).all()


# --- binarization ---------------------------------------------------------------------

def load_train(binarize, seed=None, shuffle=False, batch_size=8000):
    return datasets.load("mnist_small", batch_size=batch_size, binarize=binarize, seed=seed,
                         shuffle=shuffle)


def test_dynamic_binarization_is_bernoulli_of_grey_levels():
    grey = collect(load_train(None))
    binary = collect(load_train("dynamic", seed=3))
    assert set(np.unique(binary)) == {0.0, 1.0}
    # Overall mean: 6.3M Bernoulli draws, standard error < 2e-4.
    assert abs(binary.mean() - grey.mean()) < 2e-3
    # Per-pixel means over 8000 images: standard error <= 0.0056; allow ~7 sigma.
    assert np.abs(binary.mean(axis=0) - grey.mean(axis=0)).max() < 0.04
    # Pixels that are exactly 0 or 1 stay so.
    assert (binary[grey == 0] == 0).all() and (binary[grey == 1] == 1).all()


def test_dynamic_binarization_seeded_and_fresh_each_epoch():
    ds_a, ds_b = load_train("dynamic", seed=7, shuffle=True, batch_size=1000), \
        load_train("dynamic", seed=7, shuffle=True, batch_size=1000)
    a1, a2 = collect(ds_a), collect(ds_a)
    b1, b2 = collect(ds_b), collect(ds_b)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    other = collect(load_train("dynamic", seed=8, shuffle=True, batch_size=1000))
    assert not np.array_equal(a1, other)
    # Same order (no shuffling), so any change between passes is the binarization.
    unshuffled = load_train("dynamic", seed=7)
    e1, e2 = collect(unshuffled), collect(unshuffled)
    assert (e1 != e2).mean() > 0.01


def test_static_binarization_fixed():
    grey = collect(load_train(None))
    ds = load_train("static")
    e1, e2 = collect(ds), collect(ds)
    assert set(np.unique(e1)) == {0.0, 1.0}
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(e1, collect(load_train("static", seed=0)))
    assert not np.array_equal(e1, collect(load_train("static", seed=1)))
    assert abs(e1.mean() - grey.mean()) < 2e-3


# --- argument errors ------------------------------------------------------------------

def test_unknown_name_lists_names():
    with pytest.raises(ValueError, match="four_frames, mnist, mnist_small"):
        datasets.load("cifar10")


def test_unknown_split_lists_splits():
    with pytest.raises(ValueError, match="train, valid, test"):
        datasets.load("four_frames", "validation")


def test_unknown_binarize_lists_values():
    with pytest.raises(ValueError, match="'dynamic', 'static', None"):
        datasets.load("mnist_small", binarize="threshold")


@pytest.mark.parametrize("batch_size", [0, -5, 2.5, "64", True, None])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        datasets.load("four_frames", batch_size=batch_size)


# --- full MNIST: file lookup and layout -----------------------------------------------

def test_mnist_missing_file_names_every_place(no_mnist_env):
    with pytest.raises(FileNotFoundError) as err:
        datasets.load("mnist")
    message = str(err.value)
    assert "AVB_KERAS_MNIST" in message
    assert str(no_mnist_env / "keras_home" / "datasets" / "mnist.npz") in message
    assert "path=" in message


def test_mnist_explicit_missing_path_fails_without_falling_back(no_mnist_env):
    write_fake_mnist(Path(mnist.keras_cache_path()), n_test=3)  # a file it must not use
    missing = no_mnist_env / "nowhere" / "mnist.npz"
    with pytest.raises(FileNotFoundError, match="path=") as err:
        datasets.load("mnist", path=missing)
    assert str(missing) in str(err.value)


def test_mnist_lookup_order(no_mnist_env, monkeypatch):
    """path= beats $AVB_KERAS_MNIST, which beats the Keras cache."""
    def n_test(**kwargs):
        return len(collect(datasets.load("mnist", "test", batch_size=64, **kwargs)))

    write_fake_mnist(Path(mnist.keras_cache_path()), n_test=3)
    assert n_test() == 3
    monkeypatch.setenv(mnist.ENV_VAR, str(write_fake_mnist(no_mnist_env / "env.npz", n_test=4)))
    assert n_test() == 4
    assert n_test(path=write_fake_mnist(no_mnist_env / "arg.npz", n_test=5)) == 5


def test_keras_cache_path_matches_keras(monkeypatch, tmp_path):
    from keras.src.backend import config  # KERAS_HOME as keras read it at import

    if os.environ.get("KERAS_HOME", config.keras_home()) == config.keras_home():
        home = os.path.expanduser(config.keras_home())
        if os.access(home, os.W_OK):
            assert mnist.keras_cache_path() == os.path.join(home, "datasets", "mnist.npz")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert mnist.keras_cache_path() == str(tmp_path / "datasets" / "mnist.npz")


def test_mnist_fake_file_split_sizes(no_mnist_env):
    path = write_fake_mnist(no_mnist_env / "fake.npz", n_train=5012, n_test=9)
    sizes = {s: len(collect(datasets.load("mnist", s, batch_size=5000, path=path)))
             for s in ("train", "valid", "test")}
    assert sizes == {"train": 12, "valid": 5000, "test": 9}


@pytest.mark.parametrize("overrides", [
    {"y_test": None},
    {"x_train": np.zeros((5010, 28, 28), np.float32)},
    {"x_test": np.zeros((7, 32, 32), np.uint8)},
    {"y_train": np.zeros(10, np.uint8)},
])
def test_mnist_bad_layout(no_mnist_env, overrides):
    path = write_fake_mnist(no_mnist_env / "bad.npz", **overrides)
    with pytest.raises(ValueError, match=r"x_train \(N, 28, 28\) uint8"):
        datasets.load("mnist", path=path)


@pytest.fixture(scope="module")
def mnist_full():
    if not MNIST_FULL.is_file():
        pytest.skip(f"full MNIST not available at {MNIST_FULL}")
    return MNIST_FULL


def test_mnist_full_split_sizes(mnist_full):
    sizes = {s: len(collect(datasets.load("mnist", s, batch_size=5000, binarize=None,
                                          path=mnist_full)))
             for s in ("train", "valid", "test")}
    assert sizes == {"train": 55000, "valid": 5000, "test": 10000}


def test_mnist_full_via_env_var(mnist_full, monkeypatch):
    monkeypatch.setenv(mnist.ENV_VAR, str(mnist_full))
    with np.load(mnist_full) as f:
        expected_x, expected_y = f["x_train"][-5000:], f["y_train"][-5000:]
    x, y = collect(datasets.load("mnist", "valid", batch_size=5000, binarize=None,
                                 with_labels=True))
    np.testing.assert_array_equal(np.rint(x[..., 0] * 255).astype(np.uint8), expected_x)
    np.testing.assert_array_equal(y, expected_y)


# --- validate_images ------------------------------------------------------------------

def test_validate_images_accepts_and_returns_float32():
    x = np.linspace(0, 1, 2 * 28 * 28).reshape(2, 28, 28, 1)
    out = datasets.validate_images(x, data_shape=(28, 28, 1))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, x, rtol=1e-6)
    batch = next(iter(datasets.load("four_frames", batch_size=4)))
    assert datasets.validate_images(batch, (2, 2, 1)).shape == (4, 2, 2, 1)
    assert datasets.validate_images(x * 3 - 1, support="real").min() == -1


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4),
                  elements=st.floats(0, 1)))
def test_validate_images_accepts_any_unit_interval_array(x):
    np.testing.assert_array_equal(datasets.validate_images(x), x.astype(np.float32))


@pytest.mark.parametrize("x,kwargs,error,pattern", [
    (np.zeros((2, 28, 28, 1), np.uint8), {}, TypeError,
     r"got dtype uint8 \(divide 8-bit images by 255\)"),
    ([[0, 1], [1, 0]], {}, TypeError, r"must be floating point with values in \[0, 1\]"),
    (np.array([["a"]]), {}, TypeError, "must be floating point"),
    (np.zeros((2, 28, 28)), {"data_shape": (28, 28, 1)}, ValueError,
     r"has shape \[2, 28, 28\], but the model expects \[\.\.\., 28, 28, 1\]"),
    (np.zeros((1,)), {"data_shape": (2, 2, 1)}, ValueError, r"expects \[\.\.\., 2, 2, 1\]"),
    (np.array([0.5, np.nan]), {}, ValueError, "contains NaN or Inf"),
    (np.array([0.5, np.inf]), {"support": "real"}, ValueError, "NaN or Inf"),
    (np.array([-0.1, 0.5]), {}, ValueError, r"values below 0.*\[0, 1\]"),
    (np.array([0.5, 1.5]), {}, ValueError, r"values above 1.*divide 8-bit"),
    (np.zeros((0, 28, 28, 1)), {}, ValueError, "is empty"),
    (np.zeros((1, 2)), {"support": "binary"}, ValueError, "support must be one of"),
])
def test_validate_images_errors(x, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        datasets.validate_images(x, **kwargs)


def test_validate_images_names_the_array():
    with pytest.raises(ValueError, match="^targets has values above 1"):
        datasets.validate_images(np.array([2.0]), name="targets")
