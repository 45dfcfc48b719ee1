"""Two replicas under MirroredStrategy update the weights as one device does.

Keras sums gradients over replicas, so each replica's loss must be divided by
their number. The models draw their noise from a mirrored seed state, so the two
replicas draw the same noise for their halves of a batch. With the global batch
[x; x] each replica therefore sees x with the same noise as one device on x, and
the gradient of the global-batch mean equals the one-device gradient on x.
Plain SGD keeps the check sharp: a missing 1/replicas factor doubles the step
(Adam would hide it, being invariant to the gradient's scale).

AdversarialVI has no data: its whole batch is noise, and Adaptive Contrast
estimates moments over it. Each replica takes its half of one global noise
draw and the moments are all-reduced, so two replicas on a global batch of B
compute exactly the one-device step on B: no [x; x] trick is needed, and the
check fails if either replica used its own half's moments or drew its own batch.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import binary_images, tiny_aae, tiny_avb, tiny_vae

from avb_keras import AdversarialVI, cli, contrast, distribute, optimizers
from avb_keras.networks.layers import MomentSampler


@pytest.fixture(scope="module")
def mirrored():
    # One strategy per process (distribute keeps it): a second MirroredStrategy in
    # the same process reuses collective instance keys and its all-reduces collide.
    strategy = distribute.make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2  # the two logical CPUs of conftest
    return strategy


def one_step(make, strategy, x):
    keras.utils.set_random_seed(7)
    with strategy.scope():
        model = make()
        kwargs = ({"adversary_optimizer": keras.optimizers.SGD(0.5)}
                  if "adversary_optimizer" in model.optimizer_names else {})
        model.compile(optimizer=keras.optimizers.SGD(0.5), **kwargs)
        initial = [v.numpy().copy() for v in model.trainable_variables]
        history = model.fit(x, batch_size=len(x), epochs=1, verbose=0, shuffle=False).history
    return initial, [v.numpy() for v in model.trainable_variables], history


@pytest.mark.parametrize("make", [tiny_avb, lambda: tiny_avb(encoder_type="moment"),
                                  lambda: tiny_avb(adaptive_contrast=False), tiny_vae,
                                  tiny_aae, lambda: tiny_avb(adversary_steps=2)],
                         ids=["avb", "avb_moment", "avb_no_ac", "vae", "aae", "avb_2_adversary_steps"])
def test_two_replicas_match_one_device(make, mirrored):
    assert len(tf.config.list_logical_devices("CPU")) >= 2
    x = binary_images(16)
    init_1, one, history_1 = one_step(make, tf.distribute.OneDeviceStrategy("/cpu:0"), x)
    init_2, two, history_2 = one_step(make, mirrored,
                                      np.concatenate([x, x]))
    for a, b in zip(init_1, init_2):
        np.testing.assert_array_equal(a, b)  # same start
    moved = max(np.abs(a - b).max() for a, b in zip(init_1, one))
    assert moved > 1e-3  # the step did something
    # Round-off only: tests/tolerance_measurements.py distribute measured no difference
    # at all here (6 models x 2 data seeds); the tolerance leaves room for another
    # machine's reduction order.
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for name in history_1:  # the reported metrics are unscaled
        np.testing.assert_allclose(history_1[name], history_2[name], rtol=1e-4, atol=1e-5)


def test_reported_metrics_are_means_over_the_global_batch(mirrored):
    # The VAE's KL is analytic (no noise), so one device and two replicas report the
    # same value on a global batch whose halves differ: a replica reporting its own
    # half, or a mean of per-replica means over unequal shares (24 = 16 + 8 split
    # as 8 + 8 and 4 + 4), would not.
    x = binary_images(24)

    def kl(strategy):
        keras.utils.set_random_seed(7)
        with strategy.scope():
            model = tiny_vae()
            model.compile(optimizer=keras.optimizers.SGD(0.0))
            return (model.evaluate(x, batch_size=16, verbose=0, return_dict=True)["kl"],
                    model.compute_terms(x)["kl"].numpy())

    one, per_example = kl(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two, _ = kl(mirrored)
    np.testing.assert_allclose(one, per_example.mean(), rtol=1e-5)
    assert abs(per_example[:8].mean() - per_example.mean()) > 1e-2  # the shares differ
    np.testing.assert_allclose(two, one, rtol=1e-5)


class BatchLogs(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append({name: float(value) for name, value in logs.items()})


def test_per_batch_logs_are_means_over_the_global_batch(mirrored):
    # What a progress bar or a per-step callback sees during fit: the running mean
    # over the global batches so far, not one replica's nor a mean of the replicas'
    # means (the last batch of 7 splits unevenly, 4 + 3).
    x = binary_images(23)
    keras.utils.set_random_seed(7)
    with mirrored.scope():
        model = tiny_vae()
        model.compile(optimizer=keras.optimizers.SGD(0.0))  # the weights stay put
        per_example = model.compute_terms(x)["kl"].numpy()
        clock = BatchLogs()
        model.fit(x, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
    # Replica 0 holds rows 0-7 and 16-19, replica 1 rows 8-15 and 20-22.
    replica_0 = np.concatenate([per_example[:8], per_example[16:20]])
    replica_1 = np.concatenate([per_example[8:16], per_example[20:]])
    assert abs(0.5 * (replica_0.mean() + replica_1.mean()) - per_example.mean()) > 1e-3
    np.testing.assert_allclose(clock.logs[0]["kl"], per_example[:16].mean(), rtol=1e-5)
    np.testing.assert_allclose(clock.logs[1]["kl"], per_example.mean(), rtol=1e-5)


def target_log_prob(z):
    """A correlated Gaussian around (1, -2): far from q's start, so the moments matter."""
    u = z - tf.constant([1.0, -2.0])
    return -0.5 * (tf.square(u[:, 0]) + tf.square(u[:, 1] - 0.8 * u[:, 0]) / 0.36)


