"""Lesson 30 (provisional): machine translation on real sentences — German -> English with and without attention.

Bahdanau, Cho & Bengio (2015, Fig. 2) trained an RNN encoder-decoder that squeezes the source into one
fixed vector (RNNencdec, Cho et al. 2014) and the same network with attention (RNNsearch) on English ->
French, and plotted BLEU against source length: the encoder-decoder's BLEU falls steeply as sentences get
longer, the attention model's much less. ``enc-dec-length`` shows this shape on generated dates; here
it is measured on real text: the German -> English usage examples of the FreeDict dictionary (Debian
``dict-freedict-deu-eng``, ~37k pairs of sentences and phrases; :mod:`attnlab.data.datasets.freedict`).

Setup. The loader's seeded 80/10/10 split (seed = the run's seed); the held-out set is the valid and
test splits together (nothing is tuned on them). Both sides are lower-cased and split into words
(:class:`attnlab.data.WordTokenizer`); each side keeps its ``vocab`` most frequent words, the rest
become ``<unk>`` (the word-level setting of Bahdanau et al., with a much smaller vocabulary). Training
pairs have at most ``max_train_len`` words per side; held-out pairs of every length are translated.
Three models train for the same fixed number of steps on the same length-sorted batches: the GRU
encoder-decoder without attention (``none``), the same with Bahdanau attention (``bahdanau``; same
embedding and hidden sizes) and a small Transformer (Vaswani et al. 2017). Greedy decoding; corpus BLEU
with sacreBLEU (Post 2018; lower-cased, its signature is recorded) against the real English reference,
overall and per source-length bucket; chrF overall.

Criteria (fixed before the first full run; :func:`criteria`):

- primary ``attention-beats-none-long``: on long held-out sentences (more than ``LONG`` = 10 German
  words, about the longest 6%), the attention model's BLEU beats the no-attention model's by more than
  ``MARGIN`` = 1 BLEU point on every seed (``compare``, rule "every"; seeds are paired: same split,
  batches and initialisation seed). Why 1 point: at this scale BLEU is small (a few points), and a
  corpus BLEU over ~400 sentences moves by a few tenths between neighbouring checkpoints; a gap above
  1 point is a separation, not noise.
- secondary ``attention-loses-less-with-length``: going from short (at most 10 words) to long
  sentences, the model without attention loses a larger share of its own BLEU than the attention
  model (Fig. 2's shape; rule "every").
- secondary ``transformer-beats-none-long``: the Transformer also beats the no-attention model on long
  sentences by more than ``MARGIN`` (not judged when a profile trains no Transformer).
- secondary ``attention-model-translates``: the attention model's overall BLEU is at least
  ``LEARNED`` = 3 on every seed, i.e. it learned to translate something, so the comparison is between
  models that work (a model emitting only frequent words scores below 1).

Profiles: smoke reads a generated stand-in corpus (:mod:`._standins`; it exercises the code, not the
claim); quick trains the two RNNs briefly on 4,000 real pairs; full trains all three on every
training pair (see ``PROFILES`` for the timing the step count was sized on).
"""

from __future__ import annotations

import time
from pathlib import Path

from attnlab.data import WordTokenizer
from attnlab.data.datasets import freedict
from attnlab.data.metrics import bleu_with_signature
from attnlab.figures import plt, seed_band
from attnlab.interpret import plot_attention

from ._real_text import corpus, cross_attention, decode, train_seq2seq
from ._standins import standin_pairs
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, compare, fmt_seeds, not_judged, threshold

