"""Documents whose label hinges on one keyword in one sentence (zh and en), for hierarchical attention.

Yang et al. (2016, "Hierarchical Attention Networks for Document Classification", Fig. 5) show a
review's label decided by a few words in one or two sentences. Here that is made exact: a document is
``n_sentences`` short sentences about a café, all built from the same templates; every sentence but one
fills the adjective slot with a neutral word ("warm", "round" / "温热", "圆形"), and one sentence, the
evidence, fills it with a sentiment keyword ("delicious" / "美味" -> positive, "awful" / "糟糕" ->
negative). The label is the keyword's polarity, so a model must find that sentence and that word.

With ``kind="marked"`` the label depends on which sentence carries a word, not on the word alone:
every sentence fills its adjective slot with a sentiment keyword (the number of positive sentences is
drawn independently of the label), and one sentence, the evidence, also carries a summary marker
("overall", "ultimately" / "总之", "总的来说") at its start or at its end. The label is the polarity
of the marked sentence's keyword. Distractor sentences share the templates, the subjects and the
sentiment keywords of the evidence, so counting positive and negative words says nothing about the
label.

``src`` is the text; ``tgt`` the label (0 = negative, 1 = positive). ``meta`` holds ``tokens`` (one
list of word tokens per sentence, the final punctuation included; Chinese words are whole words, as a
segmenter would give), ``evidence_sentence`` and ``evidence_token`` (indices into ``tokens``),
``keyword``, ``label`` ("neg"/"pos"), ``sentences`` (``[start, end)`` character span of each sentence in
``src``) and ``evidence_span`` (character span of the keyword); with ``kind="marked"`` also ``kind``,
``marker`` and ``marker_token`` (the marker's index in the evidence sentence).
"""

from __future__ import annotations

from ..base import Example, check_choice, check_int, check_range, task_rng

LABELS = ("neg", "pos")
LEXICON = {
    "en": {
        "subjects": [
            "soup",
            "coffee",
            "waiter",
            "table",
            "menu",
            "room",
            "music",
            "bread",
            "tea",
            "chair",
            "window",
            "price",
            "cake",
            "garden",
        ],  # fmt: skip
        "neutral": [
            "warm",
            "large",
            "small",
            "brown",
            "round",
            "quiet",
            "new",
            "old",
            "tall",
            "square",
            "green",
            "white",
            "plain",
            "wooden",
        ],  # fmt: skip
        "pos": ["excellent", "delicious", "wonderful", "lovely", "superb", "fantastic"],
        "neg": ["terrible", "awful", "horrible", "disgusting", "dreadful", "bland"],
        "templates": [
            ["the", "{s}", "was", "{a}"],
            ["we", "thought", "the", "{s}", "looked", "{a}"],
            ["my", "friend", "said", "the", "{s}", "seemed", "{a}"],
            ["honestly", "the", "{s}", "is", "{a}", "today"],
            ["i", "noticed", "that", "the", "{s}", "was", "rather", "{a}"],
            ["everyone", "agreed", "the", "{s}", "felt", "{a}"],
        ],
        "markers": ["overall", "ultimately"],
        "end": ".",
        "joiner": " ",
    },
    "zh": {
        "subjects": [
            "汤",
            "咖啡",
            "服务员",
            "桌子",
            "菜单",
            "房间",
            "音乐",
            "面包",
            "茶",
            "椅子",
            "窗户",
            "价格",
            "蛋糕",
            "花园",
        ],  # fmt: skip
        "neutral": [
            "温热",
            "宽大",
            "小巧",
            "棕色",
            "圆形",
            "安静",
            "崭新",
            "老旧",
            "高大",
            "方正",
            "绿色",
            "白色",
            "普通",
            "木制",
        ],  # fmt: skip
        "pos": ["美味", "精彩", "出色", "完美", "可口", "舒服"],
        "neg": ["难吃", "糟糕", "恶心", "失望", "乏味", "差劲"],
        "templates": [
            ["这里", "的", "{s}", "很", "{a}"],
            ["我", "觉得", "{s}", "{a}"],
            ["朋友", "说", "{s}", "有点", "{a}"],
            ["今天", "的", "{s}", "真", "{a}"],
            ["我", "注意到", "{s}", "相当", "{a}"],
            ["大家", "都", "说", "{s}", "{a}"],
        ],
        "markers": ["总之", "总的来说"],
        "end": "。",
        "joiner": "",
    },
}


