"""The coffee-shop story family (zh + en): "我昨天去了一家咖啡店，点了一杯拿铁……然后我从咖啡店出来，回家了。"

A short first-person story: an opening sentence (where I went, what I ordered), ``n_fillers`` sentences
that mention neither, and a closing sentence (I left that place and went somewhere). One question:

* ``first``  - "我先去了哪里？" / "Where did I go first?"  -> the shop (咖啡店 / coffee shop);
* ``order``  - "我点了什么？" / "What did I order?"       -> the item (拿铁 / latte);
* ``now``    - "我现在在哪里？" / "Where am I now?"        -> where I went last (家 / home);
* ``where``  - "我去了哪里？" / "Where did I go?"          -> the shop (the course's own question);
* ``times``  - "我去了几次咖啡店？" / "How many times did I go to the coffee shop?" -> 一次/两次/三次 (once,
  twice, three times): the story then holds 0-2 extra visits ("后来我又去了一次咖啡店。") among the fillers.

The default draws ``first``, ``order`` and ``now``; the other kinds are asked for by name (so stories
drawn with the default stay what they always were). ``ellipsis`` is the chance that the story's middle
is told as the course tells it, with "……" ("...") for the fillers; tokenizers keep "……" as one token.

Attention should find the shop and the closing phrase (咖啡店 ... 回家). ``meta["key_spans"]`` gives their
``[start, end)`` spans in ``src``: ``place`` (opening mention), ``place_again`` (closing mention), ``item``
and ``final`` (the whole closing phrase, e.g. 回家 / went home). ``answer_spans``, ``evidence_sentences``,
``evidence_spans`` and ``sentences`` follow the conventions of :mod:`attnlab.data.tasks.stories`.
"""

from __future__ import annotations

from ..base import Example, check_choice, check_int, check_range, task_rng
from ._text import TextBuilder, fill

QUESTIONS = ("first", "order", "now", "where", "times")
DEFAULT_QUESTIONS = ("first", "order", "now")
LEXICON = {
    "zh": {
        "when": ["昨天", "今天早上", "上周末", "前天下午"],
        # place, order verb, measure word, items
        "shops": [
            ("咖啡店", "点了", "杯", ["拿铁", "美式咖啡", "卡布奇诺", "摩卡"]),
            ("面包店", "买了", "个", ["牛角包", "蛋糕", "面包"]),
            ("茶馆", "点了", "壶", ["绿茶", "乌龙茶", "菊花茶"]),
            ("书店", "买了", "本", ["小说", "杂志", "诗集"]),
        ],
        "open": "我{t}去了一家{place}，{verb}一{measure}{item}。",
        "fillers": [
            "店里的人很多。",
            "我坐在窗边休息了一会儿。",
            "外面开始下雨了。",
            "服务员很友好。",
            "店里放着轻松的音乐。",
            "我给朋友打了一个电话。",
            "我在那里待了一个小时。",
            "旁边有一只小猫在睡觉。",
            "我看了看手机上的新闻。",
            "天气有点冷。",
        ],
        "close": "然后我从{place_again}出来，{final}了。",
        "finals": [("回{a}", "家"), ("去{a}", "公司"), ("去{a}", "学校"), ("去{a}", "公园")],
        "first": "我先去了哪里？",
        "order": "我{verb}什么？",
        "now": "我现在在哪里？",
        "where": "我去了哪里？",
        "times": "我去了几次{place}？",
        "revisit": "后来我又去了一次{place}。",
        "counts": ["一次", "两次", "三次"],
        "ellipsis": "……",
        "joiner": "",
    },
    "en": {
        "when": ["Yesterday", "This morning", "Last weekend", "On Sunday"],
        "shops": [
            ("coffee shop", "ordered", "order", ["latte", "cappuccino", "flat white", "mocha"]),
            ("bakery", "bought", "buy", ["croissant", "cake", "baguette"]),
            ("tea house", "ordered", "order", ["green tea", "black tea", "jasmine tea"]),
            ("bookshop", "bought", "buy", ["novel", "magazine", "cookbook"]),
        ],
        "open": "{t} I went to a {place} and {verb} a {item}.",
        "fillers": [
            "It was very busy inside.",
            "I sat by the window for a while.",
            "It started to rain outside.",
            "The staff were friendly.",
            "Soft music was playing.",
            "I called a friend.",
            "I stayed there for an hour.",
            "A cat was sleeping next to me.",
            "I checked the news on my phone.",
            "It was a little cold.",
        ],
        "close": "Then I left the {place_again} and {final}.",
        "finals": [
            ("went {a}", "home"),
            ("went to the {a}", "office"),
            ("went to {a}", "school"),
            ("went to the {a}", "park"),
        ],
        "first": "Where did I go first?",
        "order": "What did I {measure}?",
        "now": "Where am I now?",
        "where": "Where did I go?",
        "times": "How many times did I go to the {place}?",
        "revisit": "Later I went back to the {place}.",
        "counts": ["once", "twice", "three times"],
        "ellipsis": "…",
        "joiner": " ",
    },
}


