"""The layout of a training run's folder, and the pointers that make resuming safe.

::

    out_dir/
      train_config.json              the run's TrainConfig
      metrics.jsonl                  one JSON object per logged step / evaluation
      checkpoints/step-00000120/     checkpoint folders (see attnlab.training.checkpoint)
      checkpoints/latest             text file: the name of the newest complete checkpoint
      best/                          a copy of the checkpoint with the best evaluation metric

``latest`` is replaced atomically after its checkpoint folder is complete, and old checkpoints are
deleted only after that, so at every instant ``latest`` names a whole checkpoint. Should ``latest`` be
missing or damaged, :func:`latest_checkpoint` falls back to the newest folder that verifies.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from attnlab._io import TMP_SUFFIX, atomic_write_text

from .checkpoint import CheckpointError, read_trainer_state

CHECKPOINTS, LATEST, BEST = "checkpoints", "latest", "best"
CONFIG_FILE, METRICS_FILE = "train_config.json", "metrics.jsonl"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def step_dir(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / CHECKPOINTS / f"step-{step:08d}"


def checkpoint_steps(out_dir: str | Path) -> list[tuple[int, Path]]:
    """``(step, folder)`` for every checkpoint folder, oldest first (temporary folders are ignored)."""
    root = Path(out_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return sorted(found)


def set_latest(out_dir: str | Path, folder: Path) -> None:
    atomic_write_text(Path(out_dir) / CHECKPOINTS / LATEST, folder.name)


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or None if it has none."""
    root = Path(out_dir) / CHECKPOINTS
    pointer = root / LATEST
    if pointer.is_file():
        name = pointer.read_text(encoding="utf-8").strip()
        candidate = root / name
        if _STEP_DIR.match(name) and (candidate / "trainer.json").is_file():
            return candidate
    for _, folder in reversed(checkpoint_steps(out_dir)):
        try:
            read_trainer_state(folder)
        except CheckpointError:
            continue
        return folder
    return None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from a checkpoint folder, a ``checkpoints/`` folder or a run folder."""
    path = Path(path)
    if (path / "trainer.json").is_file():
        return path
    for run in (path, path.parent):
        found = latest_checkpoint(run)
        if found is not None:
            return found
    raise CheckpointError(f"{path}: no checkpoint here (expected trainer.json or checkpoints/{LATEST})")


def prune(out_dir: str | Path, keep_last: int) -> None:
    """Delete all but the ``keep_last`` newest checkpoint folders (never the one ``latest`` names)."""
    latest = latest_checkpoint(out_dir)
    for _, folder in checkpoint_steps(out_dir)[:-keep_last]:
        if latest is None or folder.name != latest.name:
            shutil.rmtree(folder, ignore_errors=True)


def clean_temporaries(out_dir: str | Path) -> None:
    """Remove half-written folders and files a killed run left behind (names starting with '.').

    A run killed between the two renames that replace ``best/`` leaves the previous best under a
    temporary name and no ``best/``: that folder is put back rather than deleted.
    """
    out_dir = Path(out_dir)
    for root in (out_dir, out_dir / CHECKPOINTS):
        if not root.is_dir():
            continue
        for p in sorted(root.iterdir()):
            temporary = ".tmp-" in p.name or ".old-" in p.name or p.name.endswith(TMP_SUFFIX)
            if not (p.name.startswith(".") and temporary):
                continue
            if p.name.startswith(f".{BEST}.old-") and not (out_dir / BEST).exists():
                os.replace(p, out_dir / BEST)
            elif p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
