"""Stop training at the first step whose loss or gradient is not finite.

Each update of a player of an `avb_keras` model counts whether it was finite
(see `PlayerModel.apply_gradients`):

    nonfinite_updates[player] += 1  unless  loss and sum(grad loss) are finite

`DivergenceGuard` reads the counts at the end of each batch and raises
`TrainingDiverged`, naming the step and the player (`primal`, `adversary`),
before the epoch ends, so the bad weights are never checkpointed. (With
Keras's `steps_per_execution` = n, fit calls it once per n steps; it then
names the n steps of that call.)
"""

import keras

REMEDY = ("Lower the learning rate, or clip the gradients (compile(clipnorm=1.0); "
          "`avb-keras train --clip-norm 1.0`), then resume from the last good checkpoint.")


class TrainingDiverged(RuntimeError):
    """A player's loss or gradient became NaN or Inf."""


class DivergenceGuard(keras.callbacks.Callback):
    """Raises `TrainingDiverged` at the first step with a non-finite update.

    Args:
      checkpoint: where the last good checkpoint is, for the message.
    """

    def __init__(self, checkpoint=None):
        super().__init__()
        self.checkpoint = checkpoint
        self.start = {}

    def on_train_begin(self, logs=None):
        self.start = self.model.nonfinite_updates()

    def on_train_batch_end(self, batch, logs=None):
        counts = self.model.nonfinite_updates()
        bad = [player for player, count in counts.items() if count > self.start.get(player, 0)]
        if not bad:
            return
        self.model.stop_training = True
        step = int(self.model.optimizer.iterations.numpy())
        # Keras calls this once per `steps_per_execution` steps, after the last of them.
        per_call = self.model.steps_per_execution
        where = (f"at step {step} (batch {batch + 1} of this epoch)" if per_call == 1 else
                 f"in steps {step - per_call + 1} to {step} (batches {batch + 2 - per_call} to "
                 f"{batch + 1} of this epoch, run in one call)")
        kept = (f" The last good checkpoint is kept in {self.checkpoint}."
                if self.checkpoint else "")
        raise TrainingDiverged(
            f"Training diverged {where}: the loss or "
            f"gradient of the {' and '.join(bad)} player{'s' if len(bad) > 1 else ''} "
            f"is NaN or Inf.{kept} {REMEDY}")
