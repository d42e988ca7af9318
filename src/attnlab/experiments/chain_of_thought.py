"""Lesson 15: chain of thought — a scratchpad helps a small LM add, in and beyond the training lengths.

Nye et al. (2021, "Show Your Work: Scratchpads for Intermediate Computation with Language Models")
fine-tuned decoder-only LMs to write the intermediate steps of long addition before the answer; with
the scratchpad, accuracy on 1-8 digit sums rose and carried further to 9-10 digits (out of
distribution) than with direct answers. Wei et al. (2022) called prompting for such steps
chain-of-thought.

We train two identical decoder-only Transformers (``TransformerLM``, RoPE positions) from scratch on
the same additions ``a+b=`` of 1..``train_digits`` digits (``attnlab.data`` tasks ``addition`` and
``addition-scratchpad``, same operands): one predicts the sum directly, one first writes the
column-by-column working ``7+8+0=15 c1, 5+6+1=12 c1, 4+0+1=5 c0 | 525``. Both get the same number of
optimiser steps and examples (the scratchpad sequences are longer, so that model does more compute per
step). The loss counts only the target tokens. We decode greedily and score the final answer (the text
after the last ``" | "``) per number of digits, up to ``test_digits`` > ``train_digits``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from attnlab.data import CharTokenizer, generate, pad_batch  # noqa: E402
from attnlab.models import create_model  # noqa: E402

from ._fit import fit  # noqa: E402
from ._measure import count_params  # noqa: E402
from ._seq_tasks import step_indices  # noqa: E402
from .base import Experiment, Result, Text  # noqa: E402

TASKS = {"direct": "addition", "scratchpad": "addition-scratchpad"}
PROFILES = {
    "smoke": dict(train_digits=2, test_digits=3, pool=200, n_test=8, steps=3, batch=8, d_model=32, layers=1),
    "quick": dict(
        train_digits=2, test_digits=4, pool=4000, n_test=32, steps=300, batch=32, d_model=64, layers=2
    ),
    "full": dict(
        train_digits=4, test_digits=6, pool=100_000, n_test=200, steps=2000, batch=64, d_model=128, layers=3
    ),
}


def answer_of(text: str) -> str:
    """The final answer of a generated target: the text after the last ``" | "`` (all of it if none)."""
    return text.split(" | ")[-1].strip()


def lm_batch(prompts: list[list[int]], targets: list[list[int]], eos_id: int, pad_id: int = 0):
    """``(inputs (B, L-1), labels (B, L-1))`` for next-token training on ``prompt + target + EOS``; the
    labels are ``pad_id`` (ignored) on prompt positions, so only the target and EOS are learned."""
    seqs = [p + t + [eos_id] for p, t in zip(prompts, targets)]
    ids = pad_batch(seqs, pad_id).ids  # (B, L)
    labels = ids[:, 1:].clone()  # (B, L-1): token i+1 is predicted at position i
    for row, p in enumerate(prompts):
        labels[row, : len(p) - 1] = pad_id
    return ids[:, :-1], labels


@torch.no_grad()
def accuracy_by_digits(model, tok: CharTokenizer, task: str, digits: int, n: int, seed: int) -> dict:
    """Greedy answers to ``n`` test additions of two ``digits``-digit numbers (equal prompt lengths)."""
    tests = generate(task, n, seed=seed, split="test", digits=digits)
    prompts = torch.tensor([tok.encode(e.src) for e in tests])  # (n, 2 * digits + 2)
    longest = max(len(e.tgt) for e in tests) + 4
    out = model.generate(prompts, longest, temperature=0, eos_id=tok.eos_id)[:, prompts.shape[1] :]
    texts = []
    for row in out.tolist():
        texts.append(tok.decode(row[: row.index(tok.eos_id)] if tok.eos_id in row else row))
    right = [answer_of(t) == str(e.meta["a"] + e.meta["b"]) for t, e in zip(texts, tests)]
    return {"accuracy": sum(right) / n, "example": [tests[0].src, texts[0], tests[0].tgt]}


def train(kind: str, tok: CharTokenizer, cfg: dict, seed: int):
    pool = generate(TASKS[kind], cfg["pool"], seed=seed, digits=(1, cfg["train_digits"]))
    prompts = [tok.encode(e.src) for e in pool]
    targets = [tok.encode(e.tgt) for e in pool]
    torch.manual_seed(seed)
    model = create_model(
        "transformer-lm", vocab_size=tok.vocab_size, d_model=cfg["d_model"], num_heads=4,
        num_layers=cfg["layers"], position="rope",
    )  # fmt: skip

    def batch_fn(step: int):
        idx = step_indices(len(pool), cfg["batch"], seed, step).tolist()
        return lm_batch([prompts[i] for i in idx], [targets[i] for i in idx], tok.eos_id)

    def loss_fn(m, batch):
        inputs, labels = batch
        logits, _ = m(inputs)  # (B, L-1, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=0)

    log = fit(model, batch_fn, loss_fn, cfg["steps"], lr=2e-3, warmup=100, desc=kind, quiet=True)
    return model, log


def run(profile: str, out: Path, seed: int) -> Result:
    cfg = PROFILES[profile]
    # One character vocabulary for both models: digits, "+", "=", ",", " ", "|", "c".
    sample = generate("addition-scratchpad", 50, seed=seed, digits=(1, 9))
    tok = CharTokenizer.fit(e.src + e.tgt for e in sample)
    digits = list(range(1, cfg["test_digits"] + 1))
    metrics: dict = {"digits": digits, "train_digits": cfg["train_digits"], "models": {}}
    for kind in TASKS:
        model, log = train(kind, tok, cfg, seed)
        per = [accuracy_by_digits(model, tok, TASKS[kind], d, cfg["n_test"], seed) for d in digits]
        inside = [p["accuracy"] for d, p in zip(digits, per) if d <= cfg["train_digits"]]
        beyond = [p["accuracy"] for d, p in zip(digits, per) if d > cfg["train_digits"]]
        metrics["models"][kind] = {
            "accuracy": [p["accuracy"] for p in per],
            "in_distribution": sum(inside) / len(inside),
            "beyond_training": sum(beyond) / len(beyond),
            "examples": [p["example"] for p in per],
            "params": count_params(model),
            "steps": log.steps,
            "train_seconds": round(log.seconds, 1),
            "final_loss": log.losses[-1],
        }
    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=110)
    for kind, style in (("direct", "o-"), ("scratchpad", "s-")):
        ax.plot(digits, metrics["models"][kind]["accuracy"], style, label=kind)
    ax.axvline(cfg["train_digits"] + 0.5, color="grey", ls=":", lw=1)
    ax.text(cfg["train_digits"] + 0.55, 0.9, "beyond training", fontsize=8, color="grey")
    ax.set(xlabel="digits per operand", ylabel="exact-match accuracy of the sum", ylim=(-0.03, 1.03),
           title="Addition with and without a scratchpad (same steps, same operands)")  # fmt: skip
    ax.set_xticks(digits)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "accuracy-by-digits.png")
    plt.close(fig)
    reproduced, verdict = judge(metrics, profile)
    return Result(
        name="chain-of-thought", profile=profile, seed=seed, metrics=metrics,
        config={**cfg, "position": "rope", "heads": 4}, verdict=verdict,
        figures=["accuracy-by-digits.png"], reproduced=reproduced,
    )  # fmt: skip


def judge(m: dict, profile: str) -> tuple[bool, Text]:
    """Nye et al.'s claim: the scratchpad model is more accurate both on the longest training length
    and beyond the training lengths (by at least 0.05 each)."""
    d, s = m["models"]["direct"], m["models"]["scratchpad"]
    last = m["train_digits"] - 1
    at_edge = (d["accuracy"][last], s["accuracy"][last])
    ok = at_edge[1] - at_edge[0] >= 0.05 and s["beyond_training"] - d["beyond_training"] >= 0.05
    acc = lambda r: ", ".join(f"{k}:{a:.2f}" for k, a in zip(m["digits"], r["accuracy"]))  # noqa: E731
    en = (
        f"Exact-match accuracy by digits per operand (trained on 1-{m['train_digits']}): direct [{acc(d)}], "
        f"scratchpad [{acc(s)}]. Mean inside the training lengths: direct {d['in_distribution']:.2f}, scratchpad "
        f"{s['in_distribution']:.2f}; beyond them: direct {d['beyond_training']:.2f}, scratchpad "
        f"{s['beyond_training']:.2f}. "
    )
    zh = (
        f"按每个加数位数的完全匹配准确率（训练 1-{m['train_digits']} 位）：直接回答 [{acc(d)}]，草稿纸 [{acc(s)}]。"
        f"训练长度内平均：直接 {d['in_distribution']:.2f}，草稿纸 {s['in_distribution']:.2f}；"
        f"超出训练长度：直接 {d['beyond_training']:.2f}，草稿纸 {s['beyond_training']:.2f}。"
    )
    if ok:
        en += "This reproduces the direction of Nye et al. (2021): the scratchpad helps, also beyond the training lengths."
        zh += "这复现了 Nye 等（2021）的方向：草稿纸有帮助，在超出训练长度时也是如此。"
    else:
        en += (
            "This run does not reproduce Nye et al. (2021) (criterion: the scratchpad model is >= 0.05 more "
            f"accurate at {m['train_digits']} digits and beyond the training lengths)."
        )
        zh += f"本次运行未复现 Nye 等（2021）的结论（判据：草稿纸模型在 {m['train_digits']} 位及超出训练长度时准确率均高至少 0.05）。"
    if profile != "full":
        en += f" The {profile} profile trains for seconds only; the full profile's numbers judge the claim."
        zh += f"{profile} 配置只训练几秒钟；结论以 full 配置的数字为准。"
    return ok, Text(en=en, zh=zh)


EXPERIMENT = Experiment(
    name="chain-of-thought",
    lesson=15,
    title=Text(
        en="Chain of thought: a scratchpad for multi-digit addition",
        zh="思维链：多位数加法的草稿纸",
    ),
    history=Text(
        en="Nye et al. (2021) let language models write intermediate steps to a scratchpad; Wei et al. (2022) "
        "showed that prompting large models for such chains of thought improves multi-step reasoning.",
        zh="Nye 等（2021）让语言模型把中间步骤写在草稿纸上；Wei 等（2022）表明提示大模型写出这样的思维链"
        "能提升多步推理能力。",
    ),
    mechanism=Text(
        en="A causal LM p(x_t | x_<t) computes a fixed amount per token. Writing the column sums first turns one "
        "hard step (the whole sum) into many easy ones: each step attends to two digits and the previous carry.",
        zh="因果语言模型 p(x_t | x_<t) 每个词的计算量固定。先写出逐列的和，把一个困难步骤（整个和）变成许多简单步骤："
        "每一步只需注意两个数字和上一步的进位。",
    ),
    yardstick=Text(
        en="Nye et al. 2021, 'Show Your Work', Fig. 3: with a scratchpad, addition accuracy is higher on 1-8 digits "
        "and degrades less on 9-10 digits (out of distribution) than with direct answers.",
        zh="Nye 等 2021《Show Your Work》图 3：使用草稿纸时，1-8 位加法准确率更高，在 9-10 位（分布外）上下降也比直接回答少。",
    ),
    run=run,
)