MODELS = ("none", "bahdanau", "transformer")
EDGES = [5, 10, 15, 20, 60]  # inclusive upper edges of the source-length buckets (words)
LONG = 10  # "long" = more than LONG German words
MARGIN = 1.0
LEARNED = 3.0
_NET = dict(embed=64, hidden=128, d_model=128, heads=4, layers=2, max_len=128, lr=3e-3, lr_transformer=1e-3)
PROFILES = {
    "smoke": dict(data="standin", train=200, test=60, models=list(MODELS), vocab=200, max_train_len=25,
                  steps=3, batch=16, warmup=1, embed=16, hidden=16, d_model=16, heads=2, layers=1, max_len=64,
                  lr=3e-3, lr_transformer=1e-3),
    "quick": dict(data="real", train=4000, test=600, models=["none", "bahdanau"], vocab=2000, max_train_len=25,
                  steps=40, batch=64, warmup=10, **{**_NET, "embed": 48, "hidden": 48}),
    # Measured in CPU seconds with one thread on the shared 2-core machine, at this configuration: 0.18
    # per step for `none`, 0.22 for `bahdanau`, 0.10 for the Transformer, and about 65 s to read the data
    # and translate the ~7,400 held-out pairs with the three models. 650 steps: about 6.5 minutes per seed.
    "full": dict(data="real", train=None, test=None, models=list(MODELS), vocab=5000, max_train_len=25,
                 steps=650, batch=64, warmup=50, **_NET),
}  # fmt: skip


def bucket_of(length: int) -> int:
    return next((i for i, e in enumerate(EDGES) if length <= e), len(EDGES) - 1)


def bucket_labels() -> list[str]:
    lows = [1] + [e + 1 for e in EDGES[:-1]]
    return [f"{lo}-{hi}" for lo, hi in zip(lows, EDGES[:-1])] + [f">{EDGES[-2]}"]


def bleu_by_length(hyps: list[str], refs: list[str], lengths: list[int]) -> dict:
    """BLEU overall, per length bucket, on short (<= LONG words) and long sentences; the signature."""

    def score(keep) -> float | None:
        idx = [i for i, n in enumerate(lengths) if keep(n)]
        return (
            bleu_with_signature([hyps[i] for i in idx], [refs[i] for i in idx], lowercase=True)[0]
            if idx
            else None
        )

    overall, signature = bleu_with_signature(hyps, refs, lowercase=True)
    return {
        "bleu": overall, "signature": signature,
        "bleu_by_length": [score(lambda n, b=b: bucket_of(n) == b) for b in range(len(EDGES))],
        "bleu_short": score(lambda n: n <= LONG), "bleu_long": score(lambda n: n > LONG),
    }  # fmt: skip


def chrf(hyps: list[str], refs: list[str]) -> float:
    import sacrebleu

    return sacrebleu.CHRF(lowercase=True).corpus_score(hyps, [refs]).score


def attention_figure(model, name: str, src_ids, out_ids, src_tok, tgt_tok, path: Path, words: int) -> None:
    w = cross_attention(model, src_ids, out_ids)  # (len(out) + 1, len(src))
    rows = [tgt_tok.tokens[t] for t in out_ids] + ["<eos>"]
    cols = [src_tok.tokens[t] for t in src_ids]
    plot_attention(w, rows, cols, str(path), title=f"{name}: a held-out {words}-word German sentence")


