"""The course's claims as experiments: ``attnlab run NAME [--profile quick|full]``."""

from .base import PROFILES, Experiment, Result, SeedRun, Text, load_result, run_experiment, run_seed
from .registry import EXPERIMENTS, get_experiment
from .verdict import VERDICTS, Criterion, compare, decide, not_judged, threshold

__all__ = [
    "EXPERIMENTS",
    "PROFILES",
    "VERDICTS",
    "Criterion",
    "Experiment",
    "Result",
    "SeedRun",
    "Text",
    "compare",
    "decide",
    "get_experiment",
    "load_result",
    "not_judged",
    "run_experiment",
    "run_seed",
    "threshold",
]
