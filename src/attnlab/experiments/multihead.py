"""Lesson 5: multi-head attention — what do the heads do, and are they all needed?

Michel et al. (2019, "Are Sixteen Heads Really Better than One?") report two things about trained
Transformers at test time: (a) most heads can be removed one at a time without a significant change
in performance (sec. 3.2, Table 1), and (b) for most layers, keeping only one head is enough
(sec. 3.3, Table 2; in their translation model the exception is the last encoder-decoder attention
layer). Their pruning curves (sec. 4, fig. 3) remove 20% of a translation model's heads together
without noticeable loss.

We train a small encoder-decoder (`TransformerSeq2Seq`) on the `dates` "translation" task (en/fr/de/zh
dates -> ISO) and mask heads of every attention layer (encoder self, decoder self, cross) by zeroing
their slice of the input of the output projection W^O, which removes exactly their term of
Concat(head_1..head_H) W^O. Heads are *ranked* on a validation split and every reported accuracy is
measured on a separate test split (exact match of greedy decoding):

1. each head masked alone (ranked on validation, measured on test);
2. each layer reduced to its most important head, chosen on validation;
3. heads masked cumulatively, least important on validation first;
4. head diversity: the mean pairwise Jensen-Shannon divergence (bits, in [0, 1]) between the heads'
   attention distributions, per layer (descriptive, not judged).

Criteria (each over every seed; see :func:`criteria`): most heads individually dispensable
(primary: the paper's headline), most layers reducible to one head (secondary), 20% of the heads
prunable together (secondary). A seed whose trained model misses 90% exact match leaves them unjudged.
Full profile: 3 seeds of 2,500 steps (estimated 5-6 minutes per seed on one idle core).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from attnlab.data import generate
from attnlab.data.metrics import sequence_accuracy
from attnlab.figures import bar_errors, plt, seed_band
from attnlab.models import create_model

from ._fit import fit
from ._measure import CharPairs
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, fmt_seeds, not_judged, threshold

# "Little loss": less than one point of exact-match accuracy on the test split. Michel et al. test
# significance; a fixed point is the simplest fixed bound at our test sizes (200-600 dates).
SMALL_DROP = 0.01
# The ablation questions a trained model (Michel et al. ablate fully trained translation and BERT models):
# below 90% exact match ours has not learnt the task, and removing heads from it says little.
MIN_BASELINE = 0.9
MOST = 0.5  # "most heads" (sec. 3.2) and "most layers" (sec. 3.3): at least half
PRUNE_SHARE = 0.2  # sec. 4 / fig. 3: 20% of the WMT model's heads pruned without noticeable loss
PROFILES = {
    "smoke": dict(train=200, valid=40, test=40, steps=3, batch=16, d_model=16, heads=2, layers=1),
    "quick": dict(train=4000, valid=200, test=200, steps=800, batch=64, d_model=64, heads=4, layers=1),
    "full": dict(train=30000, valid=600, test=600, steps=2500, batch=64, d_model=64, heads=8, layers=2),
}


class DatePairs(CharPairs):
    """:class:`CharPairs` on ``dates`` with a validation split (used to rank heads, never to report)."""

    def __init__(self, n_train: int, n_valid: int, n_test: int, seed: int) -> None:
        super().__init__("dates", n_train, n_test, seed)
        valid = generate("dates", n_valid, seed=seed, split="valid")
        self.valid = self._encode(valid)
        self.valid_targets = [e.tgt for e in valid]


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


def accuracy(model, pairs: DatePairs, split: str = "test") -> float:
    """Exact match of greedy decoding on ``split`` ("valid" or "test")."""
    t = getattr(pairs, split)
    preds = pairs.decode(model.greedy_decode(t["src"], t["lengths"], max_len=pairs.max_tgt))
    return sequence_accuracy(preds, getattr(pairs, f"{split}_targets"))


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


def diversity(model, pairs: DatePairs, n: int = 256) -> dict[str, float]:
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


def drop_between(before: float, after: float) -> float:
    """Accuracy lost, rounded to 1e-9 so that a drop of exactly one point is not read as 0.00999..."""
    return round(before - after, 9)


def prunable_share(curve: list[float]) -> float:
    """The largest share k/N of heads such that masking the first j (j <= k) of the ranked heads always
    costs less than ``SMALL_DROP`` of test accuracy against the unpruned model (``curve[0]``)."""
    n = len(curve) - 1
    k = 0
    while k < n and drop_between(curve[0], curve[k + 1]) < SMALL_DROP:
        k += 1
    return k / n if n else 0.0


def run(profile: str, out: Path, seed: int) -> SeedRun:
    p = PROFILES[profile]
    pairs = DatePairs(p["train"], p["valid"], p["test"], seed)
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
    names, heads = list(masks.layers), p["heads"]
    base = {split: accuracy(model, pairs, split) for split in ("valid", "test")}
    drop = {"valid": {}, "test": {}}
    for split in drop:  # (1) one head off at a time: ranked on valid, reported on test
        for name in names:
            drop[split][name] = []
            for h in range(heads):
                masks.off = {(name, h)}
                drop[split][name].append(drop_between(base[split], accuracy(model, pairs, split)))
    kept, single = {}, {}
    for name in names:  # (2) a layer reduced to its most important head on valid, measured on test
        kept[name] = max(range(heads), key=lambda h: drop["valid"][name][h])
        masks.off = {(name, h) for h in range(heads) if h != kept[name]}
        single[name] = drop_between(base["test"], accuracy(model, pairs, "test"))
    order = sorted(((drop["valid"][n][h], i, n, h) for i, n in enumerate(names) for h in range(heads)))
    curve = [base["test"]]
    for k in range(1, len(order) + 1):  # (3) cumulative pruning, least important on valid first
        masks.off = {(n, h) for *_, n, h in order[:k]}
        curve.append(accuracy(model, pairs, "test"))
    masks.off = set()
    div = diversity(model, pairs)  # (4)
    test_drops = [d for n in names for d in drop["test"][n]]
    metrics = {
        "baseline_accuracy": base["test"],
        "baseline_accuracy_valid": base["valid"],
        "layers": names,
        "ablation_drop": drop["test"],
        "ablation_drop_valid": drop["valid"],
        "share_heads_small_drop": sum(d < SMALL_DROP for d in test_drops) / len(test_drops),
        "single_head_kept": kept,
        "single_head_layer_drop": single,
        "share_layers_one_head_enough": sum(d < SMALL_DROP for d in single.values()) / len(single),
        "pruning_curve": curve,
        "pruning_order": [f"{n}/h{h}" for *_, n, h in order],
        "prunable_share": prunable_share(curve),
        "js_diversity_bits": div,
        "final_loss": log.losses[-1],
    }
    _ablation_figure(metrics, heads, out / "multihead-ablation.png")
    config = {
        **p,
        "task": "dates (all languages) -> ISO, char level",
        "small_drop": SMALL_DROP,
        "min_baseline": MIN_BASELINE,
        "ablation": "zero the head's slice of the out_proj input",
        "ranking": "accuracy drop on the valid split",
        "metric": "exact match, greedy, test split",
    }
    return SeedRun(
        metrics=metrics,
        config=config,
        figures=["multihead-ablation.png"],
        timings={"train_s": round(log.seconds, 2)},
    )


def _ablation_figure(m: dict, heads: int, path: Path) -> None:
    """One seed's model: test accuracy drop per head (the head kept alone in each layer boxed)."""
    names = m["layers"]
    grid = torch.tensor([[100 * d for d in m["ablation_drop"][n]] for n in names])
    fig, ax = plt.subplots(figsize=(1.0 * heads + 3.5, 0.45 * len(names) + 1.8), dpi=110)
    lim = max(1.0, grid.abs().max().item())
    im = ax.imshow(grid.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for i, n in enumerate(names):
        for j in range(heads):
            ax.text(j, i, f"{grid[i, j].item():.1f}", ha="center", va="center", fontsize=7)
        ax.add_patch(plt.Rectangle((m["single_head_kept"][n] - 0.5, i - 0.5), 1, 1, fill=False, lw=1.5))
    ax.set_xticks(range(heads), labels=[f"head {h}" for h in range(heads)], fontsize=8)
    ax.set_yticks(range(len(names)), labels=names, fontsize=8)
    ax.set_title(
        f"test accuracy drop (points), one head masked; baseline {100 * m['baseline_accuracy']:.1f}%\n"
        "boxed: the head kept alone (most important on the valid split)",
        fontsize=9,
    )
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """Pruning curve, one-head layers and head diversity: mean and min–max over seeds."""
    names = per_seed[0]["layers"]
    x = list(range(len(names)))
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), dpi=110)
    n_heads = len(per_seed[0]["pruning_curve"]) - 1
    seed_band(
        axes[0], [100 * k / n_heads for k in range(n_heads + 1)],
        [[100 * a for a in m["pruning_curve"]] for m in per_seed], "o-", ms=3,
    )  # fmt: skip
    axes[0].set(
        xlabel="heads masked (%; least important on valid first)", ylabel="test exact match (%)",
        title="cumulative pruning (Michel et al. fig. 3)", ylim=(0, 100),
    )  # fmt: skip
    axes[0].axvline(100 * PRUNE_SHARE, color="grey", ls=":", lw=1)
    for ax, key, ylabel, title in (
        (axes[1], "single_head_layer_drop", "test accuracy drop (points)", "layer reduced to one head"),
        (
            axes[2],
            "js_diversity_bits",
            "mean pairwise JS divergence (bits)",
            "head diversity (0 = identical)",
        ),
    ):
        scale = 100 if key == "single_head_layer_drop" else 1
        vals = [[scale * m[key][n] for n in names] for m in per_seed]
        mean = [sum(col) / len(col) for col in zip(*vals)]
        err = bar_errors(mean, [min(col) for col in zip(*vals)], [max(col) for col in zip(*vals)])
        colors = ["tab:blue" if "enc" in n else "tab:orange" if "dec" in n else "tab:green" for n in names]
        ax.bar(x, mean, yerr=err, color=colors, capsize=3)
        ax.set_xticks(x, labels=names, rotation=30, fontsize=8)
        ax.set(ylabel=ylabel, title=title)
    axes[1].axhline(100 * SMALL_DROP, color="black", ls=":", lw=1, label=f"{100 * SMALL_DROP:.0f} point")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "multihead-pruning.png")
    plt.close(fig)
    return ["multihead-pruning.png"]


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """Michel et al.'s two halves and their pruning curve, each with rule "every" (every seed).

    - ``most-heads-individually-dispensable`` (primary: the paper's title question and the first
      finding of its abstract, "a large percentage of attention heads can be removed at test time"):
      the share of heads whose masking alone costs less than 1 point on test is at least one half.
    - ``most-layers-one-head-enough`` (secondary: the abstract says "some layers can even be reduced
      to a single head"; sec. 3.3 "most layers", with an exception): the share of layers that, reduced
      to their most important head on validation, lose less than 1 point on test is at least one half.
    - ``prune-20pct-of-heads`` (secondary: sec. 4): the heads masked together, least important on
      validation first, before test accuracy drops by 1 point are at least 20% of all heads.

    A seed whose model misses ``MIN_BASELINE`` exact match has not learnt the task: the criteria are
    then not judged (the verdict is inconclusive), whatever the ablation shows.
    """
    base = [m["baseline_accuracy"] for m in per_seed]
    n_heads = len(per_seed[0]["pruning_curve"]) - 1
    n_layers = len(per_seed[0]["layers"])
    acc = fmt_seeds(base)
    specs = [
        ("most-heads-individually-dispensable", True, "share_heads_small_drop", MOST,
         f"The trained model reaches {acc} test exact match; masking one of its {n_heads} heads at a time, a share "
         "{value} of them cost less than 1 point (criterion: {rule})",
         f"训练后的模型测试精确匹配率为 {acc}；逐个屏蔽它的 {n_heads} 个头，其中 {{value}} 的比例带来的下降小于 "
         "1 个百分点（判据：{rule}）"),
        ("most-layers-one-head-enough", False, "share_layers_one_head_enough", MOST,
         f"Reduced to its most important head (chosen on validation), a share {{value}} of the {n_layers} layers "
         "lose less than 1 point on test (criterion: {rule})",
         f"每层只保留在验证集上最重要的一个头，{n_layers} 层中有 {{value}} 的比例在测试集上损失小于 1 个百分点"
         "（判据：{rule}）"),
        ("prune-20pct-of-heads", False, "prunable_share", PRUNE_SHARE,
         "Masking heads together, least important on validation first, a share {value} of all heads go before "
         "test exact match drops by 1 point (criterion: {rule})",
         "按验证集上的重要性从低到高累计屏蔽，在测试精确匹配下降 1 个百分点之前可去掉的头占 {value}（判据：{rule}）"),
    ]  # fmt: skip
    trained = all(b >= MIN_BASELINE for b in base)
    shown = ", ".join(f"{100 * b:.1f}%" for b in base)
    out = []
    for name, primary, key, bound, en, zh in specs:
        if trained:
            out.append(
                threshold(name, [m[key] for m in per_seed], ">=", bound, en=en, zh=zh, primary=primary)
            )
        else:
            out.append(not_judged(
                name, primary=primary,
                en=f"{name}: the trained model reaches {shown} test exact match (per seed), below the "
                f"{100 * MIN_BASELINE:.0f}% a model must reach for its heads' ablation to say anything",
                zh=f"{name}：训练后的模型测试精确匹配率为 {shown}（各种子），低于 {100 * MIN_BASELINE:.0f}%，"
                "模型尚未学会该任务，消融说明不了什么",
            ))  # fmt: skip
    return out


EXPERIMENT = Experiment(
    name="multihead",
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
        en='Michel et al. 2019, "Are Sixteen Heads Really Better than One?": most heads can be removed one at a time '
        "at test time without a significant change (sec. 3.2, Table 1); for most layers one head is enough (sec. 3.3, "
        "Table 2); 20% of a translation model's heads can be pruned together without noticeable loss (sec. 4, fig. 3).",
        zh="Michel 等 2019《Are Sixteen Heads Really Better than One?》：测试时大多数头可以逐个去掉而性能无显著变化"
        "（第 3.2 节，表 1）；多数层只留一个头就够（第 3.3 节，表 2）；翻译模型 20% 的头可以一起剪掉而无明显损失"
        "（第 4 节，图 3）。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
)