def run(profile: str, out: Path, seed: int) -> SeedRun:
    cfg = PROFILES[profile]
    data = corpus("translation", cfg, seed, freedict.load, standin_pairs)
    lower = lambda exs, side: [getattr(e, side).lower() for e in exs]  # noqa: E731
    src_tok = WordTokenizer.fit(lower(data["train"], "src"), max_size=cfg["vocab"])
    tgt_tok = WordTokenizer.fit(lower(data["train"], "tgt"), max_size=cfg["vocab"])
    pairs = [
        (src_tok.encode(s), tgt_tok.encode(t))
        for s, t in zip(lower(data["train"], "src"), lower(data["train"], "tgt"))
    ]
    pairs = [
        (s, t) for s, t in pairs if 0 < len(s) <= cfg["max_train_len"] and 0 < len(t) <= cfg["max_train_len"]
    ]
    test_src = [src_tok.encode(s) for s in lower(data["test"], "src")]
    refs = lower(data["test"], "tgt")
    lengths = [len(s) for s in test_src]
    unk = lambda seqs: sum(t == 1 for s in seqs for t in s) / max(1, sum(map(len, seqs)))  # noqa: E731
    metrics: dict = {
        "data": "FreeDict deu-eng" if cfg["data"] == "real" else "generated stand-in", "models": list(cfg["models"]),
        "n_train": len(pairs), "n_test": len(refs), "buckets": bucket_labels(), "long_words": LONG,
        "count_by_length": [sum(bucket_of(n) == b for n in lengths) for b in range(len(EDGES))],
        "count_long": sum(n > LONG for n in lengths), "src_unk_rate": unk(test_src),
        "vocab": [src_tok.vocab_size, tgt_tok.vocab_size], "results": {},
    }  # fmt: skip
    shown = next(
        (i for i, n in enumerate(lengths) if 12 <= n <= 16 and 1 not in test_src[i]),
        max(range(len(lengths)), key=lengths.__getitem__),
    )
    figures, timings = [], {}
    src_train, tgt_train = [p[0] for p in pairs], [p[1] for p in pairs]
    for name in cfg["models"]:
        model, log = train_seq2seq(
            name,
            src_train,
            tgt_train,
            (src_tok.vocab_size, tgt_tok.vocab_size),
            cfg,
            seed,
            profile == "smoke",
        )
        start = time.perf_counter()
        outs = decode(model, test_src, max_len=cfg["max_train_len"] + 15)
        hyps = [tgt_tok.decode(o) for o in outs]
        res = bleu_by_length(hyps, refs, lengths)
        metrics["signature"] = res.pop("signature")
        res.update(chrf=chrf(hyps, refs), final_loss=log.losses[-1],
                   examples=[[data["test"][i].src, hyps[i], refs[i]] for i in (shown, 0, 1)])  # fmt: skip
        metrics["results"][name] = res
        timings[name] = {"train_s": round(log.seconds, 2), "decode_s": round(time.perf_counter() - start, 2)}
        if name != "none":
            attention_figure(
                model,
                name,
                test_src[shown],
                outs[shown],
                src_tok,
                tgt_tok,
                out / f"attention-{name}.png",
                lengths[shown],
            )
            figures.append(f"attention-{name}.png")
    config = dict(cfg, edges=EDGES, lowercase=True, split_seed="run seed", held_out="valid+test")
    return SeedRun(metrics=metrics, config=config, figures=figures, timings=timings)


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """BLEU per source-length bucket, one line per model (mean and min–max over seeds): Fig. 2's axes."""
    first = per_seed[0]
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=110)
    x = list(range(len(first["buckets"])))
    for name in first["models"]:
        series = [m["results"][name]["bleu_by_length"] for m in per_seed]
        seed_band(ax, x, series, "o-" if name != "transformer" else "s--", label=name)
    labels = [f"{b}\n({c})" for b, c in zip(first["buckets"], first["count_by_length"])]
    ax.set_xticks(x, labels, fontsize=8)
    ax.axvline(bucket_of(LONG) + 0.5, color="grey", ls=":", lw=1)
    ax.set(
        xlabel="German source length in words (held-out sentences)", ylabel="BLEU (sacreBLEU, lower-cased)"
    )
    seeds = f"mean and min–max over {len(per_seed)} seeds" if len(per_seed) > 1 else "one seed"
    ax.set_title(f"BLEU vs sentence length on {first['data']} ({seeds})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "bleu-by-length.png")
    plt.close(fig)
    return ["bleu-by-length.png"]


def _drop(res: dict) -> float | None:
    """The share of its short-sentence BLEU a model loses on long sentences (1 when it had none)."""
    short, long = res["bleu_short"], res["bleu_long"]
    if short is None or long is None:
        return None
    return 1.0 - long / short if short > 0 else 1.0


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """Primary: attention beats no attention on long sentences by more than ``MARGIN`` BLEU (every
    seed). Secondary: no attention loses a larger share of its BLEU with length; the Transformer beats
    no attention on long sentences; the attention model's BLEU is at least ``LEARNED``."""
    res = {name: [m["results"][name] for m in per_seed] for name in per_seed[0]["models"]}
    long = {name: [r["bleu_long"] for r in rs] for name, rs in res.items()}
    count = fmt_seeds([m["count_long"] for m in per_seed], ".0f")
    short = {name: fmt_seeds([r["bleu_short"] for r in rs]) for name, rs in res.items()}
    out = [
        compare(
            "attention-beats-none-long", long["bahdanau"], long["none"], margin=MARGIN,
            en=f"On long held-out sentences (more than {LONG} German words; {count} sentences), the model with Bahdanau "
            "attention reaches a BLEU of {a}, the encoder-decoder without attention {b}; gap {gap} (criterion: attention {rule})",
            zh=f"在较长的留出句子上（德语超过 {LONG} 个词，共 {count} 句），带 Bahdanau 注意力的模型 BLEU 为 {{a}}，"
            "无注意力的编码器-解码器为 {b}；差距 {gap}（判据：注意力模型{rule}）",
        ),
        compare(
            "attention-loses-less-with-length", [_drop(r) for r in res["none"]], [_drop(r) for r in res["bahdanau"]],
            primary=False,
            en=f"From short to long sentences the model without attention falls from BLEU {short['none']} and loses a share "
            f"{{a}} of it, the attention model falls from {short['bahdanau']} and loses {{b}} (criterion: the loss without attention {{rule}})",
            zh=f"从短句到长句，无注意力模型的 BLEU 从 {short['none']} 起损失 {{a}}，注意力模型从 {short['bahdanau']} 起损失 {{b}}"
            "（判据：无注意力模型的相对损失{rule}）",
        ),
    ]  # fmt: skip
    if "transformer" in res:
        out.append(compare(
            "transformer-beats-none-long", long["transformer"], long["none"], margin=MARGIN, primary=False,
            en="On long sentences the Transformer reaches a BLEU of {a}, the model without attention {b}; gap {gap} (criterion: {rule})",
            zh="在长句上 Transformer 的 BLEU 为 {a}，无注意力模型为 {b}；差距 {gap}（判据：{rule}）",
        ))  # fmt: skip
    else:
        out.append(not_judged(
            "transformer-beats-none-long", primary=False,
            en="This profile trains no Transformer, so it is not compared",
            zh="本配置不训练 Transformer，因此不作比较",
        ))  # fmt: skip
    out.append(threshold(
        "attention-model-translates", [r["bleu"] for r in res["bahdanau"]], ">=", LEARNED, primary=False,
        en=f"Over all held-out sentences the attention model reaches a BLEU of {{value}} (without attention "
        f"{fmt_seeds([r['bleu'] for r in res['none']])}; {per_seed[0]['signature']}; criterion: {{rule}})",
        zh=f"在全部留出句子上注意力模型的 BLEU 为 {{value}}（无注意力模型 {fmt_seeds([r['bleu'] for r in res['none']])}；"
        f"{per_seed[0]['signature']}；判据：{{rule}}）",
    ))  # fmt: skip
    return out


EXPERIMENT = Experiment(
    name="translation",
    title=Text(
        en="Machine translation on real sentences: German → English", zh="真实句子上的机器翻译：德语 → 英语"
    ),
    history=Text(
        en="Neural machine translation began with encoder-decoders that read a sentence into one vector (Cho et al., "
        "Sutskever et al., 2014); Bahdanau et al. (2015) added attention, and the Transformer (2017) kept only attention.",
        zh="神经机器翻译始于把句子读成一个向量的编码器-解码器（Cho 等、Sutskever 等，2014）；Bahdanau 等（2015）"
        "加入了注意力，Transformer（2017）则只保留注意力。",
    ),
    mechanism=Text(
        en="Without attention the decoder sees only the encoder's last state; with attention each English word is "
        "produced from c_i = Σ_j α_ij h_j, a weighted sum over the German words, so a long sentence is not squeezed "
        "into one vector. The maps show α for a real held-out sentence.",
        zh="无注意力时解码器只看到编码器的最后状态；有注意力时每个英语词都由 c_i = Σ_j α_ij h_j（对德语词的加权和）"
        "产生，长句不必被压进一个向量。图中是一个真实留出句子的 α。",
    ),
    yardstick=Text(
        en="Bahdanau, Cho & Bengio 2015, Fig. 2: BLEU of the encoder-decoder without attention falls with sentence "
        "length, the attention model (RNNsearch) is much more robust.",
        zh="Bahdanau、Cho 与 Bengio 2015，图 2：无注意力编码器-解码器的 BLEU 随句长下降，注意力模型（RNNsearch）稳健得多。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
    data_packages=("dict-freedict-deu-eng", "sacrebleu"),
)
