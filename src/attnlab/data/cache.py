"""On-disk cache of preprocessed data: safetensors for tensors, JSON for text and metadata.

Files live under ``$ATTNLAB_CACHE`` or ``~/.cache/attnlab``, named ``<name>-<hash of the key>``. Every
write is atomic (:mod:`attnlab._io`: a temporary file in the same folder moved into place with
``os.replace``), so a crash never leaves a half-written file that a later run would trust. Pickle is
never used.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from attnlab._io import atomic_save_tensors, atomic_write_json

FORMAT_VERSION = 1


def cache_dir() -> Path:
    """The cache folder: ``$ATTNLAB_CACHE`` if set, else ``~/.cache/attnlab``."""
    env = os.environ.get("ATTNLAB_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "attnlab"


def source_signature(path: str | os.PathLike) -> dict:
    """What identifies a source file's version (a changed file invalidates cached results)."""
    st = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _stem(name: str, key: dict) -> Path:
    blob = json.dumps({"v": FORMAT_VERSION, **key}, sort_keys=True, ensure_ascii=False)
    return cache_dir() / f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def cached_tensors(
    name: str, key: dict, build: Callable[[], dict[str, torch.Tensor]], *, enabled: bool = True
):
    """Return ``build()``'s tensors, from the cache when ``key`` was built before.

    Args:
        name: a file-name prefix (the dataset name).
        key: everything the result depends on (source signature, seed, limit, ...), JSON-serialisable.
        build: makes the dict of tensors on a cache miss.
        enabled: False skips the cache entirely.
    """
    if not enabled:
        return build()
    from safetensors.torch import load_file

    stem = _stem(name, key)
    tensors_path, meta_path = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    if tensors_path.exists() and meta_path.exists():
        try:
            if json.loads(meta_path.read_text(encoding="utf-8")).get("key") == key:
                return load_file(str(tensors_path))
        except (OSError, ValueError):
            pass  # a damaged cache entry is rebuilt below
    tensors = {k: v.contiguous() for k, v in build().items()}
    atomic_save_tensors(tensors_path, tensors)
    shapes = {k: list(v.shape) for k, v in tensors.items()}
    atomic_write_json(meta_path, {"key": key, "shapes": shapes}, indent=None, ensure_ascii=True)
    return tensors


def cached_json(name: str, key: dict, build: Callable[[], object], *, enabled: bool = True):
    """Like :func:`cached_tensors` for JSON-serialisable data (parsed text datasets)."""
    if not enabled:
        return build()
    path = _stem(name, key).with_suffix(".json")
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored.get("key") == key:
                return stored["data"]
        except (OSError, ValueError, AttributeError):
            pass
    data = build()
    atomic_write_json(path, {"key": key, "data": data}, indent=None)
    return data
