"""Lesson 15: induction heads — in-context copying forms in 2-layer attention-only models, not 1-layer.

Olsson et al. (2022, "In-context Learning and Induction Heads") and Elhage et al. (2021) describe an
*induction head*: at position t holding token A it attends to the token right *after* the previous
occurrence of A (``[A][B] ... [A] -> B``) and copies it. It needs two heads in series: a
*previous-token head* (layer 1) writes "my previous token was A" into each position, and the induction
head (layer 2) matches its query A against those keys (K-composition). A 1-layer attention-only model
has no earlier layer to write that, so it cannot do it.

We train attention-only decoder LMs (``TransformerLM`` with ``attention_only=True``: no MLPs) with 1
and 2 layers on random tokens whose first segment (random length S) is immediately repeated. Measured:
the loss on the repeated half vs the first half (the in-context loss drop), and per head

    induction score      = mean_t  a[t, j(t) + 1],  j(t) = the last j < t with x_j = x_t
    previous-token score = mean_t  a[t, t - 1]

(a perfect induction head scores 1; uniform attention over L keys scores 1/L).

Criteria (:func:`criteria`), each over every seed: primary — the 2-layer model has a head with
induction score >= 0.3, the 1-layer model has none, and the 2-layer model's in-context loss drop
exceeds the 1-layer model's by more than 1 nat (``compare``, rule "every": both models are tested on
the same rows); secondary — the 2-layer model's first layer has a previous-token head (score >= 0.5).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from attnlab.figures import bar_errors, plt, seed_band
from attnlab.interpret import plot_attention
from attnlab.models import create_model

from ._fit import fit
from ._measure import count_params
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, compare, threshold

PROFILES = {
    "smoke": dict(vocab=16, length=16, min_seg=3, d_model=16, heads=2, steps=3, batch=8, n_test=16),
    "quick": dict(vocab=64, length=32, min_seg=4, d_model=64, heads=4, steps=600, batch=32, n_test=128),
    "full": dict(vocab=64, length=64, min_seg=4, d_model=64, heads=4, steps=3000, batch=32, n_test=1024),
}


def repeated_tokens(
    batch: int, length: int, vocab: int, min_seg: int, gen: torch.Generator, seg: int | None = None
) -> tuple[Tensor, Tensor]:
    """Random tokens ``(B, L)`` whose first ``S`` tokens are repeated at positions ``S .. 2S-1``.

    ``S`` is drawn per row from ``[min_seg, L // 2]`` (or fixed to ``seg``), so the copy offset varies
    and no fixed positional pattern can predict the repeat. Returns ``(tokens, S (B,))``.
    """
    if not 1 <= min_seg <= length // 2:
        raise ValueError(f"min_seg: expected 1 <= min_seg <= length // 2 = {length // 2}, got {min_seg}")
    tokens = torch.randint(vocab, (batch, length), generator=gen)
    if seg is None:
        segs = torch.randint(min_seg, length // 2 + 1, (batch,), generator=gen)
    else:
        if not 1 <= seg <= length // 2:
            raise ValueError(f"seg: expected 1 <= seg <= length // 2 = {length // 2}, got {seg}")
        segs = torch.full((batch,), seg)
    pos = torch.arange(length)
    in_copy = (pos[None] >= segs[:, None]) & (pos[None] < 2 * segs[:, None])  # (B, L)
    source = (pos[None] - segs[:, None]).clamp_min(0)  # (B, L): where a copied token comes from
    tokens = torch.where(in_copy, tokens.gather(1, source), tokens)
    return tokens, segs


def induction_targets(tokens: Tensor) -> tuple[Tensor, Tensor]:
    """For each query t: ``j(t) + 1`` where ``j(t)`` is the last ``j < t`` with ``x_j = x_t``, and
    whether such a ``j`` exists. ``tokens (B, L)`` -> ``(targets (B, L), valid (B, L))``."""
    if tokens.dim() != 2:
        raise ValueError(f"tokens: expected (B, L), got {tuple(tokens.shape)}")
    L = tokens.shape[1]
    idx = torch.arange(L, device=tokens.device)
    earlier = idx[None, :] < idx[:, None]  # (L, L): key j before query t
    same = (tokens[:, :, None] == tokens[:, None, :]) & earlier  # (B, L, L)
    last = torch.where(same, idx, -1).max(dim=-1).values  # (B, L)
    valid = last >= 0
    return (last + 1).clamp(max=L - 1), valid


def induction_score(weights: Tensor, tokens: Tensor) -> Tensor:
    """Per head, the mean attention from t to the token after the previous occurrence of ``x_t``
    (Olsson et al., 2022). ``weights (B, H, L, L)``, ``tokens (B, L)`` -> ``(H,)``."""
    if weights.dim() != 4 or weights.shape[0] != tokens.shape[0] or weights.shape[-1] != tokens.shape[1]:
        raise ValueError(
            f"weights: expected (B, H, L, L) matching tokens {tuple(tokens.shape)}, got {tuple(weights.shape)}"
        )
    targets, valid = induction_targets(tokens)
    B, H, L, _ = weights.shape
    index = targets[:, None, :, None].expand(B, H, L, 1)  # (B, H, L, 1)
    picked = weights.gather(-1, index).squeeze(-1)  # (B, H, L)
    v = valid[:, None, :].float()
    return (picked * v).sum(dim=(0, 2)) / v.sum(dim=(0, 2)).clamp_min(1.0)


def previous_token_score(weights: Tensor) -> Tensor:
    """Per head, the mean attention from t to t - 1 over t >= 1. ``weights (B, H, L, L)`` -> ``(H,)``."""
    if weights.dim() != 4 or weights.shape[-1] < 2:
        raise ValueError(f"weights: expected (B, H, L, L) with L >= 2, got {tuple(weights.shape)}")
    return weights.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, 2))  # (H,)


def train_model(layers: int, cfg: dict, seed: int):
    torch.manual_seed(seed)
    model = create_model(
        "transformer-lm", vocab_size=cfg["vocab"], d_model=cfg["d_model"], num_heads=cfg["heads"],
        num_layers=layers, attention_only=True, max_len=cfg["length"], tie_embeddings=False,
        position="rope",  # relative offsets make a previous-token head easy to express
    )  # fmt: skip

    def batch_fn(step: int):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        return repeated_tokens(cfg["batch"], cfg["length"], cfg["vocab"], cfg["min_seg"], gen)

    def loss_fn(m, batch):
        tokens, _ = batch
        logits, _ = m(tokens[:, :-1])  # (B, L-1, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))

    log = fit(model, batch_fn, loss_fn, cfg["steps"], lr=3e-3, warmup=50, desc=f"{layers}-layer", quiet=True)
    return model, log


@torch.no_grad()
def evaluate(model, cfg: dict, seed: int) -> dict:
    """Loss by position on test rows with S = L/2, and the induction / previous-token score per head."""
    S = cfg["length"] // 2
    gen = torch.Generator().manual_seed(10_000 + seed)
    tokens, _ = repeated_tokens(cfg["n_test"], cfg["length"], cfg["vocab"], cfg["min_seg"], gen, seg=S)
    logits, att = model(tokens, need_weights=True)
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none").mean(0)  # (L-1,)
    first, repeat = nll[: S - 1].mean().item(), nll[S:].mean().item()  # predict x_1..x_{S-1} / x_{S+1}..
    return {
        "loss_by_position": [round(x, 4) for x in nll.tolist()],
        "loss_first_half": first,
        "loss_repeated_half": repeat,
        "in_context_drop": first - repeat,
        "induction": [induction_score(w, tokens).tolist() for w in att["decoder"]],
        "previous_token": [previous_token_score(w).tolist() for w in att["decoder"]],
    }


def _sorted_bars(ax, xs, per_seed_values, **kw) -> None:
    """Bars of values sorted high to low within each seed (heads have no identity across seeds): mean
    over seeds with min–max error bars."""
    ranked = [sorted(v, reverse=True) for v in per_seed_values]
    cols = list(zip(*ranked))
    mean = [sum(c) / len(c) for c in cols]
    err = bar_errors(mean, [min(c) for c in cols], [max(c) for c in cols])
    ax.bar(xs, mean, yerr=err, capsize=2, **kw)


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """Induction and previous-token scores per head, and the test loss by position: mean and min–max
    over seeds."""
    first = per_seed[0]
    L, V = first["length"], first["vocab"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.4), dpi=110)
    x, ticks, labels = 0.0, [], []
    for name, color in (("1-layer", "tab:blue"), ("2-layer", "tab:orange")):
        for li in range(len(first[name]["induction"])):
            heads = len(first[name]["induction"][li])
            xs = [x + h for h in range(heads)]
            _sorted_bars(ax, [v - 0.2 for v in xs], [m[name]["induction"][li] for m in per_seed], width=0.4,
                         color=color)  # fmt: skip
            if li == 0:
                _sorted_bars(ax, [v + 0.2 for v in xs], [m[name]["previous_token"][0] for m in per_seed],
                             width=0.4, color="grey")  # fmt: skip
            ticks.append(x + (heads - 1) / 2)
            labels.append(f"{name}\nlayer {li + 1}")
            x += heads + 1
    ax.axhline(INDUCTION_BOUND, color="tab:red", ls="--", lw=1, label="induction head from here")
    ax.axhline(1.0 / L, color="k", ls=":", lw=1, label="uniform attention")
    ax.set_xticks(ticks, labels, fontsize=8)
    ax.set(ylim=(0, 1.02), ylabel="mean attention", title="score per head (sorted within each layer)")
    keys = (("tab:blue", "induction score, 1-layer model"), ("tab:orange", "induction score, 2-layer model"),
            ("grey", "previous-token score (layer 1)"))  # fmt: skip
    handles, names = ax.get_legend_handles_labels()
    handles += [plt.Rectangle((0, 0), 1, 1, color=c) for c, _ in keys]
    ax.legend(handles, names + [n for _, n in keys], fontsize=7)
    S = L // 2
    for name, style in (("1-layer", "-"), ("2-layer", "--")):
        seed_band(ax2, range(1, L), [m[name]["loss_by_position"] for m in per_seed], style, label=name)
    ax2.axhline(math.log(V), color="grey", ls=":", lw=1, label="ln V (chance)")
    ax2.axvline(S, color="k", ls="--", lw=1)
    ax2.text(S, 0.1, " repeat starts", fontsize=8)
    ax2.set(xlabel="position of the predicted token", ylabel="test loss (nats)", title="in-context loss")
    ax2.legend(fontsize=7)
    fig.suptitle(f"Attention-only Transformers on repeated random tokens (mean, min–max over {len(per_seed)} "
                 "seed(s))", fontsize=10)  # fmt: skip
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.16, top=0.86, wspace=0.2)
    fig.savefig(out / "induction-scores.png")
    plt.close(fig)
    return ["induction-scores.png"]


def run(profile: str, out: Path, seed: int) -> SeedRun:
    cfg = PROFILES[profile]
    metrics: dict = {"length": cfg["length"], "vocab": cfg["vocab"]}
    timings = {}
    model = None
    for layers in (1, 2):
        model, log = train_model(layers, cfg, seed)  # the 2-layer one is kept for the attention figure
        m = evaluate(model, cfg, seed)
        m.update(params=count_params(model), steps=log.steps)
        timings[f"{layers}-layer_train_s"] = round(log.seconds, 2)
        metrics[f"{layers}-layer"] = m
    best_layer, best_head = divmod(
        max(
            range(2 * cfg["heads"]),
            key=lambda i: metrics["2-layer"]["induction"][i // cfg["heads"]][i % cfg["heads"]],
        ),
        cfg["heads"],
    )
    S = min(12, cfg["length"] // 2)  # one row with a shorter repeat, readable as a heatmap
    row, _ = repeated_tokens(1, 2 * S, cfg["vocab"], 1, torch.Generator().manual_seed(seed + 1), seg=S)
    with torch.no_grad():
        _, att = model(row, need_weights=True)
    w = att["decoder"][best_layer][0, best_head]  # (2S, 2S)
    labels = [str(t) for t in row[0].tolist()]
    plot_attention(
        w[S : 2 * S, : 2 * S], labels[S:], labels, str(out / "best-head.png"),
        title=f"2-layer model, layer {best_layer + 1} head {best_head}: queries in the repeat",
    )  # fmt: skip
    metrics["best_head"] = {"layer": best_layer + 1, "head": best_head}
    metrics["uniform_baseline"] = 1.0 / cfg["length"]
    metrics["ln_vocab"] = math.log(cfg["vocab"])
    config = dict(cfg) | {"lr": 3e-3, "position": "rope", "attention_only": True}
    return SeedRun(metrics=metrics, config=config, figures=["best-head.png"], timings=timings)


# Bounds:
# - induction head: Olsson et al. define it by its behaviour on repeated random tokens (attend to the
#   token after the previous occurrence and copy it), without a number. Our score averages that weight
#   over every query whose token occurred before, including chance repeats in the random first half,
#   where the next token is no help; 0.3 is about 20x uniform attention at L = 64 (1/64) and 10x at
#   L = 32. The same bound decides "the 1-layer model has none".
# - in-context loss drop: both models are tested on the same rows, so the gap is paired per seed; 1 nat
#   (the 2-layer model gives the right next token e times the 1-layer model's probability) beyond the
#   drop the 1-layer model gets from "tokens already seen are likely".
# - previous-token head (secondary: the mechanism, Elhage et al. 2021): a layer-1 head of the 2-layer
#   model putting most (>= 0.5) of its attention on t - 1.
INDUCTION_BOUND = 0.3
DROP_MARGIN = 1.0
PREVIOUS_TOKEN_BOUND = 0.5


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """Primary: an induction head in the 2-layer model, none in the 1-layer model, a larger in-context
    loss drop (compare, every seed). Secondary: a previous-token head in the 2-layer model's layer 1."""
    best = {n: [max(max(h) for h in m[n]["induction"]) for m in per_seed] for n in ("1-layer", "2-layer")}
    drop = {n: [m[n]["in_context_drop"] for m in per_seed] for n in ("1-layer", "2-layer")}
    prev = [max(m["2-layer"]["previous_token"][0]) for m in per_seed]
    return [
        threshold(
            "two-layer-induction-head", best["2-layer"], ">=", INDUCTION_BOUND,
            en="Best induction score of the 2-layer model's heads: {value} (criterion: {rule})",
            zh="2 层模型各头中最高的归纳分数：{value}（判据：{rule}）",
        ),
        threshold(
            "one-layer-no-induction-head", best["1-layer"], "<", INDUCTION_BOUND,
            en="Best induction score of the 1-layer model's heads: {value} (criterion: {rule})",
            zh="1 层模型各头中最高的归纳分数：{value}（判据：{rule}）",
        ),
        compare(
            "in-context-drop-2-vs-1-layer", drop["2-layer"], drop["1-layer"], margin=DROP_MARGIN,
            en="Loss drop from the random first half to the repeated half: 2-layer {a} vs 1-layer {b} nats, "
            "gap {gap} (criterion: {rule})",
            zh="从随机前半段到重复段的损失下降：2 层 {a}，1 层 {b} 奈特，差距 {gap}（判据：{rule}）",
        ),
        threshold(
            "previous-token-head", prev, ">=", PREVIOUS_TOKEN_BOUND, primary=False,
            en="Best previous-token score in the 2-layer model's first layer: {value} (criterion: {rule})",
            zh="2 层模型第 1 层中最高的前一词分数：{value}（判据：{rule}）",
        ),
    ]  # fmt: skip


EXPERIMENT = Experiment(
    name="induction-heads",
    title=Text(
        en="Induction heads: in-context copying needs two attention layers",
        zh="归纳头：上下文内复制需要两层注意力",
    ),
    history=Text(
        en="Elhage et al. (2021) took attention-only Transformers apart into circuits; Olsson et al. (2022) "
        "linked the sudden formation of induction heads to the rise of in-context learning.",
        zh="Elhage 等（2021）把只有注意力的 Transformer 拆解为电路；Olsson 等（2022）把归纳头的突然形成"
        "与上下文学习能力的出现联系起来。",
    ),
    mechanism=Text(
        en="A previous-token head copies x_{j-1} into position j; an induction head at t then matches its query "
        "x_t against those keys, attends to j(t)+1 and copies that token: [A][B] ... [A] -> [B].",
        zh="前一词头把 x_{j-1} 写入位置 j；位置 t 的归纳头再用查询 x_t 匹配这些键，注意到 j(t)+1 并复制该词："
        "[A][B] ... [A] -> [B]。",
    ),
    yardstick=Text(
        en="Olsson et al. 2022, 'In-context Learning and Induction Heads': induction heads (and a large "
        "in-context loss drop) form in 2-layer attention-only models, not in 1-layer ones.",
        zh="Olsson 等 2022《In-context Learning and Induction Heads》：归纳头（以及上下文损失的大幅下降）"
        "出现在 2 层纯注意力模型中，而不出现在 1 层模型中。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
)
