"""Every model family memorises a tiny fixed batch quickly (a smoke test of the whole training path)."""

import pytest
import torch
import torch.nn.functional as F

from attnlab.models import (
    RNNSeq2Seq,
    RNNSeq2SeqConfig,
    TransformerClassifier,
    TransformerConfig,
    TransformerLM,
    TransformerSeq2Seq,
    VisionTransformer,
)

BOS, EOS, VOCAB = 2, 3, 16
GEN = torch.Generator().manual_seed(0)
SRC = torch.randint(4, VOCAB, (8, 6), generator=GEN)  # copy task: batch 8, length 6
TGT_IN = torch.cat([torch.full((8, 1), BOS), SRC], 1)
TGT_OUT = torch.cat([SRC, torch.full((8, 1), EOS)], 1)
LABELS = torch.randint(0, 3, (8,), generator=GEN)
IMAGES = torch.randn(8, 8, 8, generator=GEN)


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(n)


def fit(model, loss_fn, steps: int, lr: float) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = loss_fn(model)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def copy_loss(model):
    logits, _ = model(SRC, TGT_IN)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), TGT_OUT.reshape(-1))


def tiny(kind, **kw):
    base = dict(kind=kind, vocab_size=VOCAB, d_model=32, num_heads=2, num_layers=1, d_ff=64, max_len=16)
    return TransformerConfig(**{**base, **kw})


RNN_VARIANTS = [
    ("none", "gru", "dot"),
    ("none", "lstm", "dot"),
    ("bahdanau", "gru", "additive"),
    ("bahdanau", "lstm", "additive"),
    ("luong", "gru", "dot"),
    ("luong", "gru", "general"),
    ("luong", "gru", "concat"),
    ("luong", "gru", "location"),
    ("luong", "lstm", "scaled_dot"),
    ("luong", "lstm", "cosine"),
    ("local-p", "gru", "general"),
]


@pytest.mark.parametrize("attention,cell,score", RNN_VARIANTS)
def test_rnn_seq2seq_overfits_copy(attention, cell, score):
    config = RNNSeq2SeqConfig(
        src_vocab_size=VOCAB, tgt_vocab_size=VOCAB, embed_dim=16, hidden_size=32,
        attention=attention, cell=cell, score=score, max_src_len=6,
    )  # fmt: skip
    assert fit(RNNSeq2Seq(config), copy_loss, steps=100, lr=1e-2) < 0.05


@pytest.mark.parametrize("position", ["sinusoidal", "rope", "shaw"])
def test_transformer_seq2seq_overfits_copy(position):
    model = TransformerSeq2Seq(tiny("transformer-seq2seq", position=position))
    assert fit(model, copy_loss, steps=150, lr=3e-3) < 0.1
    model.eval()
    out = model.greedy_decode(SRC, max_len=7)
    assert torch.equal(out, TGT_OUT)
    beam, _ = model.beam_search(SRC, beam_size=3, max_len=7)
    assert torch.equal(beam, TGT_OUT)


@pytest.mark.parametrize("position", ["sinusoidal", "learned", "rope", "alibi", "t5", "shaw", "none"])
def test_lm_overfits_and_generates_the_memorised_text(position):
    # Each row starts with a distinct key token, so the continuation is determined after one token.
    keys = torch.randperm(VOCAB - 4, generator=torch.Generator().manual_seed(1))[:8, None] + 4
    text = torch.cat([keys, SRC], 1)  # (8, 7)
    model = TransformerLM(tiny("transformer-lm", position=position, num_layers=2))

    def loss_fn(m):
        logits, _ = m(text[:, :-1])
        return F.cross_entropy(logits.reshape(-1, VOCAB), text[:, 1:].reshape(-1))

    assert fit(model, loss_fn, steps=150, lr=3e-3) < 0.1
    model.eval()
    assert torch.equal(model.generate(text[:, :1], 6, temperature=0), text)


@pytest.mark.parametrize("pooling", ["cls", "attention", "mean"])
def test_classifier_overfits(pooling):
    model = TransformerClassifier(tiny("transformer-classifier", num_classes=3, pooling=pooling))
    assert fit(model, lambda m: F.cross_entropy(m(SRC)[0], LABELS), steps=80, lr=3e-3) < 0.05


def test_vit_overfits():
    model = VisionTransformer(tiny("vit", num_classes=3, position="learned", image_size=8, patch_size=4))
    assert fit(model, lambda m: F.cross_entropy(m(IMAGES)[0], LABELS), steps=80, lr=3e-3) < 0.05
