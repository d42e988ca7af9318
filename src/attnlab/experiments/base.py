"""The experiment framework: each course claim is an :class:`Experiment`; the framework judges it.

An experiment's ``run(profile, folder, seed)`` trains or measures once and returns a :class:`SeedRun`
(metrics, configuration, per-seed figures, wall-clock timings kept apart from the metrics). The
framework runs the profile's seeds (resumable: a seed already done is skipped), draws the figures
over all seeds (``plot``), asks ``criteria(per_seed_metrics)`` for the criteria and decides the
verdict (:mod:`.verdict`), adds the standard caveats (profile, steps, seeds, threads) and writes
``results.json`` with every seed's values, the machine and the provenance (attnlab version, git
commit, package versions). Profiles use fixed step counts, never wall-clock caps, so the same
experiment, profile, seed, thread count, machine and torch give the same metrics.

Layout of a runs folder::

    RUNS/NAME/results.json          the aggregate (what the report reads)
    RUNS/NAME/*.png                 figures over seeds (mean and min–max)
    RUNS/NAME/seed-S/run.json       one seed's metrics, timings, config, machine
    RUNS/NAME/seed-S/*.png          that seed's own figures (attention maps of its trained models)
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
import random
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from attnlab._io import atomic_write_json

from .verdict import HEADLINE, Criterion, decide

PROFILES = ("smoke", "quick", "full")
DEFAULT_SEEDS = {"smoke": 1, "quick": 1, "full": 3}


@dataclass
class Text:
    """A text in English and Chinese."""

    en: str
    zh: str


@dataclass
class SeedRun:
    """What one seed measured. ``timings`` (wall-clock numbers) are kept out of ``metrics`` so that
    metrics are reproducible; ``inconclusive`` holds reasons this seed cannot be judged (e.g. a
    timing run on a busy machine); ``figures`` are file names written into the seed's folder."""

    metrics: dict
    config: dict
    figures: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    inconclusive: list[Text] = field(default_factory=list)


@dataclass
class Result:
    """An experiment's verdict over its seeds, as written to ``results.json``."""

    name: str
    profile: str
    seeds: list[int]
    per_seed: list[dict]  # metrics of each seed, in the order of ``seeds``
    config: dict
    verdict: str  # one of verdict.VERDICTS
    summary: Text  # headline + one sentence per criterion + caveats
    criteria: list[dict]
    figures: list[str] = field(default_factory=list)  # relative to the experiment's folder
    timings: list[dict] = field(default_factory=list)
    wall_time_s: float = 0.0  # all seeds together
    machine: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    finished: str = ""  # UTC time the last seed finished (ISO 8601)

    @property
    def metrics(self) -> dict:
        """The first seed's metrics (the one the per-seed figures show)."""
        return self.per_seed[0]

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: dict) -> Result:
        data = dict(data)
        data["summary"] = Text(**data["summary"])
        return Result(**data)


@dataclass
class Experiment:
    """A course claim made measurable.

    ``run(profile, folder, seed) -> SeedRun`` measures one seed; ``criteria(per_seed) -> [Criterion]``
    judges the metrics of all seeds (pure: unit-tested on made-up metrics); ``plot(per_seed, folder)
    -> [file names]`` draws figures over the seeds (optional). ``lesson`` (its number in the course,
    set by the registry from the course map, :mod:`attnlab.experiments.course`) orders the report;
    ``history``, ``mechanism`` and ``yardstick`` are its prose. ``seeds`` counts seeds per profile;
    ``data_packages`` names the installed packages whose data it reads (recorded in the provenance);
    ``timing`` marks experiments whose claim is a wall-clock measurement. ``quick_limit`` says why the
    quick profile (the demo's) cannot show the effect the full profile measures, with the numbers that
    make it so; ``None`` means the quick profile is sized to show it (lighter cases, same criteria).
    """

    name: str
    lesson: int = field(default=0, kw_only=True)  # set by the registry from the course map
    title: Text
    history: Text
    mechanism: Text
    yardstick: Text
    run: Callable[[str, Path, int], SeedRun]
    criteria: Callable[[list[dict]], list[Criterion]]
    plot: Callable[[list[dict], Path], list[str]] | None = None
    seeds: dict = field(default_factory=lambda: dict(DEFAULT_SEEDS))
    data_packages: tuple[str, ...] = ()
    timing: bool = False
    quick_limit: Text | None = None


