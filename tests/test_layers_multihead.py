"""MultiHeadAttention: parity with torch.nn.MultiheadAttention, GQA, positions, KV cache, Shaw oracle."""

import math

import pytest
import torch

from attnlab.attention import masks, mods
from attnlab.layers import KVCache, MultiHeadAttention, ShawRelativePositions, masks_from_torch


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny ops run faster on one thread than on two contended ones.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def torch_pair(kdim=None, vdim=None, bias=True, seed=0):
    torch.manual_seed(seed)
    m = torch.nn.MultiheadAttention(16, 4, batch_first=True, kdim=kdim, vdim=vdim, bias=bias).eval()
    return m, MultiHeadAttention.from_torch(m).eval()


KPM = torch.tensor([[False] * 5, [False] * 3 + [True] * 2, [False] * 4 + [True]])  # True = padding
CAUSAL = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)  # torch: True = may NOT attend


@pytest.mark.parametrize("backend", ["auto", "reference", "chunked"])
@pytest.mark.parametrize("attn_mask,kpm", [(None, None), (None, KPM), (CAUSAL, None), (CAUSAL, KPM)])
def test_from_torch_self_attention_parity(attn_mask, kpm, backend):
    m, ours = torch_pair()
    ours.backend = backend
    x = torch.randn(3, 5, 16)
    ref, ref_w = m(x, x, x, key_padding_mask=kpm, attn_mask=attn_mask)
    mask, mod = masks_from_torch(attn_mask, kpm, num_heads=4)
    out, w = ours(x, mask=mask, score_mod=mod, need_weights=True, average_weights=True)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w, ref_w, atol=1e-5, rtol=1e-5)
    _, per_head = m(x, x, x, key_padding_mask=kpm, attn_mask=attn_mask, average_attn_weights=False)
    torch.testing.assert_close(
        ours(x, mask=mask, score_mod=mod, need_weights=True)[1], per_head, atol=1e-5, rtol=0
    )


def test_engine_masks_equal_translated_torch_masks():
    m, ours = torch_pair()
    x = torch.randn(3, 5, 16)
    ref, _ = m(x, x, x, key_padding_mask=KPM, attn_mask=CAUSAL)
    out, _ = ours(x, mask=masks.causal() & masks.padding(torch.tensor([5, 3, 4])))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_from_torch_cross_attention_with_kdim_vdim_and_float_masks():
    m, ours = torch_pair(kdim=6, vdim=7)
    q, k, v = torch.randn(2, 4, 16), torch.randn(2, 3, 6), torch.randn(2, 3, 7)
    bias = torch.randn(4, 3)
    kpm = torch.tensor([[0.0, 0.0, float("-inf")], [0.0, 0.0, 0.0]])
    ref, ref_w = m(q, k, v, attn_mask=bias, key_padding_mask=kpm)
    mask, mod = masks_from_torch(bias, kpm, num_heads=4)
    out, w = ours(q, k, v, mask=mask, score_mod=mod, need_weights=True, average_weights=True)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w, ref_w, atol=1e-5, rtol=1e-5)


def test_from_torch_per_head_mask_and_no_bias():
    m, ours = torch_pair(bias=False)
    x = torch.randn(2, 5, 16)
    per_head = torch.rand(2 * 4, 5, 5) < 0.3
    per_head[..., 0] = False  # every query keeps a key (torch gives NaN for empty rows, we give zeros)
    ref, _ = m(x, x, x, attn_mask=per_head)
    mask, _ = masks_from_torch(per_head, None, num_heads=4)
    torch.testing.assert_close(ours(x, mask=mask)[0], ref, atol=1e-5, rtol=1e-5)


def test_from_torch_rejects_what_it_cannot_copy():
    with pytest.raises(ValueError, match="batch_first"):
        MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(8, 2))
    with pytest.raises(ValueError, match="add_bias_kv"):
        MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(8, 2, add_bias_kv=True, batch_first=True))
    with pytest.raises(ValueError, match="m: expected"):
        MultiHeadAttention.from_torch(torch.nn.Linear(2, 2))


def test_gqa_equals_mha_with_repeated_kv_heads():
    torch.manual_seed(0)
    gqa = MultiHeadAttention(16, 4, num_kv_heads=2).eval()
    mha = MultiHeadAttention(16, 4).eval()
    with torch.no_grad():
        mha.q_proj.load_state_dict(gqa.q_proj.state_dict())
        mha.out_proj.load_state_dict(gqa.out_proj.state_dict())
        for name in ("k_proj", "v_proj"):
            w = getattr(gqa, name).weight.view(2, 4, 16).repeat_interleave(2, 0).reshape(16, 16)
            b = getattr(gqa, name).bias.view(2, 4).repeat_interleave(2, 0).reshape(16)
            getattr(mha, name).weight.copy_(w)
            getattr(mha, name).bias.copy_(b)
    x = torch.randn(2, 6, 16)
    torch.testing.assert_close(gqa(x, mask=masks.causal())[0], mha(x, mask=masks.causal())[0])
    mqa = MultiHeadAttention(16, 4, num_kv_heads=1)
    assert mqa.k_proj.out_features == 4 and mqa(x)[0].shape == x.shape


