"""attnlab: every attention mechanism of the course, implemented once, checked, trained and shown.

The engine lives in :mod:`attnlab.attention`::

    from attnlab.attention import attend, masks, mods, positions
    out = attend(q, k, v, mask=masks.causal(), backend="auto")
"""

__version__ = "0.1.0"
