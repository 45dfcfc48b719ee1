"""A non-finite loss or gradient stops training, names the step and the player, keeps the
last good checkpoint; gradient clipping for every player."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import binary_images, clipped_sgd_steps, tiny_avb, tiny_vae

from avb_keras import checkpoints, cli
from avb_keras.callbacks import DivergenceGuard, TrainingDiverged


class PoisonAt(keras.callbacks.Callback):
    """Sets the first kernel of `network` to NaN after batch `batch` of epoch `epoch`."""

    def __init__(self, network, epoch, batch):
        super().__init__()
        self.network, self.epoch, self.batch, self.current = network, epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.current, batch) == (self.epoch, self.batch):
            kernel = getattr(self.model, self.network).trainable_variables[0]
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


@pytest.mark.parametrize("network, players", [("decoder", "primal player"),
                                              ("adversary", "primal and adversary players")])
def test_a_nan_stops_training_names_step_and_player_and_keeps_the_checkpoint(
        network, players, tmp_path):
    model = tiny_avb()
    model.compile()
    folder = tmp_path / "checkpoints"
    x = tf.data.Dataset.from_tensor_slices(binary_images(64)).batch(16)  # 4 steps an epoch
    with pytest.raises(TrainingDiverged) as raised:
        model.fit(x, epochs=3, verbose=0,
                  callbacks=[DivergenceGuard(folder), PoisonAt(network, epoch=1, batch=1),
                             checkpoints.TrainingCheckpoint(folder)])
    message = str(raised.value)
    # Epoch 1 is steps 1-4; the poison lands after step 6, so step 7 is the first bad one.
    assert f"at step 7 (batch 3 of this epoch): the loss or gradient of the {players}" in message
    assert str(folder) in message and "learning rate" in message and "clipnorm" in message
    # A decoder NaN leaves the adversary's loss finite: only the primal player is named.
    assert ("adversary" in message) == (network == "adversary")
    assert [p.name for p in checkpoints.complete_checkpoints(folder)] == ["epoch-0001"]
    saved, state = checkpoints.latest(folder)
    assert state["epoch"] == 1 and int(saved.optimizer.iterations) == 4
    assert all(np.all(np.isfinite(np.asarray(v))) for v in saved.weights)


def test_each_player_counts_its_nonfinite_updates_and_nothing_else_changes(tmp_path):
    for model, players in ((tiny_avb(), ["primal", "adversary"]), (tiny_vae(), ["primal"])):
        model.compile()
        count = len(model.variables)
        history = model.fit(binary_images(32), batch_size=16, epochs=1, verbose=0).history
        assert model.nonfinite_updates() == dict.fromkeys(players, 0)
        assert not any("finite" in k for k in history) and len(model.variables) == count
        model.decoder.trainable_variables[0].assign(
            np.full(model.decoder.trainable_variables[0].shape, np.inf, "float32"))
        model.fit(binary_images(32), batch_size=16, epochs=1, verbose=0)
        assert model.nonfinite_updates()["primal"] == 2
        # The counts are not saved: a loaded model starts afresh.
        model.save(tmp_path / "m.keras")
        assert keras.saving.load_model(tmp_path / "m.keras").nonfinite_updates() == dict.fromkeys(
            players, 0)


def test_clipnorm_bounds_every_players_update_and_survives_saving(tmp_path):
    model = tiny_avb()
    for name, step in clipped_sgd_steps(model).items():
        assert 0.05 < step <= 0.1 + 1e-5, name
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.clipnorm == loaded.adversary_optimizer.clipnorm == 1e-3
    with pytest.raises(ValueError, match="clipnorm must be positive"):
        tiny_vae().compile(clipnorm=0)


def test_the_cli_reports_divergence_in_one_message_and_exit_3(monkeypatch, tmp_path, capsys):
    def diverge(args):
        raise TrainingDiverged("Training diverged at step 7: ...")

    from avb_keras.cli import training  # the module `avb-keras train` runs, imported lazily

    monkeypatch.setattr(training, "train", diverge)
    assert cli.main(["train", "--run-dir", str(tmp_path)]) == 3
    assert "avb-keras: error: Training diverged at step 7" in capsys.readouterr().err
