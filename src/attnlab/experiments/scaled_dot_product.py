"""Lesson 1: queries, keys, values and softmax(QKᵀ/√d_k)V — why the √d_k.

Vaswani et al. (2017, sec. 3.2.1): for q, k with independent unit-variance components, q·k has
variance d_k, so unscaled logits grow with d_k and "push the softmax into regions where it has
extremely small gradients". We measure the attention entropy and the gradient reaching the scores
for random queries and keys as d_k grows, with and without the 1/√d_k scale; we also check that every
exact backend computes the same attention as the float64 oracle, and draw the course's sentence.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from attnlab.attention import attend, masks, mods
from attnlab.figures import plt, seed_band
from attnlab.interpret import plot_attention

from .base import Experiment, SeedRun, Text
from .verdict import Criterion, threshold

SENTENCE = "我昨天去了一家咖啡店，点了一杯拿铁……然后我从咖啡店出来，回家了"

SIZES = {
    "smoke": ([4, 64], 16, 8),
    "quick": ([4, 16, 64, 256, 1024], 64, 32),
    "full": ([2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], 128, 128),
}


def coffee_shop_heatmap(path: str, dim: int = 32, seed: int = 0) -> str:
    """Dot-product self-attention over the course's sentence with random character embeddings.

    With Q = K = V = the embeddings and no trained weights, the only structure is identity: a
    character attends most to itself and to its repeats, so the second 咖啡店 finds the first.
    """
    chars = list(SENTENCE)
    vocab = {c: i for i, c in enumerate(dict.fromkeys(chars))}
    gen = torch.Generator().manual_seed(seed)
    table = torch.randn(len(vocab), dim, generator=gen)
    x = table[torch.tensor([vocab[c] for c in chars])][None, None]  # (1, 1, L, dim)
    _, weights = attend(x, x, x, return_weights=True)
    first = SENTENCE.index("咖啡店")
    home = SENTENCE.index("回家")
    return plot_attention(
        weights[0, 0],
        chars,
        chars,
        path,
        title="Self-attention, random embeddings (Q = K = V): repeats align",
        highlight=[first, first + 1, first + 2, home, home + 1],
    )


def softmax_stats(
    d_k: int, length: int, batch: int, scaled: bool, gen: torch.Generator
) -> tuple[float, float]:
    """Mean attention entropy (nats) and mean |dL/dscore| for random unit-variance q, k."""
    q = torch.randn(batch, 1, length, d_k, generator=gen, dtype=torch.float64)
    k = torch.randn(batch, 1, length, d_k, generator=gen, dtype=torch.float64)
    scores = (q @ k.transpose(-1, -2)) / (math.sqrt(d_k) if scaled else 1.0)
    scores.requires_grad_(True)
    w = torch.softmax(scores, dim=-1)
    entropy = -(w * torch.log(w.clamp_min(1e-300))).sum(-1).mean()
    # A random linear read-out of the weights: how much gradient reaches the scores.
    target = torch.randn(w.shape, generator=gen, dtype=torch.float64)
    (w * target).sum().backward()
    return entropy.item(), scores.grad.abs().mean().item()


def backend_agreement(gen: torch.Generator) -> dict[str, float]:
    """Max |backend - float64 oracle| over a few masked, modded, GQA requests in float32."""
    q = torch.randn(2, 4, 77, 16, generator=gen)
    k, v = torch.randn(2, 2, 77, 16, generator=gen), torch.randn(2, 2, 77, 16, generator=gen)
    requests = [
        {},
        {"mask": masks.causal()},
        {"mask": masks.sliding_window(9) & masks.padding(torch.tensor([50, 77]))},
        {"mask": masks.causal(), "score_mod": mods.alibi(4)},
    ]
    errors = {}
    for backend in ("sdpa", "chunked"):
        worst = 0.0
        for kw in requests:
            ref = attend(q.double(), k.double(), v.double(), backend="reference", **kw)
            worst = max(worst, (attend(q, k, v, backend=backend, **kw).double() - ref).abs().max().item())
        errors[backend] = worst
    return errors


def run(profile: str, out: Path, seed: int) -> SeedRun:
    dims, length, batch = SIZES[profile]
    gen = torch.Generator().manual_seed(seed)
    rows = {"scaled": [], "unscaled": []}
    for d_k in dims:
        for label in rows:
            rows[label].append(softmax_stats(d_k, length, batch, label == "scaled", gen))
    coffee_shop_heatmap(str(out / "coffee-shop.png"), seed=seed)
    errors = backend_agreement(gen)
    metrics = {
        "d_k": dims,
        "entropy_scaled": [r[0] for r in rows["scaled"]],
        "entropy_unscaled": [r[0] for r in rows["unscaled"]],
        "grad_scaled": [r[1] for r in rows["scaled"]],
        "grad_unscaled": [r[1] for r in rows["unscaled"]],
        "uniform_entropy": math.log(length),
        "backend_max_error": errors,
    }
    return SeedRun(
        metrics=metrics,
        config={"length": length, "batch": batch, "dtype": "float64", "backend_check_dtype": "float32"},
        figures=["coffee-shop.png"],
    )


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """Entropy and score gradient against d_k, scaled vs unscaled: mean and min–max over seeds."""
    dims = per_seed[0]["d_k"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=110)
    for label, style in (("scaled", "o-"), ("unscaled", "s--")):
        seed_band(axes[0], dims, [m[f"entropy_{label}"] for m in per_seed], style, label=label)
        seed_band(axes[1], dims, [m[f"grad_{label}"] for m in per_seed], style, label=label)
    axes[0].axhline(per_seed[0]["uniform_entropy"], color="grey", lw=0.8, ls=":", label="uniform")
    axes[0].set(xscale="log", xlabel="d_k", ylabel="attention entropy (nats)", title="softmax saturation")
    axes[1].set(
        xscale="log", yscale="log", xlabel="d_k", ylabel="mean |dL/dscore|", title="gradient to the scores"
    )
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "scaling.png")
    plt.close(fig)
    return ["scaling.png"]


# The float32 tolerance of the backend equivalence tests (tests/test_backend_equivalence.py).
BACKEND_TOLERANCE = 2e-5


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """Vaswani et al.'s argument as three checks, each over every seed."""
    spread_ratio, grad_ratio = [], []
    for m in per_seed:
        scaled, unscaled = m["entropy_scaled"], m["entropy_unscaled"]
        collapse = (
            unscaled[0] - unscaled[-1]
        )  # nats lost without the scale from the smallest to the largest d_k
        spread_ratio.append((max(scaled) - min(scaled)) / collapse if collapse > 0 else float("inf"))
        grad_ratio.append(m["grad_scaled"][-1] / max(m["grad_unscaled"][-1], 1e-300))
    d_max = per_seed[0]["d_k"][-1]
    worst = {b: [m["backend_max_error"][b] for m in per_seed] for b in ("sdpa", "chunked")}
    return [
        threshold(
            "entropy-stable-when-scaled", spread_ratio, "<", 0.25,
            en="With 1/√d_k the attention entropy moves by {value} of what it loses without the scale over the "
            "same range of d_k (criterion: {rule})",
            zh="使用 1/√d_k 缩放时，注意力熵的变化是不缩放时熵下降量的 {value} 倍（判据：{rule}）",
        ),
        threshold(
            "more-gradient-when-scaled", grad_ratio, ">", 1.0,
            en=f"At d_k={d_max} the scores receive {{value}}x more gradient with the scale than without (criterion: {{rule}})",
            zh=f"在 d_k={d_max} 时，缩放后传到分数上的梯度是不缩放时的 {{value}} 倍（判据：{{rule}}）",
        ),
        *(
            threshold(
                f"{b}-matches-oracle", worst[b], "<=", BACKEND_TOLERANCE, fmt=".1e",
                en=f"The {b} backend's largest float32 error against the float64 oracle is {{value}} (criterion: {{rule}})",
                zh=f"{b} 后端（float32）与 float64 参考实现的最大误差为 {{value}}（判据：{{rule}}）",
            )
            for b in ("sdpa", "chunked")
        ),
    ]  # fmt: skip


