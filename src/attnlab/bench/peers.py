"""Other projects' implementations of the same attention, timed beside attnlab's when installed.

The optional extra ``peers`` (``pip install attnlab[peers]``) brings lucidrains' ``local-attention``
(sliding windows in look-back blocks; with ``exact_windowsize=True`` its causal window equals
``masks.sliding_window(w, causal=True)``) and ``performer-pytorch`` (FAVOR+). A peer that is not
installed is simply absent from the benchmark.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable


def peer_cases(window: int) -> dict[str, tuple[str, Callable]]:
    """Benchmark cases of the installed peers: name -> (description, function(q, k, v) -> out)."""
    cases: dict[str, tuple[str, Callable]] = {}
    try:
        from local_attention import LocalAttention
    except ImportError:
        pass
    else:
        local = LocalAttention(
            window_size=window, causal=True, look_backward=1, exact_windowsize=True, autopad=True
        )
        cases["peer-local-attention"] = (
            f"lucidrains local-attention, causal window {window} (exact_windowsize)",
            lambda q, k, v: local(q, k, v),
        )
    try:
        with warnings.catch_warnings():  # it compares torch versions with distutils' LooseVersion
            warnings.simplefilter("ignore", DeprecationWarning)
            from performer_pytorch import FastAttention
    except ImportError:
        pass
    else:
        made: dict[int, Callable] = {}

        def performer(q, k, v):
            if q.shape[-1] not in made:  # features drawn once per head size, like attnlab's default
                made[q.shape[-1]] = FastAttention(dim_heads=q.shape[-1], nb_features=256, causal=False)
            return made[q.shape[-1]](q, k, v)

        cases["peer-performer"] = ("lucidrains performer-pytorch FastAttention, 256 features", performer)
    return cases


# (attnlab case, peer case) pairs compared at the same settings
PAIRS = [("local-causal", "peer-local-attention"), ("performer", "peer-performer")]
