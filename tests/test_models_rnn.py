"""RNN encoder-decoders: attention weights per step, local-p windows, teacher forcing, beam search."""

import pytest
import torch

from attnlab.models import RNNSeq2Seq, RNNSeq2SeqConfig, beam_search


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny(**kw):
    base = dict(src_vocab_size=12, tgt_vocab_size=10, embed_dim=8, hidden_size=16)
    return RNNSeq2SeqConfig(**{**base, **kw})


SRC = torch.randint(4, 12, (3, 6), generator=torch.Generator().manual_seed(0))
TGT = torch.randint(4, 10, (3, 4), generator=torch.Generator().manual_seed(1))
LENGTHS = torch.tensor([6, 4, 2])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("attention", ["none", "bahdanau", "luong", "local-p"])
def test_shapes_and_weights_per_step(cell, attention):
    torch.manual_seed(0)
    model = RNNSeq2Seq(tiny(cell=cell, attention=attention, num_layers=2, bidirectional=cell == "gru"))
    logits, weights = model(SRC, TGT, LENGTHS, need_weights=True)
    assert logits.shape == (3, 4, 10)
    if attention == "none":
        assert weights is None
        return
    assert weights.shape == (3, 4, 6)
    assert torch.all(weights[1, :, 4:] == 0) and torch.all(weights[2, :, 2:] == 0)  # padding
    sums = weights.sum(-1)
    if attention == "local-p":
        assert torch.all(sums <= 1 + 1e-6) and torch.all(sums > 0)  # Gaussian-damped weights
    else:
        torch.testing.assert_close(sums, torch.ones(3, 4))


@pytest.mark.parametrize(
    "score", ["dot", "scaled_dot", "general", "concat", "location", "cosine", "additive"]
)
def test_luong_scores(score):
    model = RNNSeq2Seq(tiny(attention="luong", score=score, max_src_len=6))
    logits, weights = model(SRC, TGT, LENGTHS, need_weights=True)
    assert logits.shape == (3, 4, 10) and weights.shape == (3, 4, 6)
    logits.sum().backward()


def test_local_p_attends_within_the_window():
    torch.manual_seed(0)
    model = RNNSeq2Seq(tiny(attention="local-p", local_window=1))
    src = torch.randint(4, 12, (2, 12))
    _, weights = model(src, TGT[:2], need_weights=True)
    assert ((weights > 0).sum(-1) <= 3).all()  # at most 2D + 1 = 3 positions


def test_teacher_forcing_ratio_and_greedy_decode():
    torch.manual_seed(0)
    model = RNNSeq2Seq(tiny(attention="bahdanau")).eval()
    tf, _ = model(SRC, TGT, LENGTHS)
    same, _ = model(SRC, TGT, LENGTHS, teacher_forcing=1.0)
    torch.testing.assert_close(tf, same)
    gen = torch.Generator().manual_seed(0)
    free, _ = model(SRC, TGT, LENGTHS, teacher_forcing=0.0, generator=gen)
    tokens, weights = model.greedy_decode(SRC, LENGTHS, max_len=4)
    alive = tokens != 3
    assert torch.equal(free.argmax(-1)[:, :3][alive[:, :3]], tokens[:, :3][alive[:, :3]])
    assert weights.shape == (3, tokens.shape[1], 6)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_beam_of_one_is_greedy(cell):
    torch.manual_seed(0)
    model = RNNSeq2Seq(tiny(attention="luong", cell=cell)).eval()
    greedy, _ = model.greedy_decode(SRC, LENGTHS, max_len=5)
    beam, scores = model.beam_search(SRC, LENGTHS, beam_size=1, max_len=5, length_penalty=0.0)
    assert torch.equal(beam[:, : greedy.shape[1]], greedy)
    wide, wide_scores = model.beam_search(SRC, LENGTHS, beam_size=4, max_len=5)
    assert wide.shape[0] == 3 and wide_scores.shape == (3,) and torch.isfinite(wide_scores).all()


def test_beam_search_finds_the_best_sequence_of_a_known_model():
    # A fixed Markov chain over 4 tokens: greedy picks token 1 first (p=0.6) but the best sequence
    # starts with token 2 (0.4 * 1.0 > 0.6 * 0.5).
    table = (
        torch.tensor(
            [
                [0.0, 0.6, 0.4, 0.0],  # from BOS (id 0)
                [0.0, 0.0, 0.5, 0.5],  # after 1: 2 or EOS (id 3)
                [0.0, 0.0, 0.0, 1.0],  # after 2: EOS
                [0.0, 0.0, 0.0, 1.0],
            ]
        )
        .clamp(min=1e-9)
        .log()
    )

    def step(last, state):
        return table[last], state

    tokens, score = beam_search(step, None, batch_size=1, beam_size=2, bos_id=0, eos_id=3, max_len=4,
                                length_penalty=0.0)  # fmt: skip
    assert tokens[0].tolist()[:2] == [2, 3]
    assert score.item() == pytest.approx(torch.tensor(0.4).log().item(), abs=1e-5)
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(step, None, batch_size=1, beam_size=0, bos_id=0, eos_id=3)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"cell": "rnn"}, "cell"),
        ({"attention": "monotonic"}, "attention"),
        ({"score": "mlp"}, "score: unknown alignment function"),
        ({"kind": "rnn"}, "kind"),
    ],
)
def test_config_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        tiny(**kw)
