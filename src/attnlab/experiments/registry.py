"""All experiments by name, in lesson order: every module of this package that defines ``EXPERIMENT``."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from .base import Experiment

_FRAMEWORK = {"base", "registry", "verdict"}


def _load() -> dict[str, Experiment]:
    found = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name in _FRAMEWORK or info.name.startswith("_"):
            continue
        exp = getattr(importlib.import_module(f".{info.name}", __package__), "EXPERIMENT", None)
        if isinstance(exp, Experiment):
            found[exp.name] = exp
    return dict(sorted(found.items(), key=lambda kv: (kv[1].lesson, kv[0])))


EXPERIMENTS = _load()


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment: unknown name {name!r}; expected one of {list(EXPERIMENTS)}")
    return EXPERIMENTS[name]
