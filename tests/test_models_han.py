"""Hierarchical Attention Network: shapes, masks, padding invariance, weights, fitting, and the
documents task's evidence indices."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.data import generate
from attnlab.data.tasks.documents import LEXICON
from attnlab.models import (
    HierarchicalAttentionNetwork,
    create_model,
    load_model,
    pad_documents,
    save_model,
)

DOCS = [
    [[5, 6, 7], [8, 9], [10, 11, 12, 13]],
    [[14, 15]],
    [[16, 17, 18, 19, 5], [6, 7, 8]],
]


def make(hierarchical=True, seed=0, **kw):
    torch.manual_seed(seed)
    return create_model("han", vocab_size=24, embed_dim=8, hidden_size=6, hierarchical=hierarchical, **kw)


@pytest.mark.parametrize("hierarchical", [True, False])
def test_shapes_and_weights_sum_to_one_over_real_tokens(hierarchical):
    model = make(hierarchical)
    tokens = pad_documents(DOCS)  # (3, 3, 5)
    logits, att = model(tokens)
    assert tokens.shape == (3, 3, 5) and logits.shape == (3, 2)
    word, sent = att["word"], att["sentence"]
    assert word.shape == (3, 3, 5) and sent.shape == (3, 3)
    real = tokens != 0
    assert (word[~real] == 0).all()  # padded words and fully padded sentences get no weight
    assert (sent[~real.any(-1)] == 0).all()
    assert torch.allclose(sent.sum(-1), torch.ones(3), atol=1e-6)
    if hierarchical:  # word weights: a distribution within every real sentence
        assert torch.allclose(word.sum(-1)[real.any(-1)], torch.tensor(1.0), atol=1e-6)
    else:  # one distribution over all words of the document, summed per sentence
        assert torch.allclose(word.sum((-1, -2)), torch.ones(3), atol=1e-6)
        assert torch.allclose(word.sum(-1), sent, atol=1e-6)


@pytest.mark.parametrize("hierarchical", [True, False])
def test_padded_document_equals_unpadded(hierarchical):
    model = make(hierarchical)
    for i, doc in enumerate(DOCS):
        alone_logits, alone = model(pad_documents([doc]))
        batch_logits, batch = model(pad_documents(DOCS))
        s, w = alone["word"].shape[1:]
        assert torch.allclose(batch_logits[i], alone_logits[0], atol=1e-6)
        assert torch.allclose(batch["word"][i, :s, :w], alone["word"][0], atol=1e-6)
        assert torch.allclose(batch["sentence"][i, :s], alone["sentence"][0], atol=1e-6)


@pytest.mark.parametrize("hierarchical", [True, False])
def test_fully_padded_sentences_and_documents_give_zeros_never_nan(hierarchical):
    model = make(hierarchical)
    tokens = pad_documents(DOCS)
    tokens = torch.cat([tokens, torch.zeros_like(tokens[:1])])  # an empty document
    tokens[0, 1] = 0  # an empty sentence between two real ones
    logits, att = model(tokens)
    assert torch.isfinite(logits).all() and torch.isfinite(att["word"]).all()
    assert (att["word"][3] == 0).all() and (att["sentence"][3] == 0).all()
    assert (att["word"][0, 1] == 0).all()
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_overfits_a_tiny_batch():
    model = make(True, seed=3)
    g = torch.Generator().manual_seed(0)
    docs = [
        [torch.randint(1, 24, (int(torch.randint(2, 6, (1,), generator=g)),), generator=g).tolist()
         for _ in range(int(torch.randint(1, 4, (1,), generator=g)))]
        for _ in range(8)
    ]  # fmt: skip
    tokens, labels = pad_documents(docs), torch.tensor([0, 1] * 4)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(80):
        loss = torch.nn.functional.cross_entropy(model(tokens)[0], labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model(tokens)[0].argmax(-1) == labels).all()
    assert loss.item() < 0.1


def test_save_load_round_trip(tmp_path):
    model = make(True, num_classes=3)
    save_model(model, tmp_path / "han")
    loaded = load_model(tmp_path / "han")
    assert isinstance(loaded, HierarchicalAttentionNetwork) and loaded.config.num_classes == 3
    tokens = pad_documents(DOCS)
    assert torch.equal(loaded(tokens)[0], model.eval()(tokens)[0])


def test_bad_input_raises_value_errors():
    with pytest.raises(ValueError, match="tokens"):
        make()(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="num_classes"):
        make(num_classes=1)
    with pytest.raises(ValueError, match="docs"):
        pad_documents([[[1, 0, 2]]])


@settings(max_examples=15, deadline=None)
@given(
    lang=st.sampled_from(["en", "zh"]),
    seed=st.integers(0, 10**6),
    lo=st.integers(1, 4),
    extra=st.integers(0, 4),
)
def test_documents_record_the_right_evidence(lang, seed, lo, extra):
    lex = LEXICON[lang]
    sentiment = set(lex["pos"]) | set(lex["neg"])
    examples = generate("documents", 6, seed=seed, lang=lang, n_sentences=(lo, lo + extra))
    for e in examples:
        m = e.meta
        tokens, s, t = m["tokens"], m["evidence_sentence"], m["evidence_token"]
        assert lo <= len(tokens) <= lo + extra and len(m["sentences"]) == len(tokens)
        assert tokens[s][t] == m["keyword"] and m["keyword"] in lex[m["label"]]
        assert e.tgt == ("neg", "pos").index(m["label"])
        # the keyword is the only sentiment word of the document
        hits = [(i, j) for i, sent in enumerate(tokens) for j, w in enumerate(sent) if w in sentiment]
        assert hits == [(s, t)]
        assert e.src[slice(*m["evidence_span"])] == m["keyword"]
        span = m["sentences"][s]
        assert span[0] <= m["evidence_span"][0] < m["evidence_span"][1] <= span[1]
        joined = [e.src[slice(*sp)] for sp in m["sentences"]]
        assert all(lex["joiner"].join(w for w in sent[:-1]) in text for sent, text in zip(tokens, joined))
    assert generate("documents", 3, seed=seed, lang=lang, n_sentences=(lo, lo + extra)) == examples[:3]


@settings(max_examples=15, deadline=None)
@given(
    lang=st.sampled_from(["en", "zh"]),
    seed=st.integers(0, 10**6),
    lo=st.integers(2, 5),
    extra=st.integers(0, 6),
)
def test_marked_documents_label_is_the_marked_sentence_keyword(lang, seed, lo, extra):
    lex = LEXICON[lang]
    polarity = {w: label for label in ("neg", "pos") for w in lex[label]}
    examples = generate("documents", 8, seed=seed, lang=lang, n_sentences=(lo, lo + extra), kind="marked")
    for e in examples:
        m = e.meta
        tokens, s, t = m["tokens"], m["evidence_sentence"], m["evidence_token"]
        assert lo <= len(tokens) <= lo + extra and len(m["sentences"]) == len(tokens)
        # every sentence carries exactly one sentiment keyword, of both polarities in every document
        found = [[w for w in sent if w in polarity] for sent in tokens]
        assert all(len(f) == 1 for f in found)
        assert {polarity[f[0]] for f in found} == {"neg", "pos"}
        assert tokens[s][t] == m["keyword"] and polarity[m["keyword"]] == m["label"]
        assert e.tgt == ("neg", "pos").index(m["label"])
        # one marker in the document, at the start or the end (before the end mark) of the evidence
        hits = [(i, j) for i, sent in enumerate(tokens) for j, w in enumerate(sent) if w in lex["markers"]]
        assert hits == [(s, m["marker_token"])] and m["marker_token"] in (0, len(tokens[s]) - 2)
        assert tokens[s][-1] == lex["end"] and e.src[slice(*m["evidence_span"])] == m["keyword"]
    again = generate("documents", 3, seed=seed, lang=lang, n_sentences=(lo, lo + extra), kind="marked")
    assert again == examples[:3]


def test_marked_documents_polarity_counts_say_nothing_about_the_label():
    # The number of positive sentences is drawn independently of the label: within each count, both
    # labels occur about equally often.
    examples = generate("documents", 4000, seed=1, lang="en", n_sentences=4, kind="marked")
    pos = set(LEXICON["en"]["pos"])
    by_count: dict[int, list[int]] = {}
    for e in examples:
        k = sum(w in pos for sent in e.meta["tokens"] for w in sent)
        by_count.setdefault(k, []).append(e.tgt)
    assert sorted(by_count) == [1, 2, 3]
    for labels in by_count.values():
        assert abs(sum(labels) / len(labels) - 0.5) < 0.05


def test_documents_bad_kind_and_too_few_sentences_raise():
    with pytest.raises(ValueError, match="kind"):
        generate("documents", 2, kind="other")
    with pytest.raises(ValueError, match="n_sentences"):
        generate("documents", 2, kind="marked", n_sentences=(1, 3))
