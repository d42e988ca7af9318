"""Faithfulness of the coffee-shop QA model's attention pooling (for the interpretability experiment).

Jain & Wallace (2019): Kendall τ between the pooling weights α and two other importance measures
(gradient ‖∂p(ŷ)/∂e_t‖ with α held constant, and leave-one-out TVD when the token is dropped), and the
median output change (TVD) over random permutations of α among the real tokens. Wiegreffe & Pinter
(2019): accuracy when α is replaced by uniform weights. Here the uniform weights are put into the
*trained* model at test time (W&P also retrain with frozen uniform weights, which we do not).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from attnlab.data import generate  # noqa: E402
from attnlab.interpret import (  # noqa: E402
    explain_classifier,
    gradient_importance,
    importance_correlation,
    leave_one_out,
    permutation_test,
    uniform_test,
)
from attnlab.interpret.fonts import cjk_font_family  # noqa: E402

from ._coffee_qa import QUESTIONS, StoryData  # noqa: E402

SMALL_CHANGE = 0.05  # a permutation "changes little" when the median TVD stays below this


def _stats(x: torch.Tensor) -> dict:
    x = x[~torch.isnan(x)].double()
    if not x.numel():
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": float(x.mean()), "std": float(x.std()) if x.numel() > 1 else 0.0, "n": x.numel()}


def measure_faithfulness(model, tok, labels: dict[str, int], lang: str, n: int, n_perm: int, seed: int):
    """All checks on ``n`` test stories; returns ``(metrics, raw)`` (raw arrays feed the figure)."""
    test = generate("coffee-shop", n, seed=seed + 7, split="test", lang=lang, questions=QUESTIONS)
    test = [e for e in test if e.tgt in labels]
    data = StoryData(test, tok, labels)
    ids, lengths, y = data.batch(list(range(len(test))))
    ex = explain_classifier(model)
    with torch.no_grad():
        alpha = model(ids, lengths, need_weights=True)[1]["pooling"]  # (B, L)
    grad = gradient_importance(ex, ids, lengths, detach=model.pool)  # J&W: α held constant
    loo = leave_one_out(ex, ids, lengths, mode="drop", measure="tvd")
    taus = {
        "attention_gradient": importance_correlation(alpha, grad, lengths),
        "attention_loo": importance_correlation(alpha, loo, lengths),
        "gradient_loo": importance_correlation(grad, loo, lengths),
    }
    gen = torch.Generator().manual_seed(seed)
    perm = permutation_test(ex, ids, lengths, model.pool, n_permutations=n_perm, generator=gen)
    uni = uniform_test(ex, ids, lengths, model.pool, labels=y)
    uni_all = uniform_test(ex, ids, lengths, model, labels=y)  # self-attention layers too
    med = perm["median_change"]
    qtypes = [e.meta["qtype"] for e in test]
    by_q = {}
    for q in QUESTIONS:
        sel = torch.tensor([t == q for t in qtypes])
        if sel.any():
            by_q[q] = {
                "n": int(sel.sum()),
                "permutation_median_tvd": float(med[sel].median()),
                "tau_attention_gradient": _stats(taus["attention_gradient"][sel])["mean"],
                "tau_attention_loo": _stats(taus["attention_loo"][sel])["mean"],
            }
    metrics = {
        "n_stories": len(test),
        "n_permutations": n_perm,
        "kendall_tau": {k: _stats(v) for k, v in taus.items()},
        "permutation_median_tvd": float(med.median()),
        "permutation_share_small": float((med < SMALL_CHANGE).double().mean()),
        "permutation_flip_rate": float(perm["flip_rate"].mean()),
        "max_attention_mean": float(alpha.max(-1).values.mean()),
        "accuracy": uni["accuracy"],
        "uniform_pooling_accuracy": uni["uniform_accuracy"],
        "uniform_pooling_tvd": float(uni["change"].mean()),
        "uniform_all_accuracy": uni_all["uniform_accuracy"],
        "by_question": by_q,
    }
    raw = {"max_alpha": alpha.max(-1).values, "median_tvd": med, "taus": taus}
    return metrics, raw


def plot_faithfulness(faith: dict, raw: dict, path: Path) -> None:
    """J&W-style figure: permutation Δ vs max α, τ distributions, accuracy with uniform attention."""
    family = cjk_font_family()
    rc = {"font.family": [family, "DejaVu Sans"]} if family else {}
    colors = {"zh": "crimson", "en": "steelblue"}
    with plt.rc_context(rc):
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.9), dpi=110)
        ax = axes[0]
        for lang, r in raw.items():
            ax.scatter(r["max_alpha"], r["median_tvd"], s=12, alpha=0.6, color=colors.get(lang), label=lang)
        ax.axhline(SMALL_CHANGE, color="grey", ls=":", lw=1)
        ax.set(xlabel="max pooling α in the story", ylabel="median TVD over permutations of α",
               title="Permuting attention (Jain & Wallace 2019)", xlim=(0, 1.02), ylim=(-0.02, 1.02))  # fmt: skip
        ax.legend(fontsize=8)
        ax = axes[1]
        names = ["attention_gradient", "attention_loo", "gradient_loo"]
        data, ticks = [], []
        for name in names:
            for lang, r in raw.items():
                t = r["taus"][name]
                data.append(t[~torch.isnan(t)].tolist() or [0.0])
                ticks.append(f"{name.replace('attention', 'α').replace('gradient', 'grad')}\n{lang}")
        ax.boxplot(data)
        ax.set_xticks(range(1, len(ticks) + 1), labels=ticks, fontsize=7)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(ylabel="Kendall τ per story", title="Do the rankings agree?", ylim=(-1.05, 1.05))
        ax = axes[2]
        x = torch.arange(len(faith)).float()
        bars = [("accuracy", "learned α"), ("uniform_pooling_accuracy", "uniform α"),
                ("uniform_all_accuracy", "all attention uniform")]  # fmt: skip
        for i, (key, label) in enumerate(bars):
            ax.bar(x + (i - 1) * 0.27, [m[key] for m in faith.values()], 0.27, label=label)
        ax.set_xticks(x.tolist(), labels=list(faith))
        ax.set(ylim=(0, 1.05), ylabel="QA accuracy", title="Uniform attention (Wiegreffe & Pinter 2019)")
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def faithfulness_text(faith: dict) -> tuple[str, str]:
    """The verdict's (en, zh) sentences, written from the measured numbers."""
    tau = lambda m, k: m["kendall_tau"][k]["mean"]  # noqa: E731
    weak = all(tau(m, "attention_gradient") < 0.5 and tau(m, "attention_loo") < 0.5 for m in faith.values())
    # If gradient and leave-one-out disagree with each other as much, weak τ with α says little by itself.
    noisy = all(tau(m, "gradient_loo") < 0.5 for m in faith.values())
    little = all(m["permutation_share_small"] >= 0.5 for m in faith.values())
    hurts = [lang for lang, m in faith.items() if m["accuracy"] - m["uniform_pooling_accuracy"] >= 0.1]
    en = "(d) Faithfulness of the pooling α: " + "; ".join(
        f"{lang}: Kendall τ(α, gradient) {tau(m, 'attention_gradient'):.2f}, τ(α, leave-one-out) "
        f"{tau(m, 'attention_loo'):.2f}, τ(gradient, leave-one-out) {tau(m, 'gradient_loo'):.2f}; "
        f"median output TVD under {m['n_permutations']} random permutations of α {m['permutation_median_tvd']:.3f} "
        f"({m['permutation_share_small']:.0%} of stories below {SMALL_CHANGE}, argmax flips in "
        f"{m['permutation_flip_rate']:.0%} of permutations); uniform α: accuracy {m['accuracy']:.0%} -> "
        f"{m['uniform_pooling_accuracy']:.0%} (all attention uniform: {m['uniform_all_accuracy']:.0%})"
        for lang, m in faith.items()
    )
    en += (
        ". Jain & Wallace (2019) found weak correlations and outputs that permutations often barely move; "
        + (
            "the correlations here are weak too (mean τ < 0.5)"
            + (" — but gradient and leave-one-out also agree only weakly with each other" if noisy else "")
            if weak
            else "here the correlations are not weak (some mean τ >= 0.5)"
        )
        + (
            "; permuting α changes little in most stories, as in J&W"
            if little
            else "; unlike J&W, permuting α changes most outputs (this model's attention is not interchangeable)"
        )
        + ". Wiegreffe & Pinter (2019): uniform attention hurts where attention matters — "
        + (
            f"it does here for {', '.join(hurts)} (>= 10 points), so α carries the answer. "
            if hurts
            else "here it costs under 10 points, so this model does not need its pooling α. "
        )
        + "Uniform weights are swapped into the trained model at test time; W&P also retrain with them."
    )
    zh = "(d) 池化 α 的忠实度：" + "；".join(
        f"{lang}：Kendall τ(α, 梯度) {tau(m, 'attention_gradient'):.2f}，τ(α, 留一) {tau(m, 'attention_loo'):.2f}，"
        f"τ(梯度, 留一) {tau(m, 'gradient_loo'):.2f}；α 随机置换 {m['n_permutations']} 次后输出 TVD 的中位数 "
        f"{m['permutation_median_tvd']:.3f}（{m['permutation_share_small']:.0%} 的故事低于 {SMALL_CHANGE}，"
        f"{m['permutation_flip_rate']:.0%} 的置换改变了预测）；均匀 α：准确率 {m['accuracy']:.0%} → "
        f"{m['uniform_pooling_accuracy']:.0%}（全部注意力均匀：{m['uniform_all_accuracy']:.0%}）"
        for lang, m in faith.items()
    )
    zh += (
        "。Jain & Wallace (2019) 发现相关性弱、置换注意力常常几乎不改变输出；"
        + (
            "本次相关性同样很弱（平均 τ < 0.5）" + ("，但梯度与留一法彼此之间也只弱相关" if noisy else "")
            if weak
            else "本次相关性并不弱（有平均 τ ≥ 0.5）"
        )
        + (
            "；与 J&W 一致，多数故事中置换 α 几乎不改变输出"
            if little
            else "；与 J&W 不同，置换 α 改变了多数输出（该模型的注意力不可随意替换）"
        )
        + "。Wiegreffe & Pinter (2019)：在注意力起作用的任务上，均匀注意力会降低准确率——"
        + (
            f"本次在 {'、'.join(hurts)} 上确实如此（≥ 10 个百分点），α 承载了答案。"
            if hurts
            else "本次下降不足 10 个百分点，模型并不依赖池化 α。"
        )
        + "均匀权重是在测试时换入已训练模型的；W&P 还用均匀权重重新训练。"
    )
    return en, zh
