"""Tokenizers: round trips for Chinese, English and mixed text; vocabularies; JSON save/load."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attnlab.data import CharTokenizer, WordTokenizer, load_tokenizer
from attnlab.data.tokenizers import SPECIALS, tokenizer_from_dict

ALPHABET = "abcXYZ019 .,!?'-()$我去了咖啡店回家。，？「」\n\tÄé…"
texts = st.text(alphabet=ALPHABET, max_size=40)
CANONICAL = [
    "Yesterday I went to a coffee shop and ordered a latte.",
    "我昨天去了一家咖啡店，点了一杯拿铁。然后我从咖啡店出来，回家了。",
    "Hello, world! 我去了咖啡店。",
    "I don't like well-known (big) things: 3.14 and $5.",
]


@given(texts)
def test_char_round_trip_any_text(text):
    tok = CharTokenizer.fit([text])
    ids = tok.encode(text, add_bos=True, add_eos=True)
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert tok.decode(ids) == text
    assert tok.decode(ids, skip_special=False) == "<bos>" + text + "<eos>"


@given(texts)
def test_word_tokens_round_trip(text):
    tok = WordTokenizer.fit([text])
    tokens = tok.tokenize(text)
    assert tok.tokenize(tok.decode(tok.encode(text))) == tokens
    assert all(not t.isspace() for t in tokens)


@given(texts)
def test_offsets_point_at_tokens(text):
    for tok in (CharTokenizer.fit([text]), WordTokenizer.fit([text])):
        for token, start, end in tok.tokenize_with_offsets(text):
            assert text[start:end] == token


@pytest.mark.parametrize("text", CANONICAL)
def test_word_decode_restores_normally_spaced_text(text):
    tok = WordTokenizer.fit(CANONICAL)
    assert tok.decode(tok.encode(text)) == text


def test_word_tokenizer_splits_chinese_by_character_and_keeps_english_words():
    tok = WordTokenizer.fit(CANONICAL)
    assert tok.tokenize("我去了咖啡店。") == ["我", "去", "了", "咖", "啡", "店", "。"]
    assert tok.tokenize("I don't know, well-known 3.14") == ["I", "don't", "know", ",", "well-known", "3.14"]


def test_an_ellipsis_is_one_token():
    """The course writes "拿铁……然后": "……" (and "…", "...") must stay one token, not two unknowns."""
    text = "点了一杯拿铁……然后... ok…"
    assert CharTokenizer.fit([text]).tokenize(text) == [*"点了一杯拿铁", "……", *"然后", "...", *" ok", "…"]
    assert WordTokenizer.fit([text]).tokenize(text)[5:] == ["铁", "……", "然", "后", "...", "ok", "…"]


def test_vocabulary_order_specials_unknown_and_limits():
    tok = CharTokenizer.fit(["aab", "ba c"], extra_specials=["<sep>"])
    assert tok.tokens[:5] == [*SPECIALS, "<sep>"]
    assert tok.tokens[5:] == ["a", "b", " ", "c"]  # by frequency, ties by text
    assert tok.encode("a<sep>z") == [tok.index["a"], tok.index["<sep>"], tok.unk_id]
    assert tok.decode([tok.index["a"], tok.pad_id, tok.eos_id, tok.index["b"]]) == "a"
    small = CharTokenizer.fit(["aab", "ba c"], max_size=6)
    assert len(small) == 6 and small.tokens[4:] == ["a", "b"]
    assert CharTokenizer.fit(["aab"], min_freq=2).tokens[4:] == ["a"]
    with pytest.raises(ValueError, match="min_freq"):
        CharTokenizer.fit(["a"], min_freq=0)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([999])


@pytest.mark.parametrize("cls", [CharTokenizer, WordTokenizer])
def test_save_load_json(tmp_path, cls):
    tok = cls.fit(CANONICAL, extra_specials=["<sep>"])
    path = tmp_path / "tok.json"
    tok.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["type"] == tok.kind and "咖" in data["tokens"]
    again = load_tokenizer(path)
    assert type(again) is cls and again == tok
    for text in CANONICAL:
        assert again.encode(text) == tok.encode(text)
    with pytest.raises(ValueError, match="type"):
        tokenizer_from_dict({**data, "type": "bpe"})
    with pytest.raises(ValueError, match="format"):
        tokenizer_from_dict({"tokens": []})
