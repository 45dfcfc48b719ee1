#!/bin/bash
# The converged MNIST comparison of issue 12 as it was run, every step resumable: rerun
# this script after an interruption. Run directories go in RUNS, outside the repository:
#     nohup benchmarks/mnist_converged.sh /work/runs/mnist > /work/runs/mnist.log 2>&1 &
# The zoo's models first (trained, then evaluated), then full AC. One process per
# evaluated model: evaluating several models in one process grew to 21 GB RSS. (The cause
# was kl_lower_bound's 500 x 256 encoder draws at once, peaking near 22 GB and kept by
# the allocator; it now goes through the encoder in chunks and peaks near 2 GB.)
set -e
RUNS=${1:?usage: benchmarks/mnist_converged.sh RUNS_DIR}
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD
PY=${PYTHON:-.venv/bin/python}
step() { echo "=== $* $(date -Is)"; $PY benchmarks/mnist_converged.py "$@" --runs "$RUNS"; }
step sweep
step train --models vae_z32 avb_z32 avb_ac_z32 vae_z8 avb_ac_z8
for m in vae_z32 avb_ac_z32 vae_z8 avb_ac_z8 avb_z32; do step evaluate --models "$m"; done
step train --models avb_fullac_z32
step evaluate --models avb_fullac_z32
# Full AC beat the diagonal at latent 32, so it is the latent-8 AVB+AC too.
step sweep --models avb_fullac_z8
step train --models avb_fullac_z8
step evaluate --models avb_fullac_z8
step report --out benchmarks/results/mnist_converged
echo "=== done $(date -Is)"
