"""Helpers of the scaling, memorization and symbolic-vs-neural experiments against plain oracles."""

import math
import random

import pytest
import torch

from attnlab.data import CharTokenizer, generate
from attnlab.experiments import memorization as mem
from attnlab.experiments import scaling
from attnlab.experiments import symbolic_vs_neural as sym
from attnlab.experiments._lm_text import corpus, held_out_rows, non_embedding_params, windows


def test_power_law_fit_recovers_an_exact_law_and_scores_a_bent_one_lower():
    xs = [1e3, 1e4, 1e5, 1e6]
    fit = scaling.power_law_fit(xs, [(2e3 / x) ** 0.08 * 7 for x in xs])
    assert fit["alpha"] == pytest.approx(0.08) and fit["r2"] == pytest.approx(1.0)
    bent = scaling.power_law_fit(xs, [3.0, 2.0, 1.9, 1.89])  # flattens: not a line on log-log axes
    assert bent["alpha"] > 0 and bent["r2"] < 0.9
    with pytest.raises(ValueError, match="xs"):
        scaling.power_law_fit([5, 5], [1.0, 2.0])


def test_training_flops_follow_kaplan_table_1():
    # 6 N per token for the weights, 6 n_layer n_ctx d_model per token for attention scores and sums
    assert scaling.training_flops(1000, 10, 2, 64, 32) == 10 * (6 * 1000 + 6 * 2 * 64 * 32)
    model = scaling.build_lm(96, 32, 2, 4, 64)
    n = non_embedding_params(model)
    assert n == sum(p.numel() for p in model.parameters()) - model.embed.tokens.weight.numel()


def test_windows_are_deterministic_slices_and_held_out_rows_do_not_overlap():
    stream = torch.arange(1000)
    a, b = windows(stream, 4, 16, seed=3, step=7), windows(stream, 4, 16, seed=3, step=7)
    assert torch.equal(a, b) and a.shape == (4, 17)
    assert torch.equal(a[:, 1:] - a[:, :-1], torch.ones(4, 16, dtype=torch.long))  # consecutive tokens
    rows = held_out_rows(stream, 5, 16)
    assert rows.shape == (5, 17) and len(set(rows.flatten().tolist())) == 5 * 17
    train, test, name = corpus(("python-docs",))
    assert name == "python-docs" and len(train) > 100_000 and len(test) > 10_000 and train[:500] not in test


@pytest.mark.parametrize("digits", [2, 3])
def test_secret_log_probs_match_scoring_every_candidate_in_full(digits):
    tok = CharTokenizer.fit(["\nMary's PIN is 0123456789."])
    torch.manual_seed(digits)
    model = mem.build_lm(tok.vocab_size, 16, 2, 2, 32).eval()
    fast = mem.secret_log_probs(model, tok, "Mary's PIN is ", digits, chunk=7)
    rows = torch.tensor([tok.encode(f"\nMary's PIN is {r:0{digits}d}") for r in range(10**digits)])  # (R, L)
    with torch.no_grad():
        logp = model(rows)[0].log_softmax(-1)  # (R, L, V): every candidate scored in full, no cache
    start = rows.shape[1] - digits
    picked = logp[:, start - 1 : -1].gather(-1, rows[:, start:, None]).squeeze(-1)  # (R, digits)
    ref = picked.sum(-1)
    assert torch.allclose(fast, ref, atol=1e-5)
    assert torch.logsumexp(fast, 0) <= 1e-6  # a distribution over the digit strings (and other text)


def test_exposure_of_the_most_likely_candidate_is_the_maximum():
    log_probs = torch.tensor([-1.0, -3.0, -2.0, -2.0])
    assert mem.exposure(log_probs, "0") == (2.0, 1)
    assert mem.exposure(log_probs, "2") == (pytest.approx(2 - math.log2(2)), 2)  # ties share the better rank
    assert mem.exposure(log_probs, "1") == (pytest.approx(0.0), 4)


def test_canaries_are_in_the_training_text_exactly_k_times():
    cfg = mem.PROFILES["smoke"]
    marks = mem.canaries(cfg, seed=0)
    text = mem.training_text(cfg, 0, marks)
    assert {c["lang"] for c in marks} == {"en", "zh"} and len({c["prefix"] for c in marks}) == len(marks)
    for c in marks:
        assert text.count(c["text"]) == c["k"] and len(c["secret"]) == cfg["digits"]


def test_rules_parse_every_training_format_and_reject_what_they_were_not_written_for():
    for lang in sym.TRAIN_LANGS:
        for e in generate("dates", 60, seed=1, split="test", lang=lang, styles=sym.TRAIN_STYLES):
            assert sym.rule_parse(e.src) == e.tgt, e.src
    assert sym.rule_parse("Friday, 5 Mrach 2021") is None  # a typo in the month name
    assert sym.rule_parse("on Friday, approximately 5 March 2021") == "2021-03-05"  # unknown words skipped
    assert sym.rule_parse("31 February 2021") is None and sym.rule_parse("5 mars 2021") is None


def test_noise_keeps_the_date_and_changes_one_word():
    rng = random.Random(0)
    for e in generate("dates", 40, seed=2, split="test", lang="en", styles=("full",)):
        noisy = sym.add_typo(e.src, rng)
        changed = [(a, b) for a, b in zip(e.src.split(), noisy.split()) if a != b]
        assert len(noisy.split()) == len(e.src.split()) and len(changed) == 1
        assert abs(len(changed[0][0]) - len(changed[0][1])) <= 1
        assert sym.rule_parse(sym.add_extra_words(e.src, "en", rng)) == e.tgt
    assert sym.add_extra_words("2021年3月5日", "zh", random.Random(1)) != "2021年3月5日"