def _sentence(rng, lex, adjective: str) -> tuple[list[str], int]:
    """Word tokens of one sentence (with its end mark) and the index of the adjective slot."""
    template = rng.choice(lex["templates"])
    subject = rng.choice(lex["subjects"])
    tokens = [subject if t == "{s}" else adjective if t == "{a}" else t for t in template]
    return tokens + [lex["end"]], template.index("{a}")


def _render(sentences: list[list[str]], lex) -> tuple[str, list[list[int]], list[list[list[int]]]]:
    """Text, sentence spans and per-token spans. English: words separated by spaces, the end mark
    glued to the last word; Chinese: no spaces."""
    sep = lex["joiner"]
    text, spans, token_spans = "", [], []
    for tokens in sentences:
        if text:
            text += sep
        start, here = len(text), []
        for i, tok in enumerate(tokens):
            if i and tok != lex["end"]:
                text += sep
            here.append([len(text), len(text) + len(tok)])
            text += tok
        spans.append([start, len(text)])
        token_spans.append(here)
    return text, spans, token_spans


KINDS = ("keyword", "marked")


def documents(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    lang: str = "en",
    n_sentences=(3, 6),
    kind: str = "keyword",
) -> list[Example]:
    """``n`` documents in ``lang`` ("en" or "zh"); ``n_sentences`` is an int or an inclusive range.

    ``kind="keyword"``: exactly one sentence carries a sentiment keyword; the others are distractors
    with neutral words. ``kind="marked"`` (at least 2 sentences): every sentence carries a sentiment
    keyword and the marked sentence's keyword decides the label (see the module docstring).
    """
    check_int("n", n, 0)
    lex = LEXICON[check_choice("lang", lang, tuple(LEXICON))]
    check_choice("kind", kind, KINDS)
    lo, hi = check_range("n_sentences", n_sentences, 2 if kind == "marked" else 1)
    # The keyword documents keep their random stream, so they are unchanged.
    stream = f"documents/{lang}/{seed}" if kind == "keyword" else f"documents/{kind}/{lang}/{seed}"
    rng = task_rng(stream, split)
    out = []
    for _ in range(n):
        count = rng.randint(lo, hi)
        label = rng.randrange(2)
        if kind == "keyword":
            keyword = rng.choice(lex[LABELS[label]])
            evidence = rng.randrange(count)
            words = None
        else:
            # How many sentences are positive is drawn independently of the label; the evidence is one
            # of the sentences of the label's polarity.
            positive = set(rng.sample(range(count), rng.randint(1, count - 1)))
            evidence = rng.choice(sorted(positive if label else set(range(count)) - positive))
            words = [rng.choice(lex[LABELS[i in positive]]) for i in range(count)]
            keyword = words[evidence]
        sentences, slot, marker, marker_at = [], 0, None, None
        for i in range(count):
            if words is None:
                adjective = keyword if i == evidence else rng.choice(lex["neutral"])
            else:
                adjective = words[i]
            tokens, a = _sentence(rng, lex, adjective)
            if i == evidence and kind == "marked":
                marker = rng.choice(lex["markers"])
                if rng.random() < 0.5:  # at the start of the sentence
                    tokens, a, marker_at = [marker, *tokens], a + 1, 0
                else:  # at its end, before the end mark
                    tokens, marker_at = [*tokens[:-1], marker, tokens[-1]], len(tokens) - 1
            sentences.append(tokens)
            if i == evidence:
                slot = a
        text, spans, token_spans = _render(sentences, lex)
        meta = {
            "task": "documents",
            "lang": lang,
            "tokens": sentences,
            "evidence_sentence": evidence,
            "evidence_token": slot,
            "keyword": keyword,
            "label": LABELS[label],
            "sentences": spans,
            "evidence_span": token_spans[evidence][slot],
        }
        if kind == "marked":
            meta.update(kind=kind, marker=marker, marker_token=marker_at)
        out.append(Example(text, label, meta))
    return out
