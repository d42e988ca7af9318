"""Measuring helpers shared by the parallelism, variable-length and multi-head experiments.

Parameter counts of the modules a comparison actually uses, best-of-n wall-clock timings (the
minimum is the least disturbed by other processes on a shared CPU), and character-level seq2seq
tensors for the generated "translation" tasks (dates, numbers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch
from torch import nn

from attnlab.data import CharTokenizer, generate
from attnlab.data.batching import pad_batch


def count_params(*modules: nn.Module) -> int:
    """Trainable parameters of ``modules`` (shared tensors counted once)."""
    seen = {id(p): p.numel() for m in modules for p in m.parameters() if p.requires_grad}
    return sum(seen.values())


def best_seconds(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """The fastest of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def loglog_slope(xs: Iterable[float], ys: Iterable[float]) -> float:
    """Least-squares slope of log(y) against log(x): 1 means linear growth, 0 constant."""
    lx = torch.tensor([float(x) for x in xs]).log()
    ly = torch.tensor([float(y) for y in ys]).log()
    lx, ly = lx - lx.mean(), ly - ly.mean()
    return float((lx * ly).sum() / (lx * lx).sum().clamp_min(1e-12))


class CharPairs:
    """A char-level seq2seq task: tokenizers fitted on the training split and padded tensors.

    ``src``/``tgt_in``/``tgt_out`` hold one split each: ``tgt_in`` starts with BOS, ``tgt_out`` ends
    with EOS, both padded with 0 (the tokenizers' ``<pad>``).
    """

    def __init__(self, task: str, n_train: int, n_test: int, seed: int, **params) -> None:
        train = generate(task, n_train, seed=seed, split="train", **params)
        test = generate(task, n_test, seed=seed, split="test", **params)
        self.src_tok = CharTokenizer.fit([e.src for e in train + test])
        self.tgt_tok = CharTokenizer.fit([e.tgt for e in train + test])
        self.train = self._encode(train)
        self.test = self._encode(test)
        self.test_targets = [e.tgt for e in test]
        self.max_tgt = max(len(e.tgt) for e in train + test) + 1

    def _encode(self, examples) -> dict:
        src = pad_batch([self.src_tok.encode(e.src) for e in examples])
        tgt = [self.tgt_tok.encode(e.tgt) for e in examples]
        tgt_in = pad_batch([[self.tgt_tok.bos_id, *t] for t in tgt]).ids
        tgt_out = pad_batch([[*t, self.tgt_tok.eos_id] for t in tgt]).ids
        return {"src": src.ids, "lengths": src.lengths, "tgt_in": tgt_in, "tgt_out": tgt_out}

    def batch(self, step: int, size: int, seed: int) -> tuple:
        """A deterministic random training batch for ``step``, trimmed to its longest row."""
        g = torch.Generator().manual_seed(seed * 100_003 + step)
        idx = torch.randint(len(self.train["src"]), (size,), generator=g)
        lengths = self.train["lengths"][idx]
        width = int(lengths.max())
        t_in, t_out = self.train["tgt_in"][idx], self.train["tgt_out"][idx]
        t_width = int((t_out != 0).sum(1).max())
        return self.train["src"][idx, :width], lengths, t_in[:, :t_width], t_out[:, :t_width]

    def decode(self, ids: torch.Tensor) -> list[str]:
        return [self.tgt_tok.decode(row.tolist()) for row in ids]
