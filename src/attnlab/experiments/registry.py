"""All experiments by name, in lesson order: every module of this package that defines ``EXPERIMENT``.

Lesson numbers come from the course map (:mod:`.course`); an experiment the map does not name yet
comes after all the lessons (a test requires every experiment to be on the map). Why a quick profile is
too small to show its effect comes from :mod:`.quick_limits`."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from .base import Experiment, settings_of
from .course import lesson_order
from .quick_limits import QUICK_LIMITS

_FRAMEWORK = {"base", "registry", "verdict", "course", "quick_limits"}


def _load() -> dict[str, Experiment]:
    found = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name in _FRAMEWORK or info.name.startswith("_"):
            continue
        exp = getattr(importlib.import_module(f".{info.name}", __package__), "EXPERIMENT", None)
        if isinstance(exp, Experiment):
            found[exp.name] = exp
    order = lesson_order()
    for rank, name in enumerate(
        sorted(found, key=lambda n: (order.index(n) if n in order else len(order), n))
    ):
        found[name].lesson = rank + 1
        found[name].quick_limit = QUICK_LIMITS.get(name, found[name].quick_limit)
    return dict(sorted(found.items(), key=lambda kv: kv[1].lesson))


EXPERIMENTS = _load()


def profile_settings(name: str, profile: str) -> dict | tuple:
    """Experiment ``name``'s settings for ``profile``: its module's ``PROFILES`` (or ``SIZES``) entry."""
    settings = settings_of(get_experiment(name), profile)
    if settings is None:
        raise ValueError(f"profile: {name} has no settings for {profile!r} (expected PROFILES or SIZES)")
    return settings


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment: unknown name {name!r}; expected one of {list(EXPERIMENTS)}")
    return EXPERIMENTS[name]
