"""Lesson 5: multi-head attention — what do the heads do, and are they all needed?

Michel et al. (2019, "Are Sixteen Heads Really Better than One?"): at test time most heads of a trained
Transformer can be removed one at a time, and many layers reduced to a single head, with little loss.
Voita et al. (2019, "Analyzing Multi-Head Self-Attention"): a few specialised heads do the heavy
lifting; the rest can be pruned. We train a small encoder-decoder (`TransformerSeq2Seq`) on the `dates`
"translation" task (en/fr/de/zh dates -> ISO), then (1) mask each head of every attention layer
(encoder self, decoder self, cross) in turn — by zeroing its slice of the input of the output
projection W^O, which removes exactly that head's term of Concat(head_1..head_H) W^O — and measure the
drop in exact-match accuracy of greedy decoding; (2) keep only the most important head of one layer;
(3) prune heads cumulatively, least important first; (4) measure head diversity as the mean pairwise
Jensen-Shannon divergence (bits, in [0, 1]) between the heads' attention distributions, per layer.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from attnlab.data.metrics import sequence_accuracy  # noqa: E402
from attnlab.models import create_model  # noqa: E402

from ._fit import fit  # noqa: E402
from ._measure import CharPairs  # noqa: E402
from .base import Experiment, Result, Text  # noqa: E402

SMALL_DROP = 0.01  # "little loss": below one percentage point of exact-match accuracy
PROFILES = {
    "smoke": dict(train=200, test=40, steps=3, batch=16, d_model=16, heads=2, layers=1),
    "quick": dict(train=4000, test=200, steps=300, batch=64, d_model=64, heads=4, layers=2),
    "full": dict(train=30000, test=600, steps=2500, batch=64, d_model=64, heads=8, layers=2),
}


class HeadMask:
    """Forward pre-hooks on every attention layer's ``out_proj`` that zero the slices of masked heads.

    ``MultiHeadAttention`` reshapes ``(B, H, L, D)`` to ``(B, L, H * D)`` before ``out_proj``, head h in
    columns ``[h * D, (h + 1) * D)``; zeroing them removes head h's contribution exactly.
    """

    def __init__(self, model) -> None:
        self.layers = {}
        for i, block in enumerate(model.encoder.stack.layers):
            self.layers[f"enc-self {i}"] = block.self_attn
        for i, block in enumerate(model.decoder.stack.layers):
            self.layers[f"dec-self {i}"] = block.self_attn
        for i, block in enumerate(model.decoder.stack.layers):
            self.layers[f"cross {i}"] = block.cross_attn
        self.off: set[tuple[str, int]] = set()
        for name, mha in self.layers.items():
            mha.out_proj.register_forward_pre_hook(self._hook(name, mha))

    def _hook(self, name: str, mha):
        def hook(module, args):
            heads = [h for (n, h) in self.off if n == name]
            if not heads:
                return None
            keep = torch.ones(mha.num_heads, 1, dtype=args[0].dtype)
            keep[heads] = 0.0
            return (args[0] * keep.expand(-1, mha.head_dim).reshape(-1),)  # (B, L, H * D) * (H * D,)

        return hook


def accuracy(model, pairs: CharPairs) -> float:
    t = pairs.test
    preds = pairs.decode(model.greedy_decode(t["src"], t["lengths"], max_len=pairs.max_tgt))
    return sequence_accuracy(preds, pairs.test_targets)


def js_diversity(weights: torch.Tensor, query_ok: torch.Tensor) -> float:
    """Mean pairwise Jensen-Shannon divergence (bits) between heads of ``weights (B, H, Lq, Lk)`` over the
    query rows ``query_ok (B, Lq)`` that see at least two keys (one visible key leaves no choice)."""
    w = weights.double()
    rows = query_ok & ((w[:, 0] > 0).sum(-1) >= 2)  # (B, Lq)
    h = w.shape[1]
    total, pairs = 0.0, 0
    for a in range(h):
        for b in range(a + 1, h):
            p, q = w[:, a], w[:, b]
            m = 0.5 * (p + q)

            def kl(x, y):
                return torch.where(x > 0, x * (x.clamp_min(1e-300) / y.clamp_min(1e-300)).log2(), 0.0).sum(-1)

            js = 0.5 * kl(p, m) + 0.5 * kl(q, m)  # (B, Lq)
            total += js[rows].mean().item()
            pairs += 1
    return total / max(pairs, 1)


def diversity(model, pairs: CharPairs, n: int = 256) -> dict[str, float]:
    t = pairs.test
    src, lengths, tgt_in, tgt_out = t["src"][:n], t["lengths"][:n], t["tgt_in"][:n], t["tgt_out"][:n]
    with torch.no_grad():
        _, att = model(src, tgt_in, lengths, need_weights=True)
    src_ok = torch.arange(src.shape[1])[None] < lengths[:, None]  # (B, Ls)
    tgt_ok = tgt_out != 0  # (B, Lt): one query per real target token
    out = {}
    for i, w in enumerate(att["encoder"]):
        out[f"enc-self {i}"] = js_diversity(w, src_ok)
    for i, (ws, wc) in enumerate(zip(att["decoder"], att["cross"], strict=True)):
        out[f"dec-self {i}"] = js_diversity(ws, tgt_ok)
        out[f"cross {i}"] = js_diversity(wc, tgt_ok)
    return out


def run(profile: str, out: Path, seed: int) -> Result:
    p = PROFILES[profile]
    pairs = CharPairs("dates", p["train"], p["test"], seed)
    torch.manual_seed(seed)
    model = create_model(
        "transformer-seq2seq",
        vocab_size=pairs.src_tok.vocab_size,
        tgt_vocab_size=pairs.tgt_tok.vocab_size,
        d_model=p["d_model"],
        num_heads=p["heads"],
        num_layers=p["layers"],
        max_len=128,
        position="sinusoidal",
    )

    def loss_fn(m, b):
        logits, _ = m(b[0], b[2], b[1])
        return F.cross_entropy(logits.flatten(0, 1), b[3].flatten(), ignore_index=0)

    log = fit(model, lambda s: pairs.batch(s, p["batch"], seed), loss_fn, steps=p["steps"], desc="multihead")
    masks = HeadMask(model)
    base = accuracy(model, pairs)
    names, heads = list(masks.layers), p["heads"]
    drop = {}
    for name in names:  # (1) one head off at a time
        drop[name] = []
        for h in range(heads):
            masks.off = {(name, h)}
            drop[name].append(base - accuracy(model, pairs))
    single = {}
    for name in names:  # (2) a layer reduced to its most important head
        best = max(range(heads), key=lambda h: drop[name][h])
        masks.off = {(name, h) for h in range(heads) if h != best}
        single[name] = base - accuracy(model, pairs)
    order = sorted(((drop[n][h], n, h) for n in names for h in range(heads)), key=lambda x: x[0])
    curve = [base]
    for k in range(1, len(order) + 1):  # (3) cumulative pruning, least important heads first
        masks.off = {(n, h) for _, n, h in order[:k]}
        curve.append(accuracy(model, pairs))
    masks.off = set()
    div = diversity(model, pairs)  # (4)
    all_drops = [d for n in names for d in drop[n]]
    share_small = sum(d < SMALL_DROP for d in all_drops) / len(all_drops)
    n_total = len(all_drops)
    keep_90 = next((k for k in range(n_total, -1, -1) if curve[k] >= 0.9 * base), 0)
    metrics = {
        "baseline_accuracy": base,
        "layers": names,
        "ablation_drop": drop,
        "share_heads_small_drop": share_small,
        "single_head_layer_drop": single,
        "pruning_curve": curve,
        "pruning_order": [f"{n}/h{h}" for _, n, h in order],
        "heads_prunable_keeping_90pct": keep_90,
        "js_diversity_bits": div,
        "final_loss": log.losses[-1],
    }
    _figures(metrics, heads, out)
    reproduced = base >= 0.5 and share_small >= 0.5
    config = {
        **p,
        "task": "dates (all languages) -> ISO, char level",
        "small_drop": SMALL_DROP,
        "ablation": "zero the head's slice of the out_proj input",
        "metric": "exact match, greedy",
    }
    return Result(name="multihead", profile=profile, seed=seed, metrics=metrics, config=config,
                  verdict=_verdict(metrics, heads, reproduced), figures=["multihead-ablation.png",
                  "multihead-diversity.png"], reproduced=reproduced)  # fmt: skip


def _figures(m: dict, heads: int, out: Path) -> None:
    names = m["layers"]
    grid = torch.tensor([[100 * d for d in m["ablation_drop"][n]] for n in names])
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(names) + 2.5), dpi=110)
    lim = max(1.0, grid.abs().max().item())
    im = axes[0].imshow(grid.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for (i, j), v in zip(
        ((i, j) for i in range(len(names)) for j in range(heads)), grid.flatten().tolist(), strict=True
    ):
        axes[0].text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7)
    axes[0].set_xticks(range(heads), labels=[f"head {h}" for h in range(heads)], fontsize=8)
    axes[0].set_yticks(range(len(names)), labels=names, fontsize=8)
    axes[0].set_title(
        f"accuracy drop (points) when one head is masked\nbaseline {100 * m['baseline_accuracy']:.1f}%",
        fontsize=9,
    )
    fig.colorbar(im, ax=axes[0], fraction=0.04)
    curve = m["pruning_curve"]
    axes[1].plot(range(len(curve)), [100 * c for c in curve], "o-", ms=3)
    axes[1].set(
        xlabel="heads masked (least important first)",
        ylabel="exact match (%)",
        title="cumulative pruning (Michel et al. 2019, fig. 3)",
        ylim=(0, 100),
    )
    fig.tight_layout()
    fig.savefig(out / "multihead-ablation.png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=110)
    div = m["js_diversity_bits"]
    ax.bar(names, [div[n] for n in names], color=["tab:blue" if "enc" in n else "tab:orange" if "dec" in n else
                                                  "tab:green" for n in names])  # fmt: skip
    ax.set(
        ylabel="mean pairwise JS divergence (bits)", title="head diversity per layer (0 = identical heads)"
    )
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    fig.tight_layout()
    fig.savefig(out / "multihead-diversity.png")
    plt.close(fig)


def _verdict(m: dict, heads: int, ok: bool) -> Text:
    base, share = 100 * m["baseline_accuracy"], 100 * m["share_heads_small_drop"]
    drops = {f"{n}/h{h}": 100 * d for n in m["layers"] for h, d in enumerate(m["ablation_drop"][n])}
    worst = max(drops, key=drops.get)
    single = m["single_head_layer_drop"]
    one_ok = sum(d < SMALL_DROP for d in single.values())
    div = m["js_diversity_bits"]
    most, least = max(div, key=div.get), min(div, key=div.get)
    n_total, keep = len(drops), m["heads_prunable_keeping_90pct"]
    trained = base >= 50
    en = (
        f"After training, exact match is {base:.1f}%. Masking one head at a time: {share:.0f}% of the {n_total} heads "
        f"cost less than {100 * SMALL_DROP:.0f} point; the most important is {worst} (-{drops[worst]:.1f} points). "
        f"Reducing a layer to its single most important head costs less than 1 point in {one_ok} of {len(single)} layers; "
        f"{keep} of {n_total} heads can be pruned together while keeping 90% of the accuracy. Head diversity (JS, bits) "
        f"ranges from {div[least]:.2f} ({least}) to {div[most]:.2f} ({most}). Michel et al. 2019 find most heads removable "
        f"individually with little loss and many layers reducible to one head; Voita et al. 2019 find a few specialised "
        "heads that matter. "
        + (
            "This run reproduces that: most heads are individually dispensable."
            if ok
            else (
                "This run does not reproduce it: most heads matter individually in this small model"
                f" ({heads} heads per layer)."
                if trained
                else "The model is undertrained at this profile, so the ablation says little; run the full profile."
            )
        )
    )
    zh = (
        f"训练后精确匹配率为 {base:.1f}%。逐个屏蔽注意力头：{n_total} 个头中有 {share:.0f}% 带来的下降小于 "
        f"{100 * SMALL_DROP:.0f} 个百分点；最重要的是 {worst}（下降 {drops[worst]:.1f} 个百分点）。"
        f"把一层只保留最重要的一个头，在 {len(single)} 层中有 {one_ok} 层的损失小于 1 个百分点；"
        f"在保持 90% 准确率的前提下可以同时剪掉 {n_total} 个头中的 {keep} 个。头的多样性（JS 散度，比特）"
        f"从 {div[least]:.2f}（{least}）到 {div[most]:.2f}（{most}）。Michel 等 2019 发现大多数头可以单独移除而几乎不损失性能，"
        "许多层可以只留一个头；Voita 等 2019 发现少数专门化的头最重要。"
        + (
            "本次运行复现了这一结论：大多数头单独去掉都无关紧要。"
            if ok
            else (
                f"本次运行未复现：在这个小模型（每层 {heads} 个头）中大多数头单独都很重要。"
                if trained
                else "该配置下模型训练不足，消融结果说明不了什么；请运行 full 配置。"
            )
        )
    )
    return Text(en=en, zh=zh)


EXPERIMENT = Experiment(
    name="multihead",
    lesson=5,
    title=Text(
        en="Multi-head attention: head ablation and head diversity", zh="多头注意力：逐头消融与头的多样性"
    ),
    history=Text(
        en="Vaswani et al. (2017) split attention into h heads so that each can attend to a different subspace; "
        "Michel et al. (2019) and Voita et al. (2019) then asked how many of those heads a trained model really uses.",
        zh="Vaswani 等（2017）把注意力拆成 h 个头，让每个头关注不同的子空间；"
        "Michel 等（2019）和 Voita 等（2019）随后追问：训练好的模型到底用到了其中多少个头。",
    ),
    mechanism=Text(
        en="Each head projects queries, keys and values into its own d/h-dimensional subspace and attends there; the "
        "heads' outputs are concatenated and mixed by W^O. Masking a head removes its term from that sum.",
        zh="每个头把查询、键、值投影到自己的 d/h 维子空间并在其中做注意力；各头的输出拼接后由 W^O 混合。"
        "屏蔽一个头就是从这个和中去掉它的那一项。",
    ),
    yardstick=Text(
        en='Michel et al. 2019, "Are Sixteen Heads Really Better than One?" (Table 1-3, fig. 3: most heads removable '
        "with little loss) and Voita et al. 2019 (a few specialised heads matter, the rest can be pruned).",
        zh="Michel 等 2019《Are Sixteen Heads Really Better than One?》（表 1-3、图 3：大多数头可以去掉而几乎不损失），"
        "以及 Voita 等 2019（少数专门化的头重要，其余可剪枝）。",
    ),
    run=run,
)
