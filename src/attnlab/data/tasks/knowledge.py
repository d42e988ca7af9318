"""Questions answerable only from a knowledge base: made-up people and their city, job and pet (zh/en).

A knowledge base (KB) holds ``(entity, relation, value)`` triples about invented people (``"Alice
Thorne"``, ``"王小明"``); each person has one value per relation (``city``, ``job``, ``pet``), drawn
from ``seed``. A question asks one relation of one person ("Where does Alice Thorne live?" /
"王小明住在哪里？"); the example's memory lists that person's facts and those of 1-3 other people,
shuffled, and the gold fact's index is ``meta["gold"]``.

People are split once (a fixed permutation, the same for every ``seed``) into train/valid/test, and a
split only ever mentions its own people, in questions and memories alike: the facts of test people are
seen only through the memory at test time, never in the weights (the setting of Miller et al., 2016,
where the KB is read, not memorised).

CC-CEDICT facts were considered (issue #8): no installed package ships the dictionary, so they are not
used (nothing is downloaded at run time).
"""

from __future__ import annotations

import random

from ..base import Example, check_choice, check_int, check_range, task_rng

RELATIONS = ("city", "job", "pet")
_FIRST = "Alice Bob Carol David Emma Frank Grace Henry Iris Jack Kate Leo Mia Noah Olivia Paul Quinn Rosa Sam"
_FIRST += " Tina Uma Victor Wendy Xavier Yara Zoe"
_LAST = "Ashford Brenner Calloway Dunmore Everly Fairbanks Gorrin Halloway Ingram Jessop Kettering Lindqvist"
_LAST += " Marlowe Norcott Oakes Pendry Quill Rookwood Selwyn Thorne"
_GIVEN = "小明 小红 小华 小刚 小丽 小军 小芳 小强 小梅 小亮 晓东 晓燕 志远 子涵 雨桐 浩然 思琪 俊杰 欣怡 宇航"
NAMES = {  # (first names, last names) for en; (surnames, given names) for zh
    "en": (_FIRST.split(), _LAST.split()),
    "zh": (list("王李张刘陈杨赵黄周吴徐孙马朱胡郭何林罗高"), _GIVEN.split()),
}
VALUES = {
    "en": {
        "city": ["Paris", "Tokyo", "Cairo", "Lima", "Oslo", "Delhi", "Rome", "Sydney"],
        "job": ["doctor", "teacher", "baker", "pilot", "farmer", "lawyer", "painter", "chef"],
        "pet": ["cat", "dog", "parrot", "rabbit", "hamster", "turtle", "goldfish", "horse"],
    },
    "zh": {
        "city": ["北京", "上海", "广州", "深圳", "成都", "杭州", "西安", "武汉"],
        "job": ["医生", "老师", "面包师", "飞行员", "农民", "律师", "画家", "厨师"],
        "pet": ["猫", "狗", "鹦鹉", "兔子", "仓鼠", "乌龟", "金鱼", "马"],
    },
}
QUESTIONS = {
    "en": {"city": "Where does {e} live?", "job": "What is {e}'s job?", "pet": "What pet does {e} have?"},
    "zh": {"city": "{e}住在哪里？", "job": "{e}的职业是什么？", "pet": "{e}养了什么宠物？"},
}
# The key of a fact is what is matched (entity + relation), the value what is read (Miller et al., 2016).
KEYS = {
    "en": {"city": "{e} lives in", "job": "{e} works as a", "pet": "{e} has a pet"},
    "zh": {"city": "{e}住在", "job": "{e}的职业是", "pet": "{e}养的宠物是"},
}
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)


def entities(lang: str) -> list[str]:
    """All invented people of a language (first x last names), in a fixed order."""
    first, last = NAMES[check_choice("lang", lang, tuple(NAMES))]
    if lang == "zh":
        return [s + g for s in first for g in last]  # surname + given name
    return [f"{f} {s}" for f in first for s in last]