def answers(lang: str = "zh", questions=DEFAULT_QUESTIONS) -> set[str]:
    """Every answer the question kinds ``questions`` can have in ``lang`` (a classifier's label set)."""
    lex = LEXICON[check_choice("lang", lang, tuple(LEXICON))]
    places = {shop[0] for shop in lex["shops"]}
    found = {
        "first": places,
        "where": places,
        "order": {item for shop in lex["shops"] for item in shop[3]},
        "now": {destination for _, destination in lex["finals"]},
        "times": set(lex["counts"]),
    }
    return set().union(*(found[check_choice("questions", q, QUESTIONS)] for q in questions))


def coffee_shop(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    lang: str = "zh",
    n_fillers=(1, 4),
    questions: tuple[str, ...] = DEFAULT_QUESTIONS,
    ellipsis: float = 0.0,
) -> list[Example]:
    """Coffee-shop stories in ``lang`` ("zh" or "en") with one question each.

    Args:
        n_fillers: distractor sentences between the opening and the closing (int or inclusive range,
            at most 10); they set how far the shop mention is from the question.
        questions: question kinds to draw from: ``first``, ``order``, ``now``, ``where``, ``times``.
        ellipsis: chance (0-1) that the fillers are told as "……" instead, as in the course's sentence.
    """
    check_int("n", n, 0)
    lex = LEXICON[check_choice("lang", lang, tuple(LEXICON))]
    lo, hi = check_range("n_fillers", n_fillers, 0)
    if hi > len(lex["fillers"]):
        raise ValueError(f"n_fillers must be at most {len(lex['fillers'])}, got {n_fillers!r}")
    if isinstance(questions, str):
        questions = (questions,)
    if not questions:
        raise ValueError(f"questions must name at least one of {QUESTIONS}")
    for q in questions:
        check_choice("questions", q, QUESTIONS)
    if not 0.0 <= ellipsis <= 1.0:
        raise ValueError(f"ellipsis must be a probability in [0, 1], got {ellipsis!r}")
    rng = task_rng(seed, split)
    return [_story(rng, lex, lang, lo, hi, questions, ellipsis) for _ in range(n)]


def _story(rng, lex: dict, lang: str, lo: int, hi: int, questions, ellipsis: float) -> Example:
    # The draws for the default question kinds come in the same order as they always did, so the
    # same seed gives the same stories; the extra draws (visits, ellipsis) happen only when asked for.
    place, verb, measure, items = rng.choice(lex["shops"])
    item = rng.choice(items)
    final_template, destination = rng.choice(lex["finals"])
    final, final_slots = fill(final_template, a=destination)
    when = rng.choice(lex["when"])
    fillers = rng.sample(lex["fillers"], rng.randint(lo, hi))
    question = rng.choice(questions)
    visits = rng.randint(1, 3) if question == "times" else 1
    middle = list(fillers)
    for _ in range(visits - 1):  # extra visits, anywhere among the fillers
        middle.insert(rng.randint(0, len(middle)), None)
    if ellipsis and rng.random() < ellipsis:  # the fillers told as "……", the extra visits kept
        middle = [m for m in middle if m is None] + [lex["ellipsis"]]
    text = TextBuilder(lex["joiner"])
    opening = text.add(lex["open"], t=when, place=place, verb=verb, measure=measure, item=item)
    revisits = [text.add(lex["revisit"], place=place) if m is None else text.add(m) for m in middle]
    revisits = [i for i, m in zip(revisits, middle) if m is None]
    closing = text.add(lex["close"], place_again=place, final=final)
    n_story = len(text.sentences)
    text.add(lex[question], verb=verb, measure=measure, place=place)
    final_start = text.slots[closing]["final"][0]
    answer_span = [final_start + final_slots["a"][0], final_start + final_slots["a"][1]]
    place_spans = [text.slots[i]["place"] for i in [opening, *revisits]]
    answer, evidence, answer_spans = {
        "first": (place, [opening], [text.slots[opening]["place"]]),
        "where": (place, [opening], [text.slots[opening]["place"]]),
        "order": (item, [opening], [text.slots[opening]["item"]]),
        "now": (destination, [closing], [answer_span]),
        "times": (lex["counts"][visits - 1], [opening, *revisits], place_spans),
    }[question]
    meta = {
        "task": "coffee-shop",
        "lang": lang,
        "qtype": question,
        **text.question_fields(n_story, evidence, answer_spans),
        "key_spans": {
            "place": text.slots[opening]["place"],
            "item": text.slots[opening]["item"],
            "place_again": text.slots[closing]["place_again"],
            "final": text.slots[closing]["final"],
            "visits": place_spans,
        },
        "n_fillers": len(fillers),
        "visits": visits,
        "distance": n_story - min(evidence),
    }
    return Example(text.text, answer, meta)
