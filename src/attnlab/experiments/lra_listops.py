"""Efficient attention on mini-ListOps: accuracy against cost, the Long Range Arena trade-off.

Tay et al. (2021, "Long Range Arena", Table 1) report ListOps test accuracy (%) for ten efficient
Transformers and the vanilla one: Transformer 36.37, Local Attention 15.82, Sparse Transformer 17.07,
Longformer 35.63, Linformer 35.70, Reformer 37.27, Sinkhorn Transformer 33.67, Synthesizer 36.99,
BigBird 36.05, Linear Transformer 16.13, Performer 18.01 — on sequences of up to 2,000 tokens. We
train equal-size Transformer classifiers that differ only in their attention — full (exact softmax),
local (sliding window), sparse (Sparse Transformer strided pattern), linear (elu+1) and Performer
(FAVOR+), the four efficient variants that LRA finds about 20 points below the Transformer — for a
fixed number of steps on the same generated expressions (depth <= 4, <= 5 arguments), and measure
test accuracy, the activation memory kept for backward at the longest training sequence, and
(timings, not judged) training speed and dynamic int8 inference. The expressions are short: the
generator is asked for 40-250 tokens, but the full profile's sequences (seeds 0-2) are 40 to 125-143
tokens, median 47, with 0.2% longer than 100 (each run's range is in ``metrics.lengths``); LRA's
ListOps sequences are up to 2,000 tokens, so this is a far shorter, easier version of the task.

Criteria (primary; rule: every seed, seeds paired — same data and initialisation seed): full attention
is more than 5 points above the majority class (it learned something beyond the label prior), and it
beats each of local, sparse, linear and Performer by more than 2 points (about two standard errors of
an accuracy near 0.3 on the full profile's 2,000 test expressions).

Full profile: 5 variants x 2,500 steps; about 0.045 s of CPU per step on one core, so about 10
minutes per seed.
"""

from __future__ import annotations

import statistics
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from attnlab.data import generate
from attnlab.data.batching import pad_batch
from attnlab.data.tasks.listops import OPERATORS
from attnlab.figures import bar_errors, mean_min_max, plt
from attnlab.models import AttentionConfig, create_model

from ._fit import fit
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, compare, fmt_seeds, not_judged, threshold

VOCAB = ["<pad>", "]"] + [f"[{op}" for op in OPERATORS] + [str(d) for d in range(10)]
TOKEN_ID = {t: i for i, t in enumerate(VOCAB)}
# LRA Table 1, ListOps column (%), for the variants trained here.
LRA_TABLE1 = {"full": 36.37, "local": 15.82, "sparse": 17.07, "linear": 16.13, "performer": 18.01}
EFFICIENT = ("local", "sparse", "linear", "performer")
# Fixed step counts (no time limit); lengths: the generator's requested (min, max) tokens.
PROFILES = {
    "smoke": dict(train=64, test=32, lengths=(10, 30), steps=3, batch=16, d_model=16, layers=1, window=4),
    "quick": dict(
        train=3000, test=300, lengths=(20, 60), steps=300, batch=32, d_model=32, layers=2, window=8
    ),
    "full": dict(
        train=20000, test=2000, lengths=(40, 250), steps=2500, batch=32, d_model=64, layers=2, window=16
    ),
}


def variants(window: int) -> dict[str, dict]:
    """AttentionConfig fields per attention variant: the only difference between the models."""
    return {
        "full": {"backend": "auto"},
        "local": {"attention_mask": {"name": "sliding_window", "window": window}, "backend": "auto"},
        "sparse": {
            "attention_mask": {"name": "strided", "stride": window, "causal": False},
            "backend": "auto",
        },
        "linear": {"backend": "linear"},
        "performer": {"backend": "performer"},
    }


def encode(examples) -> tuple[list[list[int]], torch.Tensor]:
    return [[TOKEN_ID[t] for t in ex.src.split()] for ex in examples], torch.tensor(
        [ex.tgt for ex in examples]
    )


def saved_activation_mb(model, batch) -> float:
    """MiB of tensors autograd keeps for backward in one forward pass: the training memory that grows
    with N² for full attention and with N for local and linear attention."""
    seen, total = set(), 0

    def pack(t):
        nonlocal total
        key = (t.untyped_storage().data_ptr(), t.dtype)
        if key not in seen:  # views of one storage count once
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(batch.ids, batch.lengths)
    return total / 2**20


def accuracy(model, seqs, labels, batch: int = 128) -> float:
    correct = 0
    with torch.no_grad():
        for i in range(0, len(seqs), batch):
            b = pad_batch(seqs[i : i + batch])
            correct += (model(b.ids, b.lengths)[0].argmax(-1) == labels[i : i + batch]).sum().item()
    return correct / len(seqs)


