"""Metrics against hand-computed values (and ROUGE-L's LCS against a brute-force oracle)."""

from itertools import combinations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.data import generate
from attnlab.data.metrics import (
    alignment_error_rate,
    alignment_from_attention,
    bleu,
    bleu_with_signature,
    classification_accuracy,
    exact_match,
    qa_f1,
    qa_scores,
    rouge_l,
    rouge_l_corpus,
    sequence_accuracy,
    token_accuracy,
)


def test_sequence_and_token_accuracy_lists_and_tensors():
    assert sequence_accuracy([[1, 2], [3]], [[1, 2], [4]]) == 0.5
    assert sequence_accuracy(["2021-03-25", "x"], ["2021-03-25", "y"]) == 0.5
    assert token_accuracy([[1, 2, 9], [3]], [[1, 2], [4, 5]]) == pytest.approx(2 / 5)
    pred = torch.tensor([[1, 2, 0], [3, 9, 9]])
    gold = torch.tensor([[1, 2, 7], [3, 4, 0]])
    mask = torch.tensor([[True, True, False], [True, True, False]])
    assert sequence_accuracy(pred, gold, mask) == 0.5
    assert token_accuracy(pred, gold, mask) == 0.75
    with pytest.raises(ValueError, match="same length"):
        sequence_accuracy([[1]], [])


def test_classification_accuracy_from_labels_and_logits():
    labels = torch.tensor([0, 1, 2, 1])
    assert classification_accuracy([0, 1, 1, 1], labels) == 0.75
    logits = torch.tensor([[5.0, 0, 0], [0, 5, 0], [0, 0, 5], [5, 0, 0]])
    assert classification_accuracy(logits, labels) == 0.75


def test_bleu_with_sacrebleu():
    pytest.importorskip("sacrebleu")
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100)
    assert bleu(["我去了咖啡店然后回家了"], ["我去了咖啡店然后回家了"], lang="zh") == pytest.approx(100)
    two_refs = bleu(["a b c d e"], [["x y z w v", "a b c d e"]])
    assert two_refs == pytest.approx(100)
    assert bleu(["the dog ran"], ["a cat sat on a mat"]) < 10


def test_bleu_signature_names_the_settings():
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps, refs = ["The cat sat on a mat", "a dog"], ["the cat sat on the mat", "the dog ran"]
    score, signature = bleu_with_signature(hyps, refs, lowercase=True)
    direct = sacrebleu.corpus_bleu([h.lower() for h in hyps], [[r.lower() for r in refs]])
    assert score == pytest.approx(direct.score)
    assert bleu(hyps, refs) == pytest.approx(bleu_with_signature(hyps, refs)[0])
    assert (
        "case:lc" in signature and "tok:13a" in signature and f"version:{sacrebleu.__version__}" in signature
    )
    cased, signature = bleu_with_signature(hyps, refs)
    assert "case:mixed" in signature and cased < score  # "The" no longer matches "the"


def _lcs_brute_force(a, b):
    """The longest common subsequence by trying every subsequence of ``a`` (short inputs only)."""
    for k in range(len(a), 0, -1):
        for picked in combinations(a, k):
            it = iter(b)
            if all(x in it for x in picked):  # ``in`` on an iterator consumes it: a subsequence test
                return k
    return 0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from("abcd"), max_size=8), st.lists(st.sampled_from("abcd"), max_size=8))
def test_rouge_l_lcs_matches_brute_force(hyp, ref):
    lcs = _lcs_brute_force(hyp, ref)
    r = rouge_l(hyp, ref)
    if lcs == 0:
        assert r == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    else:
        assert r["precision"] == pytest.approx(lcs / len(hyp)) and r["recall"] == pytest.approx(
            lcs / len(ref)
        )


def test_rouge_l():
    r = rouge_l("the cat sat", "the cat was sitting")
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 4)
    assert r["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert rouge_l("我去了咖啡店", "我去咖啡店")["recall"] == 1.0
    assert rouge_l("", "x")["f1"] == 0.0
    assert rouge_l_corpus(["a b", "c"], ["a b", "d"]) == 0.5


def test_exact_match_and_f1():
    assert exact_match("The coffee shop.", "coffee shop") == 1.0
    assert exact_match("home", ["house", "Home!"]) == 1.0
    assert exact_match("咖啡店。", "咖啡店") == 1.0 and exact_match("书店", "咖啡店") == 0.0
    assert qa_f1("coffee shop downtown", "the coffee shop") == pytest.approx(0.8)
    assert qa_f1("咖啡店", "去咖啡店") == pytest.approx(2 * 1 * 0.75 / 1.75)
    assert qa_scores(["a", "b"], ["a", "c"]) == {"exact_match": 0.5, "f1": 0.5}


def test_alignment_error_rate():
    sure = {(0, 0), (1, 1)}
    assert alignment_error_rate(sure, sure) == 0.0
    assert alignment_error_rate({(0, 1)}, sure) == 1.0
    assert alignment_error_rate({(0, 0)}, sure) == pytest.approx(1 - 2 / 3)
    assert alignment_error_rate({(0, 0), (1, 2)}, sure, possible={(1, 2)}) == pytest.approx(1 - 3 / 4)


def test_aer_of_attention_against_dates_gold():
    pytest.importorskip("babel")
    from attnlab.data.tasks.dates import alignment_links

    e = generate("dates", 1, seed=4)[0]
    gold = alignment_links(e.meta)
    rows = sorted({t for t, _ in gold})
    weights = torch.zeros(len(e.tgt), len(e.src))
    for t, s in gold:
        weights[t, s] = 1.0 + s * 1e-3  # one arg-max inside the right field
    predicted = alignment_from_attention(weights, rows=rows)
    assert predicted <= gold
    aer = alignment_error_rate(predicted, gold)
    assert aer == pytest.approx(1 - 2 * len(predicted) / (len(predicted) + len(gold)))
    # Counting the field links as possible (none sure), a hard alignment inside the fields is perfect.
    assert alignment_error_rate(predicted, set(), possible=gold) == 0.0
    wrong = alignment_from_attention(torch.ones(len(e.tgt), len(e.src)).tril(), rows=rows)
    assert alignment_error_rate(wrong, gold) > aer
