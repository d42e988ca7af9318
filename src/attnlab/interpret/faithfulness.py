"""Is attention an explanation? Counterfactual attention and rank agreement.

Jain & Wallace (2019), "Attention is not Explanation": (1) the ranking of tokens by attention weight
should agree with other importance measures — Kendall's τ between attention and gradient /
leave-one-out importance (:mod:`attnlab.interpret.importance`); (2) if attention explains the output,
changing it should change the output — they permute the weights of the unmasked tokens,
``α' = α[π]``, and report the median over many permutations of ``Δŷ = TVD(ŷ(α), ŷ(α'))`` with
``TVD(p, q) = ½ Σ_c |p_c - q_c|`` (or the Jensen-Shannon divergence
``JSD(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m)``, ``m = ½ (p + q)``, in nats, at most ln 2).
Wiegreffe & Pinter (2019), "Attention is not not Explanation": a baseline that replaces the learned
weights by uniform ones, ``α_t = 1 / n`` over the n unmasked tokens; where accuracy then drops,
attention matters for the task.

The intervention: attnlab's attention layers take a ``weights_override(weights, visible) -> weights``
hook (:class:`~attnlab.layers.MultiHeadAttention`, :class:`~attnlab.models.RNNSeq2Seq`; the HAN
:class:`~attnlab.models.classifier.AttentionPooling` gets a forward hook recomputing ``s = Σ_t α'_t h_t``).
:func:`override_attention` installs one for the duration of a ``with`` block.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..layers.multihead import MultiHeadAttention
from ..models.classifier import AttentionPooling
from ..models.rnn_seq2seq import RNNSeq2Seq

WeightsOverride = Callable[[Tensor, Tensor], Tensor]
"""``fn(weights (..., Lk), visible bool broadcastable to weights) -> new weights`` (same shape)."""

ATTENTION_TYPES = (MultiHeadAttention, AttentionPooling, RNNSeq2Seq)


# -- replacement weights ---------------------------------------------------------------------------
def uniform_weights(weights: Tensor, visible: Tensor) -> Tensor:
    """Wiegreffe & Pinter's baseline: ``1 / n`` on each of the n visible keys, 0 elsewhere (and on rows
    with no visible key)."""
    vis = visible.expand(weights.shape).to(weights.dtype)
    return vis / vis.sum(-1, keepdim=True).clamp_min(1)


def permuted_weights(generator: torch.Generator | None = None) -> WeightsOverride:
    """Jain & Wallace's permutation: each row's weights shuffled among its visible keys only (padding and
    masked keys keep weight 0). Every call draws fresh permutations from ``generator``."""

    def permute(weights: Tensor, visible: Tensor) -> Tensor:
        vis = visible.expand(weights.shape)
        noise = torch.rand(weights.shape, generator=generator, dtype=torch.float64).to(weights.device)
        source = torch.where(vis, noise, 2.0).argsort(-1)  # visible keys first, in random order
        home = (~vis).to(torch.int8).argsort(dim=-1, stable=True)  # visible keys first, in place order
        out = torch.zeros_like(weights).scatter(-1, home, weights.gather(-1, source))
        return out.masked_fill(~vis, 0.0)

    return permute


def detached_weights(weights: Tensor, visible: Tensor) -> Tensor:
    """The same weights, as constants for autograd (Jain & Wallace compute gradients this way)."""
    return weights.detach()


# -- installing an override ------------------------------------------------------------------------
def attention_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The modules inside ``model`` whose attention weights :func:`override_attention` can replace."""
    return {name: m for name, m in model.named_modules() if isinstance(m, ATTENTION_TYPES)}


def _pooling_hook(module: AttentionPooling, fn: WeightsOverride):
    def hook(mod, args, kwargs, output):
        h = args[0] if args else kwargs["h"]
        lengths = args[1] if len(args) > 1 else kwargs.get("lengths")
        alpha = output[1]  # (B, L)
        visible = torch.ones_like(alpha, dtype=torch.bool)
        if lengths is not None:
            visible = (
                torch.arange(alpha.shape[1], device=alpha.device)[None] < lengths.to(alpha.device)[:, None]
            )
        alpha = fn(alpha, visible)
        return (alpha[:, :, None] * h).sum(dim=1), alpha  # s = Σ_t α'_t h_t

    return module.register_forward_hook(hook, with_kwargs=True)


