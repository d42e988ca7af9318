"""Atomic file writes: bytes, text, JSON and safetensors, all or nothing.

Every write goes to a temporary file in the target's folder (``.<name>.<random>.tmp``), which is
fsynced and moved onto the target with ``os.replace``; the folder is fsynced after. A crash leaves
either the old file or the new one, never half of one. When the write fails, the temporary file is
removed; only a kill can leave one behind (readers ignore names starting with "."). The new file gets
the permissions a plain ``open(path, "w")`` would give it (0666 minus the umask), not mkstemp's 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

TMP_SUFFIX = ".tmp"


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (``os.umask`` must set one)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename inside folder ``path`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` to fill a temporary file, then move it onto ``path`` atomically.

    ``write`` gets the temporary file's path (a ``str``, already created and empty) and may open it
    or hand it to a library that writes files (safetensors). Missing parent folders are created.
    If ``write`` raises, the temporary file is removed, ``path`` is left as it was, and the error
    propagates. Returns ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600 files; these are not secret
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    return atomic_write(path, write)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically, as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(
    path: str | os.PathLike, data: object, *, indent: int | None = 2, ensure_ascii: bool = False
) -> Path:
    """Write ``json.dumps(data, indent=indent, ensure_ascii=ensure_ascii)`` to ``path`` atomically (UTF-8,
    no trailing newline)."""
    return atomic_write_text(path, json.dumps(data, indent=indent, ensure_ascii=ensure_ascii))


def atomic_save_tensors(
    path: str | os.PathLike, tensors: dict, metadata: dict[str, str] | None = None
) -> Path:
    """Write a dict of tensors as a safetensors file atomically (tensors must be contiguous)."""
    from safetensors.torch import save_file

    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
