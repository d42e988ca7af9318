"""Faithfulness checks (Jain & Wallace 2019; Wiegreffe & Pinter 2019) against plain oracles."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from attnlab.attention import masks
from attnlab.interpret import (
    Explainee,
    attention_importance,
    attention_rollout,
    explain_classifier,
    explain_seq2seq,
    gradient_importance,
    importance_correlation,
    jsd,
    kendall_tau,
    leave_one_out,
    override_attention,
    permutation_test,
    permuted_weights,
    rollout_importance,
    tvd,
    uniform_test,
    uniform_weights,
)
from attnlab.layers import MultiHeadAttention
from attnlab.models import create_model

VOCAB = 12


def classifier(seed: int = 0, dtype=torch.float32, d_model: int = 8, layers: int = 1):
    torch.manual_seed(seed)
    model = create_model(
        "transformer-classifier", vocab_size=VOCAB, d_model=d_model, num_heads=2, num_layers=layers,
        max_len=16, num_classes=3, pooling="attention", position="sinusoidal",
    )  # fmt: skip
    return model.to(dtype).eval()


def batch(seed: int = 0, b: int = 3, width: int = 7, lengths=(7, 5, 3)):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (b, width), generator=g)
    lengths = torch.tensor(lengths)
    ids[torch.arange(width)[None] >= lengths[:, None]] = 0
    return ids, lengths


# -- Kendall tau ------------------------------------------------------------------------------------
def test_kendall_tau_analytic_cases_and_errors():
    a = [0.1, 0.5, 0.2, 0.9, 0.3]
    assert kendall_tau(a, a) == pytest.approx(1.0)
    assert kendall_tau(a, [-x for x in a]) == pytest.approx(-1.0)
    # one discordant pair out of three: (2 - 1) / 3
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="a, b"):
        kendall_tau([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2"):
        kendall_tau([1], [1])
    with pytest.raises(ValueError, match="finite"):
        kendall_tau([1, float("nan")], [1, 2])


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=25))
def test_kendall_tau_matches_scipy_with_ties(pairs):
    scipy_stats = pytest.importorskip("scipy.stats")
    a, b = zip(*pairs)
    expected = scipy_stats.kendalltau(a, b).statistic
    got = kendall_tau(a, b)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)


def test_importance_correlation_uses_only_real_tokens():
    a = torch.tensor([[1.0, 2.0, 3.0, 9.0], [3.0, 2.0, 1.0, 0.0]])
    b = torch.tensor([[1.0, 2.0, 3.0, -9.0], [1.0, 2.0, 3.0, 5.0]])
    taus = importance_correlation(a, b, torch.tensor([3, 3]))
    torch.testing.assert_close(taus, torch.tensor([1.0, -1.0], dtype=taus.dtype))


# -- replacement weights ---------------------------------------------------------------------------
@given(st.integers(0, 10_000), st.integers(1, 9))
def test_permutation_stays_on_visible_keys(seed, width):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(3, 4, width, generator=g)
    visible = torch.rand(3, 4, width, generator=g) < 0.6
    w = w * visible
    out = permuted_weights(torch.Generator().manual_seed(seed))(w, visible)
    assert (out[~visible] == 0).all()  # never permuted into padding / masked keys
    for row_w, row_o, row_v in zip(w.reshape(-1, width), out.reshape(-1, width), visible.reshape(-1, width)):
        torch.testing.assert_close(row_o[row_v].sort().values, row_w[row_v].sort().values, rtol=0, atol=0)


def test_uniform_weights_exact_and_zero_for_empty_rows():
    visible = torch.tensor([[True, False, True, True], [False] * 4])
    out = uniform_weights(torch.rand(2, 4), visible)
    assert torch.equal(out, torch.tensor([[1 / 3, 0, 1 / 3, 1 / 3], [0.0] * 4]))


def test_multihead_uniform_override_over_padding_and_causal_mask():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, num_kv_heads=1).eval()
    x = torch.randn(2, 5, 8)
    lengths = torch.tensor([5, 3])
    mask = masks.padding(lengths) & masks.causal()
    visible = mask.materialize(2, 2, 5, 5).expand(2, 2, 5, 5)
    with override_attention(mha, uniform_weights):
        out, w = mha(x, mask=mask, need_weights=True)
    expected_w = visible.double() / visible.sum(-1, keepdim=True).clamp_min(1)
    torch.testing.assert_close(w.double(), expected_w, rtol=0, atol=1e-7)
    # oracle: the mean of the visible values, through the output projection
    v = mha.v_proj(x)[:, None]  # (B, 1, L, head_dim): one kv head shared by both query heads
    ctx = (expected_w.float() @ v).transpose(1, 2).reshape(2, 5, 8)
    torch.testing.assert_close(out, mha.out_proj(ctx), rtol=1e-5, atol=1e-6)
    assert mha.weights_override is None  # restored


def test_multihead_permutation_override_never_reaches_padding():
    torch.manual_seed(1)
    mha = MultiHeadAttention(8, 2).eval()
    x = torch.randn(2, 6, 8)
    mask = masks.padding(torch.tensor([6, 2]))
    with override_attention(mha, permuted_weights(torch.Generator().manual_seed(0))):
        _, w = mha(x, mask=mask, need_weights=True)
    assert (w[1, :, :, 2:] == 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 6))


@pytest.mark.parametrize("kind", ["bahdanau", "luong", "local-p"])
def test_rnn_seq2seq_uniform_override(kind):
    torch.manual_seed(0)
    model = create_model(
        "rnn-seq2seq", src_vocab_size=VOCAB, tgt_vocab_size=VOCAB, embed_dim=8, hidden_size=8,
        attention=kind, max_src_len=16,
    ).eval()  # fmt: skip
    src, lengths = batch(width=6, lengths=(6, 4, 2))
    tgt = torch.randint(1, VOCAB, (3, 4))
    with override_attention(model, uniform_weights):
        _, w = model(src, tgt, lengths, need_weights=True)
    real = torch.arange(6)[None] < lengths[:, None]
    if kind != "local-p":  # local-p also hides keys outside its window
        torch.testing.assert_close(w, (real.float() / lengths[:, None])[:, None].expand(3, 4, 6))
    assert (w[~real[:, None].expand(3, 4, 6)] == 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 4))
    assert model.weights_override is None
    ex = explain_seq2seq(model, tgt)
    out = uniform_test(ex, src, lengths, labels=tgt)
    assert out["change"].shape == (3,) and (out["change"] > 0).all()


def test_override_restores_after_error_and_rejects_other_modules():
    model = classifier()
    with pytest.raises(RuntimeError), override_attention(model, uniform_weights) as mods:
        assert len(mods) == 2  # one self-attention layer + the pooling
        raise RuntimeError("boom")
    assert all(m.weights_override is None for m in mods if isinstance(m, MultiHeadAttention))
    assert not model.pool._forward_hooks
    with pytest.raises(ValueError, match="target"), override_attention([nn.Linear(2, 2)], uniform_weights):
        pass
    with pytest.raises(ValueError, match="model"):
        explain_classifier(nn.Linear(2, 2))


# -- importance measures ---------------------------------------------------------------------------
class LastToken(nn.Module):
    """Logits are a function of the last real token only."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(VOCAB, 4)
        self.out = nn.Linear(4, 3)

    def forward(self, ids, lengths):
        e = self.embed(ids)  # (B, L, 4)
        return self.out(e[torch.arange(ids.shape[0]), lengths - 1])


