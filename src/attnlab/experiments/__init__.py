"""The course's claims as experiments: ``attnlab run NAME [--profile quick|full]``."""

from .base import PROFILES, Experiment, Result, Text, load_result, run_experiment
from .registry import EXPERIMENTS, get_experiment

__all__ = [
    "EXPERIMENTS",
    "PROFILES",
    "Experiment",
    "Result",
    "Text",
    "get_experiment",
    "load_result",
    "run_experiment",
]
