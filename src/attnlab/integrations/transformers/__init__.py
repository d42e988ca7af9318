"""Hugging Face ``transformers`` models with every attention layer computed by attnlab's engine.

    import attnlab.integrations.transformers as hf
    hf.register()                                     # "attnlab" and "attnlab-<backend>"
    model = AutoModel.from_pretrained(folder, attn_implementation="attnlab")

:func:`register` adds attnlab to transformers' two registries, keyed by the same name: the attention
function (``AttentionInterface``; :mod:`.attention`) and the mask function (``AttentionMaskInterface``;
:mod:`.masks`) that builds the mask the attention function receives. Registering only the first is
not enough: without a mask function of the same name transformers hands the attention function
``attention_mask=None``, so a padded batch attends to its padding.

Names registered by ``register()``: ``"attnlab"`` (``backend="auto"``) and ``"attnlab-<name>"`` for every
exact backend (``attnlab-reference``, ``attnlab-sdpa``, ``attnlab-chunked``, ``attnlab-flex``).
``register(name, backend=..., mask=..., score_mod=...)`` adds a variant of one's own, e.g. a causal
window of 256 keys on top of a model's own mask with the memory-linear tiled backend:

    hf.register("attnlab-local", backend="chunked", mask=masks.sliding_window(255, causal=True))

transformers is an optional dependency (the extra ``attnlab[hf]``, ``transformers>=5,<6``); it is
imported on first use, and a missing or wrong version raises :class:`ImportError` saying what to
install.
"""

from __future__ import annotations

from attnlab.attention import BACKENDS, Backend, Mask, ScoreMod

from .attention import Variant, make_attention
from .masks import hf_mask

EXTRA = "attnlab[hf]"
INSTALL = "pip install 'attnlab[hf]'  (transformers>=5,<6)"
SUPPORTED_MAJOR = 5
DEFAULT_NAME = "attnlab"

VARIANTS: dict[str, Variant] = {}  # what this process registered with transformers, by name


def require_transformers():
    """The ``transformers`` module, or an ImportError naming the extra to install."""
    try:
        import transformers
    except ImportError as e:
        raise ImportError(
            f"Hugging Face support needs the optional dependency transformers: {INSTALL}"
        ) from e
    major = int(str(transformers.__version__).split(".")[0])
    if major != SUPPORTED_MAJOR:
        raise ImportError(
            f"Hugging Face support is tested with transformers {SUPPORTED_MAJOR}.x, found "
            f"{transformers.__version__}: {INSTALL}"
        )
    return transformers


def _check_variant(name: str, backend, mask, score_mod) -> None:
    if not isinstance(name, str) or not name.startswith(DEFAULT_NAME):
        raise ValueError(f"name: expected a name starting with {DEFAULT_NAME!r}, got {name!r}")
    if not isinstance(backend, Backend) and backend != "auto" and backend not in BACKENDS:
        raise ValueError(f"backend: expected 'auto', a Backend or one of {sorted(BACKENDS)}, got {backend!r}")
    if mask is not None and not isinstance(mask, Mask):
        raise ValueError(f"mask: expected an attnlab Mask or None, got {type(mask).__name__}")
    if score_mod is not None and not isinstance(score_mod, ScoreMod):
        raise ValueError(f"score_mod: expected an attnlab ScoreMod or None, got {type(score_mod).__name__}")


def register(
    name: str | None = None,
    *,
    backend: str | Backend = "auto",
    mask: Mask | None = None,
    score_mod: ScoreMod | None = None,
) -> list[str]:
    """Register attnlab with transformers' attention and mask interfaces; returns the names added.

    Args:
        name: None registers ``"attnlab"`` and ``"attnlab-<backend>"`` for every exact backend (the
            other arguments must then be left at their defaults); a name starting with ``"attnlab"``
            registers one variant under it.
        backend: ``"auto"``, a backend name (``attnlab list``) or a :class:`Backend`.
        mask: an attnlab mask ANDed with every layer's own mask (e.g. a sliding window).
        score_mod: an attnlab score mod applied to every layer's scores (after the model's own).

    Raises:
        ImportError: transformers is missing or not 5.x (the message names the extra).
        ValueError: a bad argument, named.
    """
    transformers = require_transformers()
    if name is None:
        if backend != "auto" or mask is not None or score_mod is not None:
            raise ValueError("name: give a name for a variant with its own backend, mask or score_mod")
        exact = [b for b, spec in BACKENDS.items() if spec.exact]
        variants = [Variant(DEFAULT_NAME)] + [Variant(f"{DEFAULT_NAME}-{b}", b) for b in exact]
    else:
        _check_variant(name, backend, mask, score_mod)
        variants = [Variant(name, backend, mask, score_mod)]
    for variant in variants:
        transformers.AttentionInterface.register(variant.name, make_attention(variant))
        transformers.AttentionMaskInterface.register(variant.name, hf_mask)
        VARIANTS[variant.name] = variant
    return [v.name for v in variants]


__all__ = ["EXTRA", "INSTALL", "VARIANTS", "Variant", "register", "require_transformers"]
