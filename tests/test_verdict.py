"""The verdict framework: criteria rules, the four verdicts, and resumable seed runs."""

import json
import math

import pytest
import torch

from attnlab.experiments import (
    Experiment,
    SeedRun,
    Text,
    compare,
    decide,
    not_judged,
    run_experiment,
    run_seed,
    threshold,
)

T = dict(en="x is {value} ({rule})", zh="x 为 {value}（{rule}）")
C = dict(en="A {a} vs B {b}, gap {gap} ({rule})", zh="A {a} 对 B {b}，差 {gap}（{rule}）")


def test_threshold_every_seed_or_mean():
    assert threshold("t", [0.9, 0.95, 0.99], ">", 0.8, **T).passed is True
    assert threshold("t", [0.9, 0.7, 0.99], ">", 0.8, **T).passed is False  # one seed below
    assert threshold("t", [0.9, 0.7, 0.99], ">", 0.8, rule="mean", **T).passed is True
    assert threshold("t", 0.8, ">", 0.8, **T).passed is False  # strict bound
    assert threshold("t", 0.8, ">=", 0.8, **T).passed is True


def test_threshold_sentences_state_values_rule_and_outcome_in_both_languages():
    c = threshold("t", [1.0, 2.0, 3.0], "<=", 2.5, fmt=".2f", **T)
    assert c.en == "x is 2.00 (1.00–3.00) (≤ 2.50 for every seed): failed."
    assert c.zh == "x 为 2.00 (1.00–3.00)（每个种子都 ≤ 2.50）：未通过。"
    assert c.measured == {"values": [1.0, 2.0, 3.0]} and c.threshold == 2.5


@pytest.mark.parametrize("bad", [None, math.nan, math.inf])
def test_unmeasured_values_are_not_judged(bad):
    c = threshold("t", [0.9, bad], ">", 0.5, **T)
    assert c.passed is None and "n/a" in c.en and "not judged" in c.en
    assert compare("c", [1.0, bad], [0.0, 0.0], **C).passed is None


def test_compare_every_seed_ties_never_pass():
    assert compare("c", [0.9, 0.8], [0.5, 0.5], **C).passed is True
    assert compare("c", [0.9, 0.5], [0.5, 0.5], **C).passed is False  # a tie on one seed
    assert compare("c", [1.0], [1.0], **C).passed is False
    assert compare("c", [0.9, 0.8], [0.5, 0.5], margin=0.35, **C).passed is False
    assert compare("c", [0.1, 0.2], [0.5, 0.5], op="<", **C).passed is True
    assert compare("c", [0.1, 0.2], [0.5, 0.5], op=">", **C).passed is False


def test_compare_spread_rule_needs_the_mean_gap_above_the_seeds_spread():
    # gap 0.1 on average, but A ranges over 0.3: not beyond the spread, though A wins every seed
    assert compare("c", [0.7, 0.8, 1.0], [0.7, 0.7, 0.8], rule="spread", **C).passed is False
    assert compare("c", [0.9, 0.95, 1.0], [0.5, 0.55, 0.6], rule="spread", **C).passed is True
    with pytest.raises(ValueError, match="one value per seed"):
        compare("c", [1.0, 2.0], [1.0], **C)
    with pytest.raises(ValueError, match="rule"):
        compare("c", [1.0], [1.0], rule="mean", **C)
    with pytest.raises(ValueError, match="op"):
        threshold("t", 1.0, "=", 1.0, **T)


def _c(name, passed, primary=True):
    c = threshold(name, 1.0, ">", 0.0, primary=primary, **T)
    c.passed = passed
    return c


def test_decide_the_four_verdicts():
    assert decide([_c("a", True), _c("b", True, primary=False)]) == "yes"
    assert decide([_c("a", True), _c("b", False, primary=False)]) == "partly"
    assert decide([_c("a", False), _c("b", True, primary=False)]) == "no"
    assert decide([_c("a", None), _c("b", False)]) == "inconclusive"
    assert decide([_c("a", True), not_judged("b", en="x", zh="x", primary=False)]) == "yes"
    assert decide([_c("a", True)], inconclusive=True) == "inconclusive"
    with pytest.raises(ValueError, match="primary"):
        decide([_c("b", True, primary=False)])
    with pytest.raises(ValueError, match="unique"):
        decide([_c("a", True), _c("a", True)])


