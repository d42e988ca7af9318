"""Lesson 10: position encodings and length extrapolation — train short, test long.

Press, Smith & Lewis (2022, "Train Short, Test Long", ALiBi; Fig. 1) report that a causal LM
trained on windows of L tokens and evaluated on longer windows degrades sharply with sinusoidal
positions, while ALiBi's linear distance penalty keeps perplexity flat (or improving) far past L, at
no cost at L itself. We train the same small character-level ``TransformerLM`` at context L once per
position scheme (sinusoidal, learned, RoPE — Su et al. 2021, T5 bias — Raffel et al. 2020, ALiBi,
Shaw et al. 2018, none) for a fixed number of steps on Python standard-library source text (read
from this interpreter's installation, nothing downloaded) and measure held-out perplexity with
non-overlapping windows of L, 2L, 4L and 8L characters. Learned absolute positions have no embedding
past L, so they are evaluated at L only.

Criteria (every rule is "every seed"; the schemes of one seed see the same windows from the same
initialisation seed): primary — ALiBi's perplexity at 4L is at most 1.2x its value at L, and
sinusoidal's is more than 1.5x; secondary — ALiBi's perplexity at 8L is below sinusoidal's, its 8L/L
ratio is below RoPE's, and at L it is within 5% of sinusoidal's.

Quick profile: only the three schemes the criteria compare and learned positions, 300 steps each at
L = 32 (about 17 s on one core; with all seven schemes at 150 steps sinusoidal's ratio at 4L stayed
near 1.3). Full profile: 7 schemes x 800 steps (reduced from 1,000: about 0.12-0.15 s of CPU per step on one
core, so 1,000 steps would take 14-17 minutes per seed); 800 take about 12-14 minutes per seed.
"""

from __future__ import annotations

import math
import sysconfig
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from matplotlib.ticker import NullLocator

from attnlab.data import CharTokenizer
from attnlab.figures import plt, seed_band
from attnlab.models import AttentionConfig, create_model

from ._fit import fit
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, compare, threshold

SCHEMES = ("sinusoidal", "learned", "rope", "t5", "alibi", "shaw", "none")
FACTORS = (1, 2, 4, 8)
LR = 3e-3
MAX_RELATIVE = 16  # Shaw et al.'s clipping distance

# corpus_chars: characters of stdlib source read (train + test); eval_windows: windows of 8L per length.
# Fixed step counts (no time limit); every scheme trains the same number of steps.
SIZES = {
    "smoke": dict(
        context=16, d_model=32, heads=2, layers=1, steps=3, batch=8, corpus_chars=20_000, eval_windows=1
    ),
    # quick: only the schemes the criteria compare, and learned positions, for twice the steps.
    "quick": dict(
        context=32,
        d_model=64,
        heads=4,
        layers=2,
        steps=300,
        batch=16,
        corpus_chars=300_000,
        eval_windows=8,
        schemes=("sinusoidal", "learned", "rope", "alibi"),
    ),
    "full": dict(
        context=64,
        d_model=128,
        heads=4,
        layers=3,
        steps=800,
        batch=32,
        corpus_chars=1_500_000,
        eval_windows=24,
    ),
}


