"""Offline data for attnlab: generated tasks, real datasets shipped by installable packages,
tokenizers, length-bucketed batching and metrics. Nothing is ever downloaded.

    from attnlab.data import generate, CharTokenizer, iterate_batches
    examples = generate("coffee-shop", 100, seed=0, lang="zh")
    tok = CharTokenizer.fit(e.src for e in examples)
    for batch in iterate_batches([tok.encode(e.src) for e in examples], batch_size=16):
        mask = batch.attention_mask()          # masks.padding(batch.lengths) for attend()

See ``docs/data.md`` for every task and dataset, and ``attnlab data list`` for what is installed.
"""

from .base import SPLITS, DatasetUnavailable, Example, split_indices
from .batching import (
    Batch,
    BucketBatchSampler,
    bucket_batches,
    iterate_batches,
    pad_batch,
    pad_pairs,
    span_mask,
)
from .registry import TASKS, TaskInfo, generate, get_task
from .tokenizers import CharTokenizer, Tokenizer, WordTokenizer, load_tokenizer

__all__ = [
    "SPLITS",
    "TASKS",
    "Batch",
    "BucketBatchSampler",
    "CharTokenizer",
    "DatasetUnavailable",
    "Example",
    "TaskInfo",
    "Tokenizer",
    "WordTokenizer",
    "bucket_batches",
    "generate",
    "get_task",
    "iterate_batches",
    "load_tokenizer",
    "pad_batch",
    "pad_pairs",
    "span_mask",
    "split_indices",
]
