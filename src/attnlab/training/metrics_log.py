"""The metrics log: one JSON object per line, appended as training goes, read back for plots.

Each record has ``step`` and ``split`` (``"train"`` or ``"eval"``) and whatever numbers were measured:
``loss``, metric names, ``lr``, ``time`` (seconds since the run started), ``tokens_per_s`` /
``examples_per_s``. JSON lines survive a crash: every line is flushed whole, and a reader skips a
final line cut short by a kill. A resumed run first drops records from steps after its checkpoint so
the log reads as if the run had never stopped.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from attnlab._io import atomic_write_text

LOG_FILE = "metrics.jsonl"


def _clean(value):
    """JSON has no NaN/inf; write them as null rather than produce a file other tools reject."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """Append-only JSON-lines writer (a no-op when ``path`` is None, e.g. on non-zero DDP ranks)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, step: int, split: str, **values) -> dict:
        record = {"step": int(step), "split": split, **{k: _clean(v) for k, v in values.items()}}
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                f.flush()
        return record

    def truncate_after(self, step: int) -> None:
        """Drop records with ``step > step`` (written after the checkpoint a run resumes from)."""
        if self.path is None or not self.path.exists():
            return
        kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= step]
        atomic_write_text(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))


def read_metrics(path: str | Path) -> list[dict]:
    """Every complete record in a JSON-lines metrics file (a torn last line is skipped)."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # only the last line can be torn (append + flush), so skipping loses nothing else
    return records


def metric_series(path: str | Path, split: str = "train") -> dict[str, list]:
    """Columns for plotting: ``{"step": [...], "loss": [...], ...}`` for one split.

    A metric missing from a record appears as None in its column, so every column has the length of
    ``step`` and can be plotted against it directly.
    """
    records = [r for r in read_metrics(path) if r.get("split") == split]
    names = []
    for r in records:
        names.extend(k for k in r if k not in names and k != "split")
    columns: dict[str, list] = defaultdict(list)
    for r in records:
        for name in names:
            columns[name].append(r.get(name))
    return dict(columns)