def stdlib_corpus(max_chars: int) -> tuple[str, str]:
    """Train/test text from the standard library's top-level ``.py`` files in sorted order; every
    tenth file goes to the test split (10% of ``max_chars``), so test text comes from files the model
    never saw. Each file contributes at most ``max_chars // 20`` characters so no single file dominates."""
    root = Path(sysconfig.get_paths()["stdlib"])
    budget = {"train": max_chars - max_chars // 10, "test": max_chars // 10}
    parts: dict[str, list[str]] = {"train": [], "test": []}
    for i, path in enumerate(sorted(root.glob("*.py"))):
        split = "test" if i % 10 == 9 else "train"
        if budget[split] <= 0:
            if budget["train"] <= 0 and budget["test"] <= 0:
                break
            continue
        try:
            text = path.read_text(encoding="utf-8")[: min(budget[split], max_chars // 20)]
        except (OSError, UnicodeDecodeError):
            continue
        parts[split].append(text)
        budget[split] -= len(text)
    if not parts["test"]:
        raise RuntimeError(f"stdlib corpus: too few files under {root} for a test split")
    return "".join(parts["train"]), "".join(parts["test"])


def window_batches(ids: torch.Tensor, length: int, batch: int, seed: int):
    """``batch_fn(step)`` drawing random windows of ``length + 1`` ids, deterministic in (seed, step)."""

    def batch_fn(step: int):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        starts = torch.randint(0, len(ids) - length - 1, (batch,), generator=gen)
        rows = torch.stack([ids[s : s + length + 1] for s in starts.tolist()])  # (B, L + 1)
        return rows[:, :-1], rows[:, 1:]

    return batch_fn


def lm_loss(model, batch) -> torch.Tensor:
    x, y = batch
    logits, _ = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


@torch.no_grad()
def perplexity(model, ids: torch.Tensor, length: int, tokens: int) -> float:
    """Perplexity over the first ``tokens`` predicted ids, cut into non-overlapping windows of
    ``length`` (Press et al.'s non-overlapping evaluation: every token counted once)."""
    n = tokens // length
    x = ids[: n * length].view(n, length)  # (N, length)
    y = ids[1 : n * length + 1].view(n, length)
    total = 0.0
    for i in range(0, n, 8):  # small chunks keep memory flat for the materialising (Shaw) path
        logits, _ = model(x[i : i + 8])
        total += F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y[i : i + 8].reshape(-1), reduction="sum"
        ).item()
    return math.exp(total / (n * length))


def run(profile: str, out: Path, seed: int) -> SeedRun:
    cfg = SIZES[profile]
    schemes = tuple(cfg.get("schemes", SCHEMES))
    missing = {"sinusoidal", "rope", "alibi"} - set(schemes)  # what criteria() compares
    if missing:
        raise ValueError(
            f"positions: profile {profile!r} must train {sorted(missing)} (its criteria compare them)"
        )
    context = cfg["context"]
    lengths = [context * f for f in FACTORS]
    train_text, test_text = stdlib_corpus(cfg["corpus_chars"])
    tok = CharTokenizer.fit([train_text], max_size=160)
    train_ids = torch.tensor(tok.encode(train_text))
    test_ids = torch.tensor(tok.encode(test_text))
    eval_tokens = min(cfg["eval_windows"] * lengths[-1], (len(test_ids) - 1) // lengths[-1] * lengths[-1])
    if eval_tokens < lengths[-1]:
        raise RuntimeError(f"stdlib corpus: test split ({len(test_ids)} chars) shorter than {lengths[-1]}")
    batch_fn = window_batches(train_ids, context, cfg["batch"], seed)  # every scheme sees the same windows
    ppl: dict[str, list[float | None]] = {}
    final_loss, timings = {}, {}
    for scheme in schemes:
        torch.manual_seed(seed)
        model = create_model(
            "transformer-lm", vocab_size=tok.vocab_size, d_model=cfg["d_model"], num_heads=cfg["heads"],
            num_layers=cfg["layers"], max_len=context, position=scheme,
            attention=AttentionConfig(max_relative_position=MAX_RELATIVE, backend="auto"),
        )  # fmt: skip
        log = fit(
            model, batch_fn, lm_loss, cfg["steps"], lr=LR, warmup=max(1, cfg["steps"] // 10),
            desc=f"lm {scheme}", quiet=profile == "smoke",
        )  # fmt: skip
        start = time.perf_counter()
        # Learned absolute positions have no embedding past max_len = L: they cannot be evaluated longer.
        ppl[scheme] = [
            perplexity(model, test_ids, n, eval_tokens) if scheme != "learned" or n <= context else None
            for n in lengths
        ]
        final_loss[scheme] = sum(log.losses[-10:]) / len(log.losses[-10:])
        timings[scheme] = {
            "train_s": round(log.seconds, 2),
            "eval_s": round(time.perf_counter() - start, 2),
            "examples_per_s": round(log.examples_per_s, 1),
        }
    ratio = {
        s: {f"{f}L": (p / v[0] if p is not None else None) for f, p in zip(FACTORS, v)}
        for s, v in ppl.items()
    }
    metrics = {
        "eval_lengths": lengths,
        "perplexity": ppl,
        "ratio_to_L": ratio,
        "final_loss": final_loss,
        "eval_tokens": eval_tokens,
    }
    config = {
        **cfg,
        "schemes": list(schemes),
        "vocab_size": tok.vocab_size,
        "train_chars": len(train_text),
        "test_chars": len(test_text),
        "corpus": "top-level stdlib *.py, sorted; every 10th file held out",
        "max_relative_position": MAX_RELATIVE,
        "lr": LR,
    }
    return SeedRun(metrics=metrics, config=config, timings=timings)


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """Perplexity and its ratio to the length-L value against the evaluation length, one line per
    scheme: mean and min–max over seeds."""
    lengths = per_seed[0]["eval_lengths"]
    context = lengths[0]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), dpi=110)
    for scheme in per_seed[0]["perplexity"]:  # the schemes this profile trained, in training order
        style = "o" if scheme == "learned" else "o-"
        width = 2 if scheme == "alibi" else 1.2
        seed_band(
            axes[0], lengths, [m["perplexity"][scheme] for m in per_seed], style, label=scheme, lw=width
        )
        ratios = [[m["ratio_to_L"][scheme][f"{f}L"] for f in FACTORS] for m in per_seed]
        seed_band(axes[1], lengths, ratios, style, label=scheme, lw=width)
    axes[1].axhline(ALIBI_FLAT, color="grey", ls="--", lw=0.8, label=f"{ALIBI_FLAT}x (ALiBi bound)")
    axes[1].axhline(
        SINUSOIDAL_WORSE, color="grey", ls="-.", lw=0.8, label=f"{SINUSOIDAL_WORSE}x (sinusoidal bound)"
    )
    axes[0].set(ylabel="held-out perplexity (per character)", yscale="log",
                title=f"Train at L={context}, evaluate longer (Press et al. 2022, Fig. 1)")  # fmt: skip
    axes[1].set(ylabel="perplexity / perplexity at L", title="Ratio to the training length")
    for ax in axes:
        ax.axvline(context, color="grey", ls=":", lw=1)
        ax.set(xscale="log", xlabel="evaluation length (characters)")
        ax.set_xticks(lengths, labels=[str(n) for n in lengths])
        ax.xaxis.set_minor_locator(NullLocator())  # only the evaluated lengths as ticks
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(out / "extrapolation.png")
    plt.close(fig)
    return ["extrapolation.png"]


# Press et al. 2022, Fig. 1: evaluated on inputs longer than L, ALiBi's perplexity stays at (or below)
# its value at L, while sinusoidal's climbs steeply within the first L extra tokens. The bounds make
# "flat" and "degrades" concrete for small models: ALiBi within 20% of its length-L perplexity at 4L,
# sinusoidal more than 50% worse.
ALIBI_FLAT = 1.2
SINUSOIDAL_WORSE = 1.5
# Press et al. (sec. 4, Fig. 1) also find that ALiBi costs nothing at the training length: its
# perplexity at L matches sinusoidal's. "Matches" here: within 5%.
SAME_AT_L = 1.05


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """Press et al.'s contrast at 4L (primary) and three sides of it (secondary); every rule is
    "every seed" (seeds are paired: the schemes of one seed see the same windows from the same
    initialisation seed)."""
    ratio = {s: [m["ratio_to_L"][s] for m in per_seed] for s in ("alibi", "sinusoidal", "rope")}
    ppl = {s: [m["perplexity"][s] for m in per_seed] for s in ("alibi", "sinusoidal")}
    context = per_seed[0]["eval_lengths"][0]
    at_l = [a[0] / s[0] for a, s in zip(ppl["alibi"], ppl["sinusoidal"])]
    return [
        threshold(
            "alibi-flat-at-4L", [r["4L"] for r in ratio["alibi"]], "<=", ALIBI_FLAT, fmt=".2f",
            en=f"Trained at L={context} characters, ALiBi's held-out perplexity at 4L is {{value}}x its value at L "
            "(criterion: {rule})",
            zh=f"以 L={context} 个字符训练，ALiBi 在 4L 上的困惑度是其在 L 上的 {{value}} 倍（判据：{{rule}}）",
        ),
        threshold(
            "sinusoidal-degrades-at-4L", [r["4L"] for r in ratio["sinusoidal"]], ">", SINUSOIDAL_WORSE, fmt=".2f",
            en="Sinusoidal positions' perplexity at 4L is {value}x their value at L (criterion: {rule})",
            zh="正弦位置编码在 4L 上的困惑度是其在 L 上的 {value} 倍（判据：{rule}）",
        ),
        compare(
            "alibi-beats-sinusoidal-at-8L", [p[-1] for p in ppl["alibi"]], [p[-1] for p in ppl["sinusoidal"]],
            op="<", primary=False, fmt=".2f",
            en="At 8L ALiBi's perplexity is {a} against sinusoidal's {b} (criterion: {rule})",
            zh="在 8L 上 ALiBi 的困惑度为 {a}，正弦为 {b}（判据：{rule}）",
        ),
        compare(
            "alibi-extrapolates-better-than-rope", [r["8L"] for r in ratio["alibi"]], [r["8L"] for r in ratio["rope"]],
            op="<", primary=False, fmt=".3f",
            en="At 8L ALiBi's perplexity is {a}x its value at L, RoPE's {b}x (criterion: {rule})",
            zh="在 8L 上 ALiBi 的困惑度是其 L 上的 {a} 倍，RoPE 为 {b} 倍（判据：{rule}）",
        ),
        threshold(
            "alibi-matches-sinusoidal-at-L", at_l, "<=", SAME_AT_L, primary=False, fmt=".3f",
            en="At the training length ALiBi's perplexity is {value}x sinusoidal's (criterion: {rule})",
            zh="在训练长度 L 上 ALiBi 的困惑度是正弦的 {value} 倍（判据：{rule}）",
        ),
    ]  # fmt: skip


EXPERIMENT = Experiment(
    name="positions",
    title=Text(en="Position encodings: train short, test long", zh="位置编码：短训练，长测试"),
    history=Text(
        en="The Transformer added sinusoidal or learned absolute positions (Vaswani et al., 2017); relative schemes "
        "followed (Shaw et al. 2018, T5 2020, RoPE 2021), and ALiBi (Press et al., 2022) targeted length extrapolation.",
        zh="Transformer 最初使用正弦或可学习的绝对位置编码（Vaswani 等，2017）；随后出现相对位置方案"
        "（Shaw 等 2018、T5 2020、RoPE 2021），ALiBi（Press 等，2022）专门解决长度外推。",
    ),
    mechanism=Text(
        en="Absolute schemes add a position vector to each token embedding; RoPE rotates queries and keys by their "
        "position; T5 and ALiBi add a bias that depends on the distance j - i to each score (ALiBi: -m·|i - j| per head); "
        "Shaw adds learned clipped-distance vectors to keys and values; 'none' relies on the causal mask alone.",
        zh="绝对位置方案把位置向量加到词向量上；RoPE 按位置旋转查询和键；T5 与 ALiBi 在每个分数上加一个只依赖距离 j - i "
        "的偏置（ALiBi 每个头为 -m·|i - j|）；Shaw 给键和值加上截断距离的可学习向量；none 只依靠因果掩码。",
    ),
    yardstick=Text(
        en="Press et al. 2022 (ALiBi), Fig. 1: trained at L, sinusoidal perplexity explodes past L while ALiBi stays flat.",
        zh="Press 等 2022（ALiBi）图 1：以长度 L 训练后，正弦编码超过 L 困惑度急剧上升，ALiBi 保持平稳。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
)
