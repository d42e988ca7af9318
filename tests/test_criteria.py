"""Every experiment's criteria on made-up metrics: all pass on ``passing()``, and every primary
criterion fails on its case in ``failing()`` (cases live in tests/criteria/<module>.py)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from attnlab.experiments import EXPERIMENTS, decide

CASES = Path(__file__).parent / "criteria"


def _cases(name: str):
    module = sys.modules[EXPERIMENTS[name].run.__module__].__name__.rsplit(".", 1)[1]
    path = CASES / f"{module}.py"
    assert path.is_file(), f"{name}: no made-up metrics in tests/criteria/{module}.py"
    spec = importlib.util.spec_from_file_location(f"criteria_cases_{module}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_criterion_passes_on_good_metrics(name):
    criteria = EXPERIMENTS[name].criteria(_cases(name).passing())
    assert [c.name for c in criteria if not c.passed] == []
    assert decide(criteria) == "yes"


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_primary_criterion_can_fail(name):
    exp, cases = EXPERIMENTS[name], _cases(name)
    primaries = {c.name for c in exp.criteria(cases.passing()) if c.primary}
    failing = cases.failing()
    assert primaries <= set(failing), f"{name}: no failing case for {sorted(primaries - set(failing))}"
    for criterion, per_seed in failing.items():
        judged = {c.name: c for c in exp.criteria(per_seed)}
        assert judged[criterion].passed is False, f"{name}: {criterion} did not fail on its failing case"
        assert judged[criterion].primary and decide(list(judged.values())) == "no"


def test_a_busy_machine_leaves_only_the_speed_unjudged():
    seeds = _cases("variable-length").passing()
    seeds[1]["timing_disturbed"] = {
        "en": "Other processes kept 1.5 cores busy.",
        "zh": "其他进程占用了 1.5 个核。",
    }
    seeds[1]["real_tokens_per_s"]["bucketed"] = 1.0  # would fail, but cannot be judged
    judged = {c.name: c for c in EXPERIMENTS["variable-length"].criteria(seeds)}
    assert (
        judged["bucketing-trains-faster"].passed is None
        and "1.5 cores" in judged["bucketing-trains-faster"].en
    )
    assert decide(list(judged.values())) == "yes"
    seeds[1]["timing_disturbed"] = None
    judged = {c.name: c for c in EXPERIMENTS["variable-length"].criteria(seeds)}
    assert judged["bucketing-trains-faster"].passed is False and decide(list(judged.values())) == "partly"


def test_interpretability_evidence_not_judged_when_the_model_does_not_answer():
    cases = _cases("interpretability")
    seeds = cases.passing()
    seeds[1]["coffee_shop"]["en"]["qa_accuracy"] = 0.5
    judged = {c.name: c for c in EXPERIMENTS["interpretability"].criteria(seeds)}
    assert judged["coffee-en-answers"].passed is False and not judged["coffee-en-answers"].primary
    assert judged["coffee-en-first-evidence-in-top3"].passed is None
    assert judged["coffee-zh-first-evidence-in-top3"].passed is True
    assert decide(list(judged.values())) == "inconclusive"


def test_lra_comparisons_not_judged_when_full_attention_did_not_learn():
    seeds = _cases("lra-listops").passing()
    seeds[0]["variants"]["full"]["accuracy"] = seeds[0]["majority_accuracy"] + 0.01
    judged = {c.name: c for c in EXPERIMENTS["lra-listops"].criteria(seeds)}
    assert judged["full-above-majority"].passed is False and judged["full-beats-local"].passed is None
    assert decide(list(judged.values())) == "inconclusive"
