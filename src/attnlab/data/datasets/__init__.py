"""Real data shipped by installable packages (optional; each loader says how to install what is missing).

Every loader module has ``available(path=None) -> (bool, message)``, ``load(split, *, path=None, seed=0,
limit=None, cache=True)`` and ``examples(n, *, seed=0, split="train", path=None) -> list[Example]``.
Splits are deterministic per seed; ``limit`` keeps the first ``limit`` examples of the split.
"""
