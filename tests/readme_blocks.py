"""The README's code blocks, and running them as a reader would, with shorter budgets.

    python tests/readme_blocks.py WORKDIR [--sections Quickstart ...]

runs the README's ```bash and ```python blocks in order, in WORKDIR: bash blocks
with `bash -e` (the package's bin folder first on PATH, as `. .venv/bin/activate`
puts it), python blocks in one interpreter namespace (each may use what an
earlier one defined, as a reader's session would). The only changes are the
budget substitutions of `shorter`, so that the whole README runs in minutes:

- continued lines are joined; `make demo` runs the Makefile's demo command (checked by test_readme.py) for
  1 epoch of 3 steps; every `avb-keras train` and `examples/*.py` line gets
  `--epochs 1 --steps-per-epoch 2`; `evaluate --ais` gets 10 AIS steps on 16 images;
- in Python, `epochs=N` becomes `epochs=1, steps_per_epoch=2` (a given
  `steps_per_epoch=N` becomes 2), AIS's `num_steps=N` becomes 10 and the IWAE
  bound's `num_samples=5000` becomes 50.
"""

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
#: The Makefile's demo command (tests/test_readme.py checks that they agree).
DEMO = "avb-keras train --run-dir runs/demo --epochs 40"
SHORT_RUN = " --epochs 1 --steps-per-epoch 2"


def blocks(text=None):
    """[(section heading, language, code)] of every fenced block, in order."""
    text = README.read_text(encoding="utf-8") if text is None else text
    found = []
    for match in BLOCK.finditer(text):
        headings = re.findall(r"^#+ (.+)$", text[:match.start()], re.M)
        found.append((headings[-1] if headings else "", match.group(1), match.group(2)))
    return found


def shorter(language, code):
    """`code` with the budget substitutions of the module docstring."""
    if language == "bash":
        code = re.sub(r"\\\n\s*", "", code)  # one line per command
        code = re.sub(r"^(\s*(?:avb-keras train|python examples/)[^\n#]*?)[ \t]*(#[^\n]*)?$",
                      lambda m: m.group(1) + SHORT_RUN + (f"  {m.group(2)}" if m.group(2) else ""),
                      code, flags=re.M)
        code = code.replace("make demo", DEMO + " --epochs 1 --steps-per-epoch 3")
        code = re.sub(r"(evaluate \S+ --ais)", r"\1 --ais-steps 10 --num-examples 16", code)
        return code.replace(". .venv/bin/activate", ":")
    code = re.sub(r"steps_per_epoch=\d+", "steps_per_epoch=2", code)
    code = re.sub(r"\bepochs=\d+(?![^\n]*steps_per_epoch)", "epochs=1, steps_per_epoch=2", code)
    code = re.sub(r"num_steps=\d+", "num_steps=10", code)
    return code.replace("num_samples=5000", "num_samples=50")


def run(workdir, sections=None):
    """Runs the (chosen sections') blocks in `workdir`; raises on the first that fails."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               TF_CPP_MIN_LOG_LEVEL="2")
    namespace = {"__name__": "__readme__"}
    os.chdir(workdir)
    for heading, language, code in blocks():
        if sections and heading not in sections:
            continue
        code = shorter(language, code)
        print(f"--- {heading} ({language})\n{code}", flush=True)
        if language == "bash":
            subprocess.run(["bash", "-e", "-c", code], env=env, check=True)
        else:
            exec(compile(code, f"README.md ({heading})", "exec"), namespace)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--sections", nargs="*", default=None)
    args = parser.parse_args()
    run(args.workdir, args.sections)


if __name__ == "__main__":
    main()
