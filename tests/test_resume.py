"""Crash safety of training: resume after SIGKILL, and saves that a kill cannot corrupt."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from avb_keras import atomic, checkpoints, cli, saving
from avb_keras.export import savedmodel

TESTS = Path(__file__).resolve().parent
#: Short runs on the toy data: (epochs, steps per epoch).
SHORT, LONG = (2, 10), (8, 200)


def run_args(epochs, steps):
    return ["train", "--dataset", "four_frames", "--batch-size", "32", "--steps-per-epoch",
            str(steps), "--epochs", str(epochs), "--seed", "5", "--log-every", "1000"]


def _start(args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, "-m", "avb_keras", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, process, timeout):
    deadline = time.time() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"the process ended early: {process.stderr.read()[-3000:]}")
        if time.time() > deadline:
            process.kill()
            raise AssertionError("timed out")
        time.sleep(0.05)


def saved_epoch(folder):
    """The epoch of the newest complete checkpoint in `folder` (only `checkpoints.KEEP` are
    kept), 0 before the first."""
    found = checkpoints.complete_checkpoints(folder)
    return int(found[-1].name[6:]) if found else 0


def _weights(path):
    return [np.asarray(v) for v in keras.saving.load_model(path).weights]


@pytest.mark.e2e
@pytest.mark.parametrize("size", [SHORT, pytest.param(LONG, marks=pytest.mark.slow)],
                         ids=["short", "long"])
def test_a_run_killed_mid_epoch_resumes_exactly_where_it_stopped(size, tmp_path, capsys):
    epochs, steps = size
    run = run_args(epochs, steps)
    killed = tmp_path / "killed"
    process = _start([*run, "--run-dir", str(killed)], cwd=tmp_path)
    journal = killed / "epochs.jsonl"
    # Kill once epoch 1 (SHORT) or 2 (LONG) is checkpointed, a little into the next one.
    saved = 1 if size == SHORT else 2
    _wait_for(lambda: saved_epoch(killed / "checkpoints") >= saved, process, 300)
    time.sleep(0.1 if size == SHORT else 1.0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = [json.loads(line) for line in journal.read_text().splitlines()]
    assert not (killed / "model.keras").exists(), "killed too late: the run had finished"

    # Run again with the same command: it resumes; then an uninterrupted run.
    assert cli.main([*run, "--run-dir", str(killed)]) == 0
    resumed_from = int(capsys.readouterr().out.split("after epoch ")[1].split(" ")[0])
    assert cli.main([*run, "--run-dir", str(tmp_path / "whole")]) == 0

    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    second = lines[len(first):]
    assert [e["epoch"] for e in first] == list(range(1, len(first) + 1))
    assert 1 <= resumed_from <= len(first) <= resumed_from + 1  # at most the unsaved epoch reruns
    assert [e["epoch"] for e in second] == list(range(resumed_from + 1, epochs + 1))
    assert {e["pid"] for e in first} == {process.pid}

    # Same weights, optimizer states, data order and noise: the same model, to float rounding.
    for a, b in zip(_weights(killed / "model.keras"), _weights(tmp_path / "whole" / "model.keras"),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    test_killed = json.loads((killed / "metrics.json").read_text())["test"]
    test_whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())["test"]
    assert test_killed["loss"] == pytest.approx(test_whole["loss"], abs=1e-4)
    # The whole run's own journal: each epoch once; the resumed run's epochs match it.
    whole = [json.loads(x) for x in (tmp_path / "whole" / "epochs.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in whole] == list(range(1, epochs + 1))
    for a, b in zip(lines[-2:], whole[-2:]):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)
    # Nothing half-written left, and at most `KEEP` checkpoints.
    assert not list(killed.rglob("*.partial*"))
    assert len(checkpoints.complete_checkpoints(killed / "checkpoints")) == checkpoints.KEEP
    # Run directories write nowhere else (cwd was tmp_path).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed", "whole"]


def test_resuming_with_other_settings_is_refused(tmp_path, capsys):
    model = _tiny_trained()
    run = tmp_path / "run"
    saver = checkpoints.TrainingCheckpoint(run / "checkpoints", {"model": "avb", "seed": 1})
    saver.set_model(model)
    saver.save(1)
    code = cli.main([*run_args(*SHORT), "--run-dir", str(run)])
    err = capsys.readouterr().err
    assert code == 2 and "holds a run with other settings" in err and "--seed 1 -> 5" in err


KILL_DURING_SAVE = textwrap.dedent("""
    import sys, threading, time
    sys.path.insert(0, sys.argv[2])
    from conftest import binary_images, tiny_avb
    import keras, tensorflow as tf
    from avb_keras import checkpoints
    from avb_keras.export import export_decoder

    out = sys.argv[1]
    model = tiny_avb()
    model.compile()
    model.fit(binary_images(32), batch_size=16, epochs=1, verbose=0)
    saver = checkpoints.TrainingCheckpoint(out + "/checkpoints")
    saver.set_model(model)
    saver.save(1)
    export_decoder(model, out + "/decoder")
    export_decoder(model, out + "/decoder")
    model.fit(binary_images(32, seed=1), batch_size=16, epochs=1, verbose=0)

    def stalled(original, name):
        def save(*args, **kwargs):  # the files are written, the rename not yet done
            original(*args, **kwargs)
            open(out + "/stalled-" + name, "w").close()
            time.sleep(600)
        return save

    keras.Model.save = stalled(keras.Model.save, "checkpoint")
    tf.saved_model.save = stalled(tf.saved_model.save, "export")
    threading.Thread(target=saver.save, args=(2,), daemon=True).start()
    export_decoder(model, out + "/decoder")
