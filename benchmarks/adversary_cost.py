"""What the adversary costs: AVB with full-covariance Adaptive Contrast against the VAE.

    python benchmarks/adversary_cost.py [--rounds 5] [--seconds 3] \
        [--out benchmarks/results/adversary_cost_cpu]

Arms (the `mnist_mlp` preset, batch 128, built and compiled as `throughput.py`'s preset
arms, which is what `avb-keras train` runs; all in one worker process, timed in rounds
in alternating order): the VAE; AVB with full AC and T at the preset's listed 2x512, with
the limit on the adversary's rate along T's offset (`compile(offset_stability=...)`) as
the library trains it; the same without that limit; the same with T half and a quarter
as wide (`adversary_width`; the quarter is mnist_mlp's default for full AC since this
benchmark chose it); and the paper's diagonal AC. Reports examples/s per arm (median
and range over the rounds) and per-round ratios: each arm's time per example over the
VAE's, and the limit's share of full AC's step. Timings mean something only on a quiet
machine. Writes OUT.json and OUT.md and prints the table.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from throughput import Worker, ratio, run_rounds
from timing import load_average, machine, spread

PRESET = {"kind": "preset", "preset": "mnist_mlp", "batch": 128}
#: Full AC with T at mnist_mlp's listed 2x512 (the default is a quarter of it since this run).
FULL = {"adaptive_contrast": "full", "adversary_width": 1.0}
ARMS = {
    "VAE": {**PRESET, "model": "VAE"},
    "full AC": {**PRESET, "model": "AVB", "options": FULL},
    "full AC, no offset limit": {**PRESET, "model": "AVB", "options": FULL,
                                 "compile": {"offset_stability": None}},
    "full AC, T half as wide": {**PRESET, "model": "AVB",
                                "options": {**FULL, "adversary_width": 0.5}},
    "full AC, T a quarter as wide": {**PRESET, "model": "AVB",
                                     "options": {**FULL, "adversary_width": 0.25}},
    "diagonal AC": {**PRESET, "model": "AVB+AC"},
}


def table(result):
    rates = result["rates"]

    def cell(values):
        r = spread(values)
        return f"{r['median']:.0f} ({r['min']:.0f}-{r['max']:.0f})"

    def times(arm, baseline):  # time per example, arm over baseline
        r = ratio(rates, baseline, arm)
        return f"{r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f})"

    lines = ["| arm | examples/s | time per example vs the VAE | vs full AC |",
             "|---|---|---|---|"]
    for arm in rates:
        lines.append(f"| {arm} | {cell(rates[arm])} | {times(arm, 'VAE')} | "
                     f"{times(arm, 'full AC')} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/adversary_cost_cpu"))
    args = parser.parse_args(argv)
    load_before = load_average()
    worker = Worker("keras")
    try:
        arms = {name: ("keras", spec) for name, spec in ARMS.items()}
        settings = {name: worker("add", name, spec) for name, (_, spec) in arms.items()}
        rates, loads = run_rounds({"keras": worker}, arms, args.rounds, args.seconds)
    finally:
        worker.close()
    result = {"command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
              "machine": machine(), "load_average_before": load_before,
              "load_average_per_round": loads, "load_average_after": load_average(),
              "settings": settings, "rates": rates}
    text = (f"Command: `{result['command']}`\n\n" + table(result)
            + f"\n\n1-minute load average: {load_before:.2f} before, "
              f"{result['load_average_after']:.2f} after.\n")
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
