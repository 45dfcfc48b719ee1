"""The command line answers before TensorFlow loads: --help, presets and usage mistakes."""

import os
import subprocess
import sys
import time

import pytest

import avb_keras
from avb_keras import optimizers
from avb_keras.cli import listing, parser

#: A loose bound for a fresh `python -m avb_keras --help` on a busy 2-core machine: it
#: measures 0.1-0.2 s there (benchmarks/results/start_up_after.json), importing
#: TensorFlow alone takes 5-10 s.
START_UP_SECONDS = 5.0

NO_TENSORFLOW = """
import sys
from avb_keras.cli import main
for argv in {argvs!r}:
    try:
        main(argv)
    except SystemExit:
        pass
loaded = sorted(m for m in ("tensorflow", "keras", "tensorflow_probability") if m in sys.modules)
print("LOADED", loaded)
"""


def run_python(code):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)


def test_help_presets_and_mistakes_load_no_tensorflow():
    argvs = [["--help"], ["train", "--help"], ["presets"], ["presets", "--markdown"],
             ["sample"], ["train", "--lr", "1e-4"], ["evaluate", "--help"]]
    result = run_python(NO_TENSORFLOW.format(argvs=argvs))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LOADED []" in result.stdout
    assert "mnist_vae_z32" in result.stdout and "usage: avb-keras train" in result.stdout


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