@pytest.mark.parametrize("mode", ["drop", "mask"])
@pytest.mark.parametrize("measure", ["tvd", "jsd", "prob"])
def test_leave_one_out_finds_the_one_token_that_matters(mode, measure):
    model = LastToken().double()
    ex = Explainee(model, model.embed, lambda ids, lengths, rows: model(ids, lengths), mask_id=0)
    ids, lengths = batch()
    imp = leave_one_out(ex, ids, lengths, mode=mode, measure=measure)
    for i, n in enumerate(lengths.tolist()):
        assert int(imp[i, :n].abs().argmax()) == n - 1
        assert imp[i, n - 1].abs() > 1e-4
        assert (imp[i, : n - 1].abs() < 1e-12).all() and (imp[i, n:] == 0).all()


def test_leave_one_out_drop_matches_running_the_shortened_input():
    model = classifier(seed=3)
    ex = explain_classifier(model)
    ids, lengths = batch(seed=3)
    imp = leave_one_out(ex, ids, lengths, mode="drop", measure="tvd", max_rows=4)  # several chunks
    base = ex.probs(ids, lengths)
    with torch.no_grad():
        for i, n in enumerate(lengths.tolist()):
            for t in range(n):
                short = torch.cat([ids[i, :t], ids[i, t + 1 : n]])[None]
                p = torch.softmax(model(short, torch.tensor([n - 1]))[0], -1)
                torch.testing.assert_close(imp[i, t], tvd(base[i : i + 1], p)[0], rtol=1e-5, atol=1e-6)


def finite_difference_grad(ex, ids, lengths, h=1e-6):
    """Central differences of p(ŷ) w.r.t. every coordinate of every input embedding (float64)."""
    cls = ex.probs(ids, lengths).argmax(-1)
    delta = torch.zeros(*ids.shape, ex.embedding.embedding_dim, dtype=torch.float64)
    handle = ex.embedding.register_forward_hook(lambda m, i, o: o + delta)
    grad = torch.zeros_like(delta)
    try:
        with torch.no_grad():
            for t in range(ids.shape[1]):
                for d in range(delta.shape[-1]):
                    vals = []
                    for sign in (1, -1):
                        delta.zero_()
                        delta[:, t, d] = sign * h
                        vals.append(ex.probs(ids, lengths).gather(-1, cls[:, None])[:, 0])
                    grad[:, t, d] = (vals[0] - vals[1]) / (2 * h)
    finally:
        handle.remove()
    return grad