""")


@pytest.mark.e2e
def test_a_kill_during_saves_keeps_the_last_checkpoint_and_every_export(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen([sys.executable, "-c", KILL_DURING_SAVE, str(tmp_path), str(TESTS)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    _wait_for(lambda: all((tmp_path / f"stalled-{n}").exists() for n in ("checkpoint", "export")),
              process, 120)
    process.send_signal(signal.SIGKILL)
    process.wait()

    folder = tmp_path / "checkpoints"
    assert list(folder.glob(".epoch-0002.partial-*/model.keras")), "no kill mid-save"
    assert [p.name for p in checkpoints.complete_checkpoints(folder)] == ["epoch-0001"]
    model, state = checkpoints.latest(folder)  # loads, and clears the leftover
    assert state["epoch"] == 1 and not atomic.leftovers(folder)
    last = keras.saving.load_model(folder / "last.keras")
    for a, b in zip(model.weights, last.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    base = tmp_path / "decoder"
    assert list(base.glob(".3.partial-*/saved_model.pb")), "the kill did not come mid-export"
    assert savedmodel.versions(base) == [1, 2]
    z = tf.constant(np.linspace(-2, 2, 6, dtype="float32").reshape(3, 2))
    outputs = [tf.saved_model.load(str(base / v)).signatures["serving_default"](z=z)["probs"]
               for v in ("1", "2")]
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_allclose(outputs[0], model.decode(z), atol=1e-6)


def test_a_crash_between_write_and_rename_keeps_the_previous_file(tmp_path, monkeypatch):
    first, second = _tiny_trained(), _tiny_trained(seed=1)
    path = saving.save_model(first, tmp_path / "model.keras")
    text = tmp_path / "metrics.json"
    atomic.write_text(text, "good")

    def crash(*args):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(os, "replace", crash)
    monkeypatch.setattr(os, "rename", crash)
    for write in (lambda: saving.save_model(second, path),
                  lambda: atomic.write_text(text, "bad"),
                  lambda: savedmodel.export_decoder(second, tmp_path / "decoder")):
        with pytest.raises(KeyboardInterrupt):
            write()
    monkeypatch.undo()
    for a, b in zip(_weights(path), first.weights, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    assert text.read_text() == "good"
    assert savedmodel.versions(tmp_path / "decoder") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decoder", "metrics.json", "model.keras"]


def _tiny_trained(seed=0):
    sys.path.insert(0, str(TESTS))
    from conftest import binary_images, tiny_avb

    model = tiny_avb(seed=seed)
    model.compile()
    model.fit(binary_images(32, seed=seed), batch_size=16, epochs=1, verbose=0)
    return model
