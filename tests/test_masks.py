"""Masks: predicates match their definitions; tile structure is conservative; composition works."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from attnlab.attention import masks
from attnlab.attention.masks import EMPTY, FULL, Mask

from strategies import any_masks


def dense(mask, b=1, h=1, lq=10, lk=10):
    return mask.materialize(b, h, lq, lk).expand(b, h, lq, lk)


def brute(pred, lq, lk, b=1, h=1):
    """A mask from a plain Python predicate over absolute positions (offset lk - lq)."""
    off = lk - lq
    return torch.tensor(
        [
            [[[bool(pred(bi, hi, i + off, j)) for j in range(lk)] for i in range(lq)] for hi in range(h)]
            for bi in range(b)
        ]
    )


@pytest.mark.parametrize("lq,lk", [(7, 7), (3, 9), (9, 4)])
def test_definitions_match_brute_force(lq, lk):
    cases = {
        masks.causal(): lambda b, h, i, j: j <= i,
        masks.sliding_window(2): lambda b, h, i, j: abs(i - j) <= 2,
        masks.sliding_window(2, causal=True): lambda b, h, i, j: 0 <= i - j <= 2,
        masks.strided(3): lambda b, h, i, j: j <= i and (i - j < 3 or (i - j) % 3 == 0),
        masks.fixed(4, 1): lambda b, h, i, j: j <= i and (j // 4 == i // 4 or j % 4 == 3),
        masks.prefix_lm(3): lambda b, h, i, j: j < 3 or j <= i,
        masks.global_tokens([1]): lambda b, h, i, j: i == 1 or j == 1,
        ~masks.causal(): lambda b, h, i, j: j > i,
        masks.causal() & masks.sliding_window(1): lambda b, h, i, j: 0 <= i - j <= 1,
        masks.padding(torch.tensor([2, 5])): lambda b, h, i, j: j < [2, 5][b],
    }
    for mask, pred in cases.items():
        got = dense(mask, 2, 1, lq, lk)
        assert torch.equal(got, brute(pred, lq, lk, b=2)), mask


def test_document_and_block_sparse():
    ids = torch.tensor([0, 0, 1, 1, 1, 2])
    got = dense(masks.document(ids), lq=6, lk=6)
    assert torch.equal(got, brute(lambda b, h, i, j: ids[i] == ids[j], 6, 6))
    layout = torch.tensor([[True, False], [True, True]])
    got = dense(masks.block_sparse(layout, 3), lq=6, lk=6)
    assert torch.equal(got, brute(lambda b, h, i, j: bool(layout[i // 3, j // 3]), 6, 6))
    per_head = torch.stack([layout, ~layout])
    got = masks.block_sparse(per_head, 3).materialize(1, 2, 6, 6)
    assert torch.equal(got[0, 1], ~got[0, 0])


def test_bigbird_layout_counts():
    m = masks.bigbird(64 * 8, block=64, window_blocks=3, global_blocks=1, random_blocks=2, seed=3)
    layout = m.params["layout"]
    assert layout[0].all() and layout[:, 0].all()  # global block row and column
    for row in range(1, 8):
        band = sum(1 for c in range(8) if abs(row - c) <= 1 or c == 0)
        assert int(layout[row].sum()) == min(8, band + 2)  # window + global + exactly 2 random blocks
    again = masks.bigbird(64 * 8, block=64, window_blocks=3, global_blocks=1, random_blocks=2, seed=3)
    assert torch.equal(again.params["layout"], layout)


@given(st.data(), st.integers(1, 40), st.integers(1, 40), st.integers(1, 17), st.integers(1, 17))
def test_block_states_are_conservative(data, lq, lk, bq, bk):
    mask = data.draw(any_masks(2, 3, lq, lk))
    if mask is None:
        return
    mask = mask if isinstance(mask, Mask) else Mask.from_tensor(mask)
    grid = dense(mask, 2, 3, lq, lk)
    states = mask.block_states(lq, lk, bq, bk)
    assert states.shape == (math.ceil(lq / bq), math.ceil(lk / bk))
    for i in range(states.shape[0]):
        for j in range(states.shape[1]):
            tile = grid[:, :, i * bq : (i + 1) * bq, j * bk : (j + 1) * bk]
            if states[i, j] == EMPTY:
                assert not tile.any(), (mask, i, j)
            if states[i, j] == FULL:
                assert tile.all(), (mask, i, j)


def test_structure_skips_tiles_for_local_attention():
    states = masks.sliding_window(256).block_states(16384, 16384, 256, 256)
    assert (states != EMPTY).sum(1).max() == 3  # of 64 key blocks per query block
    assert (masks.causal().block_states(1024, 1024, 128, 128) == FULL).sum() == 28


def test_mask_call_and_bind_follow_flex_convention():
    m = masks.causal()
    b, h = torch.tensor(0), torch.tensor(0)
    assert bool(m(b, h, torch.tensor(3), torch.tensor(3)))
    assert not bool(m(b, h, torch.tensor(3), torch.tensor(4)))
    bound = m.bind(2, 6)  # two new queries at absolute positions 4 and 5
    assert bool(bound(b, h, torch.tensor(0), torch.tensor(4)))
    assert not bool(bound(b, h, torch.tensor(0), torch.tensor(5)))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: masks.sliding_window(-1), "window"),
        (lambda: masks.padding(torch.tensor([1.5])), "lengths"),
        (lambda: masks.strided(0), "stride"),
        (lambda: masks.fixed(4, 5), "summary"),
        (lambda: masks.block_sparse(torch.ones(2, 2), 4), "layout"),
        (lambda: masks.document(torch.rand(5)), "ids"),
        (lambda: Mask.from_tensor(torch.ones(3, 3)), "bool"),
    ],
)
def test_bad_mask_arguments_name_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_block_sparse_layout_too_small_is_a_clear_error():
    with pytest.raises(ValueError, match="layout covers"):
        masks.block_sparse(torch.ones(2, 2, dtype=torch.bool), 4).materialize(1, 1, 9, 9)


@given(
    st.integers(1, 6),
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(0, 999),
    st.booleans(),
    st.integers(0, 8),
)
def test_block_sparse_states_are_exact(block, nkb, extra, bq, bk, seed, per_head, drop):
    """Tile states read from the layout equal the states of the materialised token grid, offsets included."""
    nqb = nkb + extra - 1  # query positions run to Lk - 1, so the layout needs at least as many rows
    shape = (3, nqb, nkb) if per_head else (nqb, nkb)
    layout = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < 0.5
    mask = masks.block_sparse(layout, block)
    lk = nkb * block
    lq = max(1, lk - drop)  # Lq < Lk: queries sit lower-right (offset Lk - Lq)
    grid = dense(mask, 1, 3, lq, lk)[0]  # (H, Lq, Lk)
    states = mask.block_states(lq, lk, bq, bk)
    for i in range(states.shape[0]):
        for j in range(states.shape[1]):
            tile = grid[:, i * bq : (i + 1) * bq, j * bk : (j + 1) * bk]
            expected = EMPTY if not tile.any() else FULL if tile.all() else masks.PARTIAL
            assert states[i, j] == expected, (i, j)


def test_block_sparse_states_do_not_build_a_token_grid():
    """64k tokens: the token grid would be 4 G cells; the layout has 512 x 512 blocks."""
    nb = 512
    layout = (torch.arange(nb)[:, None] - torch.arange(nb)[None, :]).abs() <= 1
    states = masks.block_sparse(layout, 128).block_states(nb * 128, nb * 128, 256, 256)
    assert states.shape == (256, 256) and (states != EMPTY).sum(1).max() == 3


def test_masks_expose_the_structure_backends_read():
    assert masks.causal().is_causal and masks.full().is_full
    assert masks.sliding_window(4, causal=True).band == (4, 0)
    assert not masks.sliding_window(4).is_causal and not masks.causal().is_full
    lengths = torch.tensor([3, 5])
    assert torch.equal(masks.padding(lengths).key_lengths, lengths)
    layout = torch.eye(4, dtype=torch.bool)
    sparse = masks.block_sparse(layout, 16)
    assert sparse.block == 16 and torch.equal(sparse.layout, layout[None])
    assert Mask.from_tensor(torch.ones(2, 2, dtype=torch.bool)).dense is not None
    both = masks.causal() & (masks.padding(lengths) & masks.full())
    assert [m.name for m in both.conjuncts()] == ["causal", "padding", "full"]
    assert (masks.causal() | masks.full()).conjuncts()[0].parts == ()
    # Named compositions are patterns of their own: no structure of their parts leaks through.
    fixed = masks.fixed(4)
    assert fixed.conjuncts() == (fixed,) and fixed.band is None
    assert masks.bigbird(128, block=64).block is None
