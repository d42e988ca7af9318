"""The banded backend agrees with the reference oracle on banded masks: forward, gradients, weights."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from attnlab.attention import attend, choose_backend, masks, mods
from attnlab.attention.api import make_request
from attnlab.attention.backends.banded import banded_backend
from attnlab.attention.masks.bands import band_bound

from strategies import make_qkv, shapes


@st.composite
def banded_masks(draw, batch, heads, q_len, kv_len):
    """A mask with a finite band: windows, bands, block bands, each maybe composed with more."""
    kind = draw(st.sampled_from(["window", "cwindow", "band", "layout", "causal_layout"]))
    if kind in ("window", "cwindow"):
        mask = masks.sliding_window(draw(st.integers(0, 12)), causal=kind == "cwindow")
    elif kind == "band":
        mask = masks.band(draw(st.integers(0, 9)), draw(st.integers(0, 9)))
    else:
        block = draw(st.integers(1, 8))
        nb = math.ceil(max(q_len, kv_len) / block)
        qb, kb = torch.arange(nb)[:, None], torch.arange(nb)[None, :]
        lo, hi = sorted(draw(st.lists(st.integers(-2, 2), min_size=2, max_size=2)))
        layout = ((kb - qb) >= lo) & ((kb - qb) <= hi)
        if draw(st.booleans()):  # per head, some blocks dropped
            seed = draw(st.integers(0, 99))
            drop = torch.rand(heads, nb, nb, generator=torch.Generator().manual_seed(seed)) < 0.3
            layout = layout & ~drop
        mask = masks.block_sparse(layout, block)
        if kind == "causal_layout":
            mask = masks.causal() & mask
    extra = draw(st.sampled_from(["none", "padding", "strided", "causal"]))
    if extra == "padding":  # lengths may be 0: whole examples without a visible key
        mask = mask & masks.padding(
            torch.tensor(draw(st.lists(st.integers(0, kv_len), min_size=batch, max_size=batch)))
        )
    elif extra == "strided":  # a dilated window: evaluated by its predicate inside each window
        mask = mask & masks.strided(draw(st.integers(1, 4)), causal=draw(st.booleans()))
    elif extra == "causal":
        mask = mask & masks.causal()
    return mask


@st.composite
def problems(draw):
    shape = draw(shapes())
    b, hq, hkv, lq, lk, d, dv = shape
    mask = draw(banded_masks(b, hq, lq, lk))
    mod = draw(st.sampled_from([None, None, "alibi"]))
    return shape, mask, mods.alibi(hq) if mod else None, draw(st.integers(1, 16))


def run_banded(q, k, v, mask, mod, block):
    return banded_backend(q, k, v, make_request(q, k, v, mask, mod, None, 0.0), block)


@given(problems(), st.sampled_from([torch.float64, torch.float32]))
def test_banded_matches_reference(problem, dtype):
    shape, mask, mod, block = problem
    assert band_bound(mask) is not None
    q, k, v = make_qkv(shape, dtype)
    ref = attend(q, k, v, mask=mask, score_mod=mod, backend="reference")
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    for out in (
        run_banded(q, k, v, mask, mod, block),
        attend(q, k, v, mask=mask, score_mod=mod, backend="banded"),
    ):
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, ref, atol=tol, rtol=tol)


@given(problems())
def test_banded_gradients_match_reference(problem):
    shape, mask, mod, block = problem
    q, k, v = make_qkv(shape, torch.float64, requires_grad=True)
    ref = attend(q, k, v, mask=mask, score_mod=mod, backend="reference")
    out = run_banded(q, k, v, mask, mod, block)
    weight = torch.linspace(-1, 1, ref.numel(), dtype=ref.dtype).view_as(ref)
    want = torch.autograd.grad((ref * weight).sum(), (q, k, v))
    got = torch.autograd.grad((out * weight).sum(), (q, k, v))
    for g, w, name in zip(got, want, "qkv"):
        torch.testing.assert_close(g, w, atol=1e-9, rtol=1e-9, msg=f"d{name}")


@given(problems())
def test_banded_returns_the_reference_weights(problem):
    shape, mask, mod, _ = problem
    q, k, v = make_qkv(shape)
    ref_out, ref_w = attend(q, k, v, mask=mask, score_mod=mod, backend="reference", return_weights=True)
    out, w = attend(q, k, v, mask=mask, score_mod=mod, backend="banded", return_weights=True)
    torch.testing.assert_close(out, ref_out, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(w, ref_w, atol=1e-10, rtol=1e-10)


def test_fully_masked_rows_give_zeros_and_zero_gradients():
    q, k, v = make_qkv((2, 4, 2, 40, 30, 8, 8), torch.float64, requires_grad=True)
    # example 0 has no key at all; with Lq > Lk the first 10 queries sit before every key (causal)
    mask = masks.sliding_window(6, causal=True) & masks.padding(torch.tensor([0, 30]))
    out, w = attend(q, k, v, mask=mask, backend="banded", return_weights=True)
    assert (out[0] == 0).all() and (w[0] == 0).all()
    assert (out[1, :, :10] == 0).all() and (w[1, :, :10] == 0).all()
    out.sum().backward()
    assert (q.grad[0] == 0).all() and (q.grad[1, :, :10] == 0).all() and (k.grad[0] == 0).all()
    torch.testing.assert_close(out, attend(q, k, v, mask=mask, backend="reference"), atol=1e-12, rtol=0)


def test_kv_cache_decoding_aligns_lower_right():
    q, k, v = make_qkv((1, 2, 1, 70, 70, 8, 8))
    window = masks.sliding_window(9, causal=True)
    full = attend(q, k, v, mask=window, backend="reference")
    last = attend(q[:, :, -5:], k, v, mask=window, backend="banded")  # 5 new tokens, 70 keys
    torch.testing.assert_close(last, full[:, :, -5:])


def test_auto_picks_banded_for_long_narrow_bands_and_it_refuses_what_it_cannot_do():
    q, k, v = make_qkv((1, 2, 1, 2048, 2048, 8, 8), torch.float32)

    def pick(mask, mod=None):
        return choose_backend(make_request(q, k, v, mask, mod, None, 0.0))

    assert pick(masks.sliding_window(256, causal=True)) == "banded"
    assert pick(masks.sliding_window(64) & masks.strided(4)) == "banded"
    assert pick(masks.sliding_window(256, causal=True), mods.softcap(5.0)) == "chunked"
    with pytest.raises(ValueError, match="banded.*band"):
        attend(q, k, v, mask=masks.causal(), backend="banded")
    with pytest.raises(ValueError, match="banded.*softcap"):
        attend(q, k, v, mask=masks.sliding_window(4), score_mod=mods.softcap(5.0), backend="banded")


def test_dropout_runs_and_stays_within_the_band():
    q, k, v = make_qkv((1, 2, 1, 64, 64, 8, 8), torch.float32, requires_grad=True)
    v_far = v.detach().clone()
    v_far[:, :, 40:] = 1e6  # keys 40.. are outside the window of queries 0..29
    out = attend(q, k, v_far, mask=masks.sliding_window(10, causal=True), dropout_p=0.3, backend="banded")
    assert torch.isfinite(out).all() and out[:, :, :30].abs().max() < 1e3
    out.sum().backward()
    assert torch.isfinite(q.grad).all()
