"""Cloze questions from news articles and the attention-sum reader that answers them (``qa-cloze``).

Hermann et al. (2015, "Teaching Machines to Read and Comprehend") turned news into reading-comprehension
data: a summary sentence with one entity replaced by ``@placeholder`` is the question, the article is the
context, the entity is the answer; entities are anonymised (``@entity0``, ``@entity1``, ... with a fresh
random numbering per question) so that a model must read the context instead of recalling facts.
Kadlec et al. (2016, "Text Understanding with the Attention Sum Reader Network") answer by pointing:
attention from the question over the article's words, ``a_i = softmax_i(q · d_i)``, and the probability
of an entity is the sum of the attention on its occurrences, ``P(e) = Σ_{i: w_i = e} a_i``.

Here the question is the article's title (we have no summary bullets). An entity is a capitalised word
(not a capitalised function word such as "The") of the title that is a candidate of the article;
every such word gives one question. Candidates are the distinct capitalised words of the first ``window``
words of the article that occur at least once inside a sentence (:func:`candidates`). Baselines (Hermann et al., Table 4): *frequency* picks the
candidate occurring most often in the window, *exclusive frequency* the most frequent one that is not
in the question; ties go to the earlier first occurrence.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnlab.attention import attend
from attnlab.data import Example, WordTokenizer
from attnlab.data.batching import pad_batch
from attnlab.data.tokenizers import SPECIALS

PLACEHOLDER = "@placeholder"
# Capitalised words that are not names (sentence starts, title case).
FUNCTION_WORDS = frozenset(
    [
        "A",
        "About",
        "After",
        "Against",
        "All",
        "Also",
        "An",
        "And",
        "Are",
        "As",
        "At",
        "Be",
        "Before",
        "But",
        "By",
        "Can",
        "Could",
        "Did",
        "Do",
        "Does",
        "For",
        "From",
        "Has",
        "Have",
        "He",
        "Her",
        "His",
        "How",
        "I",
        "If",
        "In",
        "Into",
        "Is",
        "It",
        "Its",
        "More",
        "Most",
        "Mr",
        "Mrs",
        "Ms",
        "My",
        "New",
        "No",
        "Not",
        "Now",
        "Of",
        "On",
        "One",
        "Or",
        "Our",
        "Out",
        "Over",
        "Says",
        "She",
        "So",
        "Than",
        "That",
        "The",
        "Their",
        "There",
        "These",
        "They",
        "This",
        "Those",
        "To",
        "Up",
        "Was",
        "We",
        "What",
        "When",
        "Where",
        "Which",
        "Who",
        "Why",
        "Will",
        "With",
        "Would",
        "You",
        "Your",
    ]
)

_SENTENCE_START = frozenset('.!?":-')


def is_entity(token: str) -> bool:
    """A capitalised word of at least two characters that is not a capitalised function word."""
    return len(token) >= 2 and token[0].isupper() and token[0].isalpha() and token not in FUNCTION_WORDS


def candidates(doc: list[str]) -> list[str]:
    """Distinct entity words of ``doc`` in order of first occurrence; a word must occur at least once
    inside a sentence (not first, not after ``. ! ? " : -``), so sentence-initial capitals ("Nearly")
    are not taken for names."""
    inside = {t for i, t in enumerate(doc) if i > 0 and doc[i - 1] not in _SENTENCE_START and is_entity(t)}
    return [t for t in dict.fromkeys(doc) if t in inside]


@dataclass
class Cloze:
    """One question. ``doc``/``question`` are anonymised tokens; ``names`` maps ``@entityK`` back."""

    doc: list[str]
    question: list[str]
    answer: str
    candidates: list[str]
    names: dict[str, str]


def make_clozes(examples: list[Example], window: int, n_entities: int, seed: int) -> list[Cloze]:
    """Every cloze question of ``examples`` (``Example(src=article, tgt=title)``); articles whose
    window has more than ``n_entities`` candidates are skipped."""
    tok = WordTokenizer([])
    rng = random.Random(f"attnlab/cloze/{seed}")
    out = []
    for ex in examples:
        doc = tok.tokenize(ex.src)[:window]
        cands = candidates(doc)
        if len(cands) > n_entities:
            continue
        title = tok.tokenize(ex.tgt)
        for answer in dict.fromkeys(t for t in title if is_entity(t) and t in cands):
            ids = rng.sample(range(n_entities), len(cands))  # a fresh anonymisation per question
            code = {c: f"@entity{k}" for c, k in zip(cands, ids)}
            question = [PLACEHOLDER if t == answer else code.get(t, t) for t in title]
            out.append(Cloze([code.get(t, t) for t in doc], question, code[answer], [code[c] for c in cands],
                             {v: k for k, v in code.items()}))  # fmt: skip
    return out


def frequency_answer(cloze: Cloze, exclusive: bool = False) -> str:
    """The most frequent candidate in the document (``exclusive``: not in the question); ties go to
    the earlier first occurrence."""
    counts = Counter(t for t in cloze.doc if t in set(cloze.candidates))
    pool = [c for c in cloze.candidates if not (exclusive and c in cloze.question)] or cloze.candidates
    return max(pool, key=lambda c: (counts[c], -cloze.doc.index(c)))


def vocabulary(clozes: list[Cloze], n_entities: int, size: int) -> WordTokenizer:
    """Words of the training questions and documents (most frequent first, at most ``size`` ids in all);
    the placeholder and the entity markers are special tokens."""
    specials = [*SPECIALS, PLACEHOLDER, *(f"@entity{k}" for k in range(n_entities))]
    counts = Counter(t for c in clozes for t in (*c.doc, *c.question) if t not in specials)
    ranked = sorted((t for t, n in counts.items() if n >= 2), key=lambda t: (-counts[t], t))
    return WordTokenizer(ranked[: max(0, size - len(specials))], specials)


class AttentionSumReader(nn.Module):
    """Kadlec et al. (2016): bi-GRU states of the document, the question as the last states of a bi-GRU,
    attention ``softmax(q · d_i)`` over the candidate positions only (through :func:`attend`)."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.doc_rnn = nn.GRU(embed_dim, hidden_size, batch_first=True, bidirectional=True)
        self.question_rnn = nn.GRU(embed_dim, hidden_size, batch_first=True, bidirectional=True)

    def _run(self, rnn: nn.GRU, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        packed = pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
        out, final = rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])  # (B, L, 2H)
        return out, torch.cat([final[0], final[1]], dim=-1)  # (B, 2H): last forward and backward states

    def forward(
        self, doc: Tensor, doc_lengths: Tensor, question: Tensor, q_lengths: Tensor, candidates: Tensor
    ):
        """``candidates (B, Ld)`` bool -> attention ``(B, Ld)`` over the document (zero off candidates)."""
        states, _ = self._run(self.doc_rnn, doc, doc_lengths)
        _, q = self._run(self.question_rnn, question, q_lengths)
        keys = states[:, None]  # (B, 1, Ld, 2H)
        _, weights = attend(
            q[:, None, None], keys, keys, mask=candidates[:, None, None], scale=1.0, return_weights=True
        )
        return weights[:, 0, 0]  # (B, 1, 1, Ld) -> (B, Ld)


