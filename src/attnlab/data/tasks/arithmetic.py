"""Multi-digit addition, with or without a chain-of-thought scratchpad (for language-model experiments).

``src`` is ``"a+b="``. Without a scratchpad ``tgt`` is the sum. With one, ``tgt`` first works the column
additions from the least significant digit, then gives the sum after ``" | "``::

    src: "457+68="
    tgt: "7+8+0=15 c1, 5+6+1=12 c1, 4+0+1=5 c0 | 525"

Each step is ``x+y+carry_in=column_sum c<carry_out>``; missing digits of the shorter operand are 0. The
final answer is always the text after the last ``" | "``, so ``tgt.split(" | ")[-1]`` recovers it.
"""

from __future__ import annotations

from ..base import Example, check_int, check_range, task_rng


def scratchpad(a: int, b: int) -> str:
    """The column-by-column working of ``a + b`` followed by ``" | "`` and the sum."""
    width = max(len(str(a)), len(str(b)))
    xs, ys = str(a).zfill(width)[::-1], str(b).zfill(width)[::-1]
    steps, carry = [], 0
    for x, y in zip(xs, ys):
        total = int(x) + int(y) + carry
        steps.append(f"{x}+{y}+{carry}={total} c{total // 10}")
        carry = total // 10
    return ", ".join(steps) + f" | {a + b}"


def addition(
    n: int, *, seed: int = 0, split: str = "train", digits=(1, 5), scratchpad_steps: bool = False
) -> list[Example]:
    """``"a+b="`` -> the sum (``scratchpad_steps=True``: the working, then the sum).

    Args:
        digits: digit count of each operand (an int or inclusive range), drawn independently per operand.
        scratchpad_steps: whether the target shows the column-by-column working.
    """
    check_int("n", n, 0)
    lo, hi = check_range("digits", digits, 1)
    rng = task_rng(seed, split)
    out = []
    for _ in range(n):
        a, b = (_operand(rng, rng.randint(lo, hi)) for _ in range(2))
        tgt = scratchpad(a, b) if scratchpad_steps else str(a + b)
        meta = {"task": "addition-scratchpad" if scratchpad_steps else "addition", "a": a, "b": b}
        out.append(Example(f"{a}+{b}=", tgt, meta))
    return out


def addition_scratchpad(n: int, *, seed: int = 0, split: str = "train", digits=(1, 5)) -> list[Example]:
    """Addition whose target carries a scratchpad; see :func:`addition`."""
    return addition(n, seed=seed, split=split, digits=digits, scratchpad_steps=True)


def _operand(rng, digits: int) -> int:
    return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1)
