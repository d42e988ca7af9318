"""Where the report's results come from: the reference results shipped with the package and a runs folder.

Reference results are every experiment's full profile, all seeds, stored as package data in
``attnlab/reference/<name>/`` (``results.json``, each seed's ``run.json`` and the figures). They are
read through :mod:`importlib.resources`, so an installed ``attnlab report`` finds them from any folder.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from attnlab._io import atomic_write_text
from attnlab.experiments import EXPERIMENTS, Result, get_experiment, load_result
from attnlab.experiments.base import settings_digest as _settings_digest

Folder = Path | Traversable


def reference_root() -> Traversable:
    """The package's folder of reference results."""
    return resources.files("attnlab") / "reference"


def reference_result(name: str, root: Folder | None = None) -> Result | None:
    """The reference result of experiment ``name``, or None when there is none yet."""
    path = (reference_root() if root is None else root) / name / "results.json"
    if not path.is_file():
        return None
    try:
        return Result.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError, KeyError) as e:
        raise ValueError(f"{path}: not a readable experiment result ({e})") from e


def reference_results(root: Folder | None = None) -> dict[str, Result]:
    """Every reference result found, in the course's order."""
    found = {name: reference_result(name, root) for name in EXPERIMENTS}
    return {name: result for name, result in found.items() if result is not None}


def run_results(runs: str | os.PathLike) -> dict[str, Result]:
    """Every ``RUNS/NAME/results.json`` found, in the course's order."""
    runs = Path(runs)
    return {
        name: load_result(runs / name) for name in EXPERIMENTS if (runs / name / "results.json").is_file()
    }


QUICK_FILE = "quick.json"  # the demo's quick verdicts, recorded beside the reference results


def quick_record(root: Folder | None = None) -> dict | None:
    """The quick verdicts recorded with :func:`record_quick` (``{"verdicts": {name: {...}}, ...}``)."""
    path = (reference_root() if root is None else root) / QUICK_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("verdicts"), dict):
        raise ValueError(f"{path}: expected an object with 'verdicts'")
    return data


def settings_digest(name: str, profile: str = "quick") -> str | None:
    """Today's digest of experiment ``name``'s ``profile`` settings (:func:`attnlab.experiments.base.settings_digest`)."""
    return _settings_digest(get_experiment(name), profile)


def stale_quick_verdicts(record: dict) -> list[str]:
    """The experiments whose recorded quick verdict was made with other quick settings than today's."""
    return [
        name
        for name, entry in record["verdicts"].items()
        if name in EXPERIMENTS and entry.get("settings") != settings_digest(name)
    ]


def _run_settings(runs: Path, name: str, seeds: list[int]) -> str | None:
    """The settings digest every seed of ``runs/name`` recorded, or None when they lack or disagree on one."""
    found = set()
    for seed in seeds:
        try:
            found.add(
                json.loads((runs / name / f"seed-{seed}" / "run.json").read_text(encoding="utf-8")).get(
                    "settings"
                )
            )
        except (OSError, json.JSONDecodeError):
            found.add(None)
    return found.pop() if len(found) == 1 else None


def record_quick(runs: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Record the quick-profile verdicts of a runs folder (``make demo`` writes ``attnlab-report/runs``)
    as ``quick.json`` beside the reference results (or at ``out``): verdict, seeds, wall time, and the
    machine and commit they were measured on. Only quick runs count; anything else is refused."""
    results = run_results(runs)
    if not results:
        raise ValueError(f"--record-quick: no results.json under {runs}")
    others = sorted(name for name, r in results.items() if r.profile != "quick")
    if others:
        raise ValueError(
            f"--record-quick: expected quick runs only, {', '.join(others)} used another profile"
        )
    digests = {name: _run_settings(Path(runs), name, r.seeds) for name, r in results.items()}
    stale = [name for name in results if digests[name] != settings_digest(name)]
    if stale:
        raise ValueError(
            f"--record-quick: {', '.join(stale)} ran with other settings than today's quick profile (or "
            "before runs recorded them); rerun them (`attnlab demo`) first"
        )
    first = next(iter(results.values()))
    verdicts = {
        name: {
            "verdict": r.verdict,
            "seeds": r.seeds,
            "threads": r.machine.get("threads"),
            "wall_time_s": round(r.wall_time_s, 1),
            "settings": digests[name],
        }
        for name, r in results.items()
    }
    data = {
        "profile": "quick",
        "machine": first.machine,
        "commit": commit_text(first),
        "finished": max(r.finished or "" for r in results.values()) or None,
        "verdicts": verdicts,
    }
    path = Path(out) if out is not None else Path(str(reference_root())) / QUICK_FILE
    atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return path


def quick_tally(quick: dict[str, str], reference: dict[str, str]) -> dict[str, list[str]]:
    """Quick verdicts against reference verdicts (both ``name -> verdict``): the names ``compared``
    (both present), ``agreeing``, and of those that differ, ``limited`` (the quick profile is too small
    to show the effect: :attr:`Experiment.quick_limit`) and ``sized`` (the rest)."""
    compared = [name for name in quick if name in reference]
    agreeing = [name for name in compared if quick[name] == reference[name]]
    differing = [name for name in compared if name not in agreeing]
    limited = [name for name in differing if EXPERIMENTS[name].quick_limit is not None]
    sized = [name for name in differing if name not in limited]
    return {"compared": compared, "agreeing": agreeing, "limited": limited, "sized": sized}


def agrees(reference: Result, run: Result) -> bool:
    """A run agrees with the reference when it reaches the same verdict."""
    return reference.verdict == run.verdict


def command(name: str) -> str:
    """The command that makes an experiment's reference result."""
    return f"attnlab run {name} --profile full"


def _git_text(git: dict | None, dirty_word: str) -> str:
    if not git or not git.get("commit"):
        return "—"
    return git["commit"][:7] + (f" {dirty_word}" if git.get("dirty") else "")


def commit_text(
    result: Result, dirty_word: str = "+ uncommitted changes", seed_words: tuple[str, str] = ("seed", "seeds")
) -> str:
    """Short commit hash of the checkout the result ran from, or "—" when unknown; when its seeds ran
    from different checkouts, each with its seeds: ``"dd2c456 (seeds 0, 1), 545031e (seed 2)"``
    (``seed_words``: the word for one seed and for several)."""
    provenance = result.provenance or {}
    by_seed = provenance.get("git_by_seed") or {}
    seeds: dict[str, list[str]] = {}
    for seed, git in by_seed.items():
        seeds.setdefault(_git_text(git, dirty_word), []).append(seed)
    if len(seeds) <= 1:
        return _git_text(provenance.get("git"), dirty_word)
    return ", ".join(
        f"{text} ({seed_words[len(group) > 1]} {', '.join(group)})" for text, group in seeds.items()
    )


def date_text(result: Result) -> str:
    """When the last seed finished (UTC), or "—" for results that did not record it."""
    return result.finished.replace("T", " ").replace("Z", " UTC") if result.finished else "—"


def torch_text(result: Result) -> str:
    return str(result.machine.get("torch") or (result.provenance or {}).get("torch") or "—")


def fmt_value(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (int, float)):
        return format(value, ".3g")
    return str(value)


def measured_text(criterion: dict) -> str:
    """A criterion's measured values, one per seed: ``0.1 / 0.2`` or ``a: ... · b: ...``."""
    measured = criterion.get("measured") or {}
    parts = []
    for key, values in measured.items():
        values = values if isinstance(values, list) else [values]
        joined = " / ".join(fmt_value(v) for v in values)
        parts.append(joined if key == "values" else f"{key}: {joined}")
    return " · ".join(parts) or "—"