@contextmanager
def override_attention(
    target: nn.Module | Sequence[nn.Module], fn: WeightsOverride
) -> Iterator[list[nn.Module]]:
    """Run with the attention weights of ``target`` replaced by ``fn(weights, visible)``.

    ``target`` is an attention module (see :data:`ATTENTION_TYPES`), a list of them, or a model, in which
    case every attention module inside it is overridden. Yields the overridden modules; the previous
    state is restored on exit, also after an exception.
    """
    modules = [target] if isinstance(target, nn.Module) else list(target)
    if len(modules) == 1 and not isinstance(modules[0], ATTENTION_TYPES):
        modules = list(attention_modules(modules[0]).values())
    bad = [type(m).__name__ for m in modules if not isinstance(m, ATTENTION_TYPES)]
    if bad or not modules:
        raise ValueError(
            f"target: expected a model or module(s) with replaceable attention "
            f"({', '.join(t.__name__ for t in ATTENTION_TYPES)}), got {bad or 'none found'}"
        )
    handles, previous = [], []
    try:
        for m in modules:
            if isinstance(m, AttentionPooling):
                handles.append(_pooling_hook(m, fn))
            else:
                previous.append((m, m.weights_override))
                m.weights_override = fn
        yield modules
    finally:
        for h in handles:
            h.remove()
        for m, old in previous:
            m.weights_override = old


# -- a model seen as "token ids -> output distribution" --------------------------------------------
@dataclass
class Explainee:
    """What the faithfulness tests need from a model (put it in ``eval()`` mode first).

    Args:
        model: the module (its attention modules are the default intervention target).
        embedding: the ``nn.Embedding`` producing the input token vectors (gradient measures hook its
            output; its first call in a forward pass must be the one for the input tokens).
        forward: ``(ids (N, L), lengths (N,), rows (N,)) -> logits (N, C)`` or ``(N, T, C)``; ``rows``
            says which original example each input row is a variant of (for per-example context such
            as a decoder's teacher-forced targets).
        mask_id: the id leave-one-out writes over a token in ``mode="mask"``.
    """

    model: nn.Module
    embedding: nn.Embedding
    forward: Callable[[Tensor, Tensor, Tensor], Tensor]
    mask_id: int = 0

    def probs(self, ids: Tensor, lengths: Tensor, rows: Tensor | None = None) -> Tensor:
        """The output distribution ``softmax(logits)``, ``(N, C)`` or ``(N, T, C)``."""
        rows = torch.arange(ids.shape[0]) if rows is None else rows
        return torch.softmax(self.forward(ids, lengths, rows), dim=-1)


def explain_classifier(model: nn.Module, mask_id: int = 0) -> Explainee:
    """An :class:`Explainee` for :class:`~attnlab.models.TransformerClassifier` (token-id input)."""
    tokens = getattr(getattr(getattr(model, "encoder", None), "embed", None), "tokens", None)
    if not isinstance(tokens, nn.Embedding):
        raise ValueError(
            f"model: expected a TransformerClassifier with token embeddings, got {type(model).__name__}"
        )
    return Explainee(model, tokens, lambda ids, lengths, rows: model(ids, lengths)[0], mask_id)


def explain_seq2seq(model: RNNSeq2Seq, tgt_in: Tensor, mask_id: int = 0) -> Explainee:
    """An :class:`Explainee` for :class:`~attnlab.models.RNNSeq2Seq` with teacher-forced ``tgt_in (B, Lt)``:
    the output is the next-token distribution of every target step, ``(N, Lt, V)``."""
    if not isinstance(model, RNNSeq2Seq):
        raise ValueError(f"model: expected an RNNSeq2Seq, got {type(model).__name__}")
    return Explainee(
        model, model.src_embed, lambda ids, lengths, rows: model(ids, tgt_in[rows], lengths)[0], mask_id
    )


# -- output distances and rank agreement -----------------------------------------------------------
def _per_example(d: Tensor) -> Tensor:
    return d.mean(dim=-1) if d.dim() > 1 else d  # (N, T) -> (N,): sequence outputs average over steps


def tvd(p: Tensor, q: Tensor) -> Tensor:
    """Total variation distance ``½ Σ_c |p_c - q_c|`` over the last dim (mean over steps of (N, T, C))."""
    return _per_example(0.5 * (p - q).abs().sum(-1))


def jsd(p: Tensor, q: Tensor) -> Tensor:
    """Jensen-Shannon divergence in nats (in [0, ln 2]) over the last dim (mean over steps of (N, T, C))."""
    m = 0.5 * (p + q)

    def kl(a: Tensor) -> Tensor:
        return torch.where(a > 0, a * (a.clamp_min(1e-300).log() - m.clamp_min(1e-300).log()), 0.0).sum(-1)

    return _per_example((0.5 * kl(p) + 0.5 * kl(q)).clamp_min(0.0))


DISTANCES = {"tvd": tvd, "jsd": jsd}


