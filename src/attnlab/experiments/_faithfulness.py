"""Faithfulness of the coffee-shop QA model's attention pooling (for the interpretability experiment).

Jain & Wallace (2019): Kendall τ between the pooling weights α and two other importance measures
(gradient ‖∂p(ŷ)/∂e_t‖ with α held constant, and leave-one-out TVD when the token is dropped), and the
median output change (TVD) over random permutations of α among the real tokens. Wiegreffe & Pinter
(2019): accuracy when α is replaced by uniform weights. Here the uniform weights are put into the
*trained* model at test time (W&P also retrain with frozen uniform weights, which we do not).
"""

from __future__ import annotations

from pathlib import Path

import torch

from attnlab.data import generate
from attnlab.figures import plt
from attnlab.interpret import (
    explain_classifier,
    gradient_importance,
    importance_correlation,
    leave_one_out,
    permutation_test,
    uniform_test,
)
from attnlab.interpret.fonts import cjk_font_family

from ._coffee_qa import QUESTIONS, StoryData

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
