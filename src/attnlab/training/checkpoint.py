"""Checkpoints: a folder of safetensors and JSON, written atomically, loaded without unpickling.

Layout of one checkpoint folder::

    model.safetensors      the model's weights (tied weights stored once; readable by
                           ``attnlab.models.load_model`` when ``config.json`` is there too)
    optimizer.safetensors  optimiser state tensors, named ``state.<param index>.<name>``
    rng.safetensors        torch generator states (uint8), named ``rank<r>.torch_cpu`` / ``.torch_cuda_<i>``
    config.json            the model's config, when the model has one
    trainer.json           step, data position, scheduler, early stopping, train config, Python and
                           numpy generator states, optimiser param groups, and the size and SHA-256
                           of every other file (written last: its presence means the folder is whole)

The folder is written under a temporary name and renamed into place, so a run killed mid-write
leaves either the previous checkpoint or the new one, never half of one. Loading reads only
safetensors and JSON: a checkpoint from a stranger cannot run code. Every problem (missing or
truncated file, checksum mismatch, tensors that do not fit the model) raises :class:`CheckpointError`
naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from attnlab._io import atomic_write_json, fsync_dir

FORMAT, VERSION = "attnlab-checkpoint", 1
MODEL_FILE, OPTIMIZER_FILE, RNG_FILE = "model.safetensors", "optimizer.safetensors", "rng.safetensors"
TRAINER_FILE, CONFIG_FILE = "trainer.json", "config.json"
# Optimiser state that has the shape of its parameter (Adam, AdamW, SGD momentum, RMSprop, Adagrad).
_PARAM_SHAPED = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg", "sum"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, truncated, corrupt, or not matching the model."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` read besides the tensors it copied into the model and optimiser."""

    path: Path
    state: dict
    rng: list[tuple[dict, dict[str, Tensor]]] = field(default_factory=list)  # one (json, tensors) per rank


def _digest(path: Path) -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


# -- tensors <-> files -----------------------------------------------------------------------------
def _save_tensors(tensors: dict[str, Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path))


def _load_tensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{path}: file is missing")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file, truncated or corrupt ({e})") from e


def _optimizer_to_files(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict]:
    sd = optimizer.state_dict()
    tensors, extra = {}, {}
    for idx, state in sd["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"state.{idx}.{name}"] = value
            else:
                extra.setdefault(str(idx), {})[name] = value
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "extra_state": extra}


def _optimizer_from_files(optimizer: torch.optim.Optimizer, tensors: dict, meta: dict, path: Path) -> None:
    current = optimizer.state_dict()["param_groups"]
    saved = meta.get("param_groups", [])
    if [len(g["params"]) for g in saved] != [len(g["params"]) for g in current]:
        raise CheckpointError(
            f"{path}: optimizer has parameter groups of sizes {[len(g['params']) for g in current]}, "
            f"the checkpoint {[len(g['params']) for g in saved]} (a different model?)"
        )
    params = [p for g in optimizer.param_groups for p in g["params"]]
    index = {
        i: p
        for g_cur, g in zip(current, optimizer.param_groups)
        for i, p in zip(g_cur["params"], g["params"])
    }
    assert len(index) == len(params)
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        idx = int(idx)
        p = index.get(idx)
        if p is None:
            raise CheckpointError(f"{path}: state for parameter {idx}, but the optimizer has {len(params)}")
        if name in _PARAM_SHAPED and value.shape != p.shape:
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(value.shape)}, parameter {idx} has {tuple(p.shape)}"
            )
        state.setdefault(idx, {})[name] = value
    for idx, values in meta.get("extra_state", {}).items():
        state.setdefault(int(idx), {}).update(values)
    groups = []
    for g_saved, g_cur in zip(saved, current):
        groups.append({k: tuple(v) if isinstance(g_cur.get(k), tuple) else v for k, v in g_saved.items()})
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"{path}: optimizer state does not fit this optimizer ({e})") from e