def _fake(calls: list, reason: Text | None = None, figure: str | None = "f.png") -> Experiment:
    def run(profile, folder, seed):
        calls.append(seed)
        if figure:
            (folder / figure).write_bytes(b"\x89PNG")
        value = float(torch.rand(()).item())  # seeded by the framework
        return SeedRun(
            metrics={"acc": 0.9 + seed / 100, "draw": value}, config={"steps": 7, "sizes": (1, 2)},
            figures=[figure] if figure else [], timings={"s": 0.1}, inconclusive=[reason] if reason else [],
        )  # fmt: skip

    def criteria(per_seed):
        return [
            threshold("acc", [m["acc"] for m in per_seed], ">", 0.85, **T),
            threshold("side", [m["acc"] for m in per_seed], ">", 0.915, primary=False, **T),
        ]

    text = Text("t", "t")
    return Experiment("fake", text, text, text, text, run=run, criteria=criteria)


def test_seeds_are_resumable_and_judged_together(tmp_path):
    calls = []
    exp = _fake(calls)
    result = run_experiment(exp, "full", tmp_path, threads=1)
    assert calls == [0, 1, 2] and result.seeds == [0, 1, 2]
    assert result.verdict == "partly"  # side criterion fails on seeds 0 and 1
    assert "Partly reproduced" in result.summary.en and "部分复现" in result.summary.zh
    assert "3 seed(s) (0, 1, 2" in result.summary.en and "fixed training steps (7)" in result.summary.en
    assert result.figures == ["seed-0/f.png"] and result.machine["threads"] == 1
    assert result.provenance["attnlab"] and "git" in result.provenance
    assert result.finished.endswith("Z") and result.finished[:4].isdigit()
    run_experiment(exp, "full", tmp_path, seeds=[2, 3])  # seed 2 done: only 3 runs; all four judged
    assert calls == [0, 1, 2, 3]
    saved = json.loads((tmp_path / "fake" / "results.json").read_text(encoding="utf-8"))
    assert saved["seeds"] == [0, 1, 2, 3] and len(saved["per_seed"]) == 4
    run_seed(exp, "full", tmp_path, 0, force=True)
    assert calls == [0, 1, 2, 3, 0]


def test_same_seed_same_draws_and_threads_restored(tmp_path):
    before = torch.get_num_threads()
    a = run_experiment(_fake([]), "quick", tmp_path / "a", seeds=[5], threads=1)
    b = run_experiment(_fake([]), "quick", tmp_path / "b", seeds=[5])
    assert a.per_seed == b.per_seed and torch.get_num_threads() == before


def test_a_reason_makes_the_verdict_inconclusive(tmp_path):
    reason = Text("the machine was busy", "机器繁忙")
    result = run_experiment(_fake([], reason), "quick", tmp_path)
    assert result.verdict == "inconclusive" and "the machine was busy" in result.summary.en


def test_mismatched_seed_configs_and_missing_figures_are_clear_errors(tmp_path):
    exp = _fake([])
    run_seed(exp, "full", tmp_path, 0)
    path = tmp_path / "fake" / "seed-0" / "run.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["config"]["steps"] = 8
    path.write_text(json.dumps(record), encoding="utf-8")
    run_experiment(exp, "full", tmp_path, seeds=[1])  # seed 0 (other config) is left out, not mixed in
    assert json.loads((tmp_path / "fake" / "results.json").read_text(encoding="utf-8"))["seeds"] == [1]
    with pytest.raises(ValueError, match="rerun it with --force"):
        run_experiment(exp, "full", tmp_path, seeds=[0, 1])
    bad = _fake([], figure=None)
    bad_run = bad.run
    bad.run = lambda p, f, s: SeedRun(**{**bad_run(p, f, s).__dict__, "figures": ["absent.png"]})
    with pytest.raises(RuntimeError, match="did not write"):
        run_experiment(bad, "quick", tmp_path / "bad")
    with pytest.raises(ValueError, match="threads"):
        run_seed(exp, "quick", tmp_path, 0, threads=0)