def vi_step(strategy, adaptive_contrast):
    keras.utils.set_random_seed(7)
    with strategy.scope():
        model = AdversarialVI.for_target(
            target_log_prob, dim=2, hidden_units=(8,), adversary_units=(8,), batch_size=8,
            adaptive_contrast=adaptive_contrast, seed=3)
        model.compile(optimizer=keras.optimizers.SGD(0.5),
                      adversary_optimizer=keras.optimizers.SGD(0.5))
        initial = [v.numpy().copy() for v in model.trainable_variables]
        history = model.fit(steps_per_epoch=2, epochs=1, verbose=0).history
    return initial, [v.numpy() for v in model.trainable_variables], history


@pytest.mark.parametrize("adaptive_contrast", [True, False], ids=["ac", "no_ac"])
def test_adversarial_vi_two_replicas_match_one_device_on_the_global_batch(adaptive_contrast,
                                                                          mirrored):
    init_1, one, history_1 = vi_step(tf.distribute.OneDeviceStrategy("/cpu:0"),
                                     adaptive_contrast)
    init_2, two, history_2 = vi_step(mirrored, adaptive_contrast)
    for a, b in zip(init_1, init_2):
        np.testing.assert_array_equal(a, b)
    assert max(np.abs(a - b).max() for a, b in zip(init_1, one)) > 1e-3
    # Round-off (the moments are all-reduced): the largest difference measured
    # (tests/tolerance_measurements.py distribute) was 0.5% of the tolerance.
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for name in history_1:
        np.testing.assert_allclose(history_1[name], history_2[name], rtol=1e-4, atol=1e-5)


