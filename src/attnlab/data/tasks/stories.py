"""bAbI-style stories (Weston et al., 2015) in English and Chinese, with their evidence recorded.

A story is a sequence of people moving between places and picking up objects; one question follows.
Question types (``meta["qtype"]``):

* ``where``  - "Where is Mary?" / "小明在哪里？": one supporting fact (the person's last move);
* ``count``  - "How many times did Mary go to the kitchen?" / "小明去了几次厨房？": every move of that
  person to that place is evidence; the answer is a digit string;
* ``object`` - "Where is the apple?" / "苹果在哪里？": two supporting facts (who picked the object up, and
  where that person went last).

``src`` is the story followed by the question. ``meta`` holds ``sentences`` (the ``[start, end)`` span of
every story sentence in ``src``), ``question_span``, ``evidence_sentences`` (indices), ``evidence_spans``
(spans of those sentences), ``answer_spans`` (where the answer text itself occurs inside the evidence;
empty for ``count``), and ``distance`` (sentences from the first evidence sentence to the question).
"""

from __future__ import annotations

from ..base import Example, check_choice, check_int, check_range, task_rng
from ._text import TextBuilder

QTYPES = ("where", "count", "object")
LEXICON = {
    "en": {
        "people": ["Mary", "John", "Sandra", "Daniel", "Lucy", "Tom", "Emma", "Oliver"],
        "places": ["kitchen", "garden", "office", "bedroom", "bathroom", "hallway", "park", "school"],
        "objects": ["apple", "football", "milk", "book", "umbrella", "key"],
        "move": ["{p} went to the {l}.", "{p} moved to the {l}.", "{p} travelled to the {l}."],
        "take": ["{p} picked up the {o}.", "{p} grabbed the {o}."],
        "where": "Where is {p}?",
        "count": "How many times did {p} go to the {l}?",
        "object": "Where is the {o}?",
        "joiner": " ",
    },
    "zh": {
        "people": ["小明", "小红", "小刚", "小丽", "老王", "李雷", "韩梅梅", "张伟"],
        "places": ["厨房", "花园", "办公室", "卧室", "浴室", "走廊", "公园", "学校"],
        "objects": ["苹果", "足球", "牛奶", "书", "雨伞", "钥匙"],
        "move": ["{p}去了{l}。", "{p}走进了{l}。", "{p}跑到了{l}。"],
        "take": ["{p}拿起了{o}。", "{p}拿走了{o}。"],
        "where": "{p}在哪里？",
        "count": "{p}去了几次{l}？",
        "object": "{o}在哪里？",
        "joiner": "",
    },
}


def _story(rng, lex, n_sentences: int, people: list[str], places: list[str], objects: list[str]):
    text = TextBuilder(lex["joiner"])
    where: dict[str, str] = {}
    moves: list[tuple[int, str, str]] = []  # (sentence, person, place)
    taken: dict[str, tuple[str, int]] = {}  # object -> (person, sentence)
    for _ in range(n_sentences):
        free = [o for o in objects if o not in taken]
        if where and free and rng.random() < 0.25:
            person, obj = rng.choice(sorted(where)), rng.choice(free)
            taken[obj] = (person, text.add(rng.choice(lex["take"]), p=person, o=obj))
        else:
            person = rng.choice(people)
            place = rng.choice([p for p in places if p != where.get(person)])
            where[person] = place
            moves.append((text.add(rng.choice(lex["move"]), p=person, l=place), person, place))
    return text, where, moves, taken


def _question(rng, qtype: str, lex, where, moves, taken):
    """(question template slots, answer, evidence sentence indices, answer slot sentences) or None."""
    if qtype == "where" and where:
        person = rng.choice(sorted(where))
        last = max(i for i, p, _ in moves if p == person)
        return {"p": person}, where[person], [last], [last]
    if qtype == "count" and moves:
        # Weighted by visit count so that answers above 1 are common.
        pairs = sorted({(p, l) for _, p, l in moves})
        counts = [sum(1 for _, p, l in moves if (p, l) == pair) for pair in pairs]
        person, place = rng.choices(pairs, weights=counts)[0]
        hits = [i for i, p, l in moves if p == person and l == place]
        return {"p": person, "l": place}, str(len(hits)), hits, []
    if qtype == "object" and taken:
        obj = rng.choice(sorted(taken))
        person, took = taken[obj]
        last = max(i for i, p, _ in moves if p == person)
        return {"o": obj}, where[person], sorted({took, last}), [last]
    return None


def stories(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    lang: str = "en",
    n_sentences=(4, 10),
    n_people: int = 3,
    n_places: int = 4,
    n_objects: int = 3,
    qtypes: tuple[str, ...] = QTYPES,
) -> list[Example]:
    """bAbI-style QA stories in ``lang`` ("en" or "zh").

    Args:
        n_sentences: story length (an int or an inclusive range); longer stories put the evidence
            further from the question.
        n_people, n_places, n_objects: how many names, places and objects a story draws from.
        qtypes: question types to draw from (see the module docstring).
    """
    check_int("n", n, 0)
    lex = LEXICON[check_choice("lang", lang, tuple(LEXICON))]
    lo, hi = check_range("n_sentences", n_sentences, 1)
    check_int("n_people", n_people, 1, len(lex["people"]))
    check_int("n_places", n_places, 2, len(lex["places"]))
    check_int("n_objects", n_objects, 0, len(lex["objects"]))
    if isinstance(qtypes, str):
        qtypes = (qtypes,)
    if not qtypes:
        raise ValueError(f"qtypes must name at least one of {QTYPES}")
    for q in qtypes:
        check_choice("qtypes", q, QTYPES)
    if set(qtypes) == {"object"} and n_objects == 0:
        raise ValueError("qtypes=('object',) needs n_objects >= 1")
    rng = task_rng(seed, split)
    out = []
    while len(out) < n:
        people = rng.sample(lex["people"], n_people)
        places = rng.sample(lex["places"], n_places)
        objects = rng.sample(lex["objects"], n_objects)
        text, where, moves, taken = _story(rng, lex, rng.randint(lo, hi), people, places, objects)
        qtype = rng.choice(qtypes)
        asked = _question(rng, qtype, lex, where, moves, taken)
        if asked is None:  # e.g. nobody picked anything up: draw another story
            continue
        slots, answer, evidence, answer_in = asked
        n_story = len(text.sentences)
        text.add(lex[qtype], **slots)
        meta = {
            "task": f"stories-{lang}",
            "lang": lang,
            "qtype": qtype,
            **text.question_fields(n_story, evidence, [text.slots[i]["l"] for i in answer_in]),
            "distance": n_story - min(evidence),
        }
        out.append(Example(text.text, answer, meta))
    return out
