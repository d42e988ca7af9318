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
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor  # noqa: E402

from attnlab.interpret import plot_attention  # noqa: E402
from attnlab.models import create_model  # noqa: E402

from ._fit import fit  # noqa: E402
from ._measure import count_params  # noqa: E402
from .base import Experiment, Result, Text  # noqa: E402

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


def plot_scores(res: dict, cfg: dict, path: Path) -> None:
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.4), dpi=110)
    labels, ind, prev, colors = [], [], [], []
    for name, color in (("1-layer", "tab:blue"), ("2-layer", "tab:orange")):
        for li, (hi, pi) in enumerate(zip(res[name]["induction"], res[name]["previous_token"])):
            for h in range(len(hi)):
                labels.append(f"{name[0]}L:L{li + 1}H{h}")
                ind.append(hi[h])
                prev.append(pi[h] if li == 0 else float("nan"))
                colors.append(color)
    x = torch.arange(len(labels)).float()
    ax.bar(x - 0.2, ind, 0.4, color=colors, label="induction score")
    ax.bar(x + 0.2, prev, 0.4, color="grey", label="previous-token score (layer 1)")
    ax.axhline(1.0 / cfg["length"], color="k", ls=":", lw=1)
    ax.set_xticks(x.tolist(), labels, rotation=60, fontsize=7)
    ax.set(ylim=(0, 1.02), ylabel="mean attention", title="score per head (blue: 1-layer, orange: 2-layer)")
    ax.legend(fontsize=7)
    S = cfg["length"] // 2
    for name in ("1-layer", "2-layer"):
        ax2.plot(range(1, cfg["length"]), res[name]["loss_by_position"], label=name)
    ax2.axhline(math.log(cfg["vocab"]), color="grey", ls=":", lw=1, label="ln V (chance)")
    ax2.axvline(S, color="k", ls="--", lw=1)
    ax2.text(S, 0.1, " repeat starts", fontsize=8)
    ax2.set(xlabel="position of the predicted token", ylabel="test loss (nats)", title="in-context loss")
    ax2.legend(fontsize=7)
    fig.suptitle("Attention-only Transformers on repeated random tokens", fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.2, top=0.86, wspace=0.2)
    fig.savefig(path)
    plt.close(fig)


def run(profile: str, out: Path, seed: int) -> Result:
    cfg = PROFILES[profile]
    res: dict = {}
    for layers in (1, 2):
        model, log = train_model(layers, cfg, seed)
        res["_model"] = model  # the 2-layer one is kept for the attention figure
        m = evaluate(model, cfg, seed)
        m.update(params=count_params(model), steps=log.steps, train_seconds=round(log.seconds, 1))
        res[f"{layers}-layer"] = m
    best_layer, best_head = divmod(
        max(
            range(2 * cfg["heads"]),
            key=lambda i: res["2-layer"]["induction"][i // cfg["heads"]][i % cfg["heads"]],
        ),
        cfg["heads"],
    )
    figures = ["induction-scores.png", "best-head.png"]
    plot_scores(res, cfg, out / figures[0])
    S = min(12, cfg["length"] // 2)  # one row with a shorter repeat, readable as a heatmap
    row, _ = repeated_tokens(1, 2 * S, cfg["vocab"], 1, torch.Generator().manual_seed(seed + 1), seg=S)
    with torch.no_grad():
        _, att = res.pop("_model")(row, need_weights=True)
    w = att["decoder"][best_layer][0, best_head]  # (2S, 2S)
    labels = [str(t) for t in row[0].tolist()]
    plot_attention(
        w[S : 2 * S, : 2 * S], labels[S:], labels, str(out / figures[1]),
        title=f"2-layer model, layer {best_layer + 1} head {best_head}: queries in the repeat",
    )  # fmt: skip
    metrics = dict(res)
    metrics["best_head"] = {"layer": best_layer + 1, "head": best_head}
    metrics["uniform_baseline"] = 1.0 / cfg["length"]
    metrics["ln_vocab"] = math.log(cfg["vocab"])
    reproduced, verdict = judge(metrics, profile)
    return Result(
        name="induction-heads", profile=profile, seed=seed, metrics=metrics, config=dict(cfg),
        verdict=verdict, figures=figures, reproduced=reproduced,
    )  # fmt: skip


def judge(m: dict, profile: str) -> tuple[bool, Text]:
    """Olsson et al.'s claim: the 2-layer model has a head with induction score >= 0.3 and at least 3x
    the best head of the 1-layer model, and its in-context loss drop is >= 1 nat larger."""
    one, two = m["1-layer"], m["2-layer"]
    best1 = max(max(h) for h in one["induction"])
    best2 = max(max(h) for h in two["induction"])
    prev2 = max(two["previous_token"][0])
    ok = best2 >= 0.3 and best2 >= 3 * best1 and two["in_context_drop"] - one["in_context_drop"] >= 1.0
    b = m["best_head"]
    en = (
        f"Best induction score: 1-layer {best1:.2f}, 2-layer {best2:.2f} (layer {b['layer']} head {b['head']}; "
        f"uniform attention would give {m['uniform_baseline']:.3f}). The 2-layer model's best previous-token "
        f"score in layer 1 is {prev2:.2f}. Loss on the first (random) half vs the repeated half: 1-layer "
        f"{one['loss_first_half']:.2f} -> {one['loss_repeated_half']:.2f} nats, 2-layer "
        f"{two['loss_first_half']:.2f} -> {two['loss_repeated_half']:.2f} (ln V = {m['ln_vocab']:.2f}). "
    )
    zh = (
        f"最佳归纳分数：1 层模型 {best1:.2f}，2 层模型 {best2:.2f}（第 {b['layer']} 层第 {b['head']} 个头；"
        f"均匀注意力为 {m['uniform_baseline']:.3f}）。2 层模型第 1 层最佳的前一词分数为 {prev2:.2f}。"
        f"前半段（随机）与重复段的损失：1 层 {one['loss_first_half']:.2f} -> {one['loss_repeated_half']:.2f} 奈特，"
        f"2 层 {two['loss_first_half']:.2f} -> {two['loss_repeated_half']:.2f}（ln V = {m['ln_vocab']:.2f}）。"
    )
    if ok:
        en += "This reproduces Olsson et al. (2022): an induction head formed in the 2-layer model, not in the 1-layer one."
        zh += "这复现了 Olsson 等（2022）的结论：2 层模型中形成了归纳头，1 层模型中没有。"
    else:
        en += (
            "This run does not reproduce Olsson et al. (2022) (criterion: a 2-layer head scores >= 0.3 and "
            ">= 3x the best 1-layer head, and the 2-layer in-context loss drop is >= 1 nat larger)."
        )
        zh += "本次运行未复现 Olsson 等（2022）的结论（判据：2 层模型有头的归纳分数 >= 0.3 且为 1 层最佳头的 3 倍以上，且其上下文损失下降多至少 1 奈特）。"
    if profile == "smoke":
        en += " The smoke profile trains for a few steps only."
        zh += "smoke 配置只训练几步。"
    return ok, Text(en=en, zh=zh)


EXPERIMENT = Experiment(
    name="induction-heads",
    lesson=15,
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
)
