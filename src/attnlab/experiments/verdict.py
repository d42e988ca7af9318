"""Criteria and verdicts: one tested path from measured numbers to "reproduced or not".

An experiment measures; it never judges itself. It returns metrics for each seed, and its
``criteria(per_seed)`` function turns them into :class:`Criterion` objects built with
:func:`threshold` (a value against a fixed bound) or :func:`compare` (model A against model B). Each
criterion is data: the measured values per seed, the bound, the rule over seeds, whether it is
*primary* (the claim itself) or *secondary* (a side of it), and one sentence in English and Chinese
generated from those values. :func:`decide` gives the verdict:

- **yes**: every criterion passes;
- **partly**: every primary criterion passes and a secondary one fails;
- **no**: a primary criterion fails;
- **inconclusive**: the run could not judge (a primary could not be measured, e.g. the models did not
  learn the task the claim is about, or a timing experiment ran on a busy machine).

Rules over seeds (said in every criterion's sentence):

- ``"every"``: the condition holds for every seed;
- ``"mean"``: the condition holds for the mean over seeds (used for thresholds only);
- ``"spread"`` (comparisons): the mean gap exceeds the margin by more than the seeds' spread, the
  larger of the two sides' ranges (max - min over seeds). With one seed the spread is 0.

Ties never pass a comparison: "A beats B" needs a gap strictly above the margin.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

VERDICTS = ("yes", "partly", "no", "inconclusive")

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_SYMBOL = {">": ">", ">=": "≥", "<": "<", "<=": "≤"}
_RULES = ("every", "mean", "spread")


@dataclass
class Criterion:
    """One yes/no test of a claim on measured values (JSON-ready)."""

    name: str
    primary: bool
    passed: bool | None  # None: the run could not judge it
    measured: dict  # {"values": per seed, ...}; comparisons also hold "a", "b" and "gap"
    threshold: float | None
    comparison: str  # the rule in words, e.g. "every seed: value <= 1.2"
    en: str
    zh: str


def _finite(values: Sequence[float | None]) -> bool:
    return all(v is not None and math.isfinite(float(v)) for v in values)


def _values(name: str, values) -> list[float | None]:
    vals = list(values) if isinstance(values, (list, tuple)) else [values]
    if not vals:
        raise ValueError(f"criterion {name!r}: expected at least one measured value, got none")
    return [None if v is None else float(v) for v in vals]


def spread(values: Sequence[float]) -> float:
    """max - min over seeds (0 for one seed)."""
    return max(values) - min(values) if values else 0.0


def fmt_seeds(values: Sequence[float | None], fmt: str = ".3g") -> str:
    """``mean (min–max)`` over seeds, or the single value; ``n/a`` when something was not measured."""
    if not _finite(values):
        return "n/a"
    mean = sum(values) / len(values)
    if len(values) == 1 or spread(values) == 0:
        return format(mean, fmt)
    return f"{format(mean, fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def _check(name: str, op: str, rule: str, allowed: tuple[str, ...]) -> None:
    if op not in _OPS:
        raise ValueError(f"criterion {name!r}: op expected one of {list(_OPS)}, got {op!r}")
    if rule not in allowed:
        raise ValueError(f"criterion {name!r}: rule expected one of {list(allowed)}, got {rule!r}")


def _sentence(template: str, fields: dict, passed: bool | None, lang: str) -> str:
    mark = {True: ("passed", "通过"), False: ("failed", "未通过"), None: ("not judged", "无法判断")}[passed]
    text = template.format(**fields)
    return f"{text}: {mark[0]}." if lang == "en" else f"{text}：{mark[1]}。"


def threshold(
    name: str,
    values: float | Sequence[float | None],
    op: str,
    bound: float,
    *,
    en: str,
    zh: str,
    primary: bool = True,
    rule: str = "every",
    fmt: str = ".3g",
) -> Criterion:
    """``value op bound`` for every seed (``rule="every"``) or for the mean (``rule="mean"``).

    ``en``/``zh`` are templates: ``{value}`` is the measured mean (min–max), ``{bound}`` the bound and
    ``{rule}`` the rule in words, in the sentence's language.
    """
    _check(name, op, rule, ("every", "mean"))
    vals = _values(name, values)
    passed: bool | None = None
    if _finite(vals):
        mean = sum(vals) / len(vals)
        test = vals if rule == "every" else [mean]
        passed = all(_OPS[op](v, bound) for v in test)
    sym = _SYMBOL[op]
    words = {
        "en": f"{sym} {bound:{fmt}} for every seed" if rule == "every" else f"mean {sym} {bound:{fmt}}",
        "zh": f"每个种子都 {sym} {bound:{fmt}}" if rule == "every" else f"均值 {sym} {bound:{fmt}}",
    }
    value = fmt_seeds(vals, fmt)
    texts = {
        lang: _sentence(t, {"value": value, "bound": f"{bound:{fmt}}", "rule": words[lang]}, passed, lang)
        for lang, t in (("en", en), ("zh", zh))
    }
    return Criterion(
        name=name, primary=primary, passed=passed, measured={"values": vals}, threshold=bound,
        comparison=f"{rule}: value {op} {bound}", en=texts["en"], zh=texts["zh"],
    )  # fmt: skip


def compare(
    name: str,
    a: float | Sequence[float | None],
    b: float | Sequence[float | None],
    *,
    en: str,
    zh: str,
    op: str = ">",
    margin: float = 0.0,
    primary: bool = True,
    rule: str = "every",
    fmt: str = ".3g",
) -> Criterion:
    """A beats B: ``a - b > margin`` (``op=">"``) or ``b - a > margin`` (``op="<"``), seed by seed.

    ``rule="every"``: the gap exceeds the margin for every seed (seeds paired: same data, same
    initialisation seed); ``rule="spread"``: the mean gap exceeds the margin by more than the seeds'
    spread. Templates get ``{a}``, ``{b}``, ``{gap}`` (mean (min–max)), ``{margin}`` and ``{rule}``.
    """
    _check(name, op, rule, ("every", "spread"))
    if op not in (">", "<"):
        raise ValueError(f"criterion {name!r}: op expected '>' or '<' for a comparison, got {op!r}")
    av, bv = _values(name, a), _values(name, b)
    if len(av) != len(bv):
        raise ValueError(
            f"criterion {name!r}: a and b need one value per seed each, got {len(av)} and {len(bv)}"
        )
    passed: bool | None = None
    gaps: list[float | None] = [None] * len(av)
    if _finite(av) and _finite(bv):
        gaps = [(x - y) if op == ">" else (y - x) for x, y in zip(av, bv)]
        if rule == "every":
            passed = all(g > margin for g in gaps)
        else:
            passed = sum(gaps) / len(gaps) - margin > max(spread(av), spread(bv))
    more = {"en": "higher" if op == ">" else "lower", "zh": "高出" if op == ">" else "低"}
    by = {
        "en": f" by more than {margin:{fmt}}" if margin else "",
        "zh": f" {margin:{fmt}} 以上" if margin else "",
    }
    words = {
        ("every", "en"): f"{more['en']}{by['en']} on every seed",
        ("every", "zh"): f"每个种子上都{more['zh'] + by['zh'] if margin else '更' + more['zh'][0]}",
        ("spread", "en"): f"{more['en']} on average{by['en']}, beyond the seeds' spread",
        (
            "spread",
            "zh",
        ): f"平均{more['zh'] + by['zh'] if margin else '更' + more['zh'][0]}，且超出种子间的波动",
    }
    texts = {}
    for lang, template in (("en", en), ("zh", zh)):
        fields = {
            "a": fmt_seeds(av, fmt), "b": fmt_seeds(bv, fmt), "gap": fmt_seeds(gaps, fmt),
            "margin": f"{margin:{fmt}}", "rule": words[(rule, lang)],
        }  # fmt: skip
        texts[lang] = _sentence(template, fields, passed, lang)
    return Criterion(
        name=name, primary=primary, passed=passed, measured={"a": av, "b": bv, "gap": gaps},
        threshold=margin, comparison=f"{rule}: a {op} b by more than {margin}", en=texts["en"], zh=texts["zh"],
    )  # fmt: skip


def not_judged(name: str, *, en: str, zh: str, primary: bool = True) -> Criterion:
    """A criterion this run could not measure (says why); a primary one makes the verdict inconclusive."""
    return Criterion(name, primary, None, {}, None, "not judged", _sentence(en, {}, None, "en"),
                     _sentence(zh, {}, None, "zh"))  # fmt: skip


def decide(criteria: Sequence[Criterion], inconclusive: bool = False) -> str:
    """The verdict from the criteria (see the module docstring); ``inconclusive`` forces it."""
    primaries = [c for c in criteria if c.primary]
    if not primaries:
        raise ValueError("criteria: expected at least one primary criterion, got none")
    names = [c.name for c in criteria]
    if len(set(names)) != len(names):
        raise ValueError(f"criteria: names must be unique, got {names}")
    if inconclusive or any(c.passed is None for c in primaries):
        return "inconclusive"
    if not all(c.passed for c in primaries):
        return "no"
    if any(c.passed is False for c in criteria if not c.primary):
        return "partly"
    return "yes"


HEADLINE = {
    "yes": ("Reproduced: every criterion passes.", "已复现：所有判据均通过。"),
    "partly": (
        "Partly reproduced: every primary criterion passes, a secondary one fails.",
        "部分复现：主要判据全部通过，有次要判据未通过。",
    ),
    "no": ("Not reproduced: a primary criterion fails.", "未复现：有主要判据未通过。"),
    "inconclusive": (
        "Inconclusive: this run could not judge the claim.",
        "无法判断：本次运行不足以检验这一结论。",
    ),
}
