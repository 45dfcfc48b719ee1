"""The command line answers before TensorFlow loads: --help, presets and usage mistakes."""

import re
import subprocess
import sys
import time

import pytest

import avb_keras
from avb_keras import optimizers
from avb_keras.cli import listing, parser

#: A loose bound for a fresh `python -m avb_keras --help` on a busy 2-core machine, where
#: importing TensorFlow alone takes 5-10 s (`benchmarks/start_up.py` times each command).
START_UP_SECONDS = 5.0

#: `python -X importtime` lists every module a process imports on stderr, one a line.
HEAVY = re.compile(r"\|\s+(tensorflow|keras|tensorflow_probability)(\.\S+)?\s*$")


def imported_heavy_modules(*args):
    """The TensorFlow, Keras and tfp modules that `avb-keras ARGS` imports, and its stdout."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "avb_keras", *args],
                            capture_output=True, text=True, timeout=120)
    return [line for line in result.stderr.splitlines() if HEAVY.search(line)], result.stdout


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["presets"],
                                  ["presets", "--markdown"], ["sample"],
                                  ["train", "--lr", "1e-4"], ["evaluate", "--help"]])
def test_help_presets_and_mistakes_load_no_tensorflow(argv):
    heavy, _ = imported_heavy_modules(*argv)
    assert heavy == []


@pytest.mark.e2e
def test_a_command_that_needs_tensorflow_loads_it():
    """(So that the check above can fail. Some of its lines are held back with TensorFlow's
    start-up lines, `native_logs`, but not all.)"""
    heavy, _ = imported_heavy_modules("sample", "/nonexistent.keras")
    assert heavy


@pytest.mark.e2e
def test_a_program_importing_the_package_gets_the_model_classes_registered():
    code = ("import sys, avb_keras, keras\n"
            "print(keras.saving.get_registered_object('avb_keras>AVB') is avb_keras.AVB)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.stdout.strip() == "True", result.stderr[-2000:]


def test_help_answers_within_a_few_seconds():
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "avb_keras", "--help"], capture_output=True,
                            text=True, timeout=60)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0 and "usage: avb-keras" in result.stdout
    assert elapsed < START_UP_SECONDS


def test_the_light_listing_is_the_packages_listing():
    assert listing.list_presets() == avb_keras.list_presets()
    assert listing.architecture_names() == tuple(avb_keras.presets.PRESETS)


def test_the_parsers_choices_are_the_packages():
    from avb_keras.cli.settings import MODEL_CLASSES

    assert parser.SCHEDULES == optimizers.SCHEDULES
    assert tuple(MODEL_CLASSES) == parser.MODELS


@pytest.mark.parametrize("argv, message", [
    (["train", "--lr", "1e-4"], "did you mean --learning-rate or --lr-schedule for --lr?"),
    (["train", "--warmup", "5"], "did you mean --warmup-steps for --warmup?"),
    (["train", "--no-adaptive-contrast"], "replaced by --adaptive-contrast none"),
    (["sample", "x", "--nmu", "4"], "did you mean --num for --nmu?"),
    (["evaluate", "x", "--ais-step", "4"], "did you mean --ais-steps for --ais-step?"),
])
def test_no_abbreviations_and_close_options_are_named(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        parser.build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and err.count("\n") == 1
