#!/bin/bash
# The second rule of the converged MNIST comparison (issue 12), every step resumable:
# each model one sweep rate below its first-rule final rate (RULE1 = the runs of
# benchmarks/mnist_converged.sh), trained, evaluated and reported the same way; then,
# per model, the run of the two with the higher validation AIS is selected.
#     nohup benchmarks/mnist_converged_rule2.sh /work/runs/mnist /work/runs/mnist_rule2 \
#         > /work/runs/mnist_rule2.log 2>&1 &
# One process per trained, evaluated or scored model (see mnist_converged.sh).
set -e
RULE1=${1:?usage: benchmarks/mnist_converged_rule2.sh RULE1_RUNS RULE2_RUNS}
RUNS=${2:?usage: benchmarks/mnist_converged_rule2.sh RULE1_RUNS RULE2_RUNS}
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD
PY=${PYTHON:-.venv/bin/python}
step() { echo "=== $* $(date -Is)"; $PY benchmarks/mnist_converged.py "$@" --runs "$RUNS"; }
MODELS="vae_z32 avb_ac_z32 avb_fullac_z32 vae_z8 avb_ac_z8 avb_fullac_z8 avb_z32"
step lower --rule1 "$RULE1"
for m in $MODELS; do
    step train --models "$m"
    step evaluate --models "$m"
    step tighten --models "$m"   # only where the AIS check fails (added after the runs)
done
step report --out benchmarks/results/mnist_converged_rule2
for m in $MODELS; do step select --rule1 "$RULE1" --models "$m" --out "$RUNS/select_$m"; done
step select --rule1 "$RULE1" --out benchmarks/results/mnist_converged_selected
echo "=== done $(date -Is)"
