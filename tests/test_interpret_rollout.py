"""Rollout and flow against closed forms on small graphs."""

import pytest
import torch

from attnlab.interpret import attention_flow, attention_rollout


def random_attention(layers, length, heads=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.softmax(torch.randn(heads, length, length, generator=g, dtype=torch.float64), -1)
        for _ in range(layers)
    ]


def test_rollout_is_the_product_of_residual_mixed_layers():
    atts = random_attention(3, 5)
    mixed = [0.5 * a.mean(0) + 0.5 * torch.eye(5, dtype=torch.float64) for a in atts]
    torch.testing.assert_close(attention_rollout(atts), mixed[2] @ mixed[1] @ mixed[0])
    torch.testing.assert_close(attention_rollout(atts).sum(-1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(
        attention_rollout(atts, residual=False), atts[2].mean(0) @ atts[1].mean(0) @ atts[0].mean(0)
    )


def test_flow_through_one_layer_is_the_edge_weight():
    atts = random_attention(1, 4, seed=1)
    flow = attention_flow(atts, output_position=2, residual=False)
    torch.testing.assert_close(flow, atts[0].mean(0)[2])


def test_flow_through_two_layers_is_a_sum_of_bottlenecks():
    # Paths i -> k -> j through distinct middle nodes k share no edge: flow = sum_k min(A2[i,k], A1[k,j]).
    a1, a2 = (a.mean(0) for a in random_attention(2, 5, seed=2))
    flow = attention_flow([a1, a2], output_position=0, residual=False)
    expected = torch.stack([torch.minimum(a2[0], a1[:, j]).sum() for j in range(5)])
    torch.testing.assert_close(flow, expected)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="attentions"):
        attention_rollout([torch.ones(3, 4)])
    with pytest.raises(ValueError, match="output_position"):
        attention_flow(random_attention(1, 3), output_position=3)
