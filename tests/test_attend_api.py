"""attend(): argument errors, analytic properties, dropout, backend choice."""

import math

import pytest
import torch

from attnlab.attention import BACKENDS, Request, attend, choose_backend, masks, mods
from attnlab.attention.api import make_request

from strategies import make_qkv


def qkv(b=2, hq=4, hkv=2, lq=6, lk=6, d=8, dv=8, dtype=torch.float32):
    return make_qkv((b, hq, hkv, lq, lk, d, dv), dtype)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda q, k, v: (q[0], k, v), r"q: expected 4 dims \(B, Hq, Lq, D\)"),
        (lambda q, k, v: (q, k[:1], v), "batch size"),
        (lambda q, k, v: (q, k, v[:, :1]), "v: expected 2 heads"),
        (lambda q, k, v: (q[:, :3], k, v), "multiple of key/value heads"),
        (lambda q, k, v: (q, k[..., :4], v), "head dim"),
        (lambda q, k, v: (q, k, v[:, :, :3]), "sequence length"),
        (lambda q, k, v: (q.double(), k, v), "dtypes must match"),
        (lambda q, k, v: (q.long(), k, v), "floating-point"),
        (lambda q, k, v: ("q", k, v), "q: expected a torch.Tensor"),
    ],
)
def test_shape_errors_name_the_argument(mutate, match):
    q, k, v = mutate(*qkv())
    with pytest.raises(ValueError, match=match):
        attend(q, k, v)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (
            {"mask": torch.ones(5, 6, dtype=torch.bool)},
            r"mask: expected a bool tensor broadcastable to \(B, H, Lq, Lk\)",
        ),
        ({"mask": torch.ones(6, 6)}, "mask: expected a bool tensor"),
        ({"mask": "causal"}, "mask: expected a Mask"),
        ({"dropout_p": 1.0}, "dropout_p"),
        ({"scale": float("nan")}, "scale"),
        ({"backend": "nope"}, "backend: unknown backend 'nope'"),
        ({"score_mod": 3}, "score_mod"),
        ({"score_mod": mods.softcap(5.0), "backend": "sdpa"}, "backend='sdpa' cannot run"),
    ],
)
def test_option_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        attend(*qkv(), **kwargs)


@pytest.mark.parametrize("backend", ["reference", "sdpa", "chunked"])
def test_identical_keys_give_the_mean_of_values(backend):
    q, k, v = qkv(dtype=torch.float64)
    k = k[:, :, :1].expand_as(k).contiguous()  # every key the same -> uniform weights
    out = attend(q, k, v, backend=backend)
    mean = v.mean(dim=2, keepdim=True).repeat_interleave(2, dim=1)  # GQA: head h uses kv head h // 2
    torch.testing.assert_close(out, mean.expand_as(out))


@pytest.mark.parametrize("backend", ["reference", "sdpa", "chunked"])
def test_one_hot_attention_selects_a_value(backend):
    b, h, length, d = 1, 2, 7, 7
    k = torch.eye(length, dtype=torch.float64).expand(b, h, length, d).contiguous() * 100
    q = (
        torch.eye(length, dtype=torch.float64).flip(0).expand(b, h, length, d).contiguous()
    )  # query i -> key L-1-i
    v = torch.randn(b, h, length, 3, dtype=torch.float64)
    out = attend(q, k, v, scale=1.0, backend=backend)
    torch.testing.assert_close(out, v.flip(2), atol=1e-12, rtol=0)


def test_alibi_slopes_match_the_paper():
    assert mods.alibi_slopes(8).tolist() == [2.0**-i for i in range(1, 9)]
    twelve = mods.alibi_slopes(12).tolist()
    assert twelve[:8] == [2.0**-i for i in range(1, 9)]
    assert twelve[8:] == pytest.approx([2.0**-0.5, 2.0**-1.5, 2.0**-2.5, 2.0**-3.5])  # odd slopes of 16
    assert len(mods.alibi_slopes(5)) == 5


def test_alibi_penalises_distance_to_past_keys():
    bias = mods.alibi(2).bias(1, 2, 4, 4, torch.float64, None)
    assert bias[0, 0, 3].tolist() == [-3 / 16, -2 / 16, -1 / 16, 0.0]  # head 0 of 2: slope 2^(-8/2)
    sym = mods.alibi(2, symmetric=True).bias(1, 2, 3, 3, torch.float64, None)
    assert torch.equal(sym[0, 0], sym[0, 0].T) and (sym <= 0).all()


def test_t5_bias_is_learnable_through_chunked_and_sdpa():
    torch.manual_seed(0)
    module = mods.T5RelativeBias(4, num_buckets=8, max_distance=16).double()
    q, k, v = qkv(dtype=torch.float64)
    expected = None
    for backend in ("reference", "chunked", "sdpa"):
        module.zero_grad()
        attend(q, k, v, score_mod=mods.t5_bias(module), mask=masks.causal(), backend=backend).sum().backward()
        grad = module.bias.weight.grad.clone()
        assert grad.abs().sum() > 0
        if expected is None:
            expected = grad
        torch.testing.assert_close(grad, expected)


