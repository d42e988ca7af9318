"""A pretrained BERT-family checkpoint folder as the pair ``(encoder, tokenizer)``.

The encoder (config + weights) is built by :mod:`attnlab.models.bert`; the tokenizer is this layer's
:class:`~attnlab.data.wordpiece.WordPieceTokenizer` read from the folder's ``vocab.txt``. The pair is
assembled here because imports only go downward: ``data`` may use ``models``, ``models`` may not use
``data``. See docs/pretrained.md and docs/architecture.md.
"""

from __future__ import annotations

from pathlib import Path

from attnlab.models.bert import BertEncoder, load_bert_encoder, minilm_folder, read_bert_config

from .wordpiece import WordPieceTokenizer

__all__ = ["load_bert", "load_minilm"]


def load_bert(folder: str | Path, backend: str = "auto") -> tuple[BertEncoder, WordPieceTokenizer]:
    """Load a BERT checkpoint folder (``config.json``, ``vocab.txt``, ``model.safetensors`` or
    ``pytorch_model.bin``) as ``(BertEncoder in eval mode, WordPieceTokenizer)``.

    Raises:
        ValueError: a missing folder or file, an unsupported ``model_type``/activation/position type,
            a missing or unexpected tensor, a tensor whose shape differs from the config (named), or a
            vocabulary whose size differs from ``config.json``.
    """
    folder = Path(folder)
    config = read_bert_config(folder)  # checked first: a folder that is no checkpoint says so
    tokenizer = WordPieceTokenizer.from_folder(folder)
    model = load_bert_encoder(folder, backend=backend, config=config)
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(f"vocab.txt: {tokenizer.vocab_size} tokens but config.json says {config.vocab_size}")
    return model, tokenizer


def load_minilm(backend: str = "auto") -> tuple[BertEncoder, WordPieceTokenizer]:
    """:func:`load_bert` on the installed all-MiniLM-L6-v2 (ValueError with the install command if absent)."""
    return load_bert(minilm_folder(), backend=backend)
