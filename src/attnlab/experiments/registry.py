"""All experiments by name, in lesson order."""

from __future__ import annotations

import importlib

from .base import Experiment

# module name in attnlab.experiments -> each module defines EXPERIMENT
MODULES = ["scaled_dot_product"]


def _load() -> dict[str, Experiment]:
    found = {}
    for module in MODULES:
        exp = importlib.import_module(f"attnlab.experiments.{module}").EXPERIMENT
        found[exp.name] = exp
    return dict(sorted(found.items(), key=lambda kv: kv[1].lesson))


EXPERIMENTS = _load()


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment: unknown name {name!r}; expected one of {list(EXPERIMENTS)}")
    return EXPERIMENTS[name]
