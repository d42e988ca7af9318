"""``attnlab list``: the attention backends, masks, score mods, position encodings, normalizers, models."""

from __future__ import annotations

import argparse
import re
import textwrap

# A sentence ends at ". " unless the dot closes an abbreviation ("et al.", "e.g.", "i.e.", "vs.").
_SENTENCE_END = re.compile(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)\.\s")


def _first_sentence(obj) -> str:
    """The first sentence of ``obj``'s docstring, whole (it may span several source lines)."""
    paragraph = " ".join((obj.__doc__ or "").strip().split("\n\n")[0].split())
    end = _SENTENCE_END.search(paragraph)
    return paragraph[: end.start() + 1] if end else paragraph


def _entry(name: str, text: str, width: int) -> str:
    """``name`` then ``text`` wrapped at 110 columns, continuation lines under the text."""
    indent = " " * (2 + width + 1)
    return textwrap.fill(text, 110, initial_indent=f"  {name:<{width}} ", subsequent_indent=indent)


def _print_backends() -> None:
    import torch

    from attnlab.attention import BACKENDS
    from attnlab.attention.backends.flex import available as flex_available

    print("Attention backends (attend(..., backend=NAME)):")
    for name, spec in BACKENDS.items():
        status = ""
        if name == "flex":
            reason = flex_available(torch.device("cpu"))
            status = " [unavailable: " + reason + "]" if reason else " [CPU: inference only]"
        exact = "exact" if spec.exact else "approximate"
        print(f"  {name:<12} {exact:<11} {spec.description}{status}")
    print("  auto         picks the fastest exact backend that supports the request")


def run(args: argparse.Namespace) -> int:
    """Print every registry of the engine and the model families ``attnlab train`` takes."""
    from attnlab.attention import masks, mods, normalizers, positions
    from attnlab.models import list_models

    from .recipes import FAMILIES

    _print_backends()
    sections = [
        ("Masks (attnlab.attention.masks)", masks.ALL_MASKS),
        ("Score mods (attnlab.attention.mods)", mods.ALL_MODS),
        ("Position encodings (attnlab.attention.positions)", positions.ALL_POSITIONS),
        ("Normalizers (attnlab.attention.normalizers)", normalizers.ALL_NORMALIZERS),
    ]
    for title, table in sections:
        print(f"\n{title}:")
        for name, obj in table.items():
            print(_entry(name, _first_sentence(obj), 15))
    print(f"\nModels (attnlab.models.create_model(NAME); `attnlab train` takes {', '.join(FAMILIES)}):")
    for name, text in list_models().items():
        print(f"  {name:<23} {text}")
    print("\nTasks and datasets: attnlab data list")
    return 0
