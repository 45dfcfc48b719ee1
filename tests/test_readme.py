"""The README: every code block runs as written (with the budgets of
`readme_blocks.shorter`), and it speaks to a reader, not to the tracker.

Running every block takes many minutes (a dozen TensorFlow processes), so it is a slow
test. The default suite checks what can rot cheaply: each block parses, each
`avb-keras` line is accepted by the command's parser, the lines that answer before
TensorFlow loads run as written, and the Python blocks use only names they (or an
earlier block) define and that the package has.
"""

import ast
import builtins
import importlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from avb_keras.cli.parser import build_parser
from readme_blocks import DEMO, README, REPO, blocks, shorter

RUNNER = REPO / "tests" / "readme_blocks.py"
#: The bin folder of this interpreter's environment (`.venv/bin` under `make test`), which
#: `. .venv/bin/activate` puts on the PATH.
BIN = Path(sys.executable).parent


def test_every_block_is_bash_or_python_and_parses():
    found = blocks()
    assert len(found) >= 10
    for heading, language, code in found:
        assert language in ("bash", "python"), f"a ```{language} block under {heading!r}"
        if language == "python":
            compile(code, heading, "exec")
        else:
            result = subprocess.run(["bash", "-n", "-c", code], capture_output=True, text=True)
            assert result.returncode == 0, (heading, result.stderr)


def test_the_makefiles_demo_is_the_readmes():
    recipe = (REPO / "Makefile").read_text().split("\ndemo:")[1].split("\n\n")[0]
    assert f"$(BIN)/{DEMO}" in recipe


def test_the_budget_substitutions():
    assert shorter("bash", "make demo\n") == DEMO + " --epochs 1 --steps-per-epoch 3\n"
    assert shorter("bash", "avb-keras train --model vae \\\n  --ema 0.9\n") == (
        "avb-keras train --model vae --ema 0.9 --epochs 1 --steps-per-epoch 2\n")
    assert shorter("bash", "avb-keras train --epochs 5   # note\n") == (
        "avb-keras train --epochs 5 --epochs 1 --steps-per-epoch 2  # note\n")
    assert shorter("bash", "avb-keras evaluate runs/x --ais   # note\n") == (
        "avb-keras evaluate runs/x --ais --ais-steps 10 --num-examples 16   # note\n")
    assert shorter("bash", ". .venv/bin/activate  # PATH\n") == ":  # PATH\n"
    assert shorter("python", "model.fit(d, epochs=10)") == (
        "model.fit(d, epochs=1, steps_per_epoch=2)")
    assert shorter("python", "m.fit(steps_per_epoch=1000)") == "m.fit(steps_per_epoch=2)"
    assert shorter("python", "ais(m, x, num_steps=1000)") == "ais(m, x, num_steps=10)"


def test_no_issue_numbers_or_placeholders():
    text = README.read_text()
    assert not re.search(r"\bissues? #?\d+", text, re.I)
    assert not re.search(r"\b[A-Z]+_(?:TIMES|SIZE)\b", text)  # an unfilled figure


def command_lines():
    """[(heading, argv)] of every `avb-keras` line of the README's bash blocks."""
    found = []
    for heading, language, code in blocks():
        if language != "bash":
            continue
        for line in re.sub(r"\\\n\s*", "", code).splitlines():
            argv = shlex.split(line, comments=True)
            if argv[:1] == ["avb-keras"]:
                found.append((heading, argv))
    return found


def test_every_command_line_is_accepted_by_the_parser(capsys):
    lines = command_lines()
    assert {argv[1] for _, argv in lines} >= {"train", "evaluate", "sample", "presets",
                                              "export"}
    for heading, argv in lines:
        try:
            build_parser().parse_args(argv[1:])
        except SystemExit as exit_:  # --help answers and exits 0, a mistake exits 2
            assert exit_.code == 0 and "--help" in argv, (heading, argv,
                                                          capsys.readouterr().err)


def test_the_lines_that_need_no_tensorflow_run_as_written(tmp_path):
    """(`avb-keras presets` and `--help` lines, in a fresh process each.)"""
    lines = [argv for _, argv in command_lines() if argv[1] == "presets" or "--help" in argv]
    assert len(lines) >= 2
    for argv in lines:
        result = subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and result.stdout, (argv, result.stderr[-2000:])


def python_blocks():
    return [(heading, ast.parse(code)) for heading, language, code in blocks()
            if language == "python"]


def test_python_blocks_use_only_names_defined_before_them():
    """As the runner executes them, in one namespace in order: no `more_data` that no
    block defines."""
    defined = set(dir(builtins))
    for heading, tree in python_blocks():
        stored = {node.id for node in ast.walk(tree)
                  if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                stored |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                stored.add(node.name)
            elif isinstance(node, ast.arg):  # a lambda's or function's parameter
                stored.add(node.arg)
        loaded = {node.id for node in ast.walk(tree)
                  if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        assert loaded <= defined | stored, (heading, sorted(loaded - defined - stored))
        defined |= stored


def test_python_blocks_use_only_what_the_package_has():
    for heading, tree in python_blocks():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("avb_keras"):
                module = importlib.import_module(node.module)
                missing = [a.name for a in node.names if not hasattr(module, a.name)]
                assert not missing, (heading, node.module, missing)
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "avb_keras"):
                assert hasattr(importlib.import_module("avb_keras"), node.attr), (
                    heading, node.attr)


def _image_folder(folder, count=100):
    """`count` seeded 32x32 PNGs for the README's "my_images"."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        (folder / f"{i:03d}.png").write_bytes(tf.io.encode_png(pixels).numpy())


@pytest.mark.slow
def test_every_block_runs_as_written(tmp_path):
    """(About 20 minutes on 2 busy cores.) Then the Quickstart's promises: the files of its
    table, the printed sample grid, the checkpoint under two names, under 100 MB."""
    _image_folder(tmp_path / "my_images")
    (tmp_path / "examples").symlink_to(REPO / "examples")
    result = subprocess.run([sys.executable, str(RUNNER), str(tmp_path)],
                            capture_output=True, text=True, timeout=3000)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    demo = tmp_path / "runs" / "demo"
    for name in ("model.keras", "samples.png", "metrics.json", "epochs.jsonl", "logs",
                 "checkpoints/last.keras", "evaluation.json"):
        assert (demo / name).exists(), name
    assert "runs/demo/samples.png" in result.stdout
    assert (tmp_path / "grid.png").is_file()
    (checkpoint,) = (demo / "checkpoints").glob("epoch-*/model.keras")
    assert checkpoint.samefile(demo / "checkpoints" / "last.keras")
    files = {p.stat().st_ino: p.stat().st_size for p in demo.rglob("*") if p.is_file()}
    assert sum(files.values()) < 100e6
