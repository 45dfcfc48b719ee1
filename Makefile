# Set-up and everyday commands. Each target installs what it needs into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-e2e test-slow mnist-small saved-models

install: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

## The main job: AVB with Adaptive Contrast on the packaged MNIST subset (CPU, a few minutes),
## into runs/demo: the model, a grid of its samples (samples.png), metrics and logs.
demo: install
	$(BIN)/avb-keras train --run-dir runs/demo --epochs 40

## The default test suite, three pytest workers on two cores (each test module stays in one
## worker; a third keeps the cores busy while a worker waits on a process a test started):
## everything but the long tests (slow) and the end-to-end ones (e2e: tests that start a
## TensorFlow process, pip or Chromium of their own, or train through the command line twice).
## On a fresh clone (2-core x86_64 without AVX-512, other work paused): 200, 211 and 236 s of
## tests (490) in three runs, after 36-38 s of install; 6.4-6.8 CPU-minutes (user + sys). Each
## had a test stalled 25-55 s without CPU (freeing an autotuned tf.data iterator; tests/conftest.py
## now switches autotuning off): since, 247 s with the install and 204 s on a second run (501 tests).
test: install
	$(BIN)/python -m pytest -m "not slow and not e2e" -n 3 --dist loadfile

## The end-to-end tests (fresh processes, kills, pip, Chromium); CI runs them after `make test`.
## On a fresh clone, after `make test`: 79 s (20 tests), 2.5 CPU-minutes.
test-e2e: install
	$(BIN)/python -m pytest -m "e2e and not slow" -n 3 --dist loadfile

## Everything, including the long-running tests.
test-slow: install
	$(BIN)/python -m pytest -n 3 --dist loadfile

## Rebuild the packaged MNIST subset from ../shared/data/mnist.npz.
mnist-small: install
	$(BIN)/python scripts/build_mnist_small.py

## Retrain and re-export the saved_models/ zoo (about an hour on 2 busy CPU cores; needs full MNIST).
saved-models: install
	nice $(BIN)/python scripts/build_saved_models.py
