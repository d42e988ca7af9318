"""Generated tasks: deterministic by seed, any size, nothing downloaded.

Each public generator has the signature ``fn(n, *, seed=0, split="train", **params) -> list[Example]``;
the same arguments always give the same examples, and the first ``k`` examples of a call with ``n > k``
equal a call with ``n = k``.
"""
