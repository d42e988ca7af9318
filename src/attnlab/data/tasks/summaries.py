"""Story summarisation (zh + en): condense a short story into "who went where", in order.

A story mixes moves ("Mary went to the kitchen." / "小明去了厨房。") with filler sentences that move
nobody ("It started to rain outside." / "外面开始下雨了。"). The summary lists every move in story order
and drops the fillers::

    src: "Mary went to the kitchen. It started to rain outside. John moved to the garden."
    tgt: "Mary kitchen, John garden"            (zh: "小明厨房，小红花园")

It is an extractive summary with a gold answer, for multi-task experiments (translate + summarise +
answer). The people, places and move templates are those of :mod:`attnlab.data.tasks.stories`, the
fillers those of :mod:`attnlab.data.tasks.coffee_shop`. ``meta["moves"]`` holds the ``(person, place)``
pairs; ``meta["move_sentences"]`` the indices of the sentences that are moves, ``meta["sentences"]``
every sentence's ``[start, end)`` span in ``src``.
"""

from __future__ import annotations

from ..base import Example, check_choice, check_int, check_range, task_rng
from ._text import TextBuilder
from .coffee_shop import LEXICON as COFFEE
from .stories import LEXICON as STORIES

# How a summary writes one move and joins moves, per language.
FORMAT = {"en": ("{p} {l}", ", "), "zh": ("{p}{l}", "，")}


def summary_of(moves: list[tuple[str, str]], lang: str = "en") -> str:
    """The summary of a list of ``(person, place)`` moves in ``lang``."""
    item, sep = FORMAT[check_choice("lang", lang, tuple(FORMAT))]
    return sep.join(item.format(p=p, l=pl) for p, pl in moves)


def summaries(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    lang: str = "en",
    n_moves=(1, 3),
    n_fillers=(0, 3),
    n_people: int = 3,
) -> list[Example]:
    """Stories of ``n_moves`` moves and ``n_fillers`` distractor sentences, summarised as who went where.

    Args:
        lang: "en" or "zh".
        n_moves: moves per story (an int or inclusive range, 1 to 6).
        n_fillers: filler sentences (an int or inclusive range, at most 10), placed at random.
        n_people: how many names a story draws from (1 to 8).
    """
    check_int("n", n, 0)
    lang = check_choice("lang", lang, tuple(FORMAT))
    m_lo, m_hi = check_range("n_moves", n_moves, 1)
    f_lo, f_hi = check_range("n_fillers", n_fillers, 0)
    if m_hi > 6:
        raise ValueError(f"n_moves must be at most 6, got {n_moves!r}")
    if f_hi > len(COFFEE[lang]["fillers"]):
        raise ValueError(f"n_fillers must be at most {len(COFFEE[lang]['fillers'])}, got {n_fillers!r}")
    lex = STORIES[lang]
    check_int("n_people", n_people, 1, len(lex["people"]))
    rng = task_rng(seed, split)
    out = []
    for _ in range(n):
        people = rng.sample(lex["people"], n_people)
        n_m = rng.randint(m_lo, m_hi)
        fillers = rng.sample(COFFEE[lang]["fillers"], rng.randint(f_lo, f_hi))
        # True = a move, False = a filler, in a random order.
        kinds = [True] * n_m + [False] * len(fillers)
        rng.shuffle(kinds)
        text, moves, move_sentences, where = TextBuilder(lex["joiner"]), [], [], {}
        for is_move in kinds:
            if not is_move:
                text.add(fillers.pop())
                continue
            person = rng.choice(people)
            place = rng.choice([p for p in lex["places"] if p != where.get(person)])
            where[person] = place
            move_sentences.append(text.add(rng.choice(lex["move"]), p=person, l=place))
            moves.append((person, place))
        meta = {
            "task": "summaries",
            "lang": lang,
            "moves": [list(m) for m in moves],
            "move_sentences": move_sentences,
            "sentences": text.sentences,
            "n_fillers": len(kinds) - n_m,
        }
        out.append(Example(text.text, summary_of(moves, lang), meta))
    return out