def test_t5_buckets_follow_the_definition():
    m = mods.T5RelativeBias(1, num_buckets=32, max_distance=128, bidirectional=True)
    rel = torch.tensor([-200, -128, -20, -8, -1, 0, 1, 7, 8, 20, 500])
    buckets = m.bucket(rel).tolist()
    assert buckets[4:7] == [1, 0, 17]  # exact small distances, positive ones offset by 16
    assert buckets[0] == buckets[1] == 15 and buckets[-1] == 31  # far distances share the last bucket
    assert all(a >= b for a, b in zip(buckets[:5], buckets[1:5]))  # monotone in distance


def test_dropout_keeps_the_expectation_and_is_deterministic_per_seed():
    q, k, v = qkv(b=1, hq=2, hkv=2, lq=5, lk=5, dtype=torch.float64)
    exact = attend(q, k, v, backend="reference")
    for backend in ("reference", "sdpa", "chunked"):
        torch.manual_seed(1)
        a = attend(q, k, v, dropout_p=0.3, backend=backend)
        torch.manual_seed(1)
        b = attend(q, k, v, dropout_p=0.3, backend=backend)
        assert torch.equal(a, b) and not torch.allclose(a, exact)
        mean = torch.stack([attend(q, k, v, dropout_p=0.3, backend=backend) for _ in range(3000)]).mean(0)
        assert (mean - exact).abs().max() < 0.08, backend


def test_chunked_dropout_gradient_is_consistent():
    q, k, v = make_qkv((1, 2, 1, 5, 6, 3, 2), torch.float64, requires_grad=True)

    def fn(q, k, v):
        torch.manual_seed(0)  # the same dropout mask on every call
        from attnlab.attention.backends.chunked import chunked_backend

        return chunked_backend(q, k, v, make_request(q, k, v, masks.causal(), None, None, 0.4), 2, 2)

    assert torch.autograd.gradcheck(fn, (q, k, v))


def test_weights_do_not_include_dropout():
    q, k, v = qkv(dtype=torch.float64)
    _, w = attend(q, k, v, dropout_p=0.5, backend="chunked", return_weights=True)
    torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)))


def test_auto_picks_sdpa_for_dense_banded_for_bands_and_chunked_for_sparse_or_general_mods():
    q, k, v = make_qkv((1, 2, 2, 4096, 4096, 8, 8), torch.float32)

    def pick(**kw):
        return choose_backend(make_request(q, k, v, kw.get("mask"), kw.get("score_mod"), None, 0.0))

    assert pick() == "sdpa"
    assert pick(mask=masks.causal()) == "sdpa"
    small = torch.zeros(1, 2, 1024, 8)  # a 2 x 1024^2 bias (8 MiB) is cheap to materialise for SDPA
    assert choose_backend(make_request(small, small, small, None, mods.alibi(2), None, 0.0)) == "sdpa"
    assert pick(score_mod=mods.alibi(2)) == "chunked"  # 2 x 4096^2 (128 MiB) is not
    assert pick(mask=masks.sliding_window(128)) == "banded"  # a narrow band: one fused call over blocks
    assert pick(mask=masks.sliding_window(128) & masks.padding(torch.tensor([3000]))) == "banded"
    assert pick(mask=masks.sliding_window(2500)) == "sdpa"  # windows of over half the keys
    qb, kb = torch.arange(32)[:, None], torch.arange(32)[None, :]
    columns = masks.block_sparse(((qb - kb).abs() <= 1) | (kb % 8 == 0), 128)  # no band: columns reach back
    assert pick(mask=columns) == "chunked"
    assert pick(mask=masks.block_sparse((qb - kb).abs() <= 1, 128)) == "banded"
    assert pick(score_mod=mods.softcap(20.0)) == "chunked"
    assert "flex" in BACKENDS and pick(score_mod=mods.softcap(20.0)) != "flex"  # never on CPU


def test_default_scale_is_inverse_sqrt_dim():
    q, k, v = qkv(dtype=torch.float64)
    torch.testing.assert_close(attend(q, k, v), attend(q, k, v, scale=1 / math.sqrt(q.shape[-1])))


def test_backends_register_themselves_and_requests_take_keywords():
    assert list(BACKENDS)[:5] == ["reference", "sdpa", "chunked", "banded", "flex"]
    assert {"linear", "performer", "nystrom", "linformer", "int8"} <= set(BACKENDS)
    with pytest.raises(TypeError):
        Request(1, 2, 2, 3, 3, 4, 4, torch.float32, torch.device("cpu"), None, None, 0.5, 0.0, False)
    q = torch.randn(1, 2, 3, 4, requires_grad=True)
    req = make_request(q, q, q, None, None, None, 0.0)
    assert req.offset == 0 and req.group == 1
    assert BACKENDS["int8"].refusal(req) == "rounding to int8 has no useful gradient: use it for inference"
    assert BACKENDS["reference"].refusal(req) is None