def test_gradient_importance_matches_finite_differences_float64():
    model = classifier(seed=4, dtype=torch.float64)
    ex = explain_classifier(model)
    ids, lengths = batch(seed=4, width=5, lengths=(5, 3, 4))
    grad = finite_difference_grad(ex, ids, lengths)
    real = (torch.arange(5)[None] < lengths[:, None]).double()
    emb = model.encoder.embed.tokens(ids).detach()
    got = gradient_importance(ex, ids, lengths, method="grad")
    torch.testing.assert_close(got, grad.norm(dim=-1) * real, rtol=1e-6, atol=1e-9)
    got = gradient_importance(ex, ids, lengths, method="grad_x_input")
    torch.testing.assert_close(got, (grad * emb).sum(-1).abs() * real, rtol=1e-6, atol=1e-9)


def test_gradient_with_detached_attention_holds_the_weights_constant():
    model = classifier(seed=5, dtype=torch.float64)
    ex = explain_classifier(model)
    ids, lengths = batch(seed=5, width=5, lengths=(5, 4, 2))
    with torch.no_grad():
        alpha = model(ids, lengths, need_weights=True)[1]["pooling"]
    with override_attention(model.pool, lambda w, v: alpha):  # the oracle: α frozen at its value
        frozen = finite_difference_grad(ex, ids, lengths).norm(dim=-1)
    got = gradient_importance(ex, ids, lengths, detach=model.pool)
    real = torch.arange(5)[None] < lengths[:, None]
    torch.testing.assert_close(got, frozen * real, rtol=1e-6, atol=1e-9)
    assert not torch.allclose(got, gradient_importance(ex, ids, lengths), rtol=1e-3)


def test_attention_and_rollout_importance():
    g = torch.Generator().manual_seed(0)
    w = torch.softmax(torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64), -1)
    lengths = torch.tensor([4, 2])
    torch.testing.assert_close(attention_importance(w, head=1, query=0), w[:, 1, 0])
    imp = attention_importance(w, lengths, query_lengths=lengths)
    torch.testing.assert_close(imp[1, :2], w[1].mean(0)[:2].mean(0)[:2])
    assert (imp[1, 2:] == 0).all()
    roll = rollout_importance([w, w], lengths, query=0)
    torch.testing.assert_close(roll[0], attention_rollout([w[0], w[0]])[0])
    with pytest.raises(ValueError, match="head"):
        attention_importance(w, head=5)


# -- counterfactual attention ----------------------------------------------------------------------
def test_permutation_changes_nothing_under_uniform_attention_but_moves_peaked_attention():
    model = classifier(seed=6)
    ex = explain_classifier(model)
    ids = torch.arange(1, 8)[None].repeat(3, 1)  # distinct tokens -> distinct values h_t
    lengths = torch.tensor([7, 6, 5])
    nn.init.zeros_(model.pool.context.weight)  # scores 0 -> α uniform over real tokens
    flat = permutation_test(ex, ids, lengths, model.pool, n_permutations=8, generator=torch.Generator())
    assert flat["changes"].shape == (3, 8)
    assert float(flat["changes"].max()) < 1e-6 and float(flat["flip_rate"].max()) == 0.0
    with torch.no_grad():
        model.pool.context.weight.normal_(0, 30.0)  # sharp α
        model.head.weight.mul_(20.0)
        _, att = model(ids, lengths, need_weights=True)
    assert float(att["pooling"].max(-1).values.min()) > 0.5
    peaked = permutation_test(ex, ids, lengths, model.pool, n_permutations=8, measure="jsd")
    assert float(peaked["median_change"].min()) > 1e-3


def test_uniform_test_reports_accuracy_and_distances_are_bounded():
    model = classifier(seed=7)
    ex = explain_classifier(model)
    ids, lengths = batch(seed=7)
    labels = ex.probs(ids, lengths).argmax(-1)
    out = uniform_test(ex, ids, lengths, model.pool, labels=labels)
    assert out["accuracy"] == 1.0 and 0.0 <= out["uniform_accuracy"] <= 1.0
    assert out["uniform_accuracy"] == pytest.approx(1.0 - out["flip_rate"])
    p = torch.softmax(torch.randn(5, 3), -1)
    q = torch.softmax(torch.randn(5, 3), -1)
    assert (jsd(p, q) <= math.log(2) + 1e-9).all() and (jsd(p, p).abs() < 1e-7).all()
    assert (tvd(p, q) <= 1).all() and torch.equal(tvd(p, p), torch.zeros(5))
    with pytest.raises(ValueError, match="measure"):
        uniform_test(ex, ids, lengths, measure="kl")
