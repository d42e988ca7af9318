"""Saving and loading models: JSON configs and safetensors weights (the top of :mod:`attnlab.models`).

A saved model is a folder with ``config.json`` (the config's fields, ``kind`` first) and
``model.safetensors`` (the weights). Nothing is pickled: loading builds the model from the JSON config
through the registry, then copies tensors in with safetensors, so a model folder from a stranger can
neither run code nor smuggle objects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from torch import nn

from attnlab._io import atomic_write, atomic_write_json

from .kinds import CONFIG_CLASSES, ModelConfig, config_from_dict, config_to_dict
from .registry import build_model
from .rnn_seq2seq import RNNSeq2SeqConfig
from .transformer_config import POSITIONS, TRANSFORMER_KINDS, TransformerConfig

__all__ = [  # the config classes and dict helpers are re-exported for `attnlab.models.config` imports
    "CONFIG_CLASSES",
    "CONFIG_FILE",
    "POSITIONS",
    "TRANSFORMER_KINDS",
    "WEIGHTS_FILE",
    "ModelConfig",
    "RNNSeq2SeqConfig",
    "TransformerConfig",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "load_model",
    "save_config",
    "save_model",
]

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


def save_config(config: ModelConfig, path: str | os.PathLike) -> None:
    atomic_write_json(path, config_to_dict(config), indent=2, ensure_ascii=True)


def load_config(path: str | os.PathLike) -> ModelConfig:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config: {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"config: {path} is not valid JSON ({e})") from e
    return config_from_dict(data)


def save_model(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write ``config.json`` and ``model.safetensors`` for a model that has a ``config`` attribute."""
    from safetensors.torch import save_model as st_save

    config = getattr(model, "config", None)
    if config is None or type(config) not in CONFIG_CLASSES.values():
        raise ValueError("model: expected an attnlab model with a dataclass `config` attribute")
    directory = Path(directory)
    # Tied weights (embedding = output projection) are stored once; safetensors' save_model handles it.
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: st_save(model, tmp, metadata={"kind": config.kind}))
    save_config(config, directory / CONFIG_FILE)
    return directory


def load_model(directory: str | os.PathLike, device: str = "cpu") -> nn.Module:
    """Build a model from ``config.json`` and load ``model.safetensors`` (strict: names and shapes)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model as st_load

    directory = Path(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"load_model: {weights} does not exist")
    model = build_model(load_config(directory / CONFIG_FILE))
    try:
        st_load(model, weights, strict=True, device=device)
    except SafetensorError as e:
        raise ValueError(f"load_model: {weights} is not a valid safetensors file ({e})") from e
    except RuntimeError as e:
        raise ValueError(f"load_model: weights in {weights} do not match config.json: {e}") from e
    return model.to(device).eval()
