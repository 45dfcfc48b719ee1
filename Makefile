# Set-up and everyday commands. Each target installs what it needs into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-slow mnist-small saved-models

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
## On a fresh clone (2-core x86_64 without AVX-512, other work paused): 265-279 s of tests
## (510) after 34-44 s of install; 8.9 CPU-minutes (user + sys) for the tests.
test: install
	$(BIN)/python -m pytest -m "not slow" -n 3 --dist loadfile

## Everything, including the long-running tests.
test-slow: install
	$(BIN)/python -m pytest -n 3 --dist loadfile

## Rebuild the packaged MNIST subset from ../shared/data/mnist.npz.
mnist-small: install
	$(BIN)/python scripts/build_mnist_small.py

## Retrain and re-export the saved_models/ zoo (about an hour on 2 busy CPU cores; needs full MNIST).
saved-models: install
	nice $(BIN)/python scripts/build_saved_models.py
