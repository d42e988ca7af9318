"""HardAttention (soft / sparse / Gumbel ST / REINFORCE) and the REINFORCE loss helpers."""

import pytest
import torch

from attnlab.attention.normalizers import sparsemax
from attnlab.layers import (
    HARD_NORMALIZERS,
    HardAttention,
    MovingAverageBaseline,
    align,
    reinforce_loss,
)
from attnlab.layers.hard_attention import normalize_scores


def inputs(seed=0, b=3, lq=2, lk=6, d=8, dv=5):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, lq, d, generator=g, dtype=torch.float64),
        torch.randn(b, lk, d, generator=g, dtype=torch.float64),
        torch.randn(b, lk, dv, generator=g, dtype=torch.float64),
    )


def layer(normalizer, **kw):
    torch.manual_seed(0)
    return HardAttention(8, normalizer=normalizer, **kw).double()


def test_softmax_and_sparsemax_modes_are_weighted_sums():
    q, k, v = inputs()
    lengths = torch.tensor([6, 3, 1])
    key_mask = torch.arange(6)[None] < lengths[:, None]  # (B, Lk)
    soft = layer("softmax")
    out = soft(q, k, v, mask=key_mask)
    ctx, w = align(soft.score(q, k), v, lengths)  # the RNN attention's own masked softmax
    torch.testing.assert_close(out.context, ctx)
    torch.testing.assert_close(out.weights, w)
    assert out.log_prob is None and out.entropy is None
    sparse = layer("sparsemax")
    out = sparse(q, k, v, mask=key_mask)
    want = sparsemax(sparse.score(q, k), mask=key_mask[:, None])
    torch.testing.assert_close(out.weights, want)
    torch.testing.assert_close(out.context, want @ v)
    assert (out.weights == 0).any() and (out.weights[~key_mask[:, None].expand_as(want)] == 0).all()


@pytest.mark.parametrize("normalizer", ["gumbel", "reinforce"])
def test_hard_modes_attend_to_exactly_one_visible_key(normalizer):
    q, k, v = inputs(1)
    v.requires_grad_()  # so the context has a graph; the question is whether it reaches the scorer
    mask = torch.rand(3, 2, 6, generator=torch.Generator().manual_seed(1)) > 0.4
    mask[..., 2] = True
    mask[1, 0] = False  # a query that sees nothing
    att = layer(normalizer).train()
    out = att(q, k, v, mask=mask, generator=torch.Generator().manual_seed(2))
    w = out.weights.detach()
    assert ((w == 0) | (w == 1)).all() and (w[~mask] == 0).all()
    assert (w.sum(-1)[mask.any(-1)] == 1).all() and (w[1, 0] == 0).all()
    idx = w.argmax(-1)  # (B, Lq)
    want = torch.stack([v[b, idx[b]] for b in range(3)]) * mask.any(-1, keepdim=True)
    torch.testing.assert_close(out.context, want)
    assert torch.isfinite(out.context).all() and torch.isfinite(out.probs).all()
    score_params = list(att.score.parameters())
    grads = torch.autograd.grad(out.context.sum(), score_params, allow_unused=True)
    flowing = any(g is not None and g.abs().sum() > 0 for g in grads)
    if normalizer == "gumbel":
        assert flowing  # straight-through: the softmax's gradient reaches the scorer
        assert out.log_prob is None
    else:
        assert not flowing  # a sample has no pathwise gradient ...
        logp = torch.log_softmax(att.score(q, k).masked_fill(~mask, float("-inf")), -1)
        torch.testing.assert_close(
            out.log_prob[mask.any(-1)], logp.gather(-1, idx[..., None])[..., 0][mask.any(-1)]
        )
        assert out.log_prob[1, 0] == 0 and out.entropy[1, 0] == 0
        grads = torch.autograd.grad(reinforce_loss(out.log_prob, torch.ones(3), 0.5), score_params)
        assert any(g.abs().sum() > 0 for g in grads)  # ... the log-probability carries it


@pytest.mark.parametrize("normalizer", ["gumbel", "reinforce"])
def test_eval_mode_is_deterministic_argmax(normalizer):
    q, k, v = inputs(2)
    att = layer(normalizer).eval()
    a, b = att(q, k, v), att(q, k, v)
    torch.testing.assert_close(a.context, b.context)
    assert (a.weights.argmax(-1) == att.score(q, k).argmax(-1)).all()


def test_reinforce_gradient_is_unbiased_on_a_bandit():
    """E[(R - b) ∇ log π(a)] equals ∇ Σ_i π_i r_i (Williams, 1992), whatever the baseline b."""
    z = torch.tensor([0.5, -1.0, 1.0, 0.0], dtype=torch.float64, requires_grad=True)
    reward = torch.tensor([1.0, 3.0, -1.0, 0.5], dtype=torch.float64)
    exact = torch.autograd.grad((torch.softmax(z, -1) * reward).sum(), z)[0]
    n = 40000
    w, _, log_prob, _ = normalize_scores(
        z.expand(n, 4), "reinforce", generator=torch.Generator().manual_seed(3)
    )
    r = (w * reward).sum(-1)
    for baseline in (0.0, 0.8):
        est = -torch.autograd.grad(reinforce_loss(log_prob, r, baseline), z, retain_graph=True)[0]
        torch.testing.assert_close(est, exact, atol=0.03, rtol=0)


def test_reinforce_learns_the_best_arm_and_entropy_bonus_keeps_it_softer():
    finals = {}
    for beta in (0.0, 0.5):
        z = torch.zeros(5, requires_grad=True)
        opt = torch.optim.SGD([z], lr=0.5)
        base, g = MovingAverageBaseline(0.9), torch.Generator().manual_seed(4)
        reward_of = torch.tensor([0.0, 0.2, 1.0, 0.1, 0.3])
        for _ in range(150):
            w, _, log_prob, ent = normalize_scores(z.expand(32, 5), "reinforce", generator=g)
            r = (w * reward_of).sum(-1)
            loss = reinforce_loss(log_prob, r, base(r), ent, entropy_weight=beta)
            opt.zero_grad()
            loss.backward()
            opt.step()
        finals[beta] = torch.softmax(z.detach(), -1)
    assert finals[0.0].argmax() == 2 and finals[0.0][2] > 0.8
    assert finals[0.5][2] < finals[0.0][2]  # the entropy bonus resists collapsing


def test_moving_average_baseline_formula():
    base = MovingAverageBaseline(momentum=0.75)
    assert float(base(torch.tensor([2.0, 4.0]))) == 3.0  # first call: the batch mean
    assert float(base(torch.tensor([7.0]))) == pytest.approx(3.0)  # value before this update
    assert float(base.value) == pytest.approx(0.75 * 3.0 + 0.25 * 7.0)


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="normalizer"):
        HardAttention(8, normalizer="argmax")
    with pytest.raises(ValueError, match="tau"):
        HardAttention(8, normalizer="gumbel", tau=0.0)
    with pytest.raises(ValueError, match="momentum"):
        MovingAverageBaseline(1.0)
    q, k, v = inputs()
    with pytest.raises(ValueError, match="mask"):
        layer("softmax")(q, k, v, mask=torch.ones(3, 6))
    with pytest.raises(ValueError, match="values"):
        layer("softmax")(q, k, v[:, :3])
    with pytest.raises(ValueError, match="reward"):
        reinforce_loss(torch.zeros(4), torch.zeros(3))
    assert set(HARD_NORMALIZERS) == {"softmax", "sparsemax", "entmax15", "gumbel", "reinforce"}