def encode(clozes: list[Cloze], tok: WordTokenizer) -> list[tuple[list[int], list[int], int]]:
    ids = lambda tokens: [tok.index.get(t, tok.unk_id) for t in tokens]  # noqa: E731
    return [(ids(c.doc), ids(c.question), tok.index[c.answer]) for c in clozes]


def batch(items: list[tuple[list[int], list[int], int]], first_entity: int, n_entities: int) -> tuple:
    """``(doc, doc_lengths, question, q_lengths, candidates, answer)``; candidates are the entity ids."""
    doc, question = pad_batch([d for d, _, _ in items]), pad_batch([q for _, q, _ in items])
    cand = (doc.ids >= first_entity) & (doc.ids < first_entity + n_entities)
    answer = torch.tensor([a for _, _, a in items])
    return doc.ids, doc.lengths, question.ids, question.lengths, cand, answer


def answer_probabilities(weights: Tensor, doc: Tensor, first_entity: int, n_entities: int) -> Tensor:
    """``P(e) = Σ_{i: doc_i = e} a_i`` for every entity marker: ``(B, n_entities)``."""
    slot = (doc - first_entity).clamp(0, n_entities - 1)
    on = (doc >= first_entity) & (doc < first_entity + n_entities)
    return torch.zeros(doc.shape[0], n_entities).scatter_add_(1, slot, weights * on)


def reader_loss(model: AttentionSumReader, b: tuple) -> Tensor:
    doc, dl, q, ql, cand, answer = b
    weights = model(doc, dl, q, ql, cand)
    p = (weights * (doc == answer[:, None])).sum(-1)  # the attention on the answer's occurrences
    return -torch.log(p.clamp_min(1e-9)).mean()
