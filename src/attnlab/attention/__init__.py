"""The attention engine: ``attend`` with masks, score mods, position encodings and backends.

from attnlab.attention import attend, masks, mods, positions
out = attend(q, k, v, mask=masks.causal() & masks.padding(lengths), score_mod=mods.alibi(8))
"""

from . import backends, masks, mods, normalizers, positions
from .api import attend, choose_backend
from .masks import Mask
from .mods import ScoreMod
from .request import BACKENDS, Backend, Request, expand_kv, register_backend

__all__ = [
    "BACKENDS",
    "Backend",
    "Mask",
    "Request",
    "ScoreMod",
    "attend",
    "backends",
    "choose_backend",
    "expand_kv",
    "masks",
    "mods",
    "normalizers",
    "positions",
    "register_backend",
]
