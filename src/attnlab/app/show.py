"""``attnlab show MODEL "text"``: one attention map as a PNG heatmap and a compact terminal view.

The terminal view lists, for each query token, the three keys it attends to most with their weights
``α_ij`` (a row of ``softmax(q_i Kᵀ/√d)``, or of Bahdanau's additive scores for RNN models) and, when
the map is small enough, a grid of unicode shades (darker = more weight, scaled per map). The PNG is
drawn by :func:`attnlab.interpret.plot_attention` with a CJK font, so Chinese tokens render.
"""

from __future__ import annotations

import argparse
import unicodedata
from pathlib import Path

from torch import Tensor

from .inspect import Inspection, inspect_text

SHADES = " ░▒▓█"
# The map the output is read through comes first: cross-attention for seq2seq, the pooling
# distribution for classifiers (the answer is computed from sum_t alpha_t h_t), then self-attention.
PREFERRED_KINDS = ("cross", "pooling", "encoder", "decoder")
GRID_MAX_KEYS = 48


def default_kind(inspection: Inspection) -> str:
    """The map that explains the output: cross-attention for seq2seq, the pooling distribution for
    classifiers, else encoder or decoder self-attention."""
    for kind in PREFERRED_KINDS:
        if kind in inspection.attentions:
            return kind
    raise ValueError(f"model: {inspection.model} returns no attention weights (an RNN without attention?)")


def describe(inspection: Inspection, kind: str, layer: int | None, head: int | None) -> str:
    """A one-line title: which map, layer and head."""
    layers, heads = inspection.attentions[kind].shape[:2]
    li = layers - 1 if layer is None else layer % layers
    which = f"mean of {heads} heads" if head is None else f"head {head % heads}"
    return f"{inspection.model}: {kind} attention, layer {li} of 0..{layers - 1}, {which}"


def _width(text: str) -> int:
    """Terminal columns of ``text``: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def top_keys(weights: Tensor, queries: list[str], keys: list[str], k: int = 3) -> list[str]:
    """For each query row, its ``k`` most attended keys: ``query -> key weight · key weight ...``."""
    width = max(map(_width, queries))
    lines = []
    for q, row in zip(queries, weights):
        top = row.topk(min(k, row.numel()))
        ranked = "  ".join(f"{keys[j]} {w:.2f}" for w, j in zip(top.values.tolist(), top.indices.tolist()))
        lines.append(f"  {_pad(q, width)} -> {ranked}")
    return lines


def shade_grid(weights: Tensor, queries: list[str], keys: list[str]) -> list[str]:
    """Rows of unicode shades, one cell per key (darkest = the map's largest weight); cells are two
    columns wide when a key's first character is (so Chinese headers line up)."""
    top = float(weights.max()) or 1.0
    levels = (weights / top * (len(SHADES) - 1)).round().long().clamp(0, len(SHADES) - 1)
    cell = max(_width(k[:1]) for k in keys)
    width = max(map(_width, queries))
    lines = [f"  {_pad('', width)}  " + "".join(_pad(k[:1], cell) for k in keys)]
    for q, row in zip(queries, levels.tolist()):
        lines.append(f"  {_pad(q, width)}  " + "".join(SHADES[i] * cell for i in row))
    return lines


def render(inspection: Inspection, kind: str, layer: int | None = None, head: int | None = None) -> str:
    """The terminal view of one map: title, output, top-3 keys per query, shade grid when small."""
    weights = inspection.weights(kind, layer, head)  # (Lq, Lk)
    queries, keys = inspection.axes[kind]
    lines = [describe(inspection, kind, layer, head), f"output: {inspection.output}"]
    lines += ["top-3 attended keys per query (weight):", *top_keys(weights, queries, keys)]
    if len(keys) <= GRID_MAX_KEYS:
        lines += ["shades (darker = more weight):", *shade_grid(weights, queries, keys)]
    return "\n".join(lines)


def show(
    model: str | Path,
    text: str,
    *,
    layer: int | None = None,
    head: int | None = None,
    kind: str | None = None,
    out: str | Path = "attnlab-out/show.png",
    max_tokens: int = 128,
    models_dir: str | Path | None = None,
) -> tuple[Inspection, str, str]:
    """Inspect ``text`` with ``model``, write the heatmap to ``out``; returns
    ``(inspection, terminal text, png path)``."""
    from attnlab.interpret import plot_attention

    if str(out).lower().rsplit(".", 1)[-1] != "png":
        raise ValueError(f"out: expected a .png file name, got {str(out)!r}")
    inspection = inspect_text(model, text, max_tokens, models_dir=models_dir)
    kind = kind or default_kind(inspection)
    weights = inspection.weights(kind, layer, head)  # validates kind, layer and head
    queries, keys = inspection.axes[kind]
    title = describe(inspection, kind, layer, head)
    path = plot_attention(weights, queries, keys, out, title=title)
    return inspection, render(inspection, kind, layer, head), path


def run(args: argparse.Namespace) -> int:
    """``attnlab show``: print the terminal view and where the PNG went."""
    if args.models is not None and not Path(args.models).is_dir():
        raise ValueError(f"--models: {args.models} is not a folder")
    _, text, path = show(
        args.model,
        args.text,
        layer=args.layer,
        head=args.head,
        kind=args.kind,
        out=args.out,
        max_tokens=args.max_tokens,
        models_dir=args.models,
    )
    print(text)
    print(f"heatmap: {path}")
    return 0
