"""Two workers of MultiWorkerMirroredStrategy, as two local processes on 127.0.0.1.

Each runs `avb-keras train --strategy multi_worker` through the command line's
code (tests/multi_worker_helper.py), then AdversarialVI under the same strategy,
and saves the weights it holds. The gradients are all-reduced across workers,
so both must end with the same weights, and only the chief (worker 0) may
write its --run-dir: the other is given a run directory of its own, which must
stay absent, and a TMPDIR, which must be left empty.

The two-process run costs about 100 CPU-seconds (two TensorFlow start-ups, each tracing
the training step, the evaluation and the saves), so it is a slow test (`make test-slow`).
The default suite keeps what it checks at a lower cost: the non-chief's path, in
process, by a run whose `distribute.is_chief` answers False (test below: it must write
neither its --run-dir nor its TMPDIR); and the all-reduce, by
tests/test_distribute.py's two-replica MirroredStrategy runs, which must match one
device on the same global batch.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from avb_keras import cli, distribute

HELPER = Path(__file__).with_name("multi_worker_helper.py")
TIMEOUT = 240  # a hang (a worker waiting for the other) fails instead of blocking CI


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_end_with_the_same_weights_and_only_the_chief_writes(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        scratch = tmp_path / f"tmp{index}"
        scratch.mkdir()
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=str(scratch),
                   TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                         "task": {"type": "worker", "index": index}}))
        command = [sys.executable, str(HELPER), str(tmp_path / f"run{index}"),
                   str(tmp_path / f"weights{index}.npz")]
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=TIMEOUT)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]

    chief, worker = (dict(np.load(tmp_path / f"weights{i}.npz")) for i in range(2))
    assert bool(chief["chief"]) and not bool(worker["chief"])
    assert int(chief["replicas"]) == int(worker["replicas"]) == 2
    assert int(chief["iterations"]) == int(worker["iterations"]) == 3
    assert chief.keys() == worker.keys()
    for name in set(chief) - {"chief"}:
        np.testing.assert_array_equal(chief[name], worker[name], err_msg=name)
    vi = sorted(k for k in chief if k.startswith("vi_after_"))
    moved = max(np.abs(chief[k] - chief[k.replace("after", "before")]).max() for k in vi)
    assert moved > 1e-4  # AdversarialVI trained

    # The chief wrote the run; its model file holds the weights both workers hold.
    run = tmp_path / "run0"
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["strategy"] == "multi_worker" and summary["replicas"] == 2
    assert np.all(np.isfinite(list(summary["test"].values())))
    saved = keras.saving.load_model(run / "model.keras").get_weights()
    for i, weights in enumerate(saved):
        np.testing.assert_array_equal(weights, worker[f"model_{i}"])
    state = json.loads(next((run / "checkpoints").glob("epoch-*/state.json")).read_text())
    assert state["settings"]["strategy"] == "multi_worker"
    assert list((run / "logs").rglob("events.out.tfevents.*"))
    # The other worker wrote nothing: neither its --run-dir nor leftovers in its TMPDIR.
    assert not (tmp_path / "run1").exists()
    assert not list((tmp_path / "tmp1").iterdir())


def test_a_worker_that_is_not_the_chief_trains_but_writes_nothing(tmp_path, monkeypatch):
    """The non-chief's path of `cli.run_training`, in one process: it trains and
    evaluates like the chief, then leaves neither its --run-dir nor its scratch
    folder (avb-keras-worker-*) in TMPDIR."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(distribute, "is_chief", lambda strategy: False)
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    args = cli.build_parser().parse_args([
        "train", "--dataset", "four_frames", "--epochs", "1", "--steps-per-epoch", "3",
        "--batch-size", "64", "--log-every", "2", "--seed", "5",
        "--run-dir", str(tmp_path / "run")])
    model, summary = cli.run_training(args)
    assert summary["chief"] is False and int(model.optimizer.iterations) == 3
    assert np.all(np.isfinite(list(summary["test"].values())))
    assert not (tmp_path / "run").exists()
    # TensorFlow's own autograph files are removed when the process exits (atexit).
    assert not [p for p in scratch.iterdir() if not p.name.startswith("__autograph_generated")]
