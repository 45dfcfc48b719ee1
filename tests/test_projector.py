"""The Embedding Projector callback: what a short fit writes, read back as TensorBoard reads it."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import binary_images, tiny_avb
from google.protobuf import text_format
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin, projector
from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
from werkzeug.test import Client

from avb_keras import VAE, callbacks, cli, datasets, networks, saving
from avb_keras.callbacks.projector import check_sprite_size

#: Not square and in colour, so that a swapped height and width or a lost channel shows.
SHAPE = (4, 6, 3)
NUM_POINTS = 10  # a sprite of 4 x 3 thumbnails, two cells empty


def small_vae():
    encoder = networks.gaussian_encoder(SHAPE, 3, hidden_units=(8,))
    decoder = networks.mlp_decoder(3, SHAPE, hidden_units=(8,))
    return VAE(encoder, decoder, seed=0)


class LatestCheckpoint(keras.callbacks.Callback):
    """The projector's newest checkpoint after each epoch."""

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir, self.seen = log_dir, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(tf.train.latest_checkpoint(str(self.log_dir)))


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A tiny VAE fitted 3 epochs of 3 steps, the projector writing every 2 epochs and at
    the end, on grey levels (not 0/1, so that rounding to 8 bits shows)."""
    logs = tmp_path_factory.mktemp("vae_run") / "logs"
    images = np.random.default_rng(5).random((NUM_POINTS,) + SHAPE).astype("float32")
    labels = np.array(["zero", "one", "two"])[np.arange(NUM_POINTS) % 3]
    model = small_vae()
    model.compile()
    latest = LatestCheckpoint(logs / "projector")
    model.fit(binary_images(24, SHAPE), batch_size=8, epochs=3, verbose=0, callbacks=[
        callbacks.EmbeddingProjector(logs / "projector", images, labels, every_n_epochs=2),
        latest])
    return model, images, labels, logs, latest.seen


def projector_routes(logdir):
    """`route, **query -> response` of the projector plugin of `tensorboard --logdir logdir`."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    apps = ProjectorPlugin(base_plugin.TBContext(logdir=str(logdir),
                                                 data_provider=provider)).get_plugin_apps()
    return lambda route, **query: Client(apps[route]).get(route, query_string=query)


def test_the_checkpoint_holds_the_models_posterior_means(vae_run):
    model, images, _, logs, seen = vae_run
    # Written after epoch 2 (step 6), then at the end (step 9) in its place.
    assert [s and s.rsplit("/", 1)[1] for s in seen] == [None, "latent_means-6",
                                                         "latent_means-6"]
    checkpoint = tf.train.latest_checkpoint(str(logs / "projector"))
    assert checkpoint.endswith("latent_means-9")
    assert sorted(p.name for p in (logs / "projector").glob("latent_means-*")) == [
        "latent_means-9.data-00000-of-00001", "latent_means-9.index"]
    reader = tf.train.load_checkpoint(checkpoint)
    assert reader.get_variable_to_shape_map() == {"latent_means": [NUM_POINTS, 3]}
    expected = model.moment_matched_gaussian(images, seed=0).mean().numpy()
    np.testing.assert_allclose(reader.get_tensor("latent_means"), expected, atol=1e-5)


def test_metadata_sprite_and_config(vae_run):
    _, images, labels, logs, _ = vae_run
    log_dir = logs / "projector"
    assert (log_dir / "metadata.tsv").read_text() == "".join(f"{label}\n" for label in labels)

    sprite = tf.io.decode_png((log_dir / "sprite.png").read_bytes()).numpy()
    height, width, _ = SHAPE
    assert sprite.shape == (3 * height, 4 * width, 3)  # ceil(sqrt(10)) = 4 a row, 3 rows
    pixels = np.rint(255 * images).astype(np.uint8)
    np.testing.assert_array_equal(sprite[:height, :width], pixels[0])
    np.testing.assert_array_equal(sprite[2 * height:, width:2 * width], pixels[9])  # row 2, col 1

    config = text_format.Parse((log_dir / "projector_config.pbtxt").read_text(),
                               projector.ProjectorConfig())
    (embedding,) = config.embeddings
    assert embedding.tensor_name == "latent_means"
    assert list(embedding.sprite.single_image_dim) == [width, height]
    assert (log_dir / embedding.metadata_path).is_file()
    assert (log_dir / embedding.sprite.image_path).is_file()
    assert not config.model_checkpoint_path  # the newest, from log_dir/checkpoint
    assert not list(log_dir.glob(".*partial*"))