def load_model_weights(model: nn.Module, path: str | Path) -> None:
    """Copy ``model.safetensors`` into ``model``; names and shapes must match exactly.

    Tied parameters (one tensor under two names) are stored once; any of the names is accepted.
    """
    path = Path(path)
    loaded = _load_tensors(path)
    own = model.state_dict()
    by_storage: dict[tuple, list[str]] = {}
    for name, t in own.items():
        by_storage.setdefault((t.data_ptr(), t.dtype, tuple(t.shape)), []).append(name)
    full, missing = {}, []
    for name, t in own.items():
        aliases = by_storage[(t.data_ptr(), t.dtype, tuple(t.shape))] if t.numel() else [name]
        source = next((a for a in [name, *aliases] if a in loaded), None)
        if source is None:
            missing.append(name)
        else:
            full[name] = loaded[source]
    unexpected = sorted(set(loaded) - set(own))
    wrong = [
        f"{k}: {tuple(full[k].shape)} in file, {tuple(own[k].shape)} in model"
        for k in full
        if full[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
    if wrong:
        problems.append("shape mismatch " + "; ".join(wrong[:5]) + (" ..." if len(wrong) > 5 else ""))
    if problems:
        raise CheckpointError(f"{path}: weights do not match the model: " + ", ".join(problems))
    model.load_state_dict(full, strict=True)


# -- checkpoint folders ----------------------------------------------------------------------------
def save_checkpoint(
    directory: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    state: dict | None = None,
    rng: list[tuple[dict, dict[str, Tensor]]] | None = None,
    model_config: dict | None = None,
    extra_files: dict[str, str | bytes] | None = None,
) -> Path:
    """Write a checkpoint folder atomically; ``state`` is JSON (step, data position, ...).

    ``rng`` holds one ``(json, tensors)`` pair per process (see :func:`attnlab.training.seed.capture_rng`).
    ``extra_files`` (name -> text or bytes) are written into the folder too, covered by the checksums
    (e.g. a ``recipe.json`` describing tokenizer and task). Returns the folder. An existing folder of
    the same name is replaced as a whole.
    """
    from safetensors.torch import save_model

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        save_model(model, str(tmp / MODEL_FILE))  # drops duplicate (tied) names, like attnlab.models
        trainer = {"format": FORMAT, "version": VERSION, **(state or {})}
        if optimizer is not None:
            tensors, trainer["optimizer"] = _optimizer_to_files(optimizer)
            _save_tensors(tensors, tmp / OPTIMIZER_FILE)
        if rng is not None:
            trainer["rng"] = [json_part for json_part, _ in rng]
            named = {f"rank{r}.{k}": v for r, (_, ts) in enumerate(rng) for k, v in ts.items()}
            _save_tensors(named, tmp / RNG_FILE)
        if model_config is not None:
            (tmp / CONFIG_FILE).write_text(json.dumps(model_config, indent=2), encoding="utf-8")
        for name, content in (extra_files or {}).items():
            if Path(name).name != name or name in (TRAINER_FILE, MODEL_FILE, OPTIMIZER_FILE, RNG_FILE):
                raise ValueError(f"extra_files: {name!r} is not a plain file name free for extra content")
            (tmp / name).write_bytes(content.encode() if isinstance(content, str) else content)
        files = sorted(p for p in tmp.iterdir() if p.is_file())
        for p in files:
            with open(p, "rb") as f:
                os.fsync(f.fileno())
        trainer["files"] = {p.name: _digest(p) for p in files}
        atomic_write_json(tmp / TRAINER_FILE, trainer, indent=1, ensure_ascii=True)
        fsync_dir(tmp)
        if directory.exists():  # a folder cannot be replaced while it has files: move it aside first
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
        fsync_dir(directory.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return directory


def read_trainer_state(directory: str | Path, verify: bool = True) -> dict:
    """``trainer.json`` of a checkpoint folder, checked against the sizes and hashes it records."""
    directory = Path(directory)
    path = directory / TRAINER_FILE
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: checkpoint folder does not exist")
    if not path.is_file():
        raise CheckpointError(f"{path}: file is missing (not a checkpoint, or one written incompletely)")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON, truncated or corrupt ({e})") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an attnlab checkpoint (format {state.get('format')!r})")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state['version']} is newer than this attnlab")
    if verify:
        for name, expected in state.get("files", {}).items():
            f = directory / name
            if not f.is_file():
                raise CheckpointError(f"{f}: file is missing")
            size = f.stat().st_size
            if size != expected["bytes"]:
                raise CheckpointError(
                    f"{f}: {size} bytes, expected {expected['bytes']} (truncated or replaced)"
                )
            if _digest(f)["sha256"] != expected["sha256"]:
                raise CheckpointError(f"{f}: SHA-256 does not match trainer.json (corrupt)")
    return state


def load_checkpoint(
    directory: str | Path,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    verify: bool = True,
) -> Checkpoint:
    """Read a checkpoint folder; copy weights into ``model`` and state into ``optimizer`` if given."""
    directory = Path(directory)
    state = read_trainer_state(directory, verify=verify)
    if model is not None:
        load_model_weights(model, directory / MODEL_FILE)
    if optimizer is not None:
        if "optimizer" not in state:
            raise CheckpointError(f"{directory / TRAINER_FILE}: the checkpoint has no optimizer state")
        tensors = _load_tensors(directory / OPTIMIZER_FILE) if (directory / OPTIMIZER_FILE).exists() else {}
        _optimizer_from_files(optimizer, tensors, state["optimizer"], directory / OPTIMIZER_FILE)
    rng = []
    if "rng" in state:
        tensors = _load_tensors(directory / RNG_FILE)
        for r, json_part in enumerate(state["rng"]):
            prefix = f"rank{r}."
            rng.append((json_part, {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}))
    return Checkpoint(directory, state, rng)
