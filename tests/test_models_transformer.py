"""Transformer models: KV-cache decoding equals full decoding, generation, attentions, config errors."""

import pytest
import torch

from attnlab.attention import masks
from attnlab.models import (
    AttentionConfig,
    TransformerClassifier,
    TransformerConfig,
    TransformerEncoder,
    TransformerLM,
    TransformerSeq2Seq,
    VisionTransformer,
    create_model,
    filter_logits,
    list_models,
    sample_next,
)


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny(kind, **kw):
    base = dict(kind=kind, vocab_size=20, d_model=32, num_heads=2, num_layers=2, d_ff=64, max_len=16)
    return TransformerConfig(**{**base, **kw})


CACHEABLE = ["sinusoidal", "learned", "rope", "alibi", "t5", "shaw", "none"]


@pytest.mark.parametrize("position", CACHEABLE)
def test_lm_kv_cache_logits_equal_full_forward(position):
    torch.manual_seed(0)
    lm = TransformerLM(
        tiny("transformer-lm", position=position, attention=AttentionConfig(num_kv_heads=1))
    ).eval()
    tokens = torch.randint(4, 20, (2, 9))
    full, _ = lm(tokens)
    cache = lm.new_cache()
    steps = [lm(tokens[:, :4], cache=cache)[0]]  # a prompt, then one token at a time
    steps += [lm(tokens[:, t : t + 1], cache=cache)[0] for t in range(4, 9)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=0)
    assert cache[0].self_attn.length == 9


@pytest.mark.parametrize("position", ["sinusoidal", "rope", "t5", "shaw"])
def test_seq2seq_decoder_cache_equals_full_decoding(position):
    torch.manual_seed(0)
    model = TransformerSeq2Seq(tiny("transformer-seq2seq", position=position, tgt_vocab_size=15)).eval()
    src, tgt = torch.randint(4, 20, (2, 6)), torch.randint(4, 15, (2, 5))
    lengths = torch.tensor([6, 3])
    full, att = model(src, tgt, lengths, need_weights=True)
    assert full.shape == (2, 5, 15)
    memory, _ = model.encoder(src, lengths)
    cache = model.decoder.new_cache()
    steps = [model.decoder(tgt[:, t : t + 1], memory, lengths, cache=cache)[0] for t in range(5)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=0)
    assert [w.shape for w in att["cross"]] == [(2, 2, 5, 6)] * 2
    assert torch.all(att["cross"][0][1, :, :, 3:] == 0)  # padded source keys get no weight
    assert set(att) == {"encoder", "decoder", "cross"}


def test_greedy_decode_matches_argmax_of_full_forward():
    torch.manual_seed(0)
    model = TransformerSeq2Seq(tiny("transformer-seq2seq")).eval()
    src = torch.randint(4, 20, (3, 5))
    out = model.greedy_decode(src, max_len=6)
    tgt_in = torch.cat([torch.full((3, 1), 2), out[:, :-1]], 1)
    logits, _ = model(src, tgt_in)
    alive = torch.cat([torch.ones(3, 1, dtype=torch.bool), (out != 3).cumprod(1)[:, :-1].bool()], 1)
    assert torch.equal(logits.argmax(-1)[alive], out[alive])
    tokens, scores = model.beam_search(src, beam_size=1, max_len=6, length_penalty=0.0)
    assert torch.equal(tokens[alive], out[alive]) and scores.shape == (3,)


def test_generation_is_deterministic_and_respects_filters():
    torch.manual_seed(0)
    lm = TransformerLM(tiny("transformer-lm", position="rope")).eval()
    prompt = torch.randint(4, 20, (2, 3))
    draw = lambda seed, **kw: lm.generate(  # noqa: E731
        prompt, 6, generator=torch.Generator().manual_seed(seed), **kw
    )
    assert torch.equal(draw(1, top_k=5, top_p=0.9), draw(1, top_k=5, top_p=0.9))
    greedy = draw(0, temperature=0)
    assert greedy.shape == (2, 9) and torch.equal(greedy[:, :3], prompt)
    assert torch.equal(draw(0, top_k=1), greedy)  # top-1 sampling is greedy
    full, _ = lm(greedy[:, :-1])
    assert torch.equal(full[:, 2:].argmax(-1), greedy[:, 3:])