def settings_of(exp: Experiment, profile: str) -> dict | tuple | None:
    """The settings table entry of ``profile`` in ``exp``'s module (``PROFILES`` or ``SIZES``), or None
    when the module has none (an experiment defined outside attnlab's experiment modules)."""
    module = importlib.import_module(exp.run.__module__)
    table = getattr(module, "PROFILES", None) or getattr(module, "SIZES", None)
    return table.get(profile) if isinstance(table, dict) else None


def _sorted_sets(value: object) -> object:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"settings: cannot digest a {type(value).__name__}")


def settings_digest(exp: Experiment, profile: str) -> str | None:
    """A short digest of ``exp``'s settings table entry for ``profile`` (only that entry: module
    constants and code are not in it), recorded with each seed so that results made with other settings
    can be told apart; None when the module has no settings table."""
    settings = settings_of(exp, profile)
    if settings is None:
        return None
    text = json.dumps(settings, sort_keys=True, default=_sorted_sets)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def machine_info() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
    try:  # a Debian data package (e.g. dataset-fashion-mnist)
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _git_state() -> dict | None:
    """Commit and dirty flag when attnlab runs from a git checkout (an editable install)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0:
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def provenance(packages: Sequence[str] = ()) -> dict:
    """attnlab version, git commit/dirty (from a checkout), torch, numpy and data package versions."""
    from attnlab import __version__

    return {
        "attnlab": __version__,
        "git": _git_state(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "packages": {name: _package_version(name) for name in packages},
    }


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _seed_path(out_dir: Path, name: str, seed: int) -> Path:
    return Path(out_dir) / name / f"seed-{seed}" / "run.json"


def run_seed(
    exp: Experiment, profile: str, out_dir: str | os.PathLike, seed: int, *, threads: int | None = None,
    force: bool = False,
) -> dict:  # fmt: skip
    """Run one seed into ``out_dir/NAME/seed-S/run.json``; a seed already run with this profile is
    skipped (``force`` reruns it). ``threads`` sets torch's intra-op threads for the run."""
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {PROFILES}, got {profile!r}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads: expected >= 1, got {threads}")
    path = _seed_path(Path(out_dir), exp.name, seed)
    if path.is_file() and not force:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("profile") == profile and (threads is None or record["machine"]["threads"] == threads):
            return record
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        _seed_everything(seed)
        start = time.perf_counter()
        run = exp.run(profile, folder, seed)
        wall = round(time.perf_counter() - start, 2)
        machine = machine_info()
    finally:
        torch.set_num_threads(previous)
    missing = [f for f in run.figures if not (folder / f).is_file()]
    if missing:
        raise RuntimeError(f"experiment {exp.name} listed figures it did not write: {missing}")
    record = {
        "name": exp.name, "profile": profile, "seed": seed, "metrics": run.metrics, "config": run.config,
        "figures": run.figures, "timings": run.timings, "inconclusive": [asdict(t) for t in run.inconclusive],
        "wall_time_s": wall, "machine": machine, "provenance": provenance(exp.data_packages),
        "settings": settings_digest(exp, profile),
        "finished": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }  # fmt: skip
    record = json.loads(json.dumps(record))  # as it reads back: tuples become lists, so configs compare equal
    atomic_write_json(path, record)
    return record


def caveats(profile: str, seeds: Sequence[int], config: dict, threads: int) -> Text:
    """The standard caveats, once per result: profile, fixed steps, seeds, threads."""
    steps = config.get("steps")
    steps_en = f"fixed training steps ({steps})" if steps is not None else "fixed work"
    steps_zh = f"固定训练步数（{steps}）" if steps is not None else "固定的工作量"
    seeds_txt = ", ".join(map(str, seeds))
    en = (
        f"Profile {profile}: {steps_en} (no time limit), {len(seeds)} seed(s) ({seeds_txt}; values are the mean "
        f"(min–max) over seeds), {threads} thread(s)."
    )
    zh = f"配置 {profile}：{steps_zh}（不限时），{len(seeds)} 个种子（{seeds_txt}；数值为各种子的均值（最小–最大）），{threads} 个线程。"
    if profile != "full":
        en += " Smaller models and shorter training than the full profile, which is the reference."
        zh += " 模型与训练都小于 full 配置，结论以 full 配置为准。"
    return Text(en=en, zh=zh)


