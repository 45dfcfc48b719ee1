"""When an AIS estimate counts as converged: the 4x-temperature check.

AIS with T temperatures is a stochastic lower bound on log p(x) whose gap
shrinks as T grows (Neal 2001; Wu et al. 2017). The check re-runs AIS on the
first 20 images at 4T temperatures; the estimate counts as converged when the
check moves the mean by at most `CONVERGED_NATS`:

    difference = mean_{i < 20} [ AIS_4T(x_i) - AIS_T(x_i) ],   converged: |difference| <= 0.2

`benchmarks/mnist_converged.py` tightens its evaluations by this rule and
`scripts/build_saved_models.py` states it on the shipped models' cards.
"""

import numpy as np

#: AIS counts as converged when the check's temperatures move it by at most this much
#: (nats, on the first 20 images).
CONVERGED_NATS = 0.2


def check_difference(result):
    """The check's mean AIS minus the evaluation's on the same first images.

    Args:
      result: an evaluation's record with "ais" (per-image AIS at T temperatures)
        and "ais_check_first20" (the first images again at 4T temperatures).
    """
    check = np.asarray(result["ais_check_first20"])
    return float(np.mean(check - np.asarray(result["ais"])[:len(check)]))


def converged(result):
    """Whether `result`'s AIS passes the check (|check_difference| <= CONVERGED_NATS)."""
    return abs(check_difference(result)) <= CONVERGED_NATS