def test_tensorboard_serves_the_projector_from_the_parent_logdir(vae_run):
    model, images, labels, logs, _ = vae_run
    get = projector_routes(logs)
    assert get("/runs").get_json() == ["projector"]
    info = get("/info", run="projector").get_json()
    assert info["embeddings"][0]["tensorShape"] == [NUM_POINTS, 3]
    tensor = np.frombuffer(get("/tensor", run="projector", name="latent_means").data,
                           "float32").reshape(NUM_POINTS, 3)
    np.testing.assert_allclose(tensor, model.moment_matched_gaussian(images).mean(), atol=1e-5)
    assert get("/metadata", run="projector", name="latent_means").get_data(
        as_text=True).split() == list(labels)
    sprite = get("/sprite_image", run="projector", name="latent_means")
    assert sprite.status_code == 200 and sprite.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_monte_carlo_means_are_the_models_own_for_the_seed(tmp_path):
    # AVB's implicit encoder: means from K draws, batch by batch, each batch with the seed.
    model = tiny_avb(latent_dim=2)
    model.compile()
    images, labels = tf.constant(binary_images(6)), np.arange(6)
    projector_callback = callbacks.EmbeddingProjector(tmp_path, images, labels, seed=7,
                                                      batch_size=4)
    model.fit(images, batch_size=6, epochs=1, verbose=0, callbacks=[projector_callback])
    written = tf.train.load_checkpoint(str(tmp_path)).get_tensor("latent_means")
    expected = np.concatenate([model.moment_matched_gaussian(images[:4], seed=7).mean(),
                               model.moment_matched_gaussian(images[4:], seed=7).mean()])
    np.testing.assert_allclose(written, expected, atol=1e-5)
    assert not np.allclose(written, model.moment_matched_gaussian(images, seed=8).mean())


GREY = np.full((NUM_POINTS,) + SHAPE, 0.5, "float32")
LABELS = np.arange(NUM_POINTS)


@pytest.mark.parametrize("images, labels, error, message", [
    (GREY, LABELS[:9], ValueError, "Got 9 labels for 10 images: expected one label per image"),
    (GREY, LABELS.reshape(5, 2), ValueError,
     r"labels has shape \[5, 2\], but the projector expects \[N\], one label per image"),
    (GREY[..., 0], LABELS, ValueError,
     r"images has shape \[10, 4, 6\], but the projector expects \[N, height, width, "
     r"channels\] with 1 \(grey\) or 3 \(RGB\) channels"),
    (GREY[..., :2], LABELS, ValueError, r"but the projector expects \[N, height, width"),
    (GREY[:0], LABELS[:0], ValueError, "images is empty"),
    (np.broadcast_to(np.zeros((1, 4097, 4097, 1), "float32"), (2, 4097, 4097, 1)), LABELS[:2],
     ValueError, "2 images of 4097 x 4097 pixels make a sprite of 8194 x 4097 pixels, over "
                 "the projector's limit of 8192 x 8192: give fewer images \\(at most 1"),
    ((255 * GREY).astype(np.uint8), LABELS, TypeError,
     "images must be floating point.*divide 8-bit images by 255"),
    (GREY * 3, LABELS, ValueError,
     r"images has values above 1: the projector's sprite expects pixel values in \[0, 1\]"),
    (GREY - 1, LABELS, ValueError, "images has values below 0"),
    (np.where(LABELS[:, None, None, None] == 3, np.nan, GREY), LABELS, ValueError,
     "images contains NaN or Inf"),
    (GREY, np.array(["a\tb"] + ["c"] * 9), ValueError,
     "The label 'a\\\\tb' holds a tab or a line break"),
])
def test_bad_inputs_name_the_problem_and_the_expected_form(tmp_path, images, labels, error,
                                                           message):
    with pytest.raises(error, match=message):
        callbacks.EmbeddingProjector(tmp_path, images, labels)


def test_sprite_limit_is_its_side_of_8192_pixels():
    check_sprite_size(8193, 28, 28)  # the limit is in pixels, not images
    for side, fit in ((64, 128 ** 2), (28, 292 ** 2)):
        check_sprite_size(fit, side, side)
        with pytest.raises(ValueError, match=f"at most {fit} of this size"):
            check_sprite_size(fit + 1, side, side)


def test_bad_settings_and_images_of_another_shape(tmp_path):
    with pytest.raises(ValueError, match="every_n_epochs must be a positive integer; got 0"):
        callbacks.EmbeddingProjector(tmp_path, GREY, LABELS, every_n_epochs=0)
    with pytest.raises(ValueError, match=r"expects \[batch, 4, 4, 1\]"):
        callbacks.EmbeddingProjector(tmp_path, GREY, LABELS).set_model(tiny_avb())


def test_cli_projector_writes_the_first_test_images(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert cli.main(["train", "--model", "vae", "--epochs", "1", "--steps-per-epoch", "2",
                     "--batch-size", "32", "--latent-dim", "2", "--log-every", "1000",
                     "--projector", "20", "--run-dir", str(run_dir)]) == 0
    log_dir = run_dir / "logs" / "projector"
    _, labels = next(iter(datasets.load("mnist_small", "test", batch_size=20, binarize=None,
                                        with_labels=True)))
    assert (log_dir / "metadata.tsv").read_text().split() == [str(y) for y in labels.numpy()]
    assert tf.io.decode_png((log_dir / "sprite.png").read_bytes()).shape == (4 * 28, 5 * 28, 1)
    model = saving.load_model(run_dir / "model.keras")
    images = next(iter(datasets.load("mnist_small", "test", batch_size=20, binarize=None)))
    np.testing.assert_allclose(
        tf.train.load_checkpoint(str(log_dir)).get_tensor("latent_means"),
        model.moment_matched_gaussian(images).mean(), atol=1e-5)
    assert get_runs(run_dir / "logs") == ["projector"]

    assert cli.main(["train", "--model", "vae", "--epochs", "1", "--projector", "1001",
                     "--run-dir", str(tmp_path / "too_many")]) == 2
    assert "--projector 1001: num_examples=1001 exceeds the 1000 examples of mnist_small/test" in (
        capsys.readouterr().err)


def get_runs(logdir):
    return projector_routes(logdir)("/runs").get_json()
