"""A local Hugging Face folder (``config.json`` + safetensors weights + tokenizer files) as a model whose
attention runs through attnlab.

Only local folders are read (``local_files_only=True``: nothing is downloaded), only safetensors weights
(a folder holding only ``pytorch_model.bin``, a pickle, is refused) and never remote code. Encoder-only
models load with ``AutoModel``; decoder-only ones (``is_decoder`` or an architecture ending in
``ForCausalLM`` / ``LMHeadModel``) with ``AutoModelForCausalLM``, so they can generate.
Encoder-decoder models are refused.

:func:`is_hf_folder` and :func:`describe` read ``config.json`` only; :func:`load` imports transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CONFIG = "config.json"
WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "tokenizer.model", "vocab.json")
CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")


@dataclass
class HFModel:
    """A loaded folder: the model (eval mode), its tokenizer and whether it is a causal LM."""

    folder: Path
    model: object
    tokenizer: object
    causal: bool


def read_config(folder: str | Path) -> dict | None:
    """``config.json`` of ``folder`` when it is a Hugging Face config (has ``model_type``), else None."""
    path = Path(folder) / CONFIG
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("model_type"), str) else None


def is_hf_folder(folder: str | Path) -> bool:
    """True for a folder with a Hugging Face ``config.json`` and safetensors weights."""
    folder = Path(folder)
    return (
        folder.is_dir() and read_config(folder) is not None and any((folder / w).is_file() for w in WEIGHTS)
    )


def is_causal(config: dict) -> bool:
    """Decoder-only: ``is_decoder`` or a causal-LM architecture in ``config.json``."""
    archs = config.get("architectures") or []
    return bool(config.get("is_decoder")) or any(str(a).endswith(CAUSAL_SUFFIXES) for a in archs)


def describe(folder: str | Path) -> str:
    """One line from ``config.json``: architecture, layers, heads, and the folder."""
    cfg = read_config(folder) or {}
    arch = (cfg.get("architectures") or [cfg.get("model_type", "?")])[0]
    layers = cfg.get("num_hidden_layers", cfg.get("n_layer", "?"))
    heads = cfg.get("num_attention_heads", cfg.get("n_head", "?"))
    kind = "decoder" if is_causal(cfg) else "encoder"
    return f"Hugging Face {arch} ({kind}, {layers} layers, {heads} heads), {folder}"


def _check(folder: Path) -> dict:
    if not folder.is_dir():
        raise ValueError(f"model: {folder} is not a folder")
    cfg = read_config(folder)
    if cfg is None:
        raise ValueError(
            f"model: {folder / CONFIG} is missing or is not a Hugging Face config (no model_type)"
        )
    if not any((folder / w).is_file() for w in WEIGHTS):
        found = (
            "only pytorch_model.bin (a pickle, refused)"
            if (folder / "pytorch_model.bin").exists()
            else "none"
        )
        raise ValueError(f"model: {folder} has no safetensors weights (model.safetensors); found {found}")
    if cfg.get("is_encoder_decoder"):
        raise ValueError(
            f"model: {folder} is an encoder-decoder model; encoder-only and decoder-only are supported"
        )
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise ValueError(f"model: {folder} has no tokenizer files (one of {', '.join(TOKENIZER_FILES)})")
    return cfg


def load(folder: str | Path, attn_implementation: str = "attnlab") -> HFModel:
    """Load ``folder`` with ``attn_implementation`` (registered first when it is attnlab's).

    Raises:
        ImportError: transformers is missing (the message names the ``attnlab[hf]`` extra).
        ValueError: not a usable folder (missing config, weights or tokenizer; encoder-decoder), named.
    """
    from . import VARIANTS, register, require_transformers

    folder = Path(folder)
    cfg = _check(folder)
    transformers = require_transformers()
    if attn_implementation.startswith("attnlab") and attn_implementation not in VARIANTS:
        register()
    causal = is_causal(cfg)
    auto = transformers.AutoModelForCausalLM if causal else transformers.AutoModel
    options = dict(local_files_only=True, trust_remote_code=False)
    try:
        model = auto.from_pretrained(
            folder, attn_implementation=attn_implementation, use_safetensors=True, **options
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, **options)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"model: cannot load {folder}: {e}") from None
    return HFModel(folder, model.eval(), tokenizer, causal)