def _provenance_of(records: Sequence[dict]) -> dict:
    """The first seed's provenance, plus every seed's git state (``git_by_seed``, seed as a string):
    seeds of one result may come from different commits when a run was resumed later."""
    first = dict(records[0].get("provenance") or {})
    first["git_by_seed"] = {str(r["seed"]): (r.get("provenance") or {}).get("git") for r in records}
    return first


def judge(
    exp: Experiment, records: Sequence[dict], out_dir: str | os.PathLike, *, plot: bool = True
) -> Result:
    """Aggregate seed records (same profile and configuration) into a :class:`Result`; ``plot=False``
    judges without drawing the figures (its ``figures`` is then empty)."""
    profile, config = records[0]["profile"], records[0]["config"]
    for r in records[1:]:
        if r["profile"] != profile or r["config"] != config:
            raise ValueError(
                f"{exp.name}: seed {r['seed']} was run with another profile or configuration than seed "
                f"{records[0]['seed']}; rerun it with --force"
            )
    folder = Path(out_dir) / exp.name
    per_seed = [r["metrics"] for r in records]
    criteria = exp.criteria(per_seed)
    reasons = [Text(**t) for r in records for t in r["inconclusive"]]
    verdict = decide(criteria, inconclusive=bool(reasons))
    figures = []
    if plot:
        figures = list(exp.plot(per_seed, folder)) if exp.plot is not None else []
        figures += [f"seed-{records[0]['seed']}/{f}" for f in records[0]["figures"]]
    threads = records[0]["machine"]["threads"]
    notes = caveats(profile, [r["seed"] for r in records], config, threads)
    head_en, head_zh = HEADLINE[verdict]
    summary = Text(
        en=" ".join([head_en, *(c.en for c in criteria), *(t.en for t in reasons), notes.en]),
        zh="".join([head_zh, *(c.zh for c in criteria), *(t.zh for t in reasons), notes.zh]),
    )
    return Result(
        name=exp.name, profile=profile, seeds=[r["seed"] for r in records], per_seed=per_seed, config=config,
        verdict=verdict, summary=summary, criteria=[asdict(c) for c in criteria], figures=figures,
        timings=[r["timings"] for r in records], wall_time_s=round(sum(r["wall_time_s"] for r in records), 2),
        machine=records[0]["machine"], provenance=_provenance_of(records),
        finished=max(r.get("finished", "") for r in records),
    )  # fmt: skip


def run_experiment(
    exp: Experiment, profile: str, out_dir: str | os.PathLike, seeds: Sequence[int] | None = None, *,
    threads: int | None = None, force: bool = False,
) -> Result:  # fmt: skip
    """Run ``seeds`` (default: the profile's seeds 0..n-1), skipping seeds already done, then judge
    every seed of this profile present in the folder and write ``out_dir/NAME/results.json``."""
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {PROFILES}, got {profile!r}")
    seeds = list(range(exp.seeds[profile])) if seeds is None else list(seeds)
    if not seeds:
        raise ValueError("seeds: expected at least one seed")
    done = {s: run_seed(exp, profile, out_dir, s, threads=threads, force=force) for s in seeds}
    for path in sorted((Path(out_dir) / exp.name).glob("seed-*/run.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if (
            record["seed"] not in done
            and record.get("profile") == profile
            and record["config"] == done[seeds[0]]["config"]
        ):
            done[record["seed"]] = record
    result = judge(exp, [done[s] for s in sorted(done)], out_dir)
    atomic_write_json(Path(out_dir) / exp.name / "results.json", result.to_json())
    return result


def load_result(folder: str | os.PathLike) -> Result:
    path = Path(folder) / "results.json"
    try:
        return Result.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, TypeError, KeyError) as e:
        raise ValueError(f"{path}: not a readable experiment result ({e})") from e
