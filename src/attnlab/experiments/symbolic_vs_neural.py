"""Lesson 42 (provisional): connectionism vs symbolism — hand-written rules against a learned translator.

Symbolic AI writes knowledge down as rules (Newell & Simon's physical symbol system, expert systems);
connectionism learns it from examples with networks of simple units (Rumelhart, Hinton & McClelland,
1986). Rules need no data and are exact on what their author foresaw, but brittle outside it; a network
needs data, and degrades more gracefully on inputs that resemble what it learned.

We pit both on date normalisation (``attnlab.data`` task ``dates``: "Friday, 5 March 2021" / "5. März
2021" / "2021年3月5日星期五" -> "2021-03-05"). The specification both get is the *training formats*: the
full and long CLDR patterns of English (en_US, en_GB), German and Chinese.

- Symbolic: :func:`rule_parse`, written by hand for those formats: a regular expression for the
  Chinese y年M月d日 form; otherwise the words and numbers of the text, a lexicon of English and German
  month names, a four-digit number for the year and a one- or two-digit number for the day (other words,
  such as weekdays, are skipped). No data.
- Connectionist: the GRU encoder-decoder with Bahdanau attention of ``enc-dec-length``, trained on n
  clean examples of the training formats for a fixed number of steps, for several n (the data curve).

Test sets (exact-match accuracy): ``train-formats`` (unseen dates in the training formats);
``held-out-formats`` (the medium and short patterns of the same languages: "Mar 5, 2021", "05.03.2021",
"2021/3/5"); ``held-out-language`` (French, every pattern: "vendredi 5 mars 2021"); ``typos`` (English
and German training formats with one typo — a letter dropped, doubled, swapped with the next or replaced —
in one word of four or more letters; dates whose only such word is "May" or "Mai" are left out); ``extra-words`` (training formats with one or two filler words
such as "on", "approximately", "大约" inserted).

Criteria (:func:`criteria`), fixed before the first full run, every seed:

- primary ``rules-exact-on-training-formats``: the rules reach >= 0.99 on the training formats (what
  symbolism promises: exact with no data; a bug in the rules fails it);
- primary ``learner-needs-data``: with the fewest examples, the learner is below the rules by more than
  0.3 (``compare``);
- primary ``learner-matches-rules-with-data``: with the most examples, the learner is within 0.02 of the
  rules on the training formats (learner - rules >= -0.02);
- primary ``learner-wins-on-typos``: with the most examples, the learner beats the rules on typos by
  more than 0.1 (a typo in a month name defeats an exact lexicon; a character model reads the rest of
  the word);
- secondary ``rules-win-on-extra-words``: the rules beat the learner (most examples) on extra words by
  more than 0.1 (the rules skip unknown words by construction; the learner never saw any);
- secondary ``learner-wins-on-held-out-language``: on French the learner (most examples) beats the rules
  by more than 0.05 (French month names share letters with English and German ones: "mars", "avril",
  "juillet"; the rules know no French word).

Held-out formats are reported, not judged: both sides meet abbreviations and numeric orders they were
never given, and which one fares better depends on the patterns more than on the approach.

Profiles: smoke — 2 steps; quick — n in 30 and 1,000, 180 steps; full — n in 30, 100, 300, 1,000, 3,000
and 10,000, 1,000 steps of 32 examples each, 400 test dates per set (fewer typos: dates whose words are
all short are left out). Sizing, in CPU time (``time.process_time``) on one thread of the 2-core machine,
which other jobs kept so busy that wall-clock times were 3-4 times longer: 0.041 s per step, so the six
learners take about 4 minutes of one idle core per seed, plus about 15 s of decoding and data.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from pathlib import Path

import torch

from attnlab.data import CharTokenizer, generate
from attnlab.data.metrics import sequence_accuracy
from attnlab.figures import plt, seed_band
from attnlab.models import create_model

from ._fit import fit
from ._seq_tasks import greedy, seq2seq_batch, seq2seq_loss, step_indices
from .base import Experiment, SeedRun, Text
from .verdict import Criterion, compare, threshold

TRAIN_LANGS, TRAIN_STYLES = ("en", "de", "zh"), ("full", "long")
MONTHS = {
    name.lower(): i + 1
    for names in (
        ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
         "November", "December"),
        ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
         "November", "Dezember"),
    )
    for i, name in enumerate(names)
}  # fmt: skip
_ZH = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_TOKENS = re.compile(r"\d+|[^\W\d_]+")
FILLERS = {"en": ["on", "the", "approximately", "around", "date", "um"], "de": ["am", "etwa", "ungefähr", "Datum"],
           "zh": ["大约", "那天", "日期", "左右"]}  # fmt: skip
SETS = ("train-formats", "held-out-formats", "held-out-language", "typos", "extra-words")
PROFILES = {
    "smoke": dict(sizes=[20, 40], steps=2, batch=8, n_test=8, embed=8, hidden=8, lr=3e-3),
    "quick": dict(sizes=[30, 1000], steps=180, batch=32, n_test=100, embed=32, hidden=48, lr=3e-3),
    "full": dict(
        sizes=[30, 100, 300, 1000, 3000, 10000],
        steps=1000,
        batch=32,
        n_test=400,
        embed=32,
        hidden=64,
        lr=3e-3,
    ),
}


def rule_parse(text: str) -> str | None:
    """The hand-written parser of the training formats: ISO ``YYYY-MM-DD`` or None when no rule applies."""
    m = _ZH.search(text)
    if m:
        year, month, day = (int(g) for g in m.groups())
    else:
        year = month = day = None
        for tok in _TOKENS.findall(text):
            if tok.isdigit():
                if len(tok) == 4 and year is None:
                    year = int(tok)
                elif len(tok) <= 2 and day is None:
                    day = int(tok)
            elif tok.lower() in MONTHS and month is None:
                month = MONTHS[tok.lower()]
        if None in (year, month, day):
            return None
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def add_typo(text: str, rng: random.Random) -> str:
    """One typo in one word of >= 4 letters: drop, double, swap with the next, or replace a letter."""
    words = [m for m in re.finditer(r"[^\W\d_]{4,}", text)]
    if not words:
        return text
    w = rng.choice(words)
    i = rng.randrange(w.start(), w.end() - 1)
    kind = rng.choice(("drop", "double", "swap", "replace"))
    if kind == "drop":
        return text[:i] + text[i + 1 :]
    if kind == "double":
        return text[: i + 1] + text[i:]
    if kind == "swap":
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    letters = [c for c in "abcdefghijklmnopqrstuvwxyz" if c != text[i].lower()]
    return text[:i] + rng.choice(letters) + text[i + 1 :]


def add_extra_words(text: str, lang: str, rng: random.Random) -> str:
    """One or two filler words inserted at word boundaries (Chinese: before or after the date)."""
    for _ in range(rng.randint(1, 2)):
        word = rng.choice(FILLERS[lang])
        if lang == "zh":
            text = word + text if rng.random() < 0.5 else text + word
        else:
            gaps = [0] + [m.end() for m in re.finditer(r" ", text)]
            at = rng.choice(gaps)
            text = text[:at] + word + " " + text[at:]
    return text


def test_sets(n: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """``{set name: [(input, ISO date)]}``, the same for every model of a seed."""
    rng = random.Random(f"noise-{seed}")
    per_lang = [generate("dates", n // 3 + 1, seed=seed + i, split="test", lang=lg, styles=TRAIN_STYLES)
                for i, lg in enumerate(TRAIN_LANGS)]  # fmt: skip
    train_formats = [e for es in zip(*per_lang) for e in es][:n]
    seen = {e.meta["pattern"] for es in per_lang for e in es}  # zh's medium pattern is its long one
    other = [[e for e in generate("dates", 2 * n, seed=seed + i, split="test", lang=lg, styles=("medium", "short"))
              if e.meta["pattern"] not in seen] for i, lg in enumerate(TRAIN_LANGS)]  # fmt: skip
    mixed = [e for es in zip(*other) for e in es] + [e for es in other for e in es[min(map(len, other)) :]]
    latin = [e for e in train_formats if e.meta["lang"] != "zh"]
    typos = [(add_typo(e.src, rng), e.tgt) for e in latin]
    return {
        "train-formats": [(e.src, e.tgt) for e in train_formats],
        "held-out-formats": [(e.src, e.tgt) for e in mixed][:n],
        "held-out-language": [
            (e.src, e.tgt) for e in generate("dates", n, seed=seed, split="test", lang="fr")
        ],
        "typos": [(noisy, iso) for (noisy, iso), e in zip(typos, latin) if noisy != e.src],
        "extra-words": [(add_extra_words(e.src, e.meta["lang"], rng), e.tgt) for e in train_formats],
    }


def training_pool(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` clean training examples, the three training languages in turn."""
    per = [generate("dates", n // 3 + 1, seed=seed + i, split="train", lang=lg, styles=TRAIN_STYLES)
           for i, lg in enumerate(TRAIN_LANGS)]  # fmt: skip
    return [(e.src, e.tgt) for es in zip(*per) for e in es][:n]


def learner_accuracy(model, sets: dict, src_tok, tgt_tok) -> dict[str, float]:
    out = {}
    for name, pairs in sets.items():
        preds = []
        for i in range(0, len(pairs), 128):
            chunk = pairs[i : i + 128]
            src, lengths, _, _ = seq2seq_batch([src_tok.encode(s) for s, _ in chunk], [[0] for _ in chunk])
            seqs, _ = greedy(model, src, lengths, max_len=12)
            preds += [tgt_tok.decode(s) for s in seqs]
        out[name] = sequence_accuracy(preds, [t for _, t in pairs])
    return out


def train_learner(pairs: list[tuple[str, str]], cfg: dict, seed: int):
    src_tok = CharTokenizer.fit(s for s, _ in pairs)
    tgt_tok = CharTokenizer.fit("0123456789-")
    src_ids = [src_tok.encode(s) for s, _ in pairs]
    tgt_ids = [tgt_tok.encode(t) for _, t in pairs]

    def batch_fn(step):
        idx = step_indices(len(src_ids), cfg["batch"], seed, step).tolist()
        return seq2seq_batch([src_ids[i] for i in idx], [tgt_ids[i] for i in idx])

    torch.manual_seed(seed)
    model = create_model(
        "rnn-seq2seq", src_vocab_size=src_tok.vocab_size, tgt_vocab_size=tgt_tok.vocab_size,
        embed_dim=cfg["embed"], hidden_size=cfg["hidden"], cell="gru", bidirectional=True, attention="bahdanau",
    )  # fmt: skip
    log = fit(model, batch_fn, seq2seq_loss, cfg["steps"], lr=cfg["lr"], desc=f"n={len(pairs)}", quiet=True)
    return model, src_tok, tgt_tok, log


def run(profile: str, out: Path, seed: int) -> SeedRun:
    cfg = PROFILES[profile]
    sets = test_sets(cfg["n_test"], seed)
    rules = {name: sequence_accuracy([rule_parse(s) or "" for s, _ in pairs], [t for _, t in pairs])
             for name, pairs in sets.items()}  # fmt: skip
    pool = training_pool(max(cfg["sizes"]), seed)
    learner, timings = [], {}
    for n in cfg["sizes"]:
        model, src_tok, tgt_tok, log = train_learner(pool[:n], cfg, seed)
        start = time.perf_counter()
        acc = learner_accuracy(model, sets, src_tok, tgt_tok)
        timings[f"n={n}"] = {
            "train_s": round(log.seconds, 2),
            "eval_s": round(time.perf_counter() - start, 2),
        }
        learner.append({"n": n, "accuracy": acc, "final_loss": log.losses[-1]})
    examples = {name: [[s, rule_parse(s), t] for s, t in pairs[:3]] for name, pairs in sets.items()}
    metrics = {"sizes": list(cfg["sizes"]), "rules": rules, "learner": learner, "examples": examples,
               "test_sizes": {name: len(p) for name, p in sets.items()}}  # fmt: skip
    config = dict(cfg, train_langs=TRAIN_LANGS, train_styles=TRAIN_STYLES, attention="bahdanau", cell="gru")
    return SeedRun(metrics=metrics, config=config, timings=timings)


def plot(per_seed: list[dict], out: Path) -> list[str]:
    """Learner accuracy against training examples per test set (log x), rules as flat dashed lines."""
    sizes = per_seed[0]["sizes"]
    fig, ax = plt.subplots(figsize=(7.5, 4.4), dpi=110)
    for name in SETS:
        line = seed_band(
            ax,
            sizes,
            [[r["accuracy"][name] for r in m["learner"]] for m in per_seed],
            "o-",
            label=f"learner: {name}",
        )
        rules = sum(m["rules"][name] for m in per_seed) / len(per_seed)
        ax.axhline(rules, color=line.get_color(), ls="--", lw=1)
    ax.plot([], [], "k--", lw=1, label="rules (no data), same colour")
    ax.set(xscale="log", xlabel="training examples (training formats, clean)", ylabel="exact-match accuracy",
           ylim=(-0.03, 1.03), title=f"Rules vs a learned date translator ({len(per_seed)} seed(s), band: min–max)")  # fmt: skip
    ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    fig.savefig(out / "rules-vs-learner.png")
    plt.close(fig)
    return ["rules-vs-learner.png"]


def needed_examples(m: dict, margin: float = 0.02) -> int | None:
    """The fewest training examples with which the learner comes within ``margin`` of the rules."""
    rules = m["rules"]["train-formats"]
    return next((r["n"] for r in m["learner"] if r["accuracy"]["train-formats"] >= rules - margin), None)


def criteria(per_seed: list[dict]) -> list[Criterion]:
    """Rules exact without data; the learner needs data, matches the rules with enough of it and wins
    on typos (primary); rules win on extra words, the learner on French (secondary)."""

    def rules(s):
        return [m["rules"][s] for m in per_seed]

    def learner(s, i=-1):
        return [m["learner"][i]["accuracy"][s] for m in per_seed]

    lo, hi = per_seed[0]["sizes"][0], per_seed[0]["sizes"][-1]
    needed = [needed_examples(m) for m in per_seed]
    need_txt = ", ".join("none of the sizes" if n is None else f"{n:,}" for n in needed)
    need_zh = "、".join("所有规模都没有" if n is None else f"{n:,}" for n in needed)
    return [
        threshold(
            "rules-exact-on-training-formats", rules("train-formats"), ">=", 0.99,
            en="The hand-written rules normalise {value} of the dates in the training formats, with no data (criterion: {rule})",
            zh="手写规则在训练格式的日期上正确率为 {value}，无需任何数据（判据：{rule}）",
        ),
        compare(
            "learner-needs-data", rules("train-formats"), learner("train-formats", 0), margin=0.3,
            en=f"With {lo} examples the learner reaches {{b}} on the training formats, the rules {{a}}; gap {{gap}} (criterion: the rules {{rule}})",
            zh=f"只有 {lo} 个样例时，学习模型在训练格式上为 {{b}}，规则为 {{a}}；差距 {{gap}}（判据：规则{{rule}}）",
        ),
        threshold(
            "learner-matches-rules-with-data",
            [a - b for a, b in zip(learner("train-formats"), rules("train-formats"))], ">=", -0.02,
            en=f"With {hi:,} examples the learner's accuracy minus the rules' on the training formats is {{value}} "
            f"(fewest examples with which it comes within 0.02 of the rules: {need_txt}; criterion: {{rule}})",
            zh=f"有 {hi:,} 个样例时，学习模型与规则在训练格式上的准确率之差为 {{value}}（与规则相差不超过 0.02 所需的最少样例数：{need_zh}；判据：{{rule}}）",
        ),
        compare(
            "learner-wins-on-typos", learner("typos"), rules("typos"), margin=0.1,
            en="With one typo in a word, the learner reaches {a}, the rules {b}; gap {gap} (criterion: the learner {rule})",
            zh="单词中有一处拼写错误时，学习模型为 {a}，规则为 {b}；差距 {gap}（判据：学习模型{rule}）",
        ),
        compare(
            "rules-win-on-extra-words", rules("extra-words"), learner("extra-words"), margin=0.1, primary=False,
            en="With filler words added, the rules reach {a}, the learner {b}; gap {gap} (criterion: the rules {rule})",
            zh="加入多余的词后，规则为 {a}，学习模型为 {b}；差距 {gap}（判据：规则{rule}）",
        ),
        compare(
            "learner-wins-on-held-out-language", learner("held-out-language"), rules("held-out-language"), margin=0.05,
            primary=False,
            en="On French, a language neither was given, the learner reaches {a}, the rules {b}; gap {gap} (criterion: the learner {rule})",
            zh="在双方都没见过的法语上，学习模型为 {a}，规则为 {b}；差距 {gap}（判据：学习模型{rule}）",
        ),
    ]  # fmt: skip


EXPERIMENT = Experiment(
    name="symbolic-vs-neural",
    title=Text(
        en="Connectionism vs symbolism: hand-written rules against a learned date translator",
        zh="连接主义与符号主义：手写规则与学习得到的日期翻译模型",
    ),
    history=Text(
        en="Symbolic AI (Newell & Simon's physical symbol system, expert systems of the 1970s-80s) encoded knowledge as "
        "rules; connectionism (Rumelhart, Hinton & McClelland, 1986) learns it from data with networks of simple "
        "units, the line that led to today's large models.",
        zh="符号主义（Newell 与 Simon 的物理符号系统、1970-80 年代的专家系统）把知识写成规则；连接主义（Rumelhart、Hinton "
        "与 McClelland，1986）用简单单元组成的网络从数据中学习知识，这条路线通向了今天的大模型。",
    ),
    mechanism=Text(
        en="Rules: a lexicon of month names and patterns for where year, month and day stand; exact on what they "
        "cover, silent elsewhere. Learner: an encoder-decoder with attention, p(y_t | y_<t, x) with context "
        "c_t = Σ_j α_tj h_j, fitted to examples; it needs data, and maps unfamiliar spellings to the nearest familiar ones.",
        zh="规则：月份名词典加上年、月、日位置的模式；在覆盖范围内完全正确，范围外无能为力。学习模型：带注意力的编码器-解码器 "
        "p(y_t | y_<t, x)，上下文 c_t = Σ_j α_tj h_j，由样例拟合；它需要数据，并把陌生的拼写映射到最接近的熟悉拼写上。",
    ),
    yardstick=Text(
        en="The course's contrast of symbolism and connectionism: rules are exact and need no data but are brittle; "
        "learned models need data but generalise to noisy and unforeseen inputs.",
        zh="课程中符号主义与连接主义的对比：规则精确且无需数据，但脆弱；学习模型需要数据，但能推广到有噪声和未预见的输入。",
    ),
    run=run,
    criteria=criteria,
    plot=plot,
)
