"""The stability grid's rules (benchmarks/stability.py), which decide docs/RESULTS.md's
"Stability, measured": when a run is stable, which rate each seed's answer uses, and the
paired answer over seeds."""

import json
import math
from argparse import Namespace

import numpy as np
import pytest
from conftest import load_script

stability = load_script("benchmarks/stability.py")


def test_largest_drop_counts_only_epochs_after_the_grace_and_refuses_non_finite():
    elbo = [-300.0, -150.0, -120.0, -110.0, -100.0, -99.0, -104.5, -98.0]
    # Epochs 1-5 may fall; the sixth on is measured against the best so far (-99).
    assert stability.largest_drop(elbo, grace=5) == pytest.approx(5.5)
    assert stability.largest_drop(elbo, grace=7) == 0.0
    assert stability.largest_drop([-100.0, math.nan, -99.0], grace=0) == math.inf


def row(model, rate, seed, finished=True, stable=True, ais_valid=None):
    r = dict(model=model, rate=rate, seed=seed, finished=finished, stable=stable)
    if ais_valid is not None:
        r["ais_valid"] = ais_valid
    return r


def as_table(*rows):
    return {stability.key(r["model"], r["rate"], r["seed"]): r for r in rows}


def test_the_highest_stable_rate_needs_every_finished_seed_stable():
    table = as_table(row("a", 1e-3, 0), row("a", 1e-3, 1, stable=False), row("a", 3e-4, 0),
                     row("b", 3e-3, 0), row("b", 1e-3, 0),
                     row("c", 1e-3, 0, finished=False))  # only running: not listed
    assert stability.highest_stable_rates(table) == {"a": 3e-4, "b": 3e-3}


def test_each_seed_takes_the_stable_run_with_the_best_validation_ais_among_the_models():
    table = as_table(row("full", 1e-3, 0, ais_valid=-86.7), row("full", 3e-4, 0, ais_valid=-88.5),
                     row("diag", 1e-3, 0, ais_valid=-86.0, stable=False),
                     row("diag", 3e-4, 0, ais_valid=-86.5),
                     row("full", 3e-3, 0, ais_valid=-80.0, finished=False),
                     row("full", 1e-3, 1))  # not evaluated yet
    assert stability.chosen(table, ("full",), 0)["rate"] == 1e-3
    best = stability.chosen(table, ("full", "diag"), 0)
    assert (best["model"], best["rate"]) == ("diag", 3e-4)
    assert stability.chosen(table, ("full",), 1) is None


def test_the_answer_is_the_paired_mean_per_seed_and_its_spread_over_seeds(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    vae = {s: rng.normal(-85.0, 10.0, 50) for s in range(3)}
    gain = {0: 1.0, 1: 1.4, 2: 0.9}
    noise = {s: rng.normal(0.0, 0.3, 50) for s in range(3)}
    rows = []
    for s in range(3):
        for model, values in (("avb_fullac_z32", vae[s] + gain[s] + noise[s]),
                              ("vae_z32", vae[s])):
            folder = tmp_path / stability.key(model, 1e-3, s)
            folder.mkdir()
            (folder / "ais.json").write_text(json.dumps({"test": values.tolist()}))
            rows.append(row(model, 1e-3, s, ais_valid=float(values.mean())))
    monkeypatch.setattr(stability, "ANSWERS", ((("avb_fullac_z32",), "vae_z32"),))
    answer = stability.answers(Namespace(runs=tmp_path), as_table(*rows))["avb_fullac_z32 - vae_z32"]
    means = [gain[s] + noise[s].mean() for s in range(3)]
    for s in range(3):
        assert answer["seeds"][s]["mean"] == pytest.approx(means[s])
        assert answer["seeds"][s]["paired_se"] == pytest.approx(noise[s].std(ddof=1) / np.sqrt(50))
        assert answer["seeds"][s]["better_share"] == pytest.approx(np.mean(gain[s] + noise[s] > 0))
    assert answer["mean"] == pytest.approx(np.mean(means))
    assert answer["se_across_seeds"] == pytest.approx(np.std(means, ddof=1) / np.sqrt(3))


def test_only_a_run_an_answer_chooses_or_no_answer_uses_needs_its_test_images(monkeypatch):
    monkeypatch.setattr(stability, "ANSWERS", ((("full", "diag"), "vae"),))
    table = as_table(row("full", 1e-3, 0, ais_valid=-86.7), row("full", 3e-4, 0, ais_valid=-88.5),
                     row("diag", 1e-3, 0, ais_valid=-87.0),
                     row("vae", 1e-3, 0, ais_valid=-88.0), row("vae", 3e-4, 0, ais_valid=-87.9),
                     row("full_narrow", 1e-3, 0, ais_valid=-90.0))
    needs = {k for k in table if stability.needs_test(table, k)}
    assert needs == {stability.key("full", 1e-3, 0), stability.key("vae", 3e-4, 0),
                     stability.key("full_narrow", 1e-3, 0)}


def test_a_seed_whose_choice_lacks_test_images_is_left_out_of_the_answer(tmp_path, monkeypatch):
    monkeypatch.setattr(stability, "ANSWERS", ((("full",), "vae"),))
    for model, values in (("full", {"valid": [-80.0, -81.0]}),
                          ("vae", {"valid": [-82.0, -83.0], "test": [-82.0, -83.0]})):
        folder = tmp_path / stability.key(model, 1e-3, 0)
        folder.mkdir()
        (folder / "ais.json").write_text(json.dumps(values))
    table = as_table(row("full", 1e-3, 0, ais_valid=-80.5), row("vae", 1e-3, 0, ais_valid=-82.5))
    answer = stability.answers(Namespace(runs=tmp_path), table)["full - vae"]
    assert answer["seeds"] == {} and answer["mean"] is None
