"""Lesson 4: hard vs soft attention — REINFORCE, Gumbel straight-through, sparsemax and softmax.

(a) "Find the marked token": a sequence of digits, one of them marked; the label is the marked digit.
One learned query attends over the tokens (additive score) and a linear layer reads the context.
(b) Glimpses (Mnih et al., 2014, simplified): an 8x8 scikit-learn digit is placed at a random spot of
a 16x16 canvas cut into a 4x4 grid of overlapping 8x8 windows; a GRU core picks one window per step
(a location distribution from its state, ``LocationScore``) for 3 steps, then classifies.
Both models use :class:`attnlab.layers.HardAttention` and differ only in the normaliser. We measure
accuracy, steps to reach a threshold, the variance of the scorer's gradient over minibatches, and the
sparsity of the weights. Yardsticks: Xu et al. (2015) and Mnih et al. (2014) — hard attention trains,
with noisier gradients and slower convergence than soft; Martins & Astudillo (2016) — sparsemax
matches softmax's accuracy with sparse weights.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ._hard_tasks import GRID, METHODS, STEPS, steps_to, train_one  # noqa: E402
from .base import Experiment, Result, Text  # noqa: E402

COLORS = {"soft": "tab:blue", "reinforce": "tab:red", "gumbel": "tab:orange", "sparsemax": "tab:green"}
_SMOKE = dict(d=16, steps=6, batch=16, eval_every=3, n_eval=64, grad_batches=3, lr=3e-3)
SIZES = {  # per task; "seeds": independent runs averaged (figures show the first)
    "smoke": {"seeds": 1, "marked": _SMOKE | {"length": 8}, "digits": _SMOKE},
    "quick": {
        "seeds": 1,
        "marked": dict(
            length=16, d=32, steps=150, batch=64, eval_every=10, n_eval=400, grad_batches=8, lr=3e-3
        ),
        "digits": dict(d=48, steps=150, batch=64, eval_every=25, n_eval=180, grad_batches=8, lr=1e-2),
    },
    "full": {
        "seeds": 3,
        "marked": dict(
            length=32, d=48, steps=600, batch=64, eval_every=10, n_eval=1000, grad_batches=32, lr=3e-3
        ),
        "digits": dict(d=48, steps=2000, batch=64, eval_every=100, n_eval=180, grad_batches=32, lr=1e-2),
    },
}


def run(profile: str, out: Path, seed: int) -> Result:
    """Train every method on both tasks. The scorer's output layer starts at zero, so every normaliser
    starts from uniform weights: sparsemax has no gradient outside its support, and from random scores
    it starts (nearly) one-hot and never learns which token to pick (measured: chance accuracy)."""
    cfg, quiet = SIZES[profile], profile == "smoke"
    runs = {t: {m: [] for m in METHODS} for t in ("marked", "digits")}
    for task in runs:
        for s in range(seed, seed + cfg["seeds"]):
            for m in METHODS:
                runs[task][m].append(train_one(task, m, cfg[task], s, quiet))
    metrics = {}
    for task, by in runs.items():
        metrics[task] = {}
        for m, rs in by.items():
            # threshold: 90% of the way from chance to the soft model's final accuracy (same seed)
            thr = [0.1 + 0.9 * (by["soft"][i]["curve"][-1][1] - 0.1) for i in range(len(rs))]
            mean = lambda key, sub=None, rs=rs: sum(r[key][sub] if sub else r[key] for r in rs) / len(rs)  # noqa: E731
            keys = ["accuracy", "share_zero_weights", "top1_mass", "train_s"] + ["mass_on_marked"] * (
                task == "marked"
            )
            metrics[task][m] = {k: mean(k) for k in keys} | {
                "accuracy_per_seed": [r["accuracy"] for r in rs],
                "steps_to_threshold": [steps_to(r["curve"], t) for r, t in zip(rs, thr)],
                "noise_to_signal_init": mean("grad_init", "noise_to_signal"),
                "noise_to_signal_final": mean("grad_final", "noise_to_signal"),
                "grad_trace_var_init": mean("grad_init", "trace_var"),
                "curve": rs[0]["curve"],
            }  # fmt: skip
    figures = _figures(runs, metrics, out)
    crit = _criteria(metrics)
    reproduced = all(crit.values())
    metrics["criteria"] = crit
    return Result(name="hard-vs-soft", profile=profile, seed=seed, metrics=metrics,
                  config=cfg | {"methods": list(METHODS), "glimpses": STEPS,
                  "grid": GRID}, verdict=_verdict(metrics, crit, profile), figures=figures,
                  reproduced=reproduced)  # fmt: skip


def _slower(a, b) -> bool:
    """Run lists of steps-to-threshold: is ``a`` slower than ``b`` on average (None = never)?"""
    big = 10**9
    return sum(x if x is not None else big for x in a) > sum(x if x is not None else big for x in b)


def _criteria(m: dict) -> dict:
    out = {}
    for task, by in m.items():
        soft, hard, sparse = by["soft"], by["reinforce"], by["sparsemax"]
        out[f"{task}_hard_trains"] = hard["accuracy"] >= 0.1 + 0.5 * (soft["accuracy"] - 0.1)
        out[f"{task}_hard_noisier"] = hard["noise_to_signal_init"] > soft["noise_to_signal_init"]
        out[f"{task}_hard_slower"] = _slower(hard["steps_to_threshold"], soft["steps_to_threshold"])
        out[f"{task}_sparsemax_matches"] = sparse["accuracy"] >= soft["accuracy"] - 0.03
        out[f"{task}_sparsemax_sparse"] = sparse["share_zero_weights"] >= 0.5
    return out


def _figures(runs: dict, m: dict, out: Path) -> list[str]:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    for ax, task in zip(axes, ("marked", "digits")):
        for meth in METHODS:
            steps, acc = zip(*m[task][meth]["curve"])
            ax.plot(steps, [100 * a for a in acc], "o-", ms=2, color=COLORS[meth], label=meth)
        ax.set(xlabel="training step", ylabel="held-out accuracy (%)", ylim=(0, 100),
               title="find the marked token" if task == "marked" else f"glimpses on digits ({STEPS} steps)")  # fmt: skip
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "hard-vs-soft-curves.png")
    plt.close(fig)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), dpi=110)
    x = torch.arange(len(METHODS)).float()
    for i, task in enumerate(("marked", "digits")):
        by = m[task]
        for ax, key, label in zip(axes, ("accuracy", "noise_to_signal_init", "share_zero_weights"),
                                  ("test accuracy", "gradient noise-to-signal at init (log)",
                                   "share of exactly-zero weights")):  # fmt: skip
            ax.bar(x + 0.4 * i, [by[k][key] for k in METHODS], 0.4, label=task, color=f"C{i}")
            ax.set_xticks(x + 0.2, list(METHODS))
            ax.set_title(label, fontsize=9)
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "hard-vs-soft-stats.png")
    plt.close(fig)
    shown = 4
    fig, axes = plt.subplots(len(METHODS), shown, figsize=(2.2 * shown, 2.3 * len(METHODS)), dpi=110)
    for r, meth in enumerate(METHODS):
        first = runs["digits"][meth][0]
        for c in range(shown):
            ax = axes[r, c]
            ax.imshow(first["_canvas"][c, 0].numpy(), cmap="gray_r", extent=(-0.5, 15.5, 15.5, -0.5))
            for t in range(STEPS):
                w = first["_weights"][c, t]  # (16,)
                for loc in (w > 0.05).nonzero().flatten().tolist():
                    row, col = divmod(loc, GRID)
                    ax.add_patch(plt.Rectangle((4 * col - 2.5, 4 * row - 2.5), 8, 8, fill=False, lw=1.5,
                                               color=f"C{t + 1}", alpha=float(w[loc])))  # fmt: skip
                row, col = divmod(int(w.argmax()), GRID)
                ax.text(4 * col - 2 + 1.6 * t, 4 * row - 1.2, str(t + 1), color=f"C{t + 1}", fontsize=8,
                        weight="bold")  # fmt: skip
            ax.set(xlim=(-2.5, 17.5), ylim=(17.5, -2.5), xticks=[], yticks=[])
            if c == 0:
                ax.set_ylabel(meth)
    fig.suptitle("glimpse windows per step (1, 2, 3; opacity = weight)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "hard-vs-soft-glimpses.png")
    plt.close(fig)
    return ["hard-vs-soft-curves.png", "hard-vs-soft-stats.png", "hard-vs-soft-glimpses.png"]


def _verdict(m: dict, crit: dict, profile: str) -> Text:
    en, zh = [], []
    names = {"marked": ("find-the-marked-token", "找标记词"), "digits": ("digit glimpses", "数字瞥视")}
    for task, by in m.items():
        if task == "criteria":
            continue
        acc = ", ".join(f"{k} {100 * v['accuracy']:.1f}%" for k, v in by.items())
        nts = ", ".join(f"{k} {v['noise_to_signal_init']:.3g}" for k, v in by.items())
        stp = ", ".join(f"{k} {v['steps_to_threshold']}" for k, v in by.items())
        zero = ", ".join(f"{k} {100 * v['share_zero_weights']:.0f}%" for k, v in by.items())
        en.append(f"{names[task][0]}: accuracy {acc}; scorer-gradient noise-to-signal (tr Cov / |mean|², at "
                  f"init) {nts}; steps to 90% of soft's accuracy {stp} (None = never); exactly-zero weights {zero}.")  # fmt: skip
        zh.append(f"{names[task][1]}：准确率 {acc}；打分器梯度噪声/信号比（初始化时 tr Cov / |均值|²）{nts}；"
                  f"达到软注意力准确率 90% 所需步数 {stp}（None 表示未达到）；恰为零的权重比例 {zero}。")  # fmt: skip
    claims = {
        "hard_trains": ("hard (REINFORCE) attention trains", "硬注意力（REINFORCE）可以训练"),
        "hard_noisier": ("its gradients are noisier than soft's", "其梯度比软注意力更嘈杂"),
        "hard_slower": ("it converges more slowly than soft", "其收敛比软注意力慢"),
        "sparsemax_matches": ("sparsemax matches softmax accuracy (within 3 points)", "sparsemax 准确率与 softmax 相当（差 3 个百分点以内）"),
        "sparsemax_sparse": ("sparsemax weights are mostly exact zeros", "sparsemax 权重大多恰为零"),
    }  # fmt: skip
    for key, (ce, cz) in claims.items():
        held = [names[t][0] for t in ("marked", "digits") if crit[f"{t}_{key}"]]
        held_zh = [names[t][1] for t in ("marked", "digits") if crit[f"{t}_{key}"]]
        en.append(
            f"Claim '{ce}': "
            + (f"holds on {', '.join(held)}." if held else "does NOT reproduce on either task.")
        )
        zh.append(
            f"论断“{cz}”：" + (f"在 {'、'.join(held_zh)} 上成立。" if held_zh else "在两个任务上都未复现。")
        )
    yard_en = ("Yardsticks: Xu et al. 2015 and Mnih et al. 2014 (hard attention trains, with noisier gradients and "
               "slower convergence than soft); Martins & Astudillo 2016 (sparsemax matches softmax with sparse weights).")  # fmt: skip
    yard_zh = "对照：Xu 等 2015、Mnih 等 2014（硬注意力可训练，但梯度更嘈杂、收敛更慢）；Martins & Astudillo 2016（sparsemax 与 softmax 准确率相当且权重稀疏）。"
    if profile != "full":
        yard_en += (
            " This profile trains for seconds on one seed; only the full profile (3 seeds) judges the claims."
        )
        yard_zh += "本配置只用一个种子训练几秒钟，结论以 full 配置（3 个种子）为准。"
    return Text(en=" ".join(en + [yard_en]), zh="".join(zh) + yard_zh)


EXPERIMENT = Experiment(
    name="hard-vs-soft",
    lesson=4,
    title=Text(
        en="Hard vs soft attention: REINFORCE, Gumbel, sparsemax",
        zh="硬注意力与软注意力：REINFORCE、Gumbel、sparsemax",
    ),
    history=Text(
        en="Mnih et al. (2014) and Xu et al. (2015) trained attention that looks at one place, with REINFORCE; "
        "Jang et al. (2017) made discrete choices differentiable (Gumbel-softmax); Martins & Astudillo (2016) "
        "made soft attention sparse.",
        zh="Mnih 等（2014）与 Xu 等（2015）用 REINFORCE 训练只看一处的注意力；Jang 等（2017）用 Gumbel-softmax "
        "让离散选择可微；Martins & Astudillo（2016）让软注意力变得稀疏。",
    ),
    mechanism=Text(
        en="Soft: c = Σ softmax(z)_j v_j. Hard: sample a ~ softmax(z), c = v_a, train the scorer with "
        "(R - b)∇log π(a) + entropy bonus. Gumbel ST: one-hot forward, softmax gradient. Sparsemax: the "
        "Euclidean projection of z onto the simplex, with exact zeros.",
        zh="软注意力：c = Σ softmax(z)_j v_j。硬注意力：采样 a ~ softmax(z)，c = v_a，用 (R - b)∇log π(a) 加熵奖励训练打分器。"
        "Gumbel 直通：前向用 one-hot，反向用 softmax 的梯度。Sparsemax：把 z 欧氏投影到单纯形上，可得恰为零的权重。",
    ),
    yardstick=Text(
        en="Xu et al. 2015 / Mnih et al. 2014: hard attention trains but with noisier gradients and slower "
        "convergence than soft; Martins & Astudillo 2016: sparsemax matches softmax accuracy with sparse weights.",
        zh="Xu 等 2015 / Mnih 等 2014：硬注意力可以训练，但梯度更嘈杂、收敛更慢；Martins & Astudillo 2016："
        "sparsemax 与 softmax 准确率相当，权重稀疏。",
    ),
    run=run,
)