def run(profile_name: str, out: Path, seed: int) -> SeedRun:
    p = PROFILES[profile_name]
    lo, hi = p["lengths"]
    gen = dict(max_depth=4, max_args=5, min_length=lo, max_length=hi)
    train_x, train_y = encode(generate("listops", p["train"], seed=seed, split="train", **gen))
    test_x, test_y = encode(generate("listops", p["test"], seed=seed, split="test", **gen))
    majority = torch.bincount(train_y, minlength=10).argmax().item()
    majority_acc = (test_y == majority).float().mean().item()
    longest = pad_batch([max(train_x, key=len)] * p["batch"])
    sizes = [len(x) for x in train_x + test_x]

    def batch_fn(step: int):
        g = torch.Generator().manual_seed(seed * 100_003 + step)
        idx = torch.randint(len(train_x), (p["batch"],), generator=g).tolist()
        return pad_batch([train_x[i] for i in idx]), train_y[idx]

    def loss_fn(model, batch):
        b, y = batch
        return F.cross_entropy(model(b.ids, b.lengths)[0], y)

    rows, timings = {}, {}
    for name, attention in variants(p["window"]).items():
        torch.manual_seed(seed)
        model = create_model(
            "transformer-classifier", vocab_size=len(VOCAB), num_classes=10, pooling="mean",
            d_model=p["d_model"], num_heads=4, num_layers=p["layers"], max_len=hi + 1, position="sinusoidal",
            attention=AttentionConfig(**attention),
        )  # fmt: skip
        log = fit(
            model, batch_fn, loss_fn, steps=p["steps"], lr=1e-3, desc=name, quiet=profile_name == "smoke"
        )
        rows[name] = {
            "accuracy": accuracy(model, test_x, test_y),
            "final_loss": sum(log.losses[-10:]) / len(log.losses[-10:]),
            "saved_mb": saved_activation_mb(model, longest),
            "params": sum(t.numel() for t in model.parameters()),
        }
        timings[name] = {"train_s": round(log.seconds, 2), "examples_per_s": round(log.examples_per_s, 1)}
        if name == "full":
            int8_acc, timings["int8_dynamic"] = dynamic_int8(model, test_x, test_y)
    metrics = {
        "variants": rows,
        "majority_accuracy": majority_acc,
        "int8_dynamic": {"accuracy": int8_acc},
        "lengths": {"min": min(sizes), "median": statistics.median(sizes), "max": max(sizes)},
    }
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in p.items()}
    return SeedRun(metrics=metrics, config=config, timings=timings)


