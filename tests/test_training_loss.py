import pytest
import torch

from attnlab.training import classification_loss, sequence_loss, token_cross_entropy
from attnlab.training.loss import smoothed_nll_reference


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_label_smoothing_equals_the_formula(eps):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 7, generator=g)  # (B, L, V)
    target = torch.randint(0, 7, (3, 5), generator=g)
    target[0, 3:] = -100  # padding
    target[2, 0] = -100
    got = token_cross_entropy(logits, target, label_smoothing=eps)
    # By hand: (1 - eps) * NLL + eps * mean over the vocabulary of -log p, averaged over real tokens.
    logp = torch.log_softmax(logits.double(), -1)
    keep = target != -100
    rows = []
    for b, i in keep.nonzero().tolist():
        rows.append((1 - eps) * -logp[b, i, target[b, i]] + eps * -logp[b, i].mean())
    assert got.item() == pytest.approx(torch.stack(rows).mean().item(), rel=1e-5)
    assert got.item() == pytest.approx(smoothed_nll_reference(logits, target, eps).item(), rel=1e-5)


def test_padding_is_ignored_and_all_padding_gives_zero():
    logits = torch.randn(2, 4, 6)
    target = torch.randint(0, 6, (2, 4))
    padded_logits = torch.cat([logits, torch.randn(2, 3, 6)], 1)
    padded_target = torch.cat([target, torch.full((2, 3), -100)], 1)
    plain, padded = token_cross_entropy(logits, target), token_cross_entropy(padded_logits, padded_target)
    assert torch.allclose(plain, padded)
    empty = token_cross_entropy(logits, torch.full((2, 4), -100), label_smoothing=0.1)
    assert empty.item() == 0.0
    with pytest.raises(ValueError, match="logits"):
        token_cross_entropy(logits, target[:, :3])


def test_sequence_and_classification_helpers():
    logits = torch.tensor([[[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]]])  # (1, 3, 2)
    target = torch.tensor([[0, 0, -100]])
    loss, m = sequence_loss(logits, target)
    assert m["token_acc"] == 0.5 and loss.item() > 0
    loss, m = classification_loss(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]), 0.1)
    assert m["accuracy"] == 0.5