def test_global_moments_are_those_of_the_whole_batch(mirrored):
    # Replica r holds rows r*4..r*4+3 of z; the moments must be over all 8 rows.
    z = np.arange(16, dtype="float32").reshape(8, 2) ** 2

    def moments():
        return distribute.global_moments(distribute.replica_share(tf.constant(z)), "full")

    results = mirrored.experimental_local_results(mirrored.run(tf.function(moments)))
    for moments in results:
        np.testing.assert_allclose(moments["mean"], z.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(moments["variance"], z.var(axis=0), rtol=1e-5)
        np.testing.assert_allclose(moments["covariance"], np.cov(z, rowvar=False, bias=True),
                                   rtol=1e-5)


@pytest.mark.parametrize("rows", [4, 8])
def test_the_three_moment_paths_agree_on_the_same_samples(mirrored, rows):
    """The moment encoder's noise moments, the Monte Carlo moments and the replicas'
    global moments are one estimator (`contrast.moments`): on the same draws (d = 5; 4
    rows are shrunk toward the diagonal, 8 are not) they agree."""
    # One basis with a_0 = 0 and a_1 = 1: the sampler's z are the draws of v_1 itself.
    sampler = MomentSampler(num_basis=1, latent_dim=5, hidden_units=(8,), seed=0)
    z, mean, variance, covariance = sampler((tf.zeros([rows, 5]), tf.ones([rows, 1, 5])))
    monte_carlo = contrast.moments(z[:, None], "full")

    def replicated():
        return distribute.global_moments(distribute.replica_share(z), "full")

    results = mirrored.experimental_local_results(mirrored.run(tf.function(replicated)))
    for moments in [{k: v[0] for k, v in monte_carlo.items()}, *results]:
        np.testing.assert_allclose(moments["mean"], mean[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(moments["variance"], variance[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(moments["covariance"], covariance[0], rtol=1e-5, atol=1e-6)


def test_a_global_batch_that_does_not_split_evenly_is_refused(mirrored):
    with pytest.raises(ValueError, match="does not split evenly over 2 replicas"):
        mirrored.run(tf.function(lambda: distribute.replica_share(tf.zeros([5, 2]))))


@pytest.mark.e2e
def test_cli_trains_mirrored_and_resumes_with_another_strategy(mirrored, tmp_path, capsys):
    run = tmp_path / "run"
    # AVB with Adam: both optimizers' slots must be built in the strategy's scope.
    common = ["train", "--model", "avb", "--dataset", "four_frames", "--steps-per-epoch", "2", "--batch-size",
              "64", "--run-dir", str(run), "--log-every", "100"]
    assert cli.main([*common, "--epochs", "1", "--strategy", "mirrored"]) == 0
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["strategy"] == "mirrored" and summary["replicas"] == 2
    assert np.all(np.isfinite(list(summary["test"].values())))
    # The batch is global, so a run may resume under another strategy.
    assert cli.main([*common, "--epochs", "2", "--strategy", "default"]) == 0
    assert "Resuming" in capsys.readouterr().out
    state = json.loads((run / "checkpoints" / "epoch-0002" / "state.json").read_text())
    assert state["iterations"] == 4 and state["settings"]["strategy"] == "default"
    assert [h["epoch"] for h in state["history"]] == [1, 2]


def test_cli_refuses_a_global_batch_that_does_not_split_over_the_replicas(mirrored, tmp_path,
                                                                          capsys):
    code = cli.main(["train", "--dataset", "four_frames", "--batch-size", "33", "--strategy",
                     "mirrored", "--run-dir", str(tmp_path / "run")])
    assert code == 2 and "does not split evenly over the 2 replicas" in capsys.readouterr().err


@pytest.mark.parametrize("tf_config, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{cluster", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}',
     "needs a 'cluster' of address lists"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
     "is not in its cluster"),
])
def test_multi_worker_without_a_valid_tf_config_is_one_line_and_exit_2(
        tf_config, message, tmp_path, monkeypatch, capsys):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    code = cli.main(["train", "--dataset", "four_frames", "--strategy", "multi_worker",
                     "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_is_chief():
    assert distribute.is_chief(tf.distribute.get_strategy())


def test_the_offset_limit_steps_two_replicas_as_one_device(mirrored):
    """The limit's sharpness is averaged over the replicas and its factor applied to
    every replica's copy: with a fast adversary (factor far below 1 from the second
    step), two replicas end where one device does."""
    x = binary_images(16)

    def train(strategy, data):
        keras.utils.set_random_seed(7)
        with strategy.scope():
            model = tiny_avb(encoder_type="moment", adaptive_contrast="full")
            model.compile(adversary_optimizer=optimizers.Adam(1.0, beta_1=0.5),
                          offset_stability=0.25, jit_compile=False)
            model.fit(data, batch_size=len(data), epochs=3, verbose=0, shuffle=False)
        return ([v.numpy() for v in model.trainable_variables],
                float(model._health.rate_factor.numpy()))

    one, factor_1 = train(tf.distribute.OneDeviceStrategy("/cpu:0"), x)
    two, factor_2 = train(mirrored, np.concatenate([x, x]))
    assert factor_1 < 0.5 and factor_2 == pytest.approx(factor_1, rel=1e-4)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
