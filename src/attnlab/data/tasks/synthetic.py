"""Long-range probes over symbol ids: copy, reverse, sort, associative recall, copy-memory, adding.

Symbols are plain ints ``offset .. offset + vocab_size - 1`` so a model can reserve ids below ``offset``
for its own special tokens. Each probe exposes the dependency distance it tests as a parameter.
"""

from __future__ import annotations

from ..base import Example, check_int, check_range, task_rng


def _symbols(rng, length: int, vocab_size: int, offset: int) -> list[int]:
    return [offset + rng.randrange(vocab_size) for _ in range(length)]


def _check_common(n: int, vocab_size: int, offset: int) -> None:
    check_int("n", n, 0)
    check_int("vocab_size", vocab_size, 1)
    check_int("offset", offset, 0)


def _transform_task(name, transform, n, seed, split, length, vocab_size, offset) -> list[Example]:
    """Random symbol sequences and ``transform(src)`` as the target (copy, reverse and sort)."""
    _check_common(n, vocab_size, offset)
    lo, hi = check_range("length", length, 1)
    rng = task_rng(seed, split)
    out = []
    for _ in range(n):
        src = _symbols(rng, rng.randint(lo, hi), vocab_size, offset)
        out.append(Example(src, transform(src), {"task": name, "length": len(src)}))
    return out


def copy(
    n: int, *, seed: int = 0, split: str = "train", length=(5, 20), vocab_size: int = 10, offset: int = 0
) -> list[Example]:
    """Copy: the target equals the input. The distance from an input symbol to its copy is ``length``."""
    return _transform_task("copy", list, n, seed, split, length, vocab_size, offset)


def reverse(
    n: int, *, seed: int = 0, split: str = "train", length=(5, 20), vocab_size: int = 10, offset: int = 0
) -> list[Example]:
    """Reverse: the target is the input backwards (output ``i`` depends on input ``L - 1 - i``)."""
    return _transform_task("reverse", lambda s: s[::-1], n, seed, split, length, vocab_size, offset)


def sort(
    n: int, *, seed: int = 0, split: str = "train", length=(5, 20), vocab_size: int = 10, offset: int = 0
) -> list[Example]:
    """Sort: the target is the input in ascending order (every output may depend on every input)."""
    return _transform_task("sort", sorted, n, seed, split, length, vocab_size, offset)


def recall(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    n_pairs: int = 8,
    n_keys: int = 16,
    n_values: int = 16,
    distance: int | None = None,
    offset: int = 0,
) -> list[Example]:
    """Associative recall: ``k1 v1 k2 v2 ... kN vN q`` -> the value stored with key ``q``.

    Keys are ids ``offset .. offset + n_keys - 1`` (distinct within an example), values the next
    ``n_values`` ids. ``distance`` is the number of key-value pairs between the queried pair and the
    query (0 = the last pair; None = uniform). ``meta`` records ``key_pos``, ``value_pos`` and
    ``distance_tokens`` (query position minus value position).
    """
    check_int("n", n, 0)
    check_int("n_keys", n_keys, 1)
    check_int("n_values", n_values, 1)
    check_int("offset", offset, 0)
    check_int("n_pairs", n_pairs, 1, n_keys)
    if distance is not None:
        check_int("distance", distance, 0, n_pairs - 1)
    rng = task_rng(seed, split)
    out = []
    for _ in range(n):
        keys = rng.sample(range(n_keys), n_pairs)
        values = [rng.randrange(n_values) for _ in range(n_pairs)]
        gap = rng.randrange(n_pairs) if distance is None else distance
        j = n_pairs - 1 - gap
        src = []
        for k, v in zip(keys, values):
            src += [offset + k, offset + n_keys + v]
        src.append(offset + keys[j])
        meta = {
            "task": "recall",
            "key_pos": 2 * j,
            "value_pos": 2 * j + 1,
            "distance": gap,
            "distance_tokens": len(src) - 1 - (2 * j + 1),
            "vocab_size": offset + n_keys + n_values,
        }
        out.append(Example(src, [offset + n_keys + values[j]], meta))
    return out


def copy_memory(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    delay: int = 100,
    n_symbols: int = 10,
    n_categories: int = 8,
) -> list[Example]:
    """Copy-memory (Arjovsky et al., 2016): remember ``n_symbols`` symbols over ``delay`` blanks.

    Ids: 0 = blank, 1..n_categories = data symbols, n_categories + 1 = the delimiter. The input is the
    symbols, ``delay - 1`` blanks, the delimiter and ``n_symbols`` blanks; the target has the same length:
    blanks, then the symbols in order at the last ``n_symbols`` positions. Each symbol must be carried
    ``delay + n_symbols`` steps.
    """
    check_int("n", n, 0)
    check_int("delay", delay, 1)
    check_int("n_symbols", n_symbols, 1)
    check_int("n_categories", n_categories, 1)
    rng = task_rng(seed, split)
    delim = n_categories + 1
    out = []
    for _ in range(n):
        data = [1 + rng.randrange(n_categories) for _ in range(n_symbols)]
        src = data + [0] * (delay - 1) + [delim] + [0] * n_symbols
        tgt = [0] * (delay + n_symbols) + data
        meta = {"task": "copy-memory", "delay": delay, "delimiter": delim, "vocab_size": n_categories + 2}
        out.append(Example(src, tgt, meta))
    return out


def adding(
    n: int, *, seed: int = 0, split: str = "train", length: int = 100, distance: int | None = None
) -> list[Example]:
    """Adding problem (Hochreiter & Schmidhuber, 1997): sum the two marked numbers of a sequence.

    ``src`` is ``length`` rows ``[value, marker]`` with values uniform in [0, 1) and exactly two markers
    equal to 1; the target is the sum of the two marked values. By default one marker lies in each half;
    with ``distance`` the markers are exactly ``distance`` positions apart. ``meta["positions"]`` holds them.
    """
    check_int("n", n, 0)
    check_int("length", length, 2)
    if distance is not None:
        check_int("distance", distance, 1, length - 1)
    rng = task_rng(seed, split)
    out = []
    for _ in range(n):
        values = [rng.random() for _ in range(length)]
        if distance is None:
            half = length // 2
            i, j = rng.randrange(half), half + rng.randrange(length - half)
        else:
            i = rng.randrange(length - distance)
            j = i + distance
        src = [[v, 1.0 if t in (i, j) else 0.0] for t, v in enumerate(values)]
        meta = {"task": "adding", "positions": [i, j], "distance": j - i}
        out.append(Example(src, values[i] + values[j], meta))
    return out