@pytest.mark.parametrize("position", ["none", "rope", "alibi", "t5", "shaw"])
@pytest.mark.parametrize("backend", ["reference", "sdpa", "chunked"])
def test_kv_cache_steps_equal_full_causal_attention(position, backend):
    if backend == "sdpa" and position == "t5":
        backend = "auto"  # t5's bias is additive, sdpa takes it; keep the matrix small
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 4, num_kv_heads=2, position=position, causal=True, backend=backend).eval()
    x = torch.randn(2, 7, 16)
    full, full_w = layer(x, mask=masks.causal(), need_weights=True)
    cache = KVCache()
    outs = [layer(x[:, :3], mask=masks.causal(), cache=cache)[0]]
    for t in range(3, 7):
        out, w = layer(x[:, t : t + 1], mask=masks.causal(), cache=cache, need_weights=True)
        outs.append(out)
        torch.testing.assert_close(w[..., 0, :], full_w[..., t, : t + 1], atol=1e-5, rtol=0)
    assert cache.length == 7
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=0)


def test_cross_attention_cache_projects_memory_once():
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 2).eval()
    q, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    full, _ = layer(q, memory)
    cache = KVCache(static=True)
    first, _ = layer(q[:, :1], memory, cache=cache)
    k_id = id(cache.k)
    rest, _ = layer(q[:, 1:], memory * 0, cache=cache)  # memory ignored once cached
    assert id(cache.k) == k_id and cache.length == 5
    torch.testing.assert_close(torch.cat([first, rest], 1), full)
    with pytest.raises(ValueError, match="static"):
        cache.append(cache.k, cache.v)


def shaw_brute_force(q, k, v, table_k, table_v, clip, mask):
    """Shaw et al. (2018) eq. 3-5, one query and key at a time, float64."""
    b, h, lq, d = q.shape
    lk = k.shape[2]
    out = torch.zeros(b, h, lq, d, dtype=torch.float64)
    weights = torch.zeros(b, h, lq, lk, dtype=torch.float64)
    for bi in range(b):
        for hi in range(h):
            for i in range(lq):
                pos_i = i + lk - lq
                e = torch.full((lk,), float("-inf"), dtype=torch.float64)
                for j in range(lk):
                    if mask[i, j]:
                        a = table_k[max(-clip, min(clip, j - pos_i)) + clip]
                        e[j] = q[bi, hi, i] @ (k[bi, hi, j] + a) / math.sqrt(d)
                alpha = torch.softmax(e, 0)
                weights[bi, hi, i] = alpha
                for j in range(lk):
                    if mask[i, j]:
                        a = table_v[max(-clip, min(clip, j - pos_i)) + clip]
                        out[bi, hi, i] += alpha[j] * (v[bi, hi, j] + a)
    return out, weights


@pytest.mark.parametrize("lq,lk", [(5, 5), (2, 6)])
def test_shaw_matches_brute_force_loop(lq, lk):
    torch.manual_seed(0)
    shaw = ShawRelativePositions(4, max_distance=2).double()
    q, k, v = (torch.randn(2, 2, n, 4, dtype=torch.float64) for n in (lq, lk, lk))
    out, w = shaw(q, k, v, mask=masks.causal())
    visible = masks.causal().materialize(1, 1, lq, lk)[0, 0]
    ref_out, ref_w = shaw_brute_force(
        q, k, v, shaw.key_table.weight.detach(), shaw.value_table.weight.detach(), 2, visible
    )
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)
    assert shaw.relative_index(3, 3).tolist() == [[2, 3, 4], [1, 2, 3], [0, 1, 2]]


def test_position_schemes_change_scores_and_alibi_matches_engine_mod():
    torch.manual_seed(0)
    x = torch.randn(1, 6, 16)
    plain = MultiHeadAttention(16, 2, causal=True).eval()
    alibi = MultiHeadAttention(16, 2, position="alibi", causal=True).eval()
    alibi.load_state_dict(plain.state_dict())
    expected = plain(x, mask=masks.causal(), score_mod=mods.alibi(2))[0]
    torch.testing.assert_close(alibi(x, mask=masks.causal())[0], expected)
    rope = MultiHeadAttention(16, 2, position="rope").eval()
    rope.load_state_dict(plain.state_dict())
    assert not torch.allclose(rope(x)[0], plain(x)[0])


def test_bool_tensor_mask_and_dropout_only_in_training():
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 2, dropout=0.5)
    x = torch.randn(2, 4, 16)
    allowed = torch.tril(torch.ones(4, 4, dtype=torch.bool))
    layer.eval()
    torch.testing.assert_close(layer(x, mask=allowed)[0], layer(x, mask=masks.causal())[0])
    layer.train()
    assert not torch.allclose(layer(x)[0], layer(x)[0])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"d_model": 10, "num_heads": 4}, "d_model: 10 is not divisible by num_heads=4"),
        ({"d_model": 16, "num_heads": 4, "num_kv_heads": 3}, "num_kv_heads"),
        ({"d_model": 16, "num_heads": 4, "position": "sinusoidal"}, "position: unknown scheme"),
        ({"d_model": 12, "num_heads": 4, "position": "rope"}, "even head_dim"),
        ({"d_model": 16, "num_heads": 4, "dropout": 1.0}, "dropout"),
        ({"d_model": 16, "num_heads": 4, "position": "shaw", "max_relative_position": 0}, "max_distance"),
    ],
)
def test_constructor_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(**kwargs)


def test_forward_errors():
    layer = MultiHeadAttention(16, 2)
    with pytest.raises(ValueError, match=r"query: expected \(B, Lq, 16\)"):
        layer(torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match="attn_mask"):
        masks_from_torch(torch.zeros(3, 2, 2, dtype=torch.bool), num_heads=2)
