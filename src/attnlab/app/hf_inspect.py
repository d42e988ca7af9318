"""Local Hugging Face folders in ``attnlab show`` / ``serve``: every layer and head, through attnlab.

A folder with ``config.json`` + safetensors weights + tokenizer files is loaded by
:func:`attnlab.integrations.transformers.folder.load` with ``attn_implementation="attnlab"``, so every
attention layer runs through :func:`attnlab.attention.attend` and returns its weights
(``output_attentions``). Encoder-only models give ``"encoder"`` maps over the tokenizer's tokens (with
its special tokens, e.g. ``[CLS] ... [SEP]``) and, as output, the size and norm of the mean of the last
hidden states; decoder-only models first continue the text greedily (up to :data:`NEW_TOKENS` tokens),
then give ``"decoder"`` maps over prompt + continuation, row ``i`` labelled by token ``i``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from attnlab.integrations.transformers.folder import describe, is_hf_folder, read_config

NEW_TOKENS = 16
__all__ = ["available", "describe", "find_folders", "is_hf_folder", "loader", "read_config", "run_hf"]


def available() -> bool:
    """Whether transformers 5 is importable (the ``attnlab[hf]`` extra)."""
    from attnlab.integrations.transformers import require_transformers

    try:
        require_transformers()
    except ImportError:
        return False
    return True


def find_folders(root: str | Path) -> dict[str, tuple[Path, str]]:
    """Hugging Face folders in ``root`` (itself or one level down): ``name -> (folder, description)``."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"models: {root} is not a folder")
    candidates = [root] + [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    return {(root.name if p == root else p.name): (p, describe(p)) for p in candidates if is_hf_folder(p)}


def loader(folder: Path):
    """The :class:`~attnlab.app.inspect.ModelStore` loader of ``folder``: ``("hf", HFModel)``."""
    from attnlab.integrations.transformers.folder import load

    def load_it() -> tuple:
        try:
            return ("hf", load(folder))
        except ImportError as e:  # one clear line at the command line and in the explorer
            raise ValueError(f"model: {folder} is a Hugging Face folder; {e}") from None

    return load_it


def _labels(tokenizer, ids: list[int]) -> list[str]:
    return [str(t) for t in tokenizer.convert_ids_to_tokens(ids)]


def _maps(model, ids: list[int]) -> tuple[Tensor, object]:
    out = model(input_ids=torch.tensor([ids]), output_attentions=True)  # ids (1, L)
    if not out.attentions:
        raise ValueError("model: this model returned no attention weights")
    return torch.stack([a[0] for a in out.attentions]).float(), out  # (layers, heads, L, L)


def run_hf(hf, text: str, check_length: Callable[[int], None]) -> tuple:
    """``(tokens, target tokens | None, output, maps, axes)`` for ``text``: every layer's maps
    ``(layers, heads, L, L)`` by kind; ``check_length(n)`` refuses too many tokens."""
    tok, model = hf.tokenizer, hf.model
    ids = list(tok(text)["input_ids"])
    check_length(len(ids))
    tokens = _labels(tok, ids)
    if not hf.causal:
        maps, out = _maps(model, ids)
        emb = out.last_hidden_state[0].mean(0)  # (D,)
        output = f"sentence embedding: {emb.numel()} dims (mean of the last layer), norm {emb.norm():.2f}"
        return tokens, None, output, {"encoder": maps}, {"encoder": (tokens, tokens)}
    limit = getattr(model.config, "max_position_embeddings", None) or len(ids) + NEW_TOKENS
    room = max(0, min(NEW_TOKENS, limit - len(ids)))
    eos = tok.eos_token_id if tok.eos_token_id is not None else getattr(model.config, "eos_token_id", None)
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos
    new: list[int] = []
    if room:
        full = model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=room,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=pad,
        )  # (1, L + T)
        new = full[0, len(ids) :].tolist()
    maps, _ = _maps(model, ids + new)
    labels = tokens + _labels(tok, new)
    output = tok.decode(new, skip_special_tokens=True)
    return tokens, _labels(tok, new), output, {"decoder": maps}, {"decoder": (labels, labels)}
