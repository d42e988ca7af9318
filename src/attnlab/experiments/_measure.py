"""Measuring helpers shared by the parallelism, variable-length and multi-head experiments.

Parameter counts of the modules a comparison actually uses, :class:`CpuWatch` (did other
processes use the cores while a timing ran? then the timing experiment is inconclusive), and
character-level seq2seq tensors for the generated "translation" tasks (dates, numbers). Wall-clock
timings (best-of-n, functions timed in turns) come from :mod:`attnlab.bench.timing`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import torch
from torch import nn

from attnlab.data import CharTokenizer, generate
from attnlab.data.batching import pad_batch
from attnlab.threads import cpu_jiffies, load_average

from .base import Text

# An idle machine still runs a few daemons: other processes may use this much of a core on average.
IDLE_SLACK_CORES = 0.2


class CpuWatch:
    """How many cores other processes kept busy, on average, while a measurement ran.

    ``with CpuWatch() as w: ...`` then ``w.others_cores``: the machine's busy CPU time (/proc/stat)
    minus this process's own (all its threads), divided by the wall time. Without /proc/stat it falls
    back to the 1-minute load average at the end minus this process's threads (coarser: it lags).
    """

    def __enter__(self) -> CpuWatch:
        self.cores = os.cpu_count() or 1
        self.load = [load_average()]
        self._start = (cpu_jiffies(), time.process_time(), time.perf_counter())
        return self

    def __exit__(self, *exc) -> None:
        jiffies, own, wall = cpu_jiffies(), time.process_time(), time.perf_counter()
        self.load.append(load_average())
        self.seconds = wall - self._start[2]
        before = self._start[0]
        if before is not None and jiffies is not None and jiffies[1] > before[1]:
            self.cores = jiffies[2] or self.cores
            busy = (jiffies[0] - before[0]) / (jiffies[1] - before[1]) * self.cores  # cores busy on average
            mine = (own - self._start[1]) / max(self.seconds, 1e-9)
            self.others_cores = max(0.0, busy - mine)
            self.source = "/proc/stat"
        else:
            self.others_cores = max(0.0, (self.load[-1] or 0.0) - torch.get_num_threads())
            self.source = "load average"

    def busy(self, threads: int) -> Text | None:
        """Why the timings are not valid (others used cores this run needed), or None."""
        free_for_others = max(self.cores - threads, 0) + IDLE_SLACK_CORES
        if self.others_cores <= free_for_others:
            return None
        return Text(
            en=f"Other processes kept {self.others_cores:.2f} cores busy on average while the timings ran "
            f"({self.source}; this machine has {self.cores} cores and the run used {threads} thread(s), so at most "
            f"{free_for_others:.2f} were free for them): the timings do not measure the models alone. Rerun on an "
            "idle machine.",
            zh=f"计时期间其他进程平均占用了 {self.others_cores:.2f} 个核（{self.source}；本机有 {self.cores} 个核，"
            f"本次运行使用 {threads} 个线程，留给其他进程的至多 {free_for_others:.2f} 个核）：这些计时测的不只是模型本身。"
            "请在空闲的机器上重新运行。",
        )


def count_params(*modules: nn.Module) -> int:
    """Trainable parameters of ``modules`` (shared tensors counted once)."""
    seen = {id(p): p.numel() for m in modules for p in m.parameters() if p.requires_grad}
    return sum(seen.values())


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