EXPERIMENT = Experiment(
    name="scaled-dot-product",
    title=Text(en="Queries, keys, values: softmax(QKᵀ/√d_k)V", zh="查询、键、值：softmax(QKᵀ/√d_k)V"),
    history=Text(
        en="Attention began as a soft alignment between a decoder state and encoder states (Bahdanau et al., 2015); "
        "the Transformer (Vaswani et al., 2017) made scaled dot-product attention the whole model.",
        zh="注意力最早是解码器状态与编码器状态之间的软对齐（Bahdanau 等，2015）；"
        "Transformer（Vaswani 等，2017）让缩放点积注意力成为整个模型的核心。",
    ),
    mechanism=Text(
        en="Each query is compared with every key (dot product), the scores are divided by √d_k and turned into "
        "weights by softmax, and the output is the weighted sum of the values.",
        zh="每个查询与所有键做点积打分，分数除以 √d_k 后经 softmax 变成权重，输出是值的加权和。",
    ),
    yardstick=Text(
        en="Vaswani et al. 2017, sec. 3.2.1: without 1/√d_k, large d_k pushes softmax into regions of tiny gradients.",
        zh="Vaswani 等 2017，第 3.2.1 节：不除以 √d_k 时，d_k 越大 softmax 越饱和、梯度越小。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
)
