"""Metrics: sequence/token/classification accuracy, BLEU (sacrebleu), ROUGE-L, QA exact match and F1,
and alignment error rate against the gold alignments the tasks export.

Sequence inputs may be tensors ``(B, L)`` (with an optional bool ``mask``, True where a position counts)
or Python lists of sequences/strings.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

import torch

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)
_PUNCT = set(string.punctuation) | set("，。！？；：、“”‘’（）《》【】…—·「」『』")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _check_pairs(preds: Sequence, golds: Sequence) -> None:
    if len(preds) != len(golds):
        raise ValueError(f"preds and golds must have the same length, got {len(preds)} and {len(golds)}")
    if len(golds) == 0:
        raise ValueError("preds and golds must not be empty")


def sequence_accuracy(preds, golds, mask: torch.Tensor | None = None) -> float:
    """Fraction of sequences predicted exactly (every counted position right)."""
    if isinstance(golds, torch.Tensor):
        right = preds == golds  # (B, L)
        if mask is not None:
            right = right | ~mask.bool()
        return right.all(dim=-1).float().mean().item()
    _check_pairs(preds, golds)
    return sum(list(p) == list(g) if not isinstance(g, str) else p == g for p, g in zip(preds, golds)) / len(
        golds
    )


def token_accuracy(preds, golds, mask: torch.Tensor | None = None) -> float:
    """Fraction of tokens right. For lists, position ``i`` of each pair is compared and every missing or
    extra predicted token counts as an error (denominator ``max(len(pred), len(gold))`` per pair)."""
    if isinstance(golds, torch.Tensor):
        right = preds == golds
        if mask is not None:
            m = mask.bool()
            return (right & m).sum().item() / max(int(m.sum()), 1)
        return right.float().mean().item()
    _check_pairs(preds, golds)
    correct = sum(sum(a == b for a, b in zip(p, g)) for p, g in zip(preds, golds))
    total = sum(max(len(p), len(g)) for p, g in zip(preds, golds))
    return correct / total if total else 1.0


def classification_accuracy(preds, labels) -> float:
    """Fraction of labels right; ``preds`` may be labels or logits/probabilities ``(N, C)``."""
    preds, labels = torch.as_tensor(preds), torch.as_tensor(labels)
    if preds.dim() == labels.dim() + 1:
        preds = preds.argmax(dim=-1)
    if preds.shape != labels.shape:
        raise ValueError(f"preds shape {tuple(preds.shape)} does not match labels {tuple(labels.shape)}")
    if labels.numel() == 0:
        raise ValueError("labels must not be empty")
    return (preds == labels).float().mean().item()


def bleu(hyps: Sequence[str], refs: Sequence[str] | Sequence[Sequence[str]], lang: str = "en") -> float:
    """Corpus BLEU (0-100) with sacrebleu; ``refs`` is one reference per hypothesis or a list of them.
    ``lang="zh"`` uses sacrebleu's Chinese tokenizer, anything else its default ``13a``."""
    return bleu_with_signature(hyps, refs, lang=lang)[0]


def bleu_with_signature(
    hyps: Sequence[str],
    refs: Sequence[str] | Sequence[Sequence[str]],
    lang: str = "en",
    lowercase: bool = False,
) -> tuple[float, str]:
    """``(corpus BLEU 0-100, sacreBLEU signature)``: the signature (e.g. ``nrefs:1|case:mixed|eff:no|tok:13a|
    smooth:exp|version:2.6.0``) names every setting that changes the number, as Post (2018) asks scores
    to be reported. ``lowercase`` scores case-insensitively (``case:lc``)."""
    try:
        import sacrebleu
    except ImportError as err:
        raise ImportError("BLEU needs sacrebleu. Install it with:  pip install sacrebleu") from err
    _check_pairs(hyps, refs)
    per_hyp = [[r] if isinstance(r, str) else list(r) for r in refs]
    n_refs = max(len(r) for r in per_hyp)
    # sacrebleu wants one stream per reference index; pad missing ones with None.
    streams = [[r[i] if i < len(r) else None for r in per_hyp] for i in range(n_refs)]
    metric = sacrebleu.BLEU(tokenize="zh" if lang == "zh" else "13a", lowercase=lowercase)
    score = metric.corpus_score(list(hyps), streams)
    return score.score, str(metric.get_signature())