def kendall_tau(a: Sequence[float] | Tensor, b: Sequence[float] | Tensor) -> float:
    """Kendall's τ_b (Kendall, 1945; the tie-corrected form ``scipy.stats.kendalltau`` computes):

        τ_b = Σ_{i<j} sgn(a_i - a_j) sgn(b_i - b_j) / sqrt(n_a n_b),

    where ``n_a`` (``n_b``) counts the pairs not tied in ``a`` (``b``). NaN when either is constant.
    """
    a = torch.as_tensor(a, dtype=torch.float64).flatten()
    b = torch.as_tensor(b, dtype=torch.float64).flatten()
    if a.shape != b.shape:
        raise ValueError(f"a, b: expected the same number of values, got {a.numel()} and {b.numel()}")
    if a.numel() < 2:
        raise ValueError(f"a: expected at least 2 values to rank, got {a.numel()}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError("a, b: expected finite values (no NaN or inf)")
    i, j = torch.triu_indices(a.numel(), a.numel(), offset=1)
    sa, sb = torch.sign(a[i] - a[j]), torch.sign(b[i] - b[j])  # (n(n-1)/2,)
    na, nb = int((sa != 0).sum()), int((sb != 0).sum())
    if na == 0 or nb == 0:
        return math.nan
    return float((sa * sb).sum()) / math.sqrt(na * nb)


def importance_correlation(a: Tensor, b: Tensor, lengths: Tensor) -> Tensor:
    """Per-example Kendall τ between two importance maps ``(B, L)`` over each example's real tokens."""
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(
            f"a, b: expected two (B, L) maps of one shape, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    return torch.tensor([kendall_tau(a[i, :n], b[i, :n]) for i, n in enumerate(lengths.tolist())])


# -- counterfactual attention ----------------------------------------------------------------------
@torch.no_grad()
def permutation_test(
    explainee: Explainee,
    ids: Tensor,
    lengths: Tensor,
    target: nn.Module | Sequence[nn.Module] | None = None,
    *,
    n_permutations: int = 100,
    measure: str = "tvd",
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """Jain & Wallace's permutation experiment on a batch.

    Returns ``changes (B, n_permutations)`` (output distance to the unpermuted model), their
    ``median_change (B,)`` and ``flip_rate (B,)`` (share of permutations that change the argmax).
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations: expected >= 1, got {n_permutations}")
    if measure not in DISTANCES:
        raise ValueError(f"measure: expected one of {sorted(DISTANCES)}, got {measure!r}")
    base = explainee.probs(ids, lengths)
    changes, flips = [], []
    with override_attention(explainee.model if target is None else target, permuted_weights(generator)):
        for _ in range(n_permutations):
            p = explainee.probs(ids, lengths)
            changes.append(DISTANCES[measure](base, p))
            flips.append(_per_example((p.argmax(-1) != base.argmax(-1)).double()))
    changes_t = torch.stack(changes, dim=1)  # (B, n_permutations)
    return {
        "changes": changes_t,
        "median_change": changes_t.median(dim=1).values,
        "flip_rate": torch.stack(flips, dim=1).mean(dim=1),
    }


@torch.no_grad()
def uniform_test(
    explainee: Explainee,
    ids: Tensor,
    lengths: Tensor,
    target: nn.Module | Sequence[nn.Module] | None = None,
    *,
    labels: Tensor | None = None,
    measure: str = "tvd",
) -> dict[str, Tensor | float]:
    """Wiegreffe & Pinter's uniform-attention baseline, applied at test time to a trained model.

    Returns ``change (B,)`` (output distance), ``flip_rate`` (share of predictions that change) and,
    with ``labels`` shaped like the predictions, ``accuracy`` and ``uniform_accuracy``.
    """
    if measure not in DISTANCES:
        raise ValueError(f"measure: expected one of {sorted(DISTANCES)}, got {measure!r}")
    base = explainee.probs(ids, lengths)
    with override_attention(explainee.model if target is None else target, uniform_weights):
        p = explainee.probs(ids, lengths)
    pred0, pred1 = base.argmax(-1), p.argmax(-1)
    out: dict[str, Tensor | float] = {
        "change": DISTANCES[measure](base, p),
        "flip_rate": float((pred0 != pred1).double().mean()),
    }
    if labels is not None:
        if labels.shape != pred0.shape:
            raise ValueError(f"labels: expected shape {tuple(pred0.shape)}, got {tuple(labels.shape)}")
        out["accuracy"] = float((pred0 == labels).double().mean())
        out["uniform_accuracy"] = float((pred1 == labels).double().mean())
    return out