def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.7)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.1)).tolist() == [[False, True, True, True]]
    assert sample_next(logits, temperature=0).item() == 0
    for kw, match in (({"top_k": 0}, "top_k"), ({"top_p": 1.5}, "top_p")):
        with pytest.raises(ValueError, match=match):
            filter_logits(logits, **kw)
    with pytest.raises(ValueError, match="temperature"):
        sample_next(logits, temperature=-1)


def test_per_layer_masks_and_backends():
    torch.manual_seed(0)
    cfg = tiny(
        "transformer-lm",
        attention=AttentionConfig(
            attention_mask=[{"name": "sliding_window", "window": 1}, None], backend=["chunked", "reference"]
        ),
        position="alibi",
    )
    lm = TransformerLM(cfg).eval()
    tokens = torch.randint(4, 20, (1, 6))
    _, att = lm(tokens, need_weights=True)
    w0, w1 = att["decoder"]
    assert torch.all(w0[0, :, 4, :3] == 0) and torch.all(w0[0, :, 4, 3:5] > 0)  # window 1, causal
    assert torch.all(w1[0, :, 4, :5] > 0)
    assert lm.stack.layers[0].self_attn.backend == "chunked"
    cache = lm.new_cache()
    steps = [lm(tokens[:, t : t + 1], cache=cache)[0] for t in range(6)]
    torch.testing.assert_close(torch.cat(steps, 1), lm(tokens)[0], atol=1e-5, rtol=0)
    extra, _ = lm(tokens, mask=masks.sliding_window(0), need_weights=False)
    assert extra.shape == (1, 6, 20)


def test_encoder_classifier_and_vit_attentions():
    torch.manual_seed(0)
    tokens, lengths = torch.randint(4, 20, (2, 7)), torch.tensor([7, 4])
    enc = TransformerEncoder(tiny("transformer-encoder", position="t5"))
    h, att = enc(tokens, lengths, need_weights=True)
    assert h.shape == (2, 7, 32) and torch.all(att["encoder"][1][1, :, :, 4:] == 0)
    for pooling in ("cls", "attention", "mean"):
        clf = TransformerClassifier(tiny("transformer-classifier", pooling=pooling, num_classes=3))
        logits, att = clf(tokens, lengths, need_weights=True)
        assert logits.shape == (2, 3)
        extra = 1 if pooling == "cls" else 0
        assert att["encoder"][0].shape == (2, 2, 7 + extra, 7 + extra)
        assert ("pooling" in att) == (pooling == "attention")
    vit = VisionTransformer(tiny("vit", image_size=28, patch_size=7, num_classes=10, position="learned"))
    logits, att = vit(torch.randn(2, 1, 28, 28), need_weights=True)
    assert logits.shape == (2, 10) and att["encoder"][0].shape == (2, 2, 17, 17)
    with pytest.raises(ValueError, match="images: expected"):
        vit(torch.randn(2, 3, 28, 28))


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"position": "absolute"}, "position: unknown scheme"),
        ({"d_model": 30, "num_heads": 4}, "d_model: 30 is not divisible by num_heads=4"),
        ({"kind": "gpt"}, "kind: unknown Transformer kind"),
        ({"pooling": "max"}, "pooling"),
        ({"kind": "vit", "image_size": 8, "patch_size": 3}, "patch_size"),
    ],
)
def test_config_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        tiny(kw.pop("kind", "transformer-lm"), **kw)


def test_runtime_errors_name_the_argument():
    lm = TransformerLM(tiny("transformer-lm", position="learned", max_len=8))
    with pytest.raises(ValueError, match="max_len=8"):
        lm(torch.randint(4, 20, (1, 9)))
    with pytest.raises(ValueError, match="max_new_tokens"):
        lm.generate(torch.randint(4, 20, (1, 4)), 5)
    with pytest.raises(ValueError, match="attention_mask"):
        TransformerLM(tiny("transformer-lm", attention=AttentionConfig(attention_mask={"name": "nope"})))
    with pytest.raises(ValueError, match="backend: expected one entry per layer"):
        TransformerLM(tiny("transformer-lm", attention=AttentionConfig(backend=["sdpa"])))


def test_registry_builds_every_model():
    names = list_models()
    assert {"transformer-lm", "transformer-seq2seq", "vit", "rnn-seq2seq"} <= set(names)
    lm = create_model("transformer-lm", d_model=32, num_heads=2)
    assert isinstance(lm, TransformerLM)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("bert")
    with pytest.raises(ValueError, match="unknown fields"):
        create_model("transformer-lm", hidden=3)
