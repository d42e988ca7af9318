"""The experiment framework: each course claim is an :class:`Experiment` that returns a :class:`Result`.

A result holds measured metrics, the configuration and seed that produced them, the machine, the wall
time, figure files, the published yardstick it is compared with, and a verdict written from the
measured numbers (never hard-coded). ``attnlab run NAME`` writes it to ``results.json`` beside the
figures; the report reads those files.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

PROFILES = ("smoke", "quick", "full")


@dataclass
class Text:
    """A text in English and Chinese."""

    en: str
    zh: str


@dataclass
class Result:
    """What one experiment run measured."""

    name: str
    profile: str
    seed: int
    metrics: dict
    config: dict
    verdict: Text
    figures: list[str] = field(default_factory=list)  # file names relative to the run folder
    reproduced: bool | None = None  # does the yardstick's claim hold in this run? None: not a yes/no claim
    wall_time_s: float = 0.0
    machine: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: dict) -> Result:
        data = dict(data)
        data["verdict"] = Text(**data["verdict"])
        return Result(**data)


@dataclass
class Experiment:
    """A course claim made measurable.

    ``run(profile, out_dir, seed) -> Result`` trains/measures and saves its figures into ``out_dir``.
    ``lesson`` orders the report; ``history`` (two lines), ``mechanism`` and ``yardstick`` are the
    report's prose in both languages.
    """

    name: str
    lesson: int
    title: Text
    history: Text
    mechanism: Text
    yardstick: Text
    run: object  # Callable[[str, Path, int], Result]


def machine_info() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON through a temporary file and a rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=2)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run_experiment(exp: Experiment, profile: str, out_dir: str | os.PathLike, seed: int = 0) -> Result:
    """Run one experiment into ``out_dir/NAME`` and write its ``results.json``."""
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {PROFILES}, got {profile!r}")
    folder = Path(out_dir) / exp.name
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    start = time.perf_counter()
    result = exp.run(profile, folder, seed)
    result.wall_time_s = round(time.perf_counter() - start, 2)
    result.machine = machine_info()
    missing = [f for f in result.figures if not (folder / f).is_file()]
    if missing:
        raise RuntimeError(f"experiment {exp.name} listed figures it did not write: {missing}")
    write_json_atomic(folder / "results.json", result.to_json())
    return result


def load_result(folder: str | os.PathLike) -> Result:
    path = Path(folder) / "results.json"
    try:
        return Result.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, TypeError, KeyError) as e:
        raise ValueError(f"{path}: not a readable experiment result ({e})") from e
