"""Shared helpers of the application experiments on real text (``translation``, ``summarization``,
``qa-cloze``): reading a real corpus or its generated stand-in, length-sorted batches, training and
greedy decoding of attnlab's encoder-decoders, and a figure of a text shaded by attention weights.

Real data is read through the loaders of :mod:`attnlab.data.datasets` (nothing is downloaded). When it
is not installed, :func:`read_corpus` raises :class:`attnlab.data.DatasetUnavailable` whose message is
the loader's install command, so ``attnlab run`` prints one clear line (exit status 2) instead of a
traceback and ``attnlab demo`` skips the experiment (the report still shows its reference result).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from attnlab.data import DatasetUnavailable, Example, bucket_batches
from attnlab.figures import bar_errors, mean_min_max, plt
from attnlab.interpret.fonts import cjk_font_family
from attnlab.models import TransformerSeq2Seq, create_model

from ._fit import FitLog, fit
from ._seq_tasks import EOS, greedy, seq2seq_batch, seq2seq_loss, step_indices

SplitReader = Callable[[str], list[Example]]


HELD_OUT = {"train": ("train",), "test": ("valid", "test")}  # the loader's valid + test splits are held out


def corpus(experiment: str, cfg: dict, seed: int, load: Callable, standin: Callable, **options) -> dict:
    """``{"train": examples, "test": examples}``: the real dataset (``load(split, seed=seed, **options)``,
    split by the run's seed, valid + test held out) when ``cfg["data"] == "real"``, else the generated
    ``standin(n, seed=, split=)``; ``cfg["train"]``/``cfg["test"]`` cut each part (None: all)."""
    if cfg["data"] == "standin":
        return {s: standin(cfg[s], seed=seed, split=s) for s in ("train", "test")}
    parts = read_corpus(experiment, lambda split: load(split, seed=seed, **options), HELD_OUT)
    return {part: exs[: cfg[part]] if cfg[part] else exs for part, exs in parts.items()}


def read_corpus(experiment: str, read: SplitReader, splits: dict[str, tuple[str, ...]]) -> dict:
    """``{part: examples}`` where each part concatenates loader splits, e.g. ``{"train": ("train",),
    "test": ("valid", "test")}``. A missing dataset raises ``DatasetUnavailable`` naming the install command."""
    try:
        return {part: [e for s in names for e in read(s)] for part, names in splits.items()}
    except DatasetUnavailable as err:
        raise DatasetUnavailable(
            f"{experiment} reads real data that is not installed. {err} (or run: make data)"
        ) from None


def seq2seq_batch_fn(src: list[list[int]], tgt: list[list[int]], batch: int, seed: int):
    """``batch_fn(step)`` for :func:`._fit.fit`: a length-sorted batch drawn by ``(seed, step)`` only,
    so every model of one experiment sees the same batches in the same order."""
    # length-sorted batches (Sutskever et al. 2014; Bahdanau et al. 2015, sec. A.2.2): little padding
    batches = bucket_batches([len(s) + len(t) for s, t in zip(src, tgt)], batch, shuffle=False)

    def batch_fn(step: int):
        chosen = batches[int(step_indices(len(batches), 1, seed, step)[0])]
        return seq2seq_batch([src[i] for i in chosen], [tgt[i] for i in chosen])

    return batch_fn


def build_seq2seq(kind: str, src_vocab: int, tgt_vocab: int, cfg: dict) -> nn.Module:
    """``kind``: ``"none"`` / ``"bahdanau"`` (GRU encoder-decoders of the same size, Cho et al. 2014 /
    Bahdanau et al. 2015) or ``"transformer"`` (Vaswani et al. 2017, pre-norm, sinusoidal positions)."""
    if kind == "transformer":
        return create_model(
            "transformer-seq2seq", vocab_size=src_vocab, tgt_vocab_size=tgt_vocab, d_model=cfg["d_model"],
            num_heads=cfg["heads"], num_layers=cfg["layers"], d_ff=2 * cfg["d_model"], max_len=cfg["max_len"],
            tie_embeddings=True,
        )  # fmt: skip
    return create_model(
        "rnn-seq2seq", src_vocab_size=src_vocab, tgt_vocab_size=tgt_vocab, embed_dim=cfg["embed"],
        hidden_size=cfg["hidden"], cell="gru", bidirectional=True, attention=kind, max_src_len=cfg["max_len"],
    )  # fmt: skip


def train_seq2seq(
    kind: str, src: list[list[int]], tgt: list[list[int]], vocab: tuple[int, int], cfg: dict, seed: int,
    quiet: bool,
) -> tuple[nn.Module, FitLog]:  # fmt: skip
    """Build and train one encoder-decoder for ``cfg["steps"]`` steps (AdamW, warmup, clipping)."""
    torch.manual_seed(seed)
    model = build_seq2seq(kind, vocab[0], vocab[1], cfg)
    lr = cfg["lr_transformer"] if kind == "transformer" else cfg["lr"]
    batch_fn = seq2seq_batch_fn(src, tgt, cfg["batch"], seed)
    log = fit(
        model, batch_fn, seq2seq_loss, cfg["steps"], lr=lr, warmup=cfg["warmup"], desc=kind, quiet=quiet
    )
    return model, log


@torch.no_grad()
def decode(model: nn.Module, src: list[list[int]], max_len: int, batch: int = 256) -> list[list[int]]:
    """Greedy outputs (cut at EOS) of every source, decoded in length-sorted batches."""
    out: list[list[int] | None] = [None] * len(src)
    for chosen in bucket_batches([len(s) for s in src], batch, shuffle=False):
        ids, lengths, _, _ = seq2seq_batch([src[i] for i in chosen], [[0] for _ in chosen])
        seqs, _ = greedy(model, ids, lengths, max_len=max_len)
        for i, seq in zip(chosen, seqs):
            out[i] = seq
    return out


@torch.no_grad()
def cross_attention(model: nn.Module, src: list[int], out: list[int]) -> Tensor:
    """``(len(out) + 1, len(src))``: the weights over the source for each output token and the EOS,
    teacher-forced on the model's own output. RNN: its attention; Transformer: the last decoder
    layer's cross-attention averaged over heads."""
    ids, tgt_in = torch.tensor([src]), torch.tensor([[model.config.bos_id, *out]])
    _, weights = model(ids, tgt_in, torch.tensor([len(src)]), need_weights=True)
    if isinstance(model, TransformerSeq2Seq):
        return weights["cross"][-1][0].mean(0)  # (H, Lt, Ls) -> (Lt, Ls)
    if weights is None:
        raise ValueError("model: expected an encoder-decoder with attention (it returned no weights)")
    return weights[0]  # (Lt, Ls)


def strip_eos(seq: list[int]) -> list[int]:
    return seq[: seq.index(EOS)] if EOS in seq else seq


def bar_chart(
    labels: list[str], per_seed: list[list[float]], path: Path, ylabel: str, title: str, colors: list[str]
) -> None:
    """Bars at the mean over seeds with min–max error bars, each labelled with its value."""
    mean, low, high = mean_min_max(per_seed)
    fig, ax = plt.subplots(figsize=(5.6, 3.6), dpi=110)
    bars = ax.bar(labels, mean, yerr=bar_errors(mean, low, high), capsize=3, color=colors)
    ax.bar_label(bars, fmt="%.3f", fontsize=8)
    ax.set(ylabel=ylabel, ylim=(0, min(1.0, max(high) * 1.3 + 1e-3)))
    ax.set_title(f"{title}\n(mean of {len(per_seed)} seed(s), bars min–max)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_text_weights(
    tokens: list[str], weights: list[float], path: Path, title: str, boxed: frozenset[int] = frozenset()
) -> None:
    """``tokens`` laid out as wrapped text, each shaded by its weight (darkest = largest), the ``boxed``
    indices framed in red (e.g. the gold answer)."""
    family = cjk_font_family()
    top = max(max(weights, default=0.0), 1e-12)
    rows = max(1, sum(len(t) + 1 for t in tokens) // 95 + 2)  # a first guess of the wrapped height
    with plt.rc_context({"font.family": [family, "DejaVu Sans"]} if family else {}):
        fig, ax = plt.subplots(figsize=(10, 0.42 * rows + 0.9), dpi=110)
        ax.set(xlim=(0, 1), ylim=(rows, -0.6))
        ax.axis("off")
        renderer = fig.canvas.get_renderer()
        x, row = 0.0, 0
        for i, (tok, w) in enumerate(zip(tokens, weights)):
            edge = "crimson" if i in boxed else "none"
            t = ax.text(x, row, tok, va="center", fontsize=9,
                        bbox=dict(fc=plt.cm.Oranges(0.85 * w / top), ec=edge, pad=1.2))  # fmt: skip
            box = t.get_window_extent(renderer).transformed(ax.transData.inverted())
            if x > 0 and x + box.width > 1.0:  # wrap: move the word to the next line
                x, row = 0.0, row + 1
                t.set_position((x, row))
            x += box.width + 0.006
        ax.set_ylim(max(rows, row + 1), -0.6)
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
