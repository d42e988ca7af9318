"""Linear attention and Performer: kernel form == explicit normalised kernel attention; RNN form;
FAVOR+ estimator errors match the closed forms of Performer's Lemma 2; orthogonal beats i.i.d."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from attnlab.attention import attend, masks, mods
from attnlab.attention.backends.linear import LinearAttentionState, kernel_attention, linear_attention
from attnlab.attention.backends.performer import performer
from attnlab.attention.features import (
    elu_plus_one,
    favor_positive,
    favor_trig,
    random_projection,
    softmax_kernel_mse,
)

from strategies import make_qkv, shapes


@given(shapes(), st.booleans(), st.booleans(), st.integers(1, 50), st.data())
def test_linear_kernel_form_equals_dense_normalised_kernel_attention(shape, causal, pad, chunk, data):
    b, hq, hkv, lq, lk, d, dv = shape
    q, k, v = make_qkv((b, hq, hq, lq, lk, d, dv))
    lengths = torch.tensor(data.draw(st.lists(st.integers(0, lk), min_size=b, max_size=b))) if pad else None
    fq, fk = elu_plus_one(q), elu_plus_one(k)
    got = linear_attention(fq, fk, v, causal, lengths, chunk=chunk)
    torch.testing.assert_close(got, kernel_attention(fq, fk, v, causal, lengths), atol=1e-12, rtol=1e-10)


@given(
    shapes(), st.sampled_from(["none", "causal", "padding", "both"]), st.sampled_from(["linear", "performer"])
)
def test_attend_linear_backends_match_their_own_weights(shape, mask_kind, backend):
    b, hq, hkv, lq, lk, d, dv = shape
    q, k, v = make_qkv(shape)
    lengths = torch.arange(b) % (lk + 1)
    mask = {
        "none": None,
        "causal": masks.causal(),
        "padding": masks.padding(lengths),
        "both": masks.causal() & masks.padding(lengths),
    }[mask_kind]
    out, w = attend(q, k, v, mask=mask, backend=backend, return_weights=True)
    expected = w @ v.repeat_interleave(hq // hkv, dim=1)
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=1e-8)
    sums = w.sum(-1)
    assert torch.all(((sums - 1).abs() < 1e-9) | (sums == 0))


def test_rnn_form_equals_causal_linear_attention():
    q, k, v = make_qkv((2, 3, 3, 17, 17, 8, 5))
    fq, fk = elu_plus_one(q), elu_plus_one(k)
    full = linear_attention(fq, fk, v, causal=True)
    state = LinearAttentionState()
    steps = [state.step(fq[:, :, t], fk[:, :, t], v[:, :, t]) for t in range(17)]
    torch.testing.assert_close(torch.stack(steps, dim=2), full)


def test_linear_attention_gradients():
    q, k, v = make_qkv((1, 2, 2, 7, 7, 3, 2), requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda q, k, v: attend(q, k, v, mask=masks.causal(), backend="linear"), (q, k, v)
    )


@given(st.integers(1, 9), st.integers(1, 6), st.integers(1, 12), st.sampled_from([None, "row", "all"]))
def test_favor_positive_is_the_written_out_formula_up_to_its_stabilising_constant(length, dim, m, stabilise):
    gen = torch.Generator().manual_seed(length * 100 + dim * 10 + m)
    x = torch.randn(2, length, dim, generator=gen, dtype=torch.float64)
    w = torch.randn(m, dim, generator=gen, dtype=torch.float64)
    plain = torch.exp(x @ w.T - 0.5 * (x * x).sum(-1, keepdim=True)) / m**0.5  # Performer, Lemma 1
    got = favor_positive(x, w, stabilise=stabilise)
    ratio = got / plain  # 1, or exp(-max) per row ("row") or per example ("all")
    dims = {None: (0, 1, 2), "row": (2,), "all": (1, 2)}[stabilise]
    torch.testing.assert_close(ratio, ratio.amax(dim=dims, keepdim=True).expand_as(ratio), rtol=1e-10, atol=0)
    if stabilise is None:
        torch.testing.assert_close(got, plain, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="stabilise"):
        favor_positive(x, w, stabilise="max")


@pytest.mark.parametrize("mask", [None, "causal", "padding"])
def test_performer_gradients(mask):
    q, k, v = make_qkv((1, 2, 2, 6, 6, 3, 2), requires_grad=True)
    m = {None: None, "causal": masks.causal(), "padding": masks.padding(torch.tensor([4]))}[mask]
    backend = performer(num_features=5, seed=3)  # features computed in place: autograd must see through
    assert torch.autograd.gradcheck(lambda q, k, v: attend(q, k, v, mask=m, backend=backend), (q, k, v))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"score_mod": mods.alibi(2)}, "score_mod"),
        ({"dropout_p": 0.1}, "dropout"),
        ({"mask": masks.sliding_window(2)}, "causal and padding"),
    ],
)
def test_linear_backends_refuse_what_they_cannot_do(kwargs, match):
    q, k, v = make_qkv((1, 2, 2, 5, 5, 4, 4))
    for backend in ("linear", "performer"):
        with pytest.raises(ValueError, match=match):
            attend(q, k, v, backend=backend, **kwargs)


def _empirical_mse(kind, orthogonal, x, y, m, draws=3000, seed=0):
    gen = torch.Generator().manual_seed(seed)
    exact = torch.exp((x * y).sum())
    errors = []
    for _ in range(draws):
        w = random_projection(m, x.shape[-1], orthogonal, gen, dtype=torch.float64)
        fx, fy = (
            (favor_positive(x, w), favor_positive(y, w))
            if kind == "positive"
            else (favor_trig(x, w), favor_trig(y, w))
        )
        errors.append(((fx * fy).sum() - exact) ** 2)
    errors = torch.stack(errors)
    return errors.mean(), errors.std() / draws**0.5


@pytest.mark.parametrize("kind", ["positive", "trig"])
def test_favor_iid_mse_matches_lemma_2(kind):
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(2, 8, generator=gen, dtype=torch.float64) * 0.4
    m = 16
    mse, se = _empirical_mse(kind, False, x, y, m)
    closed = softmax_kernel_mse(x, y, m, kind)
    assert abs(mse - closed) < 4 * se + 0.02 * closed, (mse.item(), closed.item(), se.item())


def test_positive_features_beat_trig_where_the_kernel_is_small():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(8, generator=gen, dtype=torch.float64) * 0.5
    y = -x + 0.05 * torch.randn(8, generator=gen, dtype=torch.float64)  # exp(x·y) small: softmax's tail
    assert softmax_kernel_mse(x, y, 16, "positive") < softmax_kernel_mse(x, y, 16, "trig") / 10


def test_orthogonal_features_beat_iid():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(8, generator=gen, dtype=torch.float64) * 0.2
    y = x + 0.1 * torch.randn(8, generator=gen, dtype=torch.float64)
    iid, se_iid = _empirical_mse("positive", False, x, y, 8, draws=20000)
    orth, se_orth = _empirical_mse("positive", True, x, y, 8, draws=20000)
    assert orth + 4 * (se_orth**2 + se_iid**2) ** 0.5 < iid, (orth.item(), iid.item())


def test_performer_error_falls_with_more_features():
    q, k, v = (t * 0.5 for t in make_qkv((1, 2, 2, 64, 64, 16, 16)))
    exact = attend(q, k, v, backend="reference")
    errors = []
    for m in (16, 64, 256, 1024):
        err = sum((attend(q, k, v, backend=performer(m, seed=s)) - exact).abs().mean() for s in range(4)) / 4
        errors.append(err.item())
    assert errors == sorted(errors, reverse=True) and errors[-1] < errors[0] / 3, errors


def test_performer_redraw_changes_features():
    backend = performer(32, seed=0)
    q, k, v = make_qkv((1, 1, 1, 5, 5, 4, 4))
    a = attend(q, k, v, backend=backend)
    assert torch.equal(a, attend(q, k, v, backend=backend))
    backend.features.redraw()
    assert not torch.equal(a, attend(q, k, v, backend=backend))


def test_nystrom_with_one_landmark_per_token_is_exact_softmax():
    from attnlab.attention.backends.nystrom import nystrom

    q, k, v = make_qkv((2, 4, 2, 12, 12, 8, 5))
    exact = attend(q, k, v, backend="reference")
    out, w = attend(q, k, v, backend=nystrom(num_landmarks=12), return_weights=True)
    torch.testing.assert_close(out, exact, atol=1e-8, rtol=1e-8)
    torch.testing.assert_close(w @ v.repeat_interleave(2, dim=1), out)


def test_nystrom_approximates_and_refuses_masks():
    q, k, v = (t * 0.3 for t in make_qkv((1, 2, 2, 256, 256, 16, 16)))
    exact = attend(q, k, v, backend="reference")
    err = (attend(q, k, v, backend="nystrom") - exact).abs().mean()
    assert err < 0.1 * exact.abs().mean()
    with pytest.raises(ValueError, match="mask"):
        attend(q, k, v, mask=masks.causal(), backend="nystrom")


def test_int8_scores_equal_exact_attention_on_dequantised_inputs():
    from attnlab.attention.backends.int8 import quantize_int8

    q, k, v = make_qkv((2, 4, 2, 19, 23, 16, 8), torch.float32)
    mask = masks.causal() & masks.padding(torch.tensor([23, 11]))
    out = attend(q, k, v, mask=mask, score_mod=mods.alibi(4), backend="int8")
    scale = 1 / 4  # 1/sqrt(16)
    q_q, q_s = quantize_int8(q * scale)
    k_q, k_s = quantize_int8(k)
    oracle = attend(
        (q_q * q_s).double(),
        (k_q * k_s).double(),
        v.double(),
        mask=mask,
        score_mod=mods.alibi(4),
        scale=1.0,
        backend="reference",
    )
    torch.testing.assert_close(out.double(), oracle, atol=1e-5, rtol=1e-5)
    exact = attend(q, k, v, mask=mask, score_mod=mods.alibi(4), backend="reference")
    assert (out - exact).abs().max() < 0.05  # int8 rounding of q and k: a small, bounded change


def test_int8_refuses_training():
    q, k, v = make_qkv((1, 2, 2, 4, 4, 4, 4), torch.float32, requires_grad=True)
    with pytest.raises(ValueError, match="int8"):
        attend(q, k, v, backend="int8")


def test_linformer_with_one_row_per_token_is_exact_softmax():
    from attnlab.attention.backends.linformer import linformer

    q, k, v = make_qkv((2, 4, 2, 9, 13, 8, 5))
    exact = attend(q, k, v, backend="reference")
    out, w = attend(q, k, v, backend=linformer(proj_dim=13), return_weights=True)
    torch.testing.assert_close(out, exact, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(w @ v.repeat_interleave(2, dim=1), out)


@pytest.mark.parametrize("n, proj_dim", [(12, 4), (12, 5), (17, 3)])
def test_linformer_is_exact_when_keys_and_values_are_constant_per_segment(n, proj_dim):
    """Pooled keys stand for n_seg equal keys: the log(n_seg) bias makes unequal segments exact too."""
    from attnlab.attention.backends.linformer import linformer, mean_pooling

    seg = mean_pooling(proj_dim, n, torch.float64)  # (k, n)
    owner = seg.argmax(0)  # the segment of each position
    q = torch.randn(1, 2, 7, 6, dtype=torch.float64)
    k = torch.randn(1, 2, proj_dim, 6, dtype=torch.float64)[:, :, owner]  # (1, 2, n, 6)
    v = torch.randn(1, 2, proj_dim, 3, dtype=torch.float64)[:, :, owner]
    exact = attend(q, k, v, backend="reference")
    torch.testing.assert_close(attend(q, k, v, backend=linformer(proj_dim)), exact, atol=1e-10, rtol=1e-10)


def test_linformer_error_shrinks_with_projection_size_and_masks_are_refused():
    from attnlab.attention.backends.linformer import linformer

    q, k, v = (t * 0.5 for t in make_qkv((1, 2, 2, 256, 256, 16, 16)))
    exact = attend(q, k, v, backend="reference")
    errors = [(attend(q, k, v, backend=linformer(m)) - exact).abs().mean().item() for m in (16, 128, 256)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-10
    with pytest.raises(ValueError, match="mask"):
        attend(q, k, v, mask=masks.causal(), backend="linformer")


def test_learned_linformer_projection_starts_as_pooling_and_trains():
    from attnlab.attention.backends.linformer import LinformerProjection, linformer

    proj = LinformerProjection(max_len=16, proj_dim=4)
    q, k, v = (torch.randn(2, 2, 16, 8) for _ in range(3))
    learned = attend(q, k, v, backend=linformer(projection=proj))
    torch.testing.assert_close(learned, attend(q, k, v, backend=linformer(4)))  # equal segments: bias cancels
    learned.square().sum().backward()
    assert proj.e.grad.abs().sum() > 0 and proj.f.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="max_len"):
        attend(
            torch.randn(1, 1, 4, 8),
            torch.randn(1, 1, 20, 8),
            torch.randn(1, 1, 20, 8),
            backend=linformer(projection=proj),
        )


def test_int8_products_are_exact_integers_and_blocks_match_the_dense_weights(monkeypatch):
    from attnlab.attention.backends import int8

    a = torch.randint(-127, 128, (37, 16), dtype=torch.int8)
    b = torch.randint(-127, 128, (23, 16), dtype=torch.int8)
    exact = a.long() @ b.long().T
    assert torch.equal(int8.int_matmul(a, b.T).long(), exact)  # torch._int_mm where it runs
    q, k, v = make_qkv((2, 4, 2, 45, 61, 16, 8), torch.float32)
    mask = masks.sliding_window(9) & masks.padding(torch.tensor([61, 30]))
    monkeypatch.setattr(int8, "SCORE_BUDGET", 2 * 4 * 61 * 7)  # blocks of 7 query rows
    out, w = attend(q, k, v, mask=mask, backend="int8", return_weights=True)  # weights: one dense block
    torch.testing.assert_close(out, w @ v.repeat_interleave(2, dim=1), atol=1e-5, rtol=1e-5)
    monkeypatch.setattr(int8, "has_int_mm", lambda device_type: False)  # the float32 emulation
    torch.testing.assert_close(attend(q, k, v, mask=mask, backend="int8"), out, atol=1e-6, rtol=1e-6)