def dynamic_int8(model, seqs, labels) -> tuple[float, dict]:
    """Quantise the Linear layers to int8 (weights) with dynamic activation scales: test accuracy, and
    wall-clock inference seconds in fp32 and int8 (timings, kept out of the metrics)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        from torch.ao.quantization import quantize_dynamic

        qmodel = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)

        def timed(m) -> float:
            accuracy(m, seqs[:64], labels[:64])  # warm-up
            start = time.perf_counter()
            accuracy(m, seqs, labels)
            return time.perf_counter() - start

        fp32_s, int8_s = timed(model), timed(qmodel)
        acc = accuracy(qmodel, seqs, labels)
    return acc, {
        "fp32_s": round(fp32_s, 3),
        "int8_s": round(int8_s, 3),
        "speedup": round(fp32_s / max(int8_s, 1e-9), 2),
    }


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """Test accuracy per variant (mean bar, min–max over seeds, LRA Table 1 and the majority class) and
    the activation memory kept for backward (mean; it barely depends on the seed)."""
    names = list(per_seed[0]["variants"])
    xs = list(range(len(names)))
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), dpi=110)
    acc, low, high = mean_min_max([[100 * m["variants"][n]["accuracy"] for n in names] for m in per_seed])
    axes[0].bar(xs, acc, color="tab:blue", alpha=0.8, label="this run (mean)")
    if len(per_seed) > 1:
        axes[0].errorbar(xs, acc, yerr=bar_errors(acc, low, high),
                         fmt="none", ecolor="black", capsize=3, label="min–max over seeds")  # fmt: skip
    majority = [100 * m["majority_accuracy"] for m in per_seed]
    axes[0].axhline(sum(majority) / len(majority), color="grey", ls=":", label="majority class")
    axes[0].scatter(xs, [LRA_TABLE1[n] for n in names], color="tab:red", marker="x", zorder=3,
                    label="LRA Table 1 (up to 2K tokens)")  # fmt: skip
    axes[0].set(ylabel="test accuracy (%)", title="ListOps accuracy")
    axes[0].legend(fontsize=7)
    mem, _, _ = mean_min_max([[m["variants"][n]["saved_mb"] for n in names] for m in per_seed])
    axes[1].bar(xs, mem, color="tab:purple")
    axes[1].set(ylabel="MiB", title="activation memory at the longest training sequence")
    for ax in axes:
        ax.set_xticks(xs, labels=names)
        ax.tick_params(axis="x", rotation=30, labelsize=8)
    fig.tight_layout()
    fig.savefig(out / "lra-listops.png")
    plt.close(fig)
    return ["lra-listops.png"]


# Accuracies are judged in percentage points, like LRA Table 1.
# Full attention learned ListOps beyond the label prior: more than 5 points above the majority class
# (LRA's Transformer is about 20 points above the efficient variants, which sit near the label prior).
ABOVE_MAJORITY = 5.0
# "Full beats X": more than 2 points on every seed, about two standard errors of an accuracy near 30%
# on the full profile's 2,000 test expressions (100 * sqrt(0.3 * 0.7 / 2000) ≈ 1 point).
MARGIN = 2.0


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """LRA Table 1's ordering on ListOps, each check on every seed (seeds paired). The comparisons are
    judged only when full attention learned ListOps beyond the label prior (secondary ``full-above-majority``):
    variants that all sit at the prior say nothing about the ordering, so the verdict is then inconclusive."""
    full = [100 * m["variants"]["full"]["accuracy"] for m in per_seed]
    majority = [100 * m["majority_accuracy"] for m in per_seed]
    learned = all(f - b > ABOVE_MAJORITY for f, b in zip(full, majority))
    out = [
        threshold(
            "full-above-majority", [f - b for f, b in zip(full, majority)], ">", ABOVE_MAJORITY, fmt=".1f",
            primary=False,
            en=f"Full attention's test accuracy {fmt_seeds(full, '.1f')}% is {{value}} points above the majority "
            f"class {fmt_seeds(majority, '.1f')}% (criterion: {{rule}})",
            zh=f"全注意力的测试准确率 {fmt_seeds(full, '.1f')}% 比多数类基线 {fmt_seeds(majority, '.1f')}% "
            "高 {value} 个百分点（判据：{rule}）",
        )
    ]  # fmt: skip
    for name in EFFICIENT:
        other = [100 * m["variants"][name]["accuracy"] for m in per_seed]
        if not learned:
            out.append(
                not_judged(
                    f"full-beats-{name}",
                    en=f"Full attention vs {name} is not judged: full attention did not learn ListOps beyond the "
                    "majority class on every seed",
                    zh=f"不判断全注意力与 {name} 的对比：全注意力并非在每个种子上都学到了多数类基线以外的东西",
                )
            )
            continue
        out.append(
            compare(
                f"full-beats-{name}", full, other, op=">", margin=MARGIN, fmt=".1f",
                en=f"Test accuracy: full attention {{a}}% vs {name} {{b}}% (LRA Table 1: {LRA_TABLE1['full']}% vs "
                f"{LRA_TABLE1[name]}%; criterion: {{rule}})",
                zh=f"测试准确率：全注意力 {{a}}%，{name} {{b}}%（LRA 表 1：{LRA_TABLE1['full']}% 对 "
                f"{LRA_TABLE1[name]}%；判据：{{rule}}）",
            )
        )  # fmt: skip
    return out


EXPERIMENT = Experiment(
    name="lra-listops",
    title=Text(
        en="Efficient attention: sparse, local, linear, Performer on ListOps",
        zh="高效注意力：稀疏、局部、线性与 Performer 在 ListOps 上的对比",
    ),
    history=Text(
        en="Quadratic cost made long inputs expensive; Sparse Transformers (2019), Longformer and BigBird (2020) "
        "restricted who attends to whom, Linear Transformers and Performers (2020-21) replaced softmax by kernels.",
        zh="注意力的平方复杂度让长序列代价高昂；稀疏 Transformer（2019）、Longformer 与 BigBird（2020）限制了可见范围，"
        "线性 Transformer 与 Performer（2020-21）则用核函数近似 softmax。",
    ),
    mechanism=Text(
        en="Local and sparse attention skip most query-key pairs (exact softmax over the rest, O(N·w)); linear "
        "attention and Performer factor exp(q·k) ≈ φ(q)·φ(k) so the key-value sum is shared by every query (O(N)).",
        zh="局部与稀疏注意力跳过大部分查询-键对（在其余位置上做精确 softmax，O(N·w)）；线性注意力和 Performer 把 "
        "exp(q·k) 近似为 φ(q)·φ(k)，使所有查询共享同一个键值和（O(N)）。",
    ),
    yardstick=Text(
        en="Tay et al. 2021, Long Range Arena, Table 1 (ListOps, up to 2K tokens): Transformer 36.37, Local 15.82, "
        "Sparse 17.07, Linear 16.13, Performer 18.01 (Longformer 35.63, Linformer 35.70, Reformer 37.27, Sinkhorn 33.67, "
        "Synthesizer 36.99, BigBird 36.05). Here (full profile) the expressions are 40-143 tokens (median 47).",
        zh="Tay 等 2021，Long Range Arena，表 1（ListOps，最长 2K 个词元）：Transformer 36.37，Local 15.82，Sparse 17.07，"
        "Linear 16.13，Performer 18.01（Longformer 35.63，Linformer 35.70，Reformer 37.27，Sinkhorn 33.67，Synthesizer 36.99，"
        "BigBird 36.05）。本实验（full 配置）的表达式为 40-143 个词元（中位数 47）。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
)
