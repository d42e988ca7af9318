"""Padding and length-bucketed batching.

A :class:`Batch` carries the padded ids plus the two views of padding that the rest of attnlab uses:

* ``lengths`` ``(B,)`` int64, for the engine's mask: ``masks.padding(batch.lengths)`` lets every query
  attend to keys with index < length (see :meth:`Batch.attention_mask`);
* ``key_padding_mask`` ``(B, L)`` bool, True where a token is real (False on padding).

Bucketing groups sequences of similar length so little compute is spent on padding: indices are shuffled
(seeded, per epoch), cut into pools of ``batch_size * pool_batches``, each pool is sorted by length and
cut into batches, and the batches are shuffled again.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Sampler

from .base import check_int


@dataclass
class Batch:
    """Padded sequences.

    Attributes:
        ids: ``(B, L)`` int64, padded with ``pad_id`` on the right.
        lengths: ``(B,)`` int64 number of real tokens per row.
        key_padding_mask: ``(B, L)`` bool, True on real tokens.
        indices: positions of the rows in the source dataset (None if unknown).
    """

    ids: torch.Tensor
    lengths: torch.Tensor
    key_padding_mask: torch.Tensor
    indices: list[int] | None = None

    def __len__(self) -> int:
        return self.ids.shape[0]

    def attention_mask(self):
        """The engine's ``masks.padding(lengths)``: keys beyond each row's length are hidden."""
        from attnlab.attention import masks

        return masks.padding(self.lengths)

    def to(self, device) -> Batch:
        """The batch on ``device``."""
        return Batch(
            self.ids.to(device), self.lengths.to(device), self.key_padding_mask.to(device), self.indices
        )


def pad_batch(
    seqs: Sequence[Sequence[int]],
    pad_id: int = 0,
    *,
    pad_to_multiple_of: int = 1,
    indices: list[int] | None = None,
) -> Batch:
    """Right-pad integer sequences into a :class:`Batch` (length rounded up to ``pad_to_multiple_of``)."""
    check_int("pad_to_multiple_of", pad_to_multiple_of, 1)
    if len(seqs) == 0:
        raise ValueError("seqs must hold at least one sequence")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    width = int(lengths.max())
    width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)  # (B, L)
    for row, seq in enumerate(seqs):
        if len(seq):
            ids[row, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
    key_padding_mask = torch.arange(width)[None, :] < lengths[:, None]  # (B, L)
    return Batch(ids, lengths, key_padding_mask, indices)


def bucket_batches(
    lengths: Sequence[int],
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    epoch: int = 0,
    pool_batches: int = 50,
    drop_last: bool = False,
) -> list[list[int]]:
    """Index batches of similar lengths; every index appears once (``drop_last`` drops a short batch).

    With ``shuffle=False`` the indices are simply sorted by length (stable) and cut in order.
    """
    check_int("batch_size", batch_size, 1)
    check_int("pool_batches", pool_batches, 1)
    order = list(range(len(lengths)))
    rng = random.Random(f"attnlab/buckets/{seed}/{epoch}")
    if shuffle:
        rng.shuffle(order)
        pool = batch_size * pool_batches
        pools = [sorted(order[i : i + pool], key=lambda j: lengths[j]) for i in range(0, len(order), pool)]
    else:
        pools = [sorted(order, key=lambda j: lengths[j])]
    batches = [p[i : i + batch_size] for p in pools for i in range(0, len(p), batch_size)]
    if drop_last:
        batches = [b for b in batches if len(b) == batch_size]
    if shuffle:
        rng.shuffle(batches)
    return batches


class BucketBatchSampler(Sampler):
    """A ``torch.utils.data`` batch sampler over :func:`bucket_batches`; call :meth:`set_epoch` each epoch
    for a fresh (still deterministic) order. Use as ``DataLoader(ds, batch_sampler=sampler, ...)``."""

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        pool_batches: int = 50,
        drop_last: bool = False,
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.pool_batches, self.drop_last, self.epoch = pool_batches, drop_last, 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the shuffle of epoch ``epoch``."""
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        return bucket_batches(
            self.lengths,
            self.batch_size,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch,
            pool_batches=self.pool_batches,
            drop_last=self.drop_last,
        )

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())


def iterate_batches(
    seqs: Sequence[Sequence[int]],
    batch_size: int,
    *,
    pad_id: int = 0,
    shuffle: bool = True,
    seed: int = 0,
    epoch: int = 0,
    drop_last: bool = False,
) -> Iterator[Batch]:
    """Length-bucketed, padded batches of ``seqs`` (``Batch.indices`` says which rows they are)."""
    for idx in bucket_batches(
        [len(s) for s in seqs], batch_size, shuffle=shuffle, seed=seed, epoch=epoch, drop_last=drop_last
    ):
        yield pad_batch([seqs[i] for i in idx], pad_id, indices=idx)


def pad_pairs(
    src: Sequence[Sequence[int]],
    tgt: Sequence[Sequence[int]],
    pad_id: int = 0,
    indices: list[int] | None = None,
) -> tuple[Batch, Batch]:
    """Pad source and target sequences of a seq2seq batch separately (each to its own longest row)."""
    if len(src) != len(tgt):
        raise ValueError(f"src and tgt must have the same number of sequences, got {len(src)} and {len(tgt)}")
    return pad_batch(src, pad_id, indices=indices), pad_batch(tgt, pad_id, indices=indices)


def span_mask(
    offsets: Sequence[tuple], spans: Sequence[Sequence[int]], length: int | None = None
) -> torch.Tensor:
    """Bool ``(length,)``: True on tokens whose character span overlaps any ``[start, end)`` span.

    ``offsets`` is :meth:`Tokenizer.tokenize_with_offsets` output (``(token, start, end)`` triples) or
    plain ``(start, end)`` pairs; ``length`` (default: number of tokens) lets the mask match a padded row.
    """
    n = len(offsets) if length is None else length
    out = torch.zeros(n, dtype=torch.bool)
    for i, off in enumerate(offsets[:n]):
        start, end = off[-2], off[-1]
        out[i] = any(start < e and s < end for s, e in spans)
    return out
