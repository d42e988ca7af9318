"""Lesson 7: why attention beats RNNs — parallelism across positions.

Vaswani et al. (2017, Table 1): a recurrent layer needs O(n) sequential operations for a sequence of
n positions (step t waits for step t-1), a self-attention layer O(1) (every position at once, at
O(n²·d) work); sec. 1: this "precludes parallelization within training examples, which becomes
critical at longer sequence lengths". We build a Transformer encoder and a bidirectional LSTM encoder
of about the same parameter count for the same token-tagging task (`reverse`: output position i is
input token n-1-i) and measure, for sequence lengths n from 32 to 1024:

- the forward latency of ONE sequence (no batch to hide the recurrence in): best of several calls;
- training throughput (tokens/s) with batches of a fixed number of tokens: best of a few short fits;
- how much faster each model trains with all threads than with one (only when the run has more
  than one thread).

Both models are measured in turns (Transformer, LSTM, Transformer, ...) so that a change in machine
speed touches both alike. The claim is about parallel hardware, so a run with one thread is not
judged (both models then use the same vector units of one core, and the timings compare amounts of
work, not parallelism). See :func:`criteria` for the criteria.

This is a timing experiment: its metrics are wall-clock speeds and vary from run to run and machine
to machine (everything else — sizes, parameter counts, batches — is fixed). It must run alone: when
other processes use the cores it needs while it measures (read from /proc/stat, or the load average
where that is missing), or when more threads make training slower, the run is inconclusive instead
of judged. One seed per profile: the seed only changes initial weights and random symbols, which do
not change the work of dense float operations; timing noise is handled by the best-of repeats inside
the run, so more seeds would repeat the same measurement. Full profile: about a minute of CPU time
(estimated from timed calls).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.ticker
import torch
import torch.nn.functional as F
from torch import nn

from attnlab.bench.timing import time_interleaved
from attnlab.data import generate
from attnlab.figures import plt, seed_band
from attnlab.models import create_model

from ._fit import fit
from ._measure import CpuWatch, count_params, loglog_slope
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, compare, not_judged, threshold

SYMBOLS, OFFSET = 16, 4  # task symbols use ids 4..19; 0-3 stay free for the models' specials
EPOCH_TOKENS = 2**20  # an "epoch" here: one million tokens, the same for every length
PROFILES = {
    "smoke": dict(lengths=[8, 16], tokens=128, d_model=16, layers=1, heads=2, timed_steps=1, repeats=1),
    "quick": dict(
        lengths=[32, 128, 512], tokens=4096, d_model=64, layers=2, heads=4, timed_steps=3, repeats=2
    ),
    "full": dict(
        lengths=[32, 64, 128, 256, 512, 1024],
        tokens=8192,
        d_model=64,
        layers=2,
        heads=4,
        timed_steps=4,
        repeats=5,
    ),
}
# Two threads more than twice as slow as one: OpenMP threads wait on each other on oversubscribed cores.
CONTENDED_SPEEDUP = 0.5


class Tagger(nn.Module):
    """A per-position classifier on top of a library encoder (Transformer or the RNN seq2seq encoder)."""

    def __init__(self, body: nn.Module, width: int, vocab: int, recurrent: bool) -> None:
        super().__init__()
        self.body, self.head, self.recurrent = body, nn.Linear(width, vocab), recurrent

    def used_modules(self) -> list[nn.Module]:
        """The modules the forward pass uses (the RNN's unused decoder is left out of the size)."""
        return (
            [self.body.src_embed, self.body.encoder, self.head] if self.recurrent else [self.body, self.head]
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.body.encode(ids)["outputs"] if self.recurrent else self.body(ids)[0]  # (B, L, width)
        return self.head(h)  # (B, L, vocab)


def lstm_hidden_for(target: int, vocab: int, embed: int, layers: int) -> int:
    """The hidden size whose bidirectional LSTM tagger has the parameter count closest to ``target``."""

    def size(h: int) -> int:
        lstm = sum(2 * (4 * h * ((embed if i == 0 else 2 * h) + h) + 8 * h) for i in range(layers))
        return vocab * embed + lstm + 2 * h * vocab + vocab

    return min(range(4, 1024), key=lambda h: abs(size(h) - target))


def build(kind: str, p: dict, vocab: int, max_len: int, seed: int, hidden: int = 0) -> Tagger:
    torch.manual_seed(seed)
    d = p["d_model"]
    if kind == "transformer":
        body = create_model(
            "transformer-encoder",
            vocab_size=vocab,
            d_model=d,
            num_heads=p["heads"],
            num_layers=p["layers"],
            max_len=max_len,
            position="sinusoidal",
            backend="auto",
        )
        return Tagger(body, d, vocab, recurrent=False)
    body = create_model(
        "rnn-seq2seq",
        src_vocab_size=vocab,
        tgt_vocab_size=4,
        embed_dim=d,
        hidden_size=hidden,
        num_layers=p["layers"],
        cell="lstm",
        bidirectional=True,
        attention="none",
    )
    return Tagger(body, 2 * hidden, vocab, recurrent=True)


def _timed_calls(model: Tagger, length: int, p: dict, seed: int):
    """``(train, forward, batch)``, warmed up: ``train()`` runs ``timed_steps`` training steps on batches of
    ``batch`` sequences (a fixed number of tokens) and returns its seconds; ``forward()`` runs one
    sequence through the model without gradients."""
    batch = max(1, p["tokens"] // length)
    data = generate(
        "reverse", 2 * batch, seed=seed, split="train", length=length, vocab_size=SYMBOLS, offset=OFFSET
    )
    src = torch.tensor([e.src for e in data])  # (2B, L)
    tgt = torch.tensor([e.tgt for e in data])

    def batch_fn(step: int):
        rows = slice((step % 2) * batch, (step % 2 + 1) * batch)
        return src[rows], tgt[rows]

    def loss_fn(m, b):
        return F.cross_entropy(m(b[0]).flatten(0, 1), b[1].flatten())

    def train() -> float:
        return fit(model, batch_fn, loss_fn, steps=p["timed_steps"], quiet=True).seconds

    one = src[:1]

    def forward() -> None:
        with torch.no_grad():
            model(one)

    fit(model, batch_fn, loss_fn, steps=1, quiet=True)  # warm-up: allocations, kernel selection
    forward()
    return train, forward, batch


def measure(models: dict[str, Tagger], length: int, p: dict, seed: int, latency: bool = True) -> dict:
    """Per model: best training tokens/s over ``repeats`` short fits and best forward latency (ms) of one
    sequence over ``3 * repeats`` calls, the models timed in turns."""
    fns = {name: _timed_calls(m, length, p, seed) for name, m in models.items()}
    best = {name: float("inf") for name in models}
    for _ in range(p["repeats"]):
        for name, (train, _, _) in fns.items():
            best[name] = min(best[name], train())  # a fit measures its own seconds
    if latency:  # _timed_calls warmed the forward up
        forwards = {name: forward for name, (_, forward, _) in fns.items()}
        latency_ms = time_interleaved(forwards, repeats=3 * p["repeats"], warmup=0, stat=min)
    out = {}
    for name, (_, _, batch) in fns.items():
        tps = p["timed_steps"] * batch * length / best[name]
        out[name] = {"tokens_per_s": tps, "epoch_s": EPOCH_TOKENS / tps, "batch": batch}
        if latency:
            out[name]["latency_ms"] = latency_ms[name]
    return out


def thread_speedup(models: dict[str, Tagger], length: int, p: dict, seed: int, all_threads: dict) -> dict:
    """Training throughput with every thread over throughput with one, per model: how much of the
    machine's parallel hardware the model can use (at most the number of threads). 1.0 with one thread."""
    threads = torch.get_num_threads()
    if threads == 1:
        return {name: 1.0 for name in models}
    torch.set_num_threads(1)
    try:
        one = measure(models, length, p, seed, latency=False)
    finally:
        torch.set_num_threads(threads)
    return {name: all_threads[name]["tokens_per_s"] / one[name]["tokens_per_s"] for name in models}


def crossover(lengths: list[int], ratios: list[float]) -> float | None:
    """The length where ``ratios`` crosses 1 (log-log interpolation), or None if it never does."""
    for (l0, r0), (l1, r1) in zip(zip(lengths, ratios), zip(lengths[1:], ratios[1:]), strict=False):
        a, b = torch.tensor(r0).log().item(), torch.tensor(r1).log().item()
        if a * b < 0:
            t = a / (a - b)
            return float(torch.tensor(float(l0)).log().lerp(torch.tensor(float(l1)).log(), t).exp())
    return None


def run(profile: str, out: Path, seed: int) -> SeedRun:
    p = PROFILES[profile]
    vocab, lengths = SYMBOLS + OFFSET, p["lengths"]
    threads = torch.get_num_threads()
    tf = build("transformer", p, vocab, max(lengths), seed)
    tf_params = count_params(*tf.used_modules())
    hidden = lstm_hidden_for(tf_params, vocab, p["d_model"], p["layers"])
    rnn = build("lstm", p, vocab, max(lengths), seed, hidden)
    rnn_params = count_params(*rnn.used_modules())
    models = {"transformer": tf, "lstm": rnn}
    rows = {name: [] for name in models}
    with CpuWatch() as watch:
        for length in lengths:
            for name, row in measure(models, length, p, seed).items():
                rows[name].append(row)
        mid = len(lengths) // 2
        speedup = thread_speedup(models, lengths[mid], p, seed, {n: rows[n][mid] for n in models})
    ratio = [
        t["tokens_per_s"] / r["tokens_per_s"] for t, r in zip(rows["transformer"], rows["lstm"], strict=True)
    ]
    lat_ratio = [
        r["latency_ms"] / t["latency_ms"] for t, r in zip(rows["transformer"], rows["lstm"], strict=True)
    ]
    metrics = {
        "lengths": lengths,
        "threads": threads,
        "params": {"transformer": tf_params, "lstm": rnn_params},
        "lstm_hidden": hidden,
        **{
            f"{k}_{n}": [r[k] for r in rows[n]]
            for n in rows
            for k in ("tokens_per_s", "epoch_s", "latency_ms")
        },
        "batch_size": [r["batch"] for r in rows["transformer"]],
        "throughput_ratio": ratio,
        "latency_ratio_lstm_over_transformer": lat_ratio,
        "throughput_crossover_length": crossover(lengths, ratio),
        "latency_slope": {n: loglog_slope(lengths, [r["latency_ms"] for r in rows[n]]) for n in rows},
        "thread_speedup": speedup,
        "thread_speedup_length": lengths[mid],
    }
    reasons = [t for t in (watch.busy(threads), _contended(speedup)) if t is not None]
    config = {
        **p,
        "task": "reverse (token tagging)",
        "symbols": SYMBOLS,
        "epoch_tokens": EPOCH_TOKENS,
        "lstm": "bidirectional, RNNSeq2Seq encoder",
        "order": "models timed in turns; best of repeats",
    }
    timings = {
        "measure_s": round(watch.seconds, 2),
        "other_processes_cores": round(watch.others_cores, 3),
        "busy_source": watch.source,
        "load_average_1min": watch.load,
        "cores": watch.cores,
    }
    return SeedRun(metrics=metrics, config=config, timings=timings, inconclusive=reasons)


def _contended(speedup: dict) -> Text | None:
    worst = min(speedup.values())
    if worst >= CONTENDED_SPEEDUP:
        return None
    return Text(
        en=f"More threads made training slower (speed-up {worst:.2f}x from one thread to all): the cores were "
        "oversubscribed and the threads waited on each other, so these timings are not valid. Rerun on an idle machine.",
        zh=f"线程越多训练反而越慢（从 1 个线程到全部线程的加速为 {worst:.2f} 倍）：CPU 核被超额占用，线程互相等待，"
        "这些计时无效。请在空闲的机器上重新运行。",
    )


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """Training throughput, latency of one sequence and the Transformer/LSTM ratios against n."""
    m0 = per_seed[0]
    L = m0["lengths"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), dpi=110)
    for name, style in (("transformer", "o-"), ("lstm", "s--")):
        label = f"{name} ({m0['params'][name] / 1e3:.0f}k params)"
        seed_band(axes[0], L, [m[f"tokens_per_s_{name}"] for m in per_seed], style, label=label)
        seed_band(axes[1], L, [m[f"latency_ms_{name}"] for m in per_seed], style, label=name)
    seed_band(
        axes[2],
        L,
        [m["throughput_ratio"] for m in per_seed],
        "o-",
        color="tab:green",
        label="training tokens/s",
    )
    seed_band(
        axes[2], L, [m["latency_ratio_lstm_over_transformer"] for m in per_seed], "s--", color="tab:purple",
        label="1 / latency of one sequence",
    )  # fmt: skip
    axes[2].axhline(1.0, color="grey", ls=":", lw=1)
    axes[0].set(ylabel="tokens / s", title="training throughput")
    axes[1].set(ylabel="ms", title="forward latency, one sequence")
    axes[2].set(ylabel="Transformer / LSTM", title="speed of the Transformer relative to the LSTM")
    for ax in axes:
        ax.set(xscale="log", yscale="log", xlabel="sequence length n")
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xticks(L, labels=[str(n) for n in L], fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "parallelism.png")
    plt.close(fig)
    return ["parallelism.png"]


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """Vaswani et al.'s sequential-operations argument, measured on this machine (rule "every").

    - ``transformer-faster-one-sequence`` (primary): for one sequence, where no batch can fill the
      hardware while the recurrence runs its n steps, the smallest LSTM/Transformer latency ratio over
      the lengths is above 1: the Transformer is faster at every length (Table 1: O(n) vs O(1)
      sequential operations).
    - ``transformer-trains-faster`` (secondary; sec. 1: recurrence precludes parallelization within
      training examples): the Transformer trains more tokens per second at more than half of the
      lengths. Secondary: with batches of many sequences the recurrence is parallel across the batch,
      so the claim only predicts a gain where memory limits the batch.
    - ``transformer-uses-more-threads`` (secondary, compare, margin 0): going from one thread to all,
      the Transformer's training speeds up more than the LSTM's.

    The claim is about parallel hardware: with one thread there is none for the Transformer's O(1)
    sequential depth to use (both models use the same vector units), and the timings compare amounts
    of work instead. A run with one thread is therefore not judged (inconclusive).
    """
    L = per_seed[0]["lengths"]
    span = f"n={L[0]}..{L[-1]}"
    threads = min(m["threads"] for m in per_seed)
    names = ("transformer-faster-one-sequence", "transformer-trains-faster", "transformer-uses-more-threads")
    if threads < 2:
        return [
            not_judged(
                name, primary=name == names[0],
                en=f"{name}: this run had one thread, so the machine offered no parallel hardware for the claim to "
                "use; run it alone with every core (--threads)",
                zh=f"{name}：本次运行只有 1 个线程，机器没有可供并行的硬件，无法检验这一结论；请单独运行并使用所有核（--threads）",
            )
            for name in names
        ]  # fmt: skip
    worst_latency = [min(m["latency_ratio_lstm_over_transformer"]) for m in per_seed]
    share_faster = [sum(r > 1 for r in m["throughput_ratio"]) / len(m["throughput_ratio"]) for m in per_seed]
    batch_tokens = per_seed[0]["batch_size"][0] * L[0]
    n_mid = per_seed[0]["thread_speedup_length"]
    return [
        threshold(
            names[0], worst_latency, ">", 1.0,
            en=f"With {threads} threads and one sequence at a time, the LSTM's forward latency is at least {{value}}x "
            f"the Transformer's at every length ({span}; the smallest ratio; criterion: {{rule}})",
            zh=f"使用 {threads} 个线程、一次只处理一条序列时，在每个长度上（{span}）LSTM 的前向延迟至少是 Transformer 的 "
            "{value} 倍（取最小比值；判据：{rule}）",
        ),
        threshold(
            names[1], share_faster, ">", 0.5, primary=False,
            en=f"With batches of {batch_tokens} tokens, the Transformer trains more tokens per second than the LSTM at "
            f"a share {{value}} of the lengths ({span}; criterion: {{rule}})",
            zh=f"每批 {batch_tokens} 个词元时，Transformer 每秒训练的词元多于 LSTM 的长度占比为 {{value}}（{span}；"
            "判据：{rule}）",
        ),
        compare(
            names[2],
            [m["thread_speedup"]["transformer"] for m in per_seed], [m["thread_speedup"]["lstm"] for m in per_seed],
            primary=False,
            en=f"From 1 to {threads} threads at n={n_mid}, training speeds up {{a}}x for the Transformer and "
            "{b}x for the LSTM (criterion: the Transformer's speed-up {rule})",
            zh=f"在 n={n_mid} 时从 1 个线程增加到 {threads} 个，Transformer 的训练加速 {{a}} 倍，LSTM 加速 "
            "{b} 倍（判据：Transformer 的加速{rule}）",
        ),
    ]  # fmt: skip


EXPERIMENT = Experiment(
    name="parallelism",
    title=Text(
        en="Why attention beats RNNs: parallelism across positions", zh="注意力为何胜过 RNN：位置间的并行"
    ),
    history=Text(
        en="RNN encoders (Sutskever et al., 2014; Bahdanau et al., 2015) read a sentence one token at a time; "
        "the Transformer (Vaswani et al., 2017) dropped recurrence so that all positions are computed at once.",
        zh="RNN 编码器（Sutskever 等，2014；Bahdanau 等，2015）逐词读入句子；"
        "Transformer（Vaswani 等，2017）去掉了循环，使所有位置可以同时计算。",
    ),
    mechanism=Text(
        en="An LSTM's state at step t depends on step t-1, so n positions take n sequential steps; self-attention "
        "computes every position from the previous layer with a few large matrix products, trading O(n²) work "
        "for O(1) sequential depth.",
        zh="LSTM 在第 t 步的状态依赖第 t-1 步，n 个位置需要 n 个串行步；自注意力由上一层用几次大矩阵乘法同时算出所有位置，"
        "以 O(n²) 的计算量换取 O(1) 的串行深度。",
    ),
    yardstick=Text(
        en="Vaswani et al. 2017, Table 1: sequential operations O(n) for recurrent layers vs O(1) for self-attention "
        "(complexity per layer O(n·d²) vs O(n²·d)).",
        zh="Vaswani 等 2017，表 1：循环层的串行操作为 O(n)，自注意力为 O(1)（每层复杂度 O(n·d²) 对 O(n²·d)）。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
    seeds={"smoke": 1, "quick": 1, "full": 1},  # the seed does not change the work timed (module docstring)
    timing=True,
)
