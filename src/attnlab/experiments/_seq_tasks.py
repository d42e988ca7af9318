"""Shared helpers of the sequence experiments (``long-range``, ``enc-dec-length``).

- :class:`RecurrentTagger`: the plain ``nn.RNN`` / ``nn.LSTM`` baselines (embedding, recurrence, linear
  read-out at every position) that attention is compared against — baselines, not attention mechanisms.
- :func:`seq2seq_batch`, :func:`seq2seq_loss`, :func:`greedy`: teacher-forced training and greedy
  decoding for any attnlab encoder-decoder (``RNNSeq2Seq`` and ``TransformerSeq2Seq`` share the
  ``(src, tgt_in, src_lengths)`` interface, but their ``greedy_decode`` return values differ).
- :func:`step_indices`: a batch of pool indices that depends only on ``(seed, step)``, so every model
  compared in one experiment sees the same examples in the same order.
- :class:`EmbeddingProbe`: keeps the output of an embedding module so ``dL/dx_t`` can be read after
  ``backward`` (the gradient-norm probe of vanishing gradients).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.data.batching import pad_batch

PAD, BOS, EOS = 0, 2, 3  # the ids of attnlab's tokenizers and model configs


class RecurrentTagger(nn.Module):
    """``ids (B, L) -> logits (B, L, V)``: an Elman RNN (tanh) or an LSTM with a linear read-out."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, cell: str = "lstm") -> None:
        super().__init__()
        if cell not in ("rnn", "lstm"):
            raise ValueError(f"cell: expected 'rnn' or 'lstm', got {cell!r}")
        self.embed = nn.Embedding(vocab_size, embed_dim)
        rnn = nn.LSTM if cell == "lstm" else nn.RNN
        self.rnn = rnn(embed_dim, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: Tensor) -> Tensor:
        h, _ = self.rnn(self.embed(ids))  # (B, L, H)
        return self.out(h)  # (B, L, V)


class EmbeddingProbe:
    """Forward hook on an embedding module that retains the gradient of its output ``(B, L, E)``."""

    def __init__(self, module: nn.Module) -> None:
        self.output: Tensor | None = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        output.retain_grad()
        self.output = output

    def grad_norm_at(self, position: int) -> Tensor:
        """``||dL/dx_position||`` per example ``(B,)`` after ``backward``."""
        return self.output.grad[:, position].norm(dim=-1)

    def remove(self) -> None:
        self.handle.remove()


def step_indices(pool_size: int, batch_size: int, seed: int, step: int) -> Tensor:
    """Deterministic batch of indices into a training pool for ``step`` (same for every model)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return torch.randint(pool_size, (batch_size,), generator=gen)


def seq2seq_batch(src: list[list[int]], tgt: list[list[int]], eos: bool = True) -> tuple:
    """``(src (B, Ls), src_lengths (B,), tgt_in (B, Lt), tgt_out (B, Lt))``; ``tgt_in`` starts with BOS,
    ``tgt_out`` ends with EOS (when ``eos``); padding is ``PAD`` (ignored by the loss)."""
    s = pad_batch(src, PAD)
    tin = pad_batch([[BOS] + (t if eos else t[:-1]) for t in tgt], PAD)
    tout = pad_batch([t + [EOS] if eos else t for t in tgt], PAD)
    return s.ids, s.lengths, tin.ids, tout.ids


def seq2seq_loss(model: nn.Module, batch: tuple) -> Tensor:
    src, src_lengths, tgt_in, tgt_out = batch
    logits, _ = model(src, tgt_in, src_lengths)  # (B, Lt, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=PAD)


@torch.no_grad()
def greedy(
    model: nn.Module, src: Tensor, src_lengths: Tensor, max_len: int
) -> tuple[list[list[int]], Tensor | None]:
    """Greedy outputs cut at EOS, and the attention weights ``(B, T, Ls)`` when the model returns them."""
    out = model.greedy_decode(src, src_lengths, max_len=max_len)
    tokens, weights = out if isinstance(out, tuple) else (out, None)
    seqs = []
    for row in tokens.tolist():
        seqs.append(row[: row.index(EOS)] if EOS in row else row)
    return seqs, weights