def split_entities(lang: str, split: str) -> list[str]:
    """The people of one split: a fixed permutation (independent of any seed) cut 70/10/20."""
    people = entities(lang)
    order = list(range(len(people)))
    random.Random(f"attnlab/knowledge/entities/{lang}").shuffle(order)
    n_train = round(len(order) * SPLIT_FRACTIONS[0])
    n_valid = round(len(order) * SPLIT_FRACTIONS[1])
    bounds = {
        "train": (0, n_train),
        "valid": (n_train, n_train + n_valid),
        "test": (n_train + n_valid, len(order)),
    }
    lo, hi = bounds[check_choice("split", split, tuple(bounds))]
    return [people[i] for i in sorted(order[lo:hi])]


def knowledge_base(lang: str = "en", seed: int = 0) -> dict[str, dict[str, str]]:
    """``{entity: {relation: value}}`` for every person of ``lang``; the same ``seed`` gives the same KB."""
    rng = random.Random(f"attnlab/knowledge/kb/{lang}/{seed}")
    return {e: {r: rng.choice(VALUES[lang][r]) for r in RELATIONS} for e in entities(lang)}


def fact_key(entity: str, relation: str, lang: str) -> str:
    """The text of a fact's key: ``"Alice Thorne lives in"`` / ``"王小明住在"``."""
    return KEYS[lang][relation].format(e=entity)


def fact_text(fact: list[str] | tuple[str, str, str], lang: str) -> str:
    """A whole fact as text: ``"Alice Thorne lives in Paris"`` / ``"王小明住在北京"``."""
    entity, relation, value = fact
    return fact_key(entity, relation, lang) + (" " if lang == "en" else "") + value


def knowledge(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    lang: str = "en",
    people=(2, 4),
    relations: tuple[str, ...] = RELATIONS,
) -> list[Example]:
    """KB questions in ``lang`` ("en" or "zh"); the answer is in the example's memory only.

    Args:
        people: how many people's facts the memory holds (int or inclusive range, >= 1): the asked
            person's plus distractors from the same split. The memory has ``3 * people`` facts.
        relations: relations questions may ask about: ``city``, ``job``, ``pet``.

    ``src`` is the question, ``tgt`` the value; ``meta`` has ``entity``, ``relation``, ``memory`` (a
    list of ``[entity, relation, value]``), ``gold`` (index of the fact that answers), ``keys`` and
    ``values`` (text of each fact's key and value), ``lang`` and ``split``.
    """
    check_int("n", n, 0)
    check_choice("lang", lang, tuple(NAMES))
    lo, hi = check_range("people", people, 1)
    if isinstance(relations, str):
        relations = (relations,)
    if not relations:
        raise ValueError(f"relations must name at least one of {RELATIONS}")
    for r in relations:
        check_choice("relations", r, RELATIONS)
    pool = split_entities(lang, split)
    if hi > len(pool):
        raise ValueError(f"people must be at most {len(pool)} (people in split {split!r}), got {people!r}")
    kb = knowledge_base(lang, seed)
    rng = task_rng(f"knowledge/{lang}/{seed}", split)
    out = []
    for _ in range(n):
        group = rng.sample(pool, rng.randint(lo, hi))  # group[0] is asked about
        entity, relation = group[0], rng.choice(relations)
        memory = [[e, r, kb[e][r]] for e in group for r in RELATIONS]
        rng.shuffle(memory)
        gold = memory.index([entity, relation, kb[entity][relation]])
        meta = {
            "task": "knowledge",
            "lang": lang,
            "split": split,
            "entity": entity,
            "relation": relation,
            "memory": memory,
            "gold": gold,
            "keys": [fact_key(e, r, lang) for e, r, _ in memory],
            "values": [v for _, _, v in memory],
        }
        out.append(Example(QUESTIONS[lang][relation].format(e=entity), kb[entity][relation], meta))
    return out
