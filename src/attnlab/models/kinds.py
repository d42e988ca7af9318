"""Model kinds: which config dataclass a ``kind`` names, and configs as JSON-compatible dicts.

The bottom of :mod:`attnlab.models`: it imports no other module of the package. Each config
dataclass registers its kinds where it is defined, with :func:`register_config`::

    @register_config("han")
    @dataclass
    class HANConfig:
        kind: str = "han"
        ...

A config class may define ``to_dict(self)`` and ``from_dict(cls, data)`` (e.g. to read an older JSON
layout); otherwise its dict is its fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol, TypeVar


class ModelConfig(Protocol):
    """A model config: a dataclass whose ``kind`` names the model."""

    kind: str


C = TypeVar("C", bound=type)

CONFIG_CLASSES: dict[str, type] = {}


def register_config(*kinds: str) -> Callable[[C], C]:
    """Class decorator: ``kinds`` (JSON ``"kind"`` values) name this config dataclass."""
    if not kinds:
        raise ValueError("kinds: expected at least one kind")

    def register(cls: C) -> C:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__}: expected a dataclass (apply @dataclass first)")
        for kind in kinds:
            known = CONFIG_CLASSES.get(kind, cls)
            if (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
                raise ValueError(f"kind: {kind!r} is already the kind of {CONFIG_CLASSES[kind].__name__}")
            CONFIG_CLASSES[kind] = cls
        return cls

    return register


def config_to_dict(config: ModelConfig) -> dict:
    """The config's fields as a JSON-compatible dict."""
    to_dict = getattr(config, "to_dict", None)
    return to_dict() if to_dict is not None else dataclasses.asdict(config)


def config_from_dict(data: dict) -> ModelConfig:
    """Build the config dataclass named by ``data["kind"]``; unknown fields are an error."""
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError("config: expected a JSON object with a 'kind' field")
    cls = CONFIG_CLASSES.get(data["kind"])
    if cls is None:
        raise ValueError(f"config: unknown kind {data['kind']!r}; expected one of {sorted(CONFIG_CLASSES)}")
    from_dict = getattr(cls, "from_dict", None)
    return from_dict(data) if from_dict is not None else config_from_fields(cls, data)


def config_from_fields(cls: type, data: dict[str, Any]) -> Any:
    """``cls(**data)``, naming the fields ``cls`` does not have."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"config: unknown fields {unknown} for kind {data.get('kind')!r}")
    return cls(**data)