def text_tokens(text: str) -> list[str]:
    """Lower-cased words for Latin script and single characters for Chinese (used by ROUGE-L and F1)."""
    return _TOKEN.findall(text.lower())


def _lcs(a: Sequence, b: Sequence) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(hyp: str | Sequence[str], ref: str | Sequence[str]) -> dict[str, float]:
    """ROUGE-L (Lin, 2004): precision, recall and F1 of the longest common subsequence of tokens.
    Strings are split with :func:`text_tokens`; token lists are used as given."""
    h = text_tokens(hyp) if isinstance(hyp, str) else list(hyp)
    r = text_tokens(ref) if isinstance(ref, str) else list(ref)
    lcs = _lcs(h, r)
    if lcs == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    p, rec = lcs / len(h), lcs / len(r)
    return {"precision": p, "recall": rec, "f1": 2 * p * rec / (p + rec)}


def rouge_l_corpus(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Mean ROUGE-L F1 over pairs."""
    _check_pairs(hyps, refs)
    return sum(rouge_l(h, r)["f1"] for h, r in zip(hyps, refs)) / len(refs)


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation: lower case, no punctuation (ASCII and Chinese), no English articles,
    single spaces."""
    text = "".join(c for c in text.lower() if c not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _golds(gold: str | Iterable[str]) -> list[str]:
    out = [gold] if isinstance(gold, str) else list(gold)
    if not out:
        raise ValueError("gold must be a string or a non-empty list of strings")
    return out


def exact_match(pred: str, gold: str | Iterable[str]) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer, else 0.0."""
    return float(any(normalize_answer(pred) == normalize_answer(g) for g in _golds(gold)))


def qa_f1(pred: str, gold: str | Iterable[str]) -> float:
    """Token-overlap F1 (SQuAD), best over gold answers; Chinese is compared character by character."""
    best = 0.0
    p = text_tokens(normalize_answer(pred))
    for g in _golds(gold):
        t = text_tokens(normalize_answer(g))
        if not p or not t:
            best = max(best, float(p == t))
            continue
        common = sum((Counter(p) & Counter(t)).values())
        if common:
            precision, recall = common / len(p), common / len(t)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def qa_scores(preds: Sequence[str], golds: Sequence) -> dict[str, float]:
    """Mean exact match and F1 over a set of questions."""
    _check_pairs(preds, golds)
    n = len(golds)
    return {
        "exact_match": sum(exact_match(p, g) for p, g in zip(preds, golds)) / n,
        "f1": sum(qa_f1(p, g) for p, g in zip(preds, golds)) / n,
    }


def alignment_error_rate(
    predicted: Iterable[tuple[int, int]],
    sure: Iterable[tuple[int, int]],
    possible: Iterable[tuple[int, int]] | None = None,
) -> float:
    """AER (Och & Ney, 2003) = 1 - (|A∩S| + |A∩P|) / (|A| + |S|), links as (target, source) pairs.

    ``possible`` defaults to ``sure`` (then AER = 1 - F1 of the links); sure links always count as possible.
    """
    a, s = set(predicted), set(sure)
    p = s | set(possible or ())
    if not a and not s:
        return 0.0
    return 1.0 - (len(a & s) + len(a & p)) / (len(a) + len(s))


def alignment_from_attention(
    weights: torch.Tensor, rows: Iterable[int] | None = None
) -> set[tuple[int, int]]:
    """Hard alignment from attention weights ``(L_tgt, L_src)``: each target row links to its arg-max
    source position. ``rows`` restricts to some target positions (e.g. those with gold links)."""
    if weights.dim() != 2:
        raise ValueError(f"weights must be (L_tgt, L_src), got shape {tuple(weights.shape)}")
    best = weights.argmax(dim=-1).tolist()
    chosen = range(len(best)) if rows is None else rows
    return {(t, best[t]) for t in chosen}
