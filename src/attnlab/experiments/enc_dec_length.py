"""Lesson 3: the fixed-length context vector and input length — encoder-decoder with and without attention.

Cho et al. (2014) and Sutskever et al. (2014) squeeze the whole input into one vector; Bahdanau, Cho &
Bengio (2015, Fig. 2) report that BLEU of such an encoder-decoder (RNNencdec) falls as sentences get
longer, while the attention model (RNNsearch) is much more robust to length (RNNsearch-30 was trained
on sentences of at most 30 words and tested on longer ones). Luong, Pham & Manning (2015) replaced the
additive score with dot, general and concat scores.

We train equal-size GRU encoder-decoders (``attnlab.models.RNNSeq2Seq``) that differ only in their
attention — none, Bahdanau (additive), Luong dot, general and concat — for the same fixed number of
steps on the same short inputs of two generated character-level tasks: date normalisation (``dates``,
en/fr/de/zh -> ISO) and English number words -> digits (``numbers-en``). Test inputs of every length
are bucketed; we measure sequence accuracy (and token accuracy) of greedy decoding per length bucket,
inside and beyond the training length, and draw the Bahdanau model's alignment for a long date.

Criteria (:func:`criteria`), per task, comparisons with rule "every" (seeds are paired: same data,
same initialisation seed for every model): primary — beyond the training length the Bahdanau model is
more than 0.2 more accurate than the model without attention, and it loses less accuracy going there
from inside the training range; secondary — the weakest Luong score also beats no attention by more
than 0.2 beyond the training length (not judged when a profile trains no Luong model), and on dates
the Bahdanau model's arg-max alignment has AER <= 0.3 against the gold date fields.

Profiles: smoke trains every model on both tasks for 2 steps (tiny); quick trains only the two models
of the primary comparison (none, Bahdanau) on dates, 250 steps; full trains all five on both tasks,
800 steps each (about 8 minutes per seed on one core, estimated from timed steps), 3 seeds.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from attnlab.data import CharTokenizer, generate
from attnlab.data.metrics import (
    alignment_error_rate,
    alignment_from_attention,
    sequence_accuracy,
    token_accuracy,
)
from attnlab.data.tasks.dates import alignment_links
from attnlab.figures import plt, seed_band
from attnlab.interpret import plot_attention
from attnlab.models import create_model

from ._fit import fit
from ._seq_tasks import greedy, seq2seq_batch, seq2seq_loss, step_indices
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, compare, fmt_seeds, not_judged, threshold

# Per task: generator parameters, the longest training input (characters) and the length buckets
# (inclusive upper edges) used for evaluation.
TASKS = {
    "dates": dict(params={}, train_max=18, edges=[10, 14, 18, 22, 26, 40]),
    "numbers-en": dict(params={"max_value": 10**9}, train_max=50, edges=[20, 35, 50, 65, 80, 120]),
}
MODELS = {
    "none": dict(attention="none"),
    "bahdanau": dict(attention="bahdanau"),
    "luong-dot": dict(attention="luong", score="dot"),
    "luong-general": dict(attention="luong", score="general"),
    "luong-concat": dict(attention="luong", score="concat"),
}
LUONG = [m for m in MODELS if m.startswith("luong")]
PROFILES = {
    "smoke": dict(
        tasks=list(TASKS), models=list(MODELS), pool=200, test=24, steps=2, batch=8, embed=8, hidden=8
    ),
    # The two models of the primary comparison only, on dates: about 10-15 s in all.
    "quick": dict(
        tasks=["dates"],
        models=["none", "bahdanau"],
        pool=4000,
        test=600,
        steps=250,
        batch=32,
        embed=32,
        hidden=64,
    ),
    # Timed at about 0.17 s per step for the five dates models and 0.38 s for the five numbers models on
    # one core: 800 steps are about 7.5 minutes of training per seed, plus a minute of data and decoding.
    "full": dict(
        tasks=list(TASKS),
        models=list(MODELS),
        pool=30000,
        test=1500,
        steps=800,
        batch=64,
        embed=32,
        hidden=64,
    ),
}
# Fig. 2's curves are far apart on long sentences; a gap of 0.2 in sequence accuracy (a fifth of the
# test inputs beyond the training length) is such a separation, not noise from a few examples.
BEYOND_MARGIN = 0.2
# The interpretability experiment's bound for "mostly right" arg-max alignments (Bahdanau et al., Fig. 3).
AER_BOUND = 0.3


def bucket_of(length: int, edges: list[int]) -> int:
    return next((i for i, e in enumerate(edges) if length <= e), len(edges) - 1)


def bucket_labels(edges: list[int]) -> list[str]:
    lows = [1] + [e + 1 for e in edges[:-1]]
    return [f"{lo}-{hi}" for lo, hi in zip(lows, edges)]


def evaluate(model, tests, src_tok, tgt_tok, spec) -> dict:
    """Greedy decoding of the test set: sequence/token accuracy per length bucket and in/out of the
    training length range."""
    edges, preds = spec["edges"], []
    for i in range(0, len(tests), 128):
        chunk = tests[i : i + 128]
        src, lengths, _, _ = seq2seq_batch([src_tok.encode(e.src) for e in chunk], [[0] for _ in chunk])
        seqs, _ = greedy(model, src, lengths, max_len=16)
        preds += [tgt_tok.decode(s) for s in seqs]
    golds = [e.tgt for e in tests]
    buckets = [bucket_of(len(e.src), edges) for e in tests]

    def acc(keep):
        idx = [i for i, e in enumerate(tests) if keep(i, e)]
        if not idx:
            return None, None, 0
        p, g = [preds[i] for i in idx], [golds[i] for i in idx]
        return sequence_accuracy(p, g), token_accuracy(p, g), len(idx)

    per = [acc(lambda i, e, b=b: buckets[i] == b) for b in range(len(edges))]
    short = acc(lambda i, e: len(e.src) <= spec["train_max"])
    long = acc(lambda i, e: len(e.src) > spec["train_max"])
    return {
        "seq_acc": [p[0] for p in per],
        "tok_acc": [p[1] for p in per],
        "count": [p[2] for p in per],
        "seq_acc_in_range": short[0],
        "seq_acc_beyond": long[0],
        "examples": [[tests[i].src, preds[i], golds[i]] for i in range(min(3, len(tests)))],
    }


def alignment_figure(model, tests, src_tok, tgt_tok, path: Path, train_max: int) -> dict:
    """Heatmap of the Bahdanau model on the longest test date, and the alignment error rate (AER)
    of its arg-max alignment against the gold field spans over all test dates."""
    aers = []
    longest = max(range(len(tests)), key=lambda i: len(tests[i].src))
    shown = None
    for i in range(0, len(tests), 128):
        chunk = tests[i : i + 128]
        src, lengths, _, _ = seq2seq_batch([src_tok.encode(e.src) for e in chunk], [[0] for _ in chunk])
        seqs, weights = greedy(model, src, lengths, max_len=16)
        for j, ex in enumerate(chunk):
            pred = tgt_tok.decode(seqs[j])
            if len(pred) == 10:  # gold links are per ISO character; score well-formed outputs only
                rows = [t for t, span in enumerate(ex.meta["alignment"]) if span is not None]
                links = alignment_from_attention(weights[j, :10, : len(ex.src)], rows)
                aers.append(alignment_error_rate(links, set(), alignment_links(ex.meta)))
            if i + j == longest:
                shown = (ex, seqs[j], weights[j, : len(seqs[j]) + 1, : len(ex.src)])
    ex, seq, w = shown
    out_tokens = ([tgt_tok.tokens[t] for t in seq] + ["<eos>"])[: w.shape[0]]  # no EOS within max_len
    plot_attention(
        w[: len(out_tokens)],
        out_tokens,
        list(ex.src),
        str(path),
        title=f"Bahdanau alignment, {len(ex.src)}-char input (trained on <= {train_max})",
    )
    return {"aer": sum(aers) / len(aers) if aers else None, "scored": len(aers), "shown": ex.src}


def run(profile: str, out: Path, seed: int) -> SeedRun:
    cfg = PROFILES[profile]
    metrics: dict = {"models": list(cfg["models"]), "tasks": {}}
    figures, timings = [], {}
    for task in cfg["tasks"]:
        spec = TASKS[task]
        pool = generate(task, cfg["pool"], seed=seed, split="train", **spec["params"])
        train = [e for e in pool if len(e.src) <= spec["train_max"]]  # short inputs only (cf. RNNsearch-30)
        tests = generate(task, cfg["test"], seed=seed, split="test", **spec["params"])
        src_tok = CharTokenizer.fit(e.src for e in train)
        tgt_tok = CharTokenizer.fit(e.tgt for e in train)
        src_ids = [src_tok.encode(e.src) for e in train]
        tgt_ids = [tgt_tok.encode(e.tgt) for e in train]

        def batch_fn(step, src_ids=src_ids, tgt_ids=tgt_ids):
            idx = step_indices(len(src_ids), cfg["batch"], seed, step).tolist()
            return seq2seq_batch([src_ids[i] for i in idx], [tgt_ids[i] for i in idx])

        task_metrics = {"train_max": spec["train_max"], "buckets": bucket_labels(spec["edges"]), "models": {}}
        for name in cfg["models"]:
            torch.manual_seed(seed)
            model = create_model(
                "rnn-seq2seq",
                src_vocab_size=src_tok.vocab_size,
                tgt_vocab_size=tgt_tok.vocab_size,
                embed_dim=cfg["embed"],
                hidden_size=cfg["hidden"],
                cell="gru",
                bidirectional=True,
                **MODELS[name],
            )
            log = fit(
                model, batch_fn, seq2seq_loss, cfg["steps"], desc=f"{task}/{name}", quiet=profile == "smoke"
            )
            start = time.perf_counter()
            res = evaluate(model, tests, src_tok, tgt_tok, spec)
            res["final_loss"] = log.losses[-1]
            task_metrics["models"][name] = res
            timings[f"{task}/{name}"] = {
                "train_s": round(log.seconds, 2),
                "examples_per_s": round(log.examples_per_s, 1),
                "eval_s": round(time.perf_counter() - start, 2),
            }
            if task == "dates" and name == "bahdanau":
                task_metrics["bahdanau_alignment"] = alignment_figure(
                    model, tests, src_tok, tgt_tok, out / "bahdanau-alignment.png", spec["train_max"]
                )
                figures.append("bahdanau-alignment.png")
        metrics["tasks"][task] = task_metrics
    config = dict(cfg, cell="gru", bidirectional=True, tasks_spec={t: TASKS[t] for t in cfg["tasks"]})
    return SeedRun(metrics=metrics, config=config, figures=figures, timings=timings)


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """Sequence accuracy per input-length bucket, one line per model: mean and min–max over seeds."""
    tasks = list(per_seed[0]["tasks"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 3.8), dpi=110, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        first = per_seed[0]["tasks"][task]
        x = list(range(len(first["buckets"])))
        for name in first["models"]:
            main = name in ("none", "bahdanau")
            series = [m["tasks"][task]["models"][name]["seq_acc"] for m in per_seed]
            seed_band(ax, x, series, "o-" if main else "s--", label=name, lw=2 if main else 1)
        limit = bucket_of(first["train_max"], TASKS[task]["edges"]) + 0.5
        ax.axvline(limit, color="grey", ls=":", lw=1)
        ax.text(limit, 0.02, " beyond training length", fontsize=8, color="grey")
        ax.set_xticks(x, first["buckets"], fontsize=8)
        ax.set(xlabel="input length (characters)", ylabel="sequence accuracy", ylim=(-0.03, 1.03), title=task)
        ax.legend(fontsize=7)
    seeds = f"mean and min–max over {len(per_seed)} seeds" if len(per_seed) > 1 else "one seed"
    fig.suptitle(f"Encoder-decoder accuracy vs input length\n(trained on short inputs; {seeds})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "accuracy-by-length.png")
    plt.close(fig)
    return ["accuracy-by-length.png"]


def _drop(res: dict) -> float | None:
    """Share of its own sequence accuracy a model loses going from inside to beyond the training length,
    1 - beyond / inside (relative, so that a model already poor inside cannot "lose less" by having
    less to lose; a model at 0 inside has lost everything: 1)."""
    a, b = res["seq_acc_in_range"], res["seq_acc_beyond"]
    if a is None or b is None:
        return None
    return 1.0 - b / a if a > 0 else 1.0


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """Per task: primary — Bahdanau beats no attention beyond the training length by more than
    ``BEYOND_MARGIN`` and loses less accuracy going there (compare, rule "every": seeds are paired);
    secondary — the weakest Luong score beats no attention by the same margin, and (dates) the
    Bahdanau alignment's AER is at most ``AER_BOUND`` for every seed."""
    out = []
    for task in per_seed[0]["tasks"]:
        runs = [m["tasks"][task] for m in per_seed]
        res = {name: [r["models"][name] for r in runs] for name in runs[0]["models"]}
        beyond = {name: [r["seq_acc_beyond"] for r in rs] for name, rs in res.items()}
        inside = {name: fmt_seeds([r["seq_acc_in_range"] for r in rs]) for name, rs in res.items()}
        limit = runs[0]["train_max"]
        out += [
            compare(
                f"{task}-attention-beats-none-beyond", beyond["bahdanau"], beyond["none"], margin=BEYOND_MARGIN,
                en=f"On {task} (trained on inputs of at most {limit} characters), beyond the training length the "
                "Bahdanau model decodes {a} of the inputs exactly, the model without attention {b}; gap {gap} "
                "(criterion: Bahdanau {rule})",
                zh=f"在 {task} 上（训练输入不超过 {limit} 个字符），超出训练长度后 Bahdanau 模型完全正确解码 {{a}} 的输入，"
                "无注意力模型 {b}；差距 {gap}（判据：Bahdanau 模型{rule}）",
            ),
            compare(
                f"{task}-attention-loses-less-beyond", [_drop(r) for r in res["none"]],
                [_drop(r) for r in res["bahdanau"]],
                en=f"On {task}, going from inside the training length to beyond it, the model without attention falls from "
                f"{inside['none']} and loses a share {{a}} of its sequence accuracy, the Bahdanau model falls from "
                f"{inside['bahdanau']} and loses a share {{b}} (criterion: the loss without attention {{rule}})",
                zh=f"在 {task} 上，从训练长度以内到超出训练长度，无注意力模型从 {inside['none']} 起损失其准确率的 {{a}}，Bahdanau 模型从 "
                f"{inside['bahdanau']} 起损失 {{b}}（判据：无注意力模型的相对损失{{rule}}）",
            ),
        ]  # fmt: skip
        luong = [name for name in LUONG if name in res]
        if luong:
            per_run = [[beyond[name][i] for name in luong] for i in range(len(runs))]
            weakest = [None if None in vals else min(vals) for vals in per_run]
            each = ", ".join(f"{name} {fmt_seeds(beyond[name])}" for name in luong)
            out.append(
                compare(
                    f"{task}-luong-beats-none-beyond",
                    weakest,
                    beyond["none"],
                    margin=BEYOND_MARGIN,
                    primary=False,
                    en=f"On {task}, Luong's scores beyond the training length: {each}; the weakest reaches {{a}} against {{b}} "
                    "without attention, gap {gap} (criterion: the weakest Luong score {rule})",
                    zh=f"在 {task} 上，超出训练长度后 Luong 各打分函数：{each}；最弱的为 {{a}}，无注意力模型 {{b}}，差距 {{gap}}"
                    "（判据：最弱的 Luong 打分函数{rule}）",
                )  # fmt: skip
            )
        else:
            out.append(
                not_judged(
                    f"{task}-luong-beats-none-beyond",
                    primary=False,
                    en=f"This profile trains no Luong model on {task}, so Luong's scores are not compared",
                    zh=f"本配置在 {task} 上不训练 Luong 模型，因此不比较 Luong 的打分函数",
                )  # fmt: skip
            )
        if "bahdanau_alignment" in runs[0]:
            aer = [r["bahdanau_alignment"]["aer"] for r in runs]
            scored = fmt_seeds([r["bahdanau_alignment"]["scored"] for r in runs], ".0f")
            out.append(
                threshold(
                    f"{task}-bahdanau-alignment-aer",
                    aer,
                    "<=",
                    AER_BOUND,
                    primary=False,
                    en=f"The Bahdanau model's arg-max alignment has an alignment error rate of {{value}} against the "
                    f"gold date fields ({scored} well-formed outputs scored; criterion: {{rule}})",
                    zh=f"Bahdanau 模型按最大权重取出的对齐与日期字段的标准对齐相比，对齐错误率为 {{value}}"
                    f"（评估了 {scored} 个格式正确的输出；判据：{{rule}}）",
                )  # fmt: skip
            )
    return out


