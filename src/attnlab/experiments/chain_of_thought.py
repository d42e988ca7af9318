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

Criteria (:func:`criteria`), both primary, ``compare`` with rule "every" (seeds are paired: same
operands and initialisation seed for both models), each a win by more than 0.05:

- ``scratchpad-wins-in-distribution``: accuracy at ``train_digits`` digits, the longest training length
  (where a direct answer is hardest);
- ``scratchpad-wins-beyond-training``: mean accuracy over the lengths beyond the training ones.

Full profile: 3 seeds of 2,000 steps per model; one seed took 774 s on one core (the scratchpad model's
longer sequences are about four fifths of it).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from attnlab.data import CharTokenizer, generate, pad_batch
from attnlab.figures import plt, seed_band
from attnlab.models import create_model

from ._fit import fit
from ._measure import count_params
from ._seq_tasks import step_indices
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, compare

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
LR, WARMUP = 2e-3, 100


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

    log = fit(model, batch_fn, loss_fn, cfg["steps"], lr=LR, warmup=WARMUP, desc=kind, quiet=True)
    return model, log


def run(profile: str, out: Path, seed: int) -> SeedRun:
    cfg = PROFILES[profile]
    # One character vocabulary for both models: digits, "+", "=", ",", " ", "|", "c".
    sample = generate("addition-scratchpad", 50, seed=seed, digits=(1, 9))
    tok = CharTokenizer.fit(e.src + e.tgt for e in sample)
    digits = list(range(1, cfg["test_digits"] + 1))
    metrics: dict = {"digits": digits, "train_digits": cfg["train_digits"], "models": {}}
    timings: dict = {}
    for kind in TASKS:
        model, log = train(kind, tok, cfg, seed)
        timings[f"{kind}_train_s"] = round(log.seconds, 2)
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
            "final_loss": log.losses[-1],
        }
    config = {**cfg, "position": "rope", "heads": 4, "lr": LR, "warmup": WARMUP}
    return SeedRun(metrics=metrics, config=config, timings=timings)


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """Exact-match accuracy against digits per operand, both models: mean and min–max over seeds."""
    digits, edge = per_seed[0]["digits"], per_seed[0]["train_digits"]
    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=110)
    for kind, style in (("direct", "o-"), ("scratchpad", "s-")):
        seed_band(ax, digits, [m["models"][kind]["accuracy"] for m in per_seed], style, label=kind)
    ax.axvline(edge + 0.5, color="grey", ls=":", lw=1)
    ax.text(edge + 0.55, 0.9, "beyond training", fontsize=8, color="grey")
    ax.set(xlabel="digits per operand", ylabel="exact-match accuracy of the sum", ylim=(-0.03, 1.03),
           title=f"Addition with and without a scratchpad ({len(per_seed)} seed(s), band: min–max)")  # fmt: skip
    ax.set_xticks(digits)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "accuracy-by-digits.png")
    plt.close(fig)
    return ["accuracy-by-digits.png"]


# A win must exceed 0.05: with 200 test sums per length (full profile) the standard error of the
# difference of two accuracies is at most sqrt(2 * 0.25 / 200) = 0.05, so a smaller gap on one seed is
# within the noise of its test set.
MARGIN = 0.05


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """Nye et al.'s two findings, both primary: the scratchpad model is more accurate at the longest
    training length and beyond the training lengths (``compare``, rule "every", margin ``MARGIN``)."""
    edge = per_seed[0]["train_digits"]
    at_edge = {k: [m["models"][k]["accuracy"][edge - 1] for m in per_seed] for k in TASKS}
    beyond = {k: [m["models"][k]["beyond_training"] for m in per_seed] for k in TASKS}
    longest = per_seed[0]["digits"][-1]
    lengths = f"{edge + 1}-{longest}" if longest > edge + 1 else f"{longest}"
    return [
        compare(
            "scratchpad-wins-in-distribution", at_edge["scratchpad"], at_edge["direct"], margin=MARGIN,
            en=f"On {edge}-digit sums, the longest seen in training, the scratchpad model's exact-match accuracy "
            "is {a} and the direct model's {b}; gap {gap} (criterion: {rule})",
            zh=f"在训练中见过的最长的 {edge} 位加法上，草稿纸模型的完全匹配准确率为 {{a}}，直接回答模型为 {{b}}，"
            "差距 {gap}（判据：{rule}）",
        ),
        compare(
            "scratchpad-wins-beyond-training", beyond["scratchpad"], beyond["direct"], margin=MARGIN,
            en=f"Beyond the training lengths ({lengths} digits), the scratchpad model's mean accuracy "
            "is {a} and the direct model's {b}; gap {gap} (criterion: {rule})",
            zh=f"超出训练长度（{lengths} 位）时，草稿纸模型的平均准确率为 {{a}}，直接回答模型为 {{b}}，"
            "差距 {gap}（判据：{rule}）",
        ),
    ]  # fmt: skip


EXPERIMENT = Experiment(
    name="chain-of-thought",
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
    criteria=criteria,
    plot=plot,
)
