"""FlexAttention backend: agrees with the reference where it can run, refuses clearly where it cannot."""

import pytest
import torch

from attnlab.attention import attend, masks, mods

from strategies import make_qkv


@pytest.mark.slow
def test_flex_matches_reference_for_inference():
    # One compiled call (tens of seconds on CPU) covering GQA, a composite mask with fully-masked
    # rows and a general score mod.
    q, k, v = make_qkv((2, 4, 2, 64, 64, 16, 16), torch.float32)
    mask = masks.sliding_window(8) & masks.padding(torch.tensor([50, 64]))
    mod = mods.softcap(5.0)
    with torch.no_grad():
        out = attend(q, k, v, mask=mask, score_mod=mod, backend="flex")
    ref = attend(q, k, v, mask=mask, score_mod=mod, backend="reference")
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=2e-5)
    assert (out[0, :, 59:] == 0).all()


def test_flex_refuses_what_it_cannot_do_on_cpu():
    q, k, v = make_qkv((1, 2, 2, 8, 8, 4, 4), torch.float32, requires_grad=True)
    with pytest.raises(ValueError, match="backend='flex' cannot run.*backward"):
        attend(q, k, v, backend="flex")
    with torch.no_grad(), pytest.raises(ValueError, match="dropout"):
        attend(q, k, v, backend="flex", dropout_p=0.1)
