"""Every exact backend agrees with the reference oracle: random shapes, GQA, masks, mods, gradients."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from attnlab.attention import attend
from attnlab.attention.api import make_request
from attnlab.attention.backends.chunked import chunked_backend

from strategies import any_masks, make_qkv, score_mods, shapes

TOL = {torch.float64: 1e-10, torch.float32: 2e-5}


@st.composite
def problems(draw):
    shape = draw(shapes())
    b, hq, hkv, lq, lk, d, dv = shape
    mask = draw(any_masks(b, hq, lq, lk))
    mod = draw(score_mods(hq))
    return shape, mask, mod


def run_chunked(q, k, v, mask, mod, block_q, block_k):
    req = make_request(q, k, v, mask, mod, None, 0.0)
    return chunked_backend(q, k, v, req, block_q, block_k)


def close(a, b, dtype):
    assert a.shape == b.shape
    assert torch.isfinite(a).all(), "backend produced NaN/inf"
    torch.testing.assert_close(a, b, atol=TOL[dtype], rtol=TOL[dtype])


@given(problems(), st.sampled_from([torch.float64, torch.float32]), st.integers(1, 40), st.integers(1, 40))
def test_chunked_matches_reference(problem, dtype, block_q, block_k):
    shape, mask, mod = problem
    q, k, v = make_qkv(shape, dtype)
    ref = attend(q, k, v, mask=mask, score_mod=mod, backend="reference")
    close(run_chunked(q, k, v, mask, mod, block_q, block_k), ref, dtype)
    close(attend(q, k, v, mask=mask, score_mod=mod, backend="chunked"), ref, dtype)


@given(problems(), st.sampled_from([torch.float64, torch.float32]))
def test_sdpa_and_auto_match_reference(problem, dtype):
    shape, mask, mod = problem
    q, k, v = make_qkv(shape, dtype)
    ref = attend(q, k, v, mask=mask, score_mod=mod, backend="reference")
    close(attend(q, k, v, mask=mask, score_mod=mod, backend="auto"), ref, dtype)
    if mod is None or getattr(mod, "additive", False):
        close(attend(q, k, v, mask=mask, score_mod=mod, backend="sdpa"), ref, dtype)
    else:
        with pytest.raises(ValueError, match="score_mod"):
            attend(q, k, v, mask=mask, score_mod=mod, backend="sdpa")


def grads(q, k, v, out):
    weight = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    return torch.autograd.grad((out * weight).sum(), (q, k, v), allow_unused=True)


@given(problems(), st.integers(1, 40), st.integers(1, 40))
def test_gradients_match_reference(problem, block_q, block_k):
    shape, mask, mod = problem
    q, k, v = make_qkv(shape, torch.float64, requires_grad=True)
    expected = grads(q, k, v, attend(q, k, v, mask=mask, score_mod=mod, backend="reference"))
    outputs = {"chunked": run_chunked(q, k, v, mask, mod, block_q, block_k)}
    if mod is None or getattr(mod, "additive", False):
        outputs["sdpa"] = attend(q, k, v, mask=mask, score_mod=mod, backend="sdpa")
    for name, out in outputs.items():
        for got, want in zip(grads(q, k, v, out), expected):
            got = torch.zeros_like(want) if got is None else got
            assert torch.isfinite(got).all(), f"{name}: non-finite gradient"
            torch.testing.assert_close(got, want, atol=1e-9, rtol=1e-9, msg=f"{name} gradient")


@given(problems())
def test_return_weights_on_every_backend(problem):
    shape, mask, mod = problem
    q, k, v = make_qkv(shape)
    ref_out, ref_w = attend(q, k, v, mask=mask, score_mod=mod, backend="reference", return_weights=True)
    sums = ref_w.sum(-1)
    assert torch.all(((sums - 1).abs() < 1e-12) | (sums == 0))
    for backend in ("chunked", "sdpa", "auto"):
        if backend == "sdpa" and mod is not None and not getattr(mod, "additive", False):
            continue
        out, w = attend(q, k, v, mask=mask, score_mod=mod, backend=backend, return_weights=True)
        close(out, ref_out, torch.float64)
        close(w, ref_w, torch.float64)


@pytest.mark.parametrize("backend", ["reference", "sdpa", "chunked", "auto"])
def test_fully_masked_rows_are_zero_with_zero_gradients(backend):
    q, k, v = make_qkv((2, 4, 2, 9, 9, 8, 8), torch.float32, requires_grad=True)
    lengths = torch.tensor([0, 5])  # the first example has no visible key at all
    mask = torch.ones(2, 1, 9, 9, dtype=torch.bool)
    mask[1, :, 3] = False  # and one query row of the second example sees nothing
    from attnlab.attention import masks

    full = masks.padding(lengths) & masks.Mask.from_tensor(mask)
    out, w = attend(q, k, v, mask=full, backend=backend, return_weights=True)
    assert torch.isfinite(out).all()
    assert (out[0] == 0).all() and (w[0] == 0).all()
    assert (out[1, :, 3] == 0).all() and (w[1, :, 3] == 0).all()
    out.sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert (q.grad[0] == 0).all() and (q.grad[1, :, 3] == 0).all()
    assert (k.grad[0] == 0).all() and (k.grad[1, :, 5:] == 0).all()


def test_everything_masked_still_backpropagates_zeros():
    q, k, v = make_qkv((1, 2, 2, 5, 5, 4, 4), requires_grad=True)
    from attnlab.attention import masks

    out = attend(q, k, v, mask=masks.padding(0), backend="chunked")
    assert (out == 0).all()
    out.sum().backward()
    assert (q.grad == 0).all() and (k.grad == 0).all() and (v.grad == 0).all()


def test_causal_with_kv_cache_aligns_lower_right():
    from attnlab.attention import masks

    q, k, v = make_qkv((1, 2, 2, 12, 12, 8, 8))
    full = attend(q, k, v, mask=masks.causal(), backend="reference")
    for backend in ("reference", "sdpa", "chunked"):
        last = attend(q[:, :, -3:], k, v, mask=masks.causal(), backend=backend)  # 3 new tokens, 12 keys
        torch.testing.assert_close(last, full[:, :, -3:])
