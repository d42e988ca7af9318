"""Position encodings: the formulas, RoPE's relative property, KV-cache offsets."""

import math

import pytest
import torch

from attnlab.attention import positions


def test_sinusoidal_matches_the_formula():
    pe = positions.sinusoidal(50, 16, dtype=torch.float64)
    for p in (0, 7, 49):
        for i in range(8):
            angle = p / 10000 ** (2 * i / 16)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(angle))
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(angle))
    odd = positions.sinusoidal(5, 7)
    assert odd.shape == (5, 7)
    torch.testing.assert_close(positions.sinusoidal(3, 16, offset=4), positions.sinusoidal(7, 16)[4:])


def test_rope_scores_depend_only_on_relative_position():
    torch.manual_seed(0)
    q = torch.randn(1, 1, 1, 32, dtype=torch.float64)
    k = torch.randn(1, 1, 1, 32, dtype=torch.float64)

    def score(pq, pk):
        rq = positions.rope(q, positions=torch.tensor([pq]))
        rk = positions.rope(k, positions=torch.tensor([pk]))
        return (rq * rk).sum().item()

    assert score(5, 2) == pytest.approx(score(105, 102))
    assert score(0, 0) == pytest.approx((q * k).sum().item())  # position 0 is the identity
    assert score(5, 2) != pytest.approx(score(5, 3))


def test_rope_preserves_norm_and_supports_cache_offsets():
    x = torch.randn(2, 3, 10, 8, dtype=torch.float64)
    rotated = positions.rope(x)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))
    tail = positions.rope(x[:, :, 6:], offset=6)  # the last 4 tokens of a cached sequence
    torch.testing.assert_close(tail, rotated[:, :, 6:])
    per_batch = positions.rope(x, positions=torch.arange(10).expand(2, 10))
    torch.testing.assert_close(per_batch, rotated)


def test_position_modules_and_errors():
    x = torch.zeros(2, 5, 8)
    assert torch.equal(positions.SinusoidalPositions(8)(x)[0], positions.sinusoidal(5, 8))
    learned = positions.LearnedPositions(6, 8)
    assert learned(x).shape == x.shape
    with pytest.raises(ValueError, match="max_len"):
        learned(x, offset=2)
    with pytest.raises(ValueError, match="even"):
        positions.rope(torch.zeros(1, 1, 3, 5))
    with pytest.raises(ValueError, match=r"\(B, H, L, D\)"):
        positions.rope(torch.zeros(3, 4))
    q, k = positions.RotaryEmbedding(8)(torch.ones(1, 1, 3, 8), torch.ones(1, 1, 3, 8), offset=2)
    assert q.shape == k.shape == (1, 1, 3, 8)
