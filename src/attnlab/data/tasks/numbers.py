"""Numbers: Chinese numerals <-> Arabic digits (via cn2an) and English number words -> digits."""

from __future__ import annotations

from ..base import Example, check_choice, check_int, task_rng

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["-", "-", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand")]


def _below_thousand(n: int, use_and: bool) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [_ONES[hundreds], "hundred"]
        if rest and use_and:
            words.append("and")
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest:
        words.append(_ONES[rest])
    return words


def english_words(n: int, *, use_and: bool = False) -> str:
    """Spell a non-negative integer below 10**15 in English (short scale), e.g. 123 -> "one hundred
    twenty-three" (``use_and=True`` -> "one hundred and twenty-three", the British form)."""
    check_int("n", n, 0, 10**15 - 1)
    if n == 0:
        return "zero"
    words: list[str] = []
    for value, name in _SCALES:
        count, n = divmod(n, value)
        if count:
            words += _below_thousand(count, use_and) + [name]
    words += _below_thousand(n, use_and)
    return " ".join(words)


def _draw(rng, max_value: int) -> int:
    # Uniform over the number of digits first, so small and large numbers are both common.
    digits = rng.randint(1, len(str(max_value)))
    return rng.randint(0 if digits == 1 else 10 ** (digits - 1), min(max_value, 10**digits - 1))


def numbers_zh(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    max_value: int = 10**8,
    style: str = "low",
    direction: str = "zh2an",
) -> list[Example]:
    """Chinese numerals <-> Arabic digits, e.g. "一万零一" -> "10001".

    Args:
        max_value: largest number (at most 10**12 - 1, the range cn2an writes with 亿).
        style: ``"low"`` (小写: 一百二十三), ``"up"`` (大写, financial: 壹佰贰拾叁) or ``"mixed"``.
        direction: ``"zh2an"`` (numeral -> digits) or ``"an2zh"`` (digits -> numeral).
    """
    import cn2an

    check_int("n", n, 0)
    check_int("max_value", max_value, 0, 10**12 - 1)
    check_choice("style", style, ("low", "up", "mixed"))
    check_choice("direction", direction, ("zh2an", "an2zh"))
    rng = task_rng(seed, split)
    out = []
    for _ in range(n):
        value = _draw(rng, max_value)
        s = style if style != "mixed" else rng.choice(("low", "up"))
        numeral = cn2an.an2cn(value, s)
        src, tgt = (numeral, str(value)) if direction == "zh2an" else (str(value), numeral)
        out.append(Example(src, tgt, {"task": "numbers-zh", "value": value, "style": s}))
    return out


def numbers_en(
    n: int, *, seed: int = 0, split: str = "train", max_value: int = 10**9, use_and: str = "never"
) -> list[Example]:
    """English number words -> digits, e.g. "one hundred twenty-three" -> "123".

    Args:
        max_value: largest number (below 10**15).
        use_and: ``"never"`` (American), ``"always"`` (British "one hundred and five") or ``"mixed"``.
    """
    check_int("n", n, 0)
    check_int("max_value", max_value, 0, 10**15 - 1)
    check_choice("use_and", use_and, ("never", "always", "mixed"))
    rng = task_rng(seed, split)
    out = []
    for _ in range(n):
        value = _draw(rng, max_value)
        flag = use_and == "always" or (use_and == "mixed" and rng.random() < 0.5)
        out.append(
            Example(english_words(value, use_and=flag), str(value), {"task": "numbers-en", "value": value})
        )
    return out
