"""A short tour of the engine: every backend on a few requests, and the course's sentence as a heatmap.

``attnlab demo`` runs this. It measures (never quotes) the time of each backend and its largest
difference from the float64 oracle, then draws the attention of the coffee-shop sentence.
"""

from __future__ import annotations

import os

import torch

from attnlab.attention import attend, masks, mods
from attnlab.bench.timing import time_ms
from attnlab.interpret import plot_attention

SENTENCE = "我昨天去了一家咖啡店，点了一杯拿铁……然后我从咖啡店出来，回家了"


def _requests(n: int, heads: int):
    return [
        ("dense", {}),
        ("causal", {"mask": masks.causal()}),
        ("sliding window 64", {"mask": masks.sliding_window(64)}),
        ("causal + ALiBi", {"mask": masks.causal(), "score_mod": mods.alibi(heads)}),
        (
            "document + softcap",
            {"mask": masks.document(torch.arange(n) // (n // 4)), "score_mod": mods.softcap(20.0)},
        ),
    ]


def engine_table(n: int = 2048, heads: int = 8, dim: int = 64, check_n: int = 97) -> list[dict]:
    """Time every exact backend on a few requests and compare it with the oracle on a small case."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, heads, n, dim) for _ in range(3))
    qs, ks, vs = (t[:, :, :check_n].double() for t in (q, k, v))
    rows = []
    for label, kw in _requests(n, heads):
        small_kw = dict(kw)
        if label.startswith("document"):
            small_kw["mask"] = masks.document(torch.arange(check_n) // 25)
        ref = attend(qs, ks, vs, backend="reference", **small_kw)
        for backend in ("auto", "sdpa", "chunked", "reference"):
            try:
                ms = time_ms(lambda backend=backend, kw=kw: attend(q, k, v, backend=backend, **kw), repeats=3)
                err = (attend(qs, ks, vs, backend=backend, **small_kw) - ref).abs().max().item()
            except ValueError as e:
                rows.append({"request": label, "backend": backend, "ms": None, "err": None, "note": str(e)})
                continue
            rows.append({"request": label, "backend": backend, "ms": ms, "err": err, "note": ""})
    return rows


def coffee_shop_heatmap(path: str, dim: int = 32, seed: int = 0) -> str:
    """Dot-product self-attention over the course's sentence with random character embeddings.

    With Q = K = V = the embeddings and no trained weights, the only structure is identity: a
    character attends most to itself and to its repeats, so the second 咖啡店 finds the first.
    """
    chars = list(SENTENCE)
    vocab = {c: i for i, c in enumerate(dict.fromkeys(chars))}
    gen = torch.Generator().manual_seed(seed)
    table = torch.randn(len(vocab), dim, generator=gen)
    x = table[torch.tensor([vocab[c] for c in chars])][None, None]  # (1, 1, L, dim)
    _, weights = attend(x, x, x, return_weights=True)
    first = SENTENCE.index("咖啡店")
    home = SENTENCE.index("回家")
    return plot_attention(
        weights[0, 0],
        chars,
        chars,
        path,
        title="Self-attention, random embeddings (Q = K = V): repeats align",
        highlight=[first, first + 1, first + 2, home, home + 1],
    )


def run(out_dir: str = "attnlab-report") -> int:
    os.makedirs(out_dir, exist_ok=True)
    print(
        "attnlab engine tour: N=2048, B=1, H=8, d=64, float32, median of 3 runs; "
        "error = max |backend - float64 oracle| at N=97\n"
    )
    print(f"{'request':<20} {'backend':<10} {'ms':>9} {'max error':>10}  note")
    for row in engine_table():
        ms = f"{row['ms']:.1f}" if row["ms"] is not None else "-"
        err = f"{row['err']:.1e}" if row["err"] is not None else "-"
        print(f"{row['request']:<20} {row['backend']:<10} {ms:>9} {err:>10}  {row['note'][:70]}")
    path = coffee_shop_heatmap(os.path.join(out_dir, "coffee-shop-attention.png"))
    print(f"\nheatmap of 「{SENTENCE}」 written to {path}")
    return 0
