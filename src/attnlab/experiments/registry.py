"""All experiments by name, in lesson order: every module of this package that defines ``EXPERIMENT``."""

from __future__ import annotations

import importlib
import pkgutil

from .base import Experiment

_FRAMEWORK = {"base", "registry", "verdict"}


def _load() -> dict[str, Experiment]:
    import attnlab.experiments as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in _FRAMEWORK or info.name.startswith("_"):
            continue
        exp = getattr(importlib.import_module(f"attnlab.experiments.{info.name}"), "EXPERIMENT", None)
        if isinstance(exp, Experiment):
            found[exp.name] = exp
    return dict(sorted(found.items(), key=lambda kv: (kv[1].lesson, kv[0])))


EXPERIMENTS = _load()


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment: unknown name {name!r}; expected one of {list(EXPERIMENTS)}")
    return EXPERIMENTS[name]
