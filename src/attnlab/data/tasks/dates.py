"""Date normalisation: "Thursday, 25 March 2021" / "25. März 2021" / "2021年3月25日星期四" -> "2021-03-25".

Dates are rendered with Babel (CLDR data shipped in the package, so nothing is downloaded) using each
locale's own full/long/medium/short patterns; patterns with a two-digit year are skipped because they
cannot be normalised unambiguously.

Gold character alignment. The date is rendered field by field from the tokens of the Babel pattern, so
the span of every field in ``src`` is known exactly (never guessed by string search):

* ``meta["fields"]``: ``{"year": [s, e], "month": [s, e], "day": [s, e], "weekday": [s, e]}`` (weekday
  only when the pattern has one), half-open character offsets into ``src``.
* ``meta["alignment"]``: one entry per character of ``tgt`` (always 10): the ``[s, e]`` span of the source
  field that character comes from (year span for ``tgt[0:4]``, month span for ``tgt[5:7]``, day span for
  ``tgt[8:10]``), or ``None`` for the separators ``-`` which come from no input character.

:func:`alignment_links` turns this into the (target index, source index) pairs used by
:func:`attnlab.data.metrics.alignment_error_rate`.
"""

from __future__ import annotations

import datetime as dt

from ..base import Example, check_choice, check_int, check_range, task_rng

LOCALES = {"en": ("en_US", "en_GB"), "fr": ("fr_FR",), "de": ("de_DE",), "zh": ("zh_Hans_CN",)}
STYLES = ("full", "long", "medium", "short")
_FIELD_ROLE = {"y": "year", "Y": "year", "u": "year", "M": "month", "L": "month", "d": "day"}
_FIELD_ROLE.update({"E": "weekday", "e": "weekday", "c": "weekday"})
_ISO_SOURCE = ["year"] * 4 + [None] + ["month"] * 2 + [None] + ["day"] * 2


def _patterns(locale_name: str, styles: tuple[str, ...]) -> list[str]:
    from babel import Locale
    from babel.dates import tokenize_pattern

    locale = Locale.parse(locale_name)
    out: list[str] = []
    for style in styles:
        pattern = locale.date_formats[style].pattern
        two_digit_year = any(
            kind == "field" and value[0] in "yYu" and value[1] == 2
            for kind, value in tokenize_pattern(pattern)
        )
        if not two_digit_year and pattern not in out:
            out.append(pattern)
    return out


def render(date: dt.date, locale_name: str, pattern: str) -> tuple[str, dict[str, list[int]]]:
    """Render ``date`` with a CLDR ``pattern`` and return the text and the span of each field in it."""
    from babel import Locale
    from babel.dates import DateTimeFormat, tokenize_pattern

    formatter = DateTimeFormat(date, Locale.parse(locale_name))
    parts: list[str] = []
    fields: dict[str, list[int]] = {}
    pos = 0
    for kind, value in tokenize_pattern(pattern):
        if kind == "field":
            char, count = value
            piece = formatter[char * count]
            role = _FIELD_ROLE.get(char)
            if role is not None:
                fields[role] = [pos, pos + len(piece)]
        else:
            piece = value
        parts.append(piece)
        pos += len(piece)
    return "".join(parts), fields


def iso_alignment(fields: dict[str, list[int]]) -> list[list[int] | None]:
    """Per character of an ISO date ``YYYY-MM-DD``: the source span it comes from, or None."""
    return [None if role is None else list(fields[role]) for role in _ISO_SOURCE]


def alignment_links(meta: dict) -> set[tuple[int, int]]:
    """Gold alignment as (target char index, source char index) pairs: every target character is linked
    to every character of its source field; separators have no links."""
    links = set()
    for t, span in enumerate(meta["alignment"]):
        if span is not None:
            links.update((t, s) for s in range(span[0], span[1]))
    return links


def dates(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    lang: str | None = None,
    styles: tuple[str, ...] = STYLES,
    years=(1900, 2099),
) -> list[Example]:
    """Dates written in en/fr/de/zh -> ISO 8601 ``YYYY-MM-DD``.

    Args:
        lang: ``"en"``, ``"fr"``, ``"de"``, ``"zh"`` or None for all four (locale drawn per example).
        styles: CLDR pattern lengths to draw from (``full`` has the weekday).
        years: inclusive ``(first, last)`` year range, dates uniform in it.
    """
    check_int("n", n, 0)
    langs = tuple(LOCALES) if lang is None else (check_choice("lang", lang, tuple(LOCALES)),)
    if isinstance(styles, str):
        styles = (styles,)
    for style in styles:
        check_choice("styles", style, STYLES)
    y0, y1 = check_range("years", years, 1)
    if y1 > 9999:
        raise ValueError(f"years must lie in [1, 9999], got {years!r}")
    choices = [(loc, p) for lg in langs for loc in LOCALES[lg] for p in _patterns(loc, tuple(styles))]
    if not choices:
        raise ValueError(f"styles {styles!r} leave no pattern with a four-digit year")
    first = dt.date(y0, 1, 1).toordinal()
    last = dt.date(y1, 12, 31).toordinal()
    rng = task_rng(seed, split)
    out = []
    for _ in range(n):
        locale_name, pattern = choices[rng.randrange(len(choices))]
        date = dt.date.fromordinal(rng.randint(first, last))
        src, fields = render(date, locale_name, pattern)
        tgt = date.isoformat()
        meta = {
            "task": "dates",
            "locale": locale_name,
            "lang": locale_name.split("_")[0],
            "pattern": pattern,
            "date": tgt,
            "fields": fields,
            "alignment": iso_alignment(fields),
        }
        out.append(Example(src, tgt, meta))
    return out