EXPERIMENT = Experiment(
    name="enc-dec-length",
    title=Text(
        en="Encoder-decoder with and without attention: accuracy vs input length",
        zh="有无注意力的编码器-解码器：准确率随输入长度的变化",
    ),
    history=Text(
        en="Cho et al. and Sutskever et al. (2014) encoded a whole sentence into one fixed vector; "
        "Bahdanau et al. (2015) let the decoder look back at every encoder state, and Luong et al. (2015) simplified the score.",
        zh="Cho 等与 Sutskever 等（2014）把整句编码成一个固定向量；"
        "Bahdanau 等（2015）让解码器每一步回看所有编码器状态，Luong 等（2015）简化了打分函数。",
    ),
    mechanism=Text(
        en="Without attention the decoder sees only the encoder's final state c. With attention, each decoder step "
        "scores every encoder state h_j (additive v^T tanh(W s + U h_j), or Luong's dot / general / concat), "
        "turns the scores into weights with softmax and reads the context c_i = Σ_j α_ij h_j.",
        zh="无注意力时解码器只能看到编码器的最终状态 c。有注意力时，解码器每一步对所有编码器状态 h_j 打分"
        "（加性 v^T tanh(W s + U h_j)，或 Luong 的 dot / general / concat），经 softmax 得到权重，读取上下文 c_i = Σ_j α_ij h_j。",
    ),
    yardstick=Text(
        en="Bahdanau, Cho & Bengio 2015, Fig. 2: BLEU of RNNencdec falls with sentence length, RNNsearch is much more robust; "
        "Luong et al. 2015, Table 4 compares alignment functions (location, dot, general).",
        zh="Bahdanau、Cho 与 Bengio 2015，图 2：RNNencdec 的 BLEU 随句长下降，RNNsearch 对句长稳健得多；"
        "Luong 等 2015 表 4 比较了不同的对齐函数（location、dot、general）。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
)
