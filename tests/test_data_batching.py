"""Padding, length buckets, and the padding mask feeding the engine."""

import torch
from torch.utils.data import DataLoader

from attnlab.attention import attend
from attnlab.data import (
    BucketBatchSampler,
    CharTokenizer,
    bucket_batches,
    iterate_batches,
    pad_batch,
    span_mask,
)
from attnlab.data.batching import pad_pairs


def test_pad_batch_shapes_and_masks():
    b = pad_batch([[5, 6, 7], [8], []], pad_id=0, pad_to_multiple_of=4)
    assert b.ids.shape == (3, 4) and b.ids.dtype == torch.long
    assert b.ids.tolist() == [[5, 6, 7, 0], [8, 0, 0, 0], [0, 0, 0, 0]]
    assert b.lengths.tolist() == [3, 1, 0]
    assert b.key_padding_mask.tolist() == [
        [True, True, True, False],
        [True, False, False, False],
        [False] * 4,
    ]


def test_padding_mask_hides_padded_keys_in_attend():
    b = pad_batch([[1, 2, 3, 4, 5], [1, 2]], pad_id=0)
    q = k = v = torch.randn(2, 2, 5, 8)
    _, w = attend(q, k, v, mask=b.attention_mask(), backend="reference", return_weights=True)
    assert torch.all(w[1, :, :, 2:] == 0) and torch.allclose(w.sum(-1), torch.ones(2, 2, 5))
    _, w2 = attend(
        q, k, v, mask=b.key_padding_mask[:, None, None, :], backend="reference", return_weights=True
    )
    assert torch.allclose(w, w2)


def test_bucket_batches_cover_everything_once_and_reduce_padding():
    lengths = [(i * 37) % 101 + 1 for i in range(500)]
    batches = bucket_batches(lengths, 16, seed=3)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(500))
    assert batches == bucket_batches(lengths, 16, seed=3)
    assert batches != bucket_batches(lengths, 16, seed=3, epoch=1)

    def padding(bs):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in bs)

    naive = [list(range(i, min(i + 16, 500))) for i in range(0, 500, 16)]
    assert padding(batches) < padding(naive) / 4
    ordered = bucket_batches(lengths, 16, shuffle=False)
    assert [lengths[i] for b in ordered for i in b] == sorted(lengths)
    assert all(len(b) == 16 for b in bucket_batches(lengths, 16, drop_last=True))


def test_sampler_with_dataloader_and_iterate_batches():
    tok = CharTokenizer.fit(["我去了咖啡店", "then home", "x"])
    seqs = [tok.encode(t) for t in ["我去了咖啡店", "then home", "x", "咖啡", "home"]]
    sampler = BucketBatchSampler([len(s) for s in seqs], 2, seed=1)
    loader = DataLoader(seqs, batch_sampler=sampler, collate_fn=lambda rows: pad_batch(rows, tok.pad_id))
    assert sum(len(b) for b in loader) == 5 and len(sampler) == 3
    seen = []
    for batch in iterate_batches(seqs, 2, pad_id=tok.pad_id, seed=0):
        for row, i in enumerate(batch.indices):
            assert batch.ids[row, : batch.lengths[row]].tolist() == seqs[i]
            seen.append(i)
    assert sorted(seen) == list(range(5))


def test_pad_pairs_and_span_mask():
    src, tgt = pad_pairs([[1, 2, 3], [4]], [[5], [6, 7]])
    assert src.ids.shape == (2, 3) and tgt.ids.shape == (2, 2)
    tok = CharTokenizer.fit(["我去了咖啡店"])
    offsets = tok.tokenize_with_offsets("我去了咖啡店")
    assert span_mask(offsets, [[3, 6]]).tolist() == [False] * 3 + [True] * 3
    assert span_mask(offsets, [[3, 4]], length=8).tolist() == [False] * 3 + [True] + [False] * 4
