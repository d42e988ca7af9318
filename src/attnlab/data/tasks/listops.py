"""Mini-ListOps, with the grammar and sampling of the Long Range Arena generator (Tay et al., 2021).

An expression is a digit 0-9 or ``[OP arg arg ... ]`` with 2..``max_args`` arguments, written as
space-separated tokens, e.g. ``[MAX 2 9 [MIN 4 7 ] 0 ]`` -> 9. Operators:

* ``MIN``, ``MAX``: minimum / maximum of the arguments;
* ``MED``: ``int(numpy.median(args))`` exactly as LRA computes it, i.e. the median, averaged over the two
  middle values for an even count and then truncated: ``[MED 1 4 ]`` -> 2 (not the lower median 1);
* ``SM``: sum modulo 10.

Sampling follows LRA: a node is an operator with probability 0.25, otherwise a digit, and always a
digit once operators would nest deeper than ``max_depth``; trees are redrawn until their token count lies
in ``[min_length, max_length]``. Two differences, both for clarity: the root is always an operator (LRA
gets that implicitly from its long minimum length), and ``max_depth`` counts operator nesting, so LRA's
``max_depth=10`` (where a node at depth 10 is always a digit) is ``max_depth=9`` here.
"""

from __future__ import annotations

import statistics

from ..base import Example, check_int, task_rng

OPERATORS = ("MIN", "MAX", "MED", "SM")
_OPERATOR_P = 0.25
_MAX_TRIES = 100_000


def apply(op: str, args: list[int]) -> int:
    """Value of one operator on evaluated arguments."""
    if op == "MIN":
        return min(args)
    if op == "MAX":
        return max(args)
    if op == "MED":
        return int(statistics.median(args))
    if op == "SM":
        return sum(args) % 10
    raise ValueError(f"unknown ListOps operator {op!r}; expected one of {OPERATORS}")


def _tree(rng, depth: int, max_depth: int, max_args: int, force_op: bool = False):
    """A nested (op, [children]) tree or a digit, plus its token count and depth."""
    if not force_op and (depth > max_depth or rng.random() > _OPERATOR_P):
        return rng.randrange(10), 1, 0
    children, length, sub_depth = [], 2, 0
    for _ in range(rng.randint(2, max_args)):
        child, child_len, child_depth = _tree(rng, depth + 1, max_depth, max_args)
        children.append(child)
        length += child_len
        sub_depth = max(sub_depth, child_depth)
    return (rng.choice(OPERATORS), children), length, sub_depth + 1


def _tokens(tree) -> list[str]:
    if isinstance(tree, int):
        return [str(tree)]
    op, children = tree
    out = [f"[{op}"]
    for child in children:
        out += _tokens(child)
    return out + ["]"]


def _value(tree) -> int:
    if isinstance(tree, int):
        return tree
    op, children = tree
    return apply(op, [_value(c) for c in children])


def listops(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    max_depth: int = 4,
    max_args: int = 5,
    min_length: int = 10,
    max_length: int = 100,
) -> list[Example]:
    """Nested MIN/MAX/MED/SM expressions over digits -> their value (an int 0-9).

    Args:
        max_depth: maximum operator nesting (LRA's setting corresponds to 9).
        max_args: maximum arguments per operator, at least 2 (LRA uses 10).
        min_length, max_length: inclusive bounds on the number of tokens (LRA uses 500-2000).

    ``src`` is the space-separated expression, ``tgt`` its value; ``meta`` holds ``length`` (tokens) and
    ``depth`` (operator nesting).
    """
    check_int("n", n, 0)
    check_int("max_depth", max_depth, 1)
    check_int("max_args", max_args, 2)
    check_int("min_length", min_length, 1)
    check_int("max_length", max_length, min_length)
    longest = 1
    for _ in range(max_depth):
        longest = 2 + max_args * longest
    if min_length > longest:
        raise ValueError(
            f"min_length={min_length} is unreachable: max_depth={max_depth}, max_args={max_args} allow at "
            f"most {longest} tokens"
        )
    rng = task_rng(seed, split)
    out = []
    for _ in range(n):
        for _ in range(_MAX_TRIES):
            tree, length, depth = _tree(rng, 1, max_depth, max_args, force_op=True)
            if min_length <= length <= max_length:
                break
        else:
            raise ValueError(
                f"no ListOps tree with {min_length} <= length <= {max_length} tokens found in {_MAX_TRIES} "
                f"draws at max_depth={max_depth}, max_args={max_args}: widen the length range or raise them"
            )
        meta = {"task": "listops", "length": length, "depth": depth}
        out.append(Example(" ".join(_tokens(tree)), _value(tree), meta))
    return out
