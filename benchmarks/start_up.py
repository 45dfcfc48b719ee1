"""How long `avb-keras` takes to answer before it does any work: --help, train --help,
presets, and usage mistakes, each in a fresh process (median of --repeats runs).

    python benchmarks/start_up.py                      # this checkout
    python benchmarks/start_up.py --repo /tmp/base --label before

Each command runs as `python -m avb_keras ARGS` with the working directory at
--repo, so that --repo's package is the one imported (an older checkout measures
the time before a change). Writes benchmarks/results/start_up_<label>.json with
the command line, the machine and its load before each command.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import timing  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: What a user types first, and two usage mistakes (exit 2).
COMMANDS = {"--help": ["--help"], "train --help": ["train", "--help"],
            "presets": ["presets"], "sample (missing model)": ["sample"],
            "train --lr 1e-4 (unknown option)": ["train", "--lr", "1e-4"]}


def time_command(args, repo, python):
    """Seconds of wall time of one fresh `python -m avb_keras ARGS` in `repo`."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    start = time.perf_counter()
    subprocess.run([python, "-m", "avb_keras", *args], cwd=repo, env=env,
                   capture_output=True, check=False, timeout=300)
    return time.perf_counter() - start


def measure(repo, python, repeats):
    """{label: {"median", "min", "max", "runs", "load_average"}} for every command."""
    rows = {}
    for label, args in COMMANDS.items():
        load = timing.load_average()
        runs = [time_command(args, repo, python) for _ in range(repeats)]
        rows[label] = {**timing.spread(runs), "runs": runs, "load_average_before": load}
        print(f"{label:>34s}: {statistics.median(runs):6.2f} s (median of {repeats})",
              flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="the checkout whose avb_keras is timed (default: this one)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter, with TensorFlow installed (default: this one)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--label", default="after", help="names the results file")
    parser.add_argument("--note", default="", help="how busy the machine was, etc.")
    args = parser.parse_args(argv)
    result = {"command": "python benchmarks/start_up.py " + " ".join(argv or sys.argv[1:]),
              "machine": timing.machine(), "repo": str(args.repo.resolve()),
              "note": args.note, "seconds": measure(args.repo, args.python, args.repeats)}
    out = REPO / "benchmarks" / "results" / f"start_up_{args.label}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
