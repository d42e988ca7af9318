"""Seeds and random-number-generator state: everything a run draws, captured and restored exactly.

A resumed run reproduces an uninterrupted one bit for bit only if every generator it draws from
(Python's ``random``, numpy's global generator, torch's CPU and CUDA generators: dropout, sampling,
initialisation) continues from exactly where it stopped. The state is kept as JSON lists and uint8
tensors so a checkpoint never needs pickle.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import Tensor


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, numpy and torch (CPU and every CUDA device) from one integer.

    ``deterministic`` additionally asks torch for deterministic kernels (with warnings, not errors,
    where none exists): on CPU the kernels this library uses are deterministic already, so the flag
    matters mainly on GPUs.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds CUDA devices too
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False


def python_state_to_json(state: tuple) -> list:
    """``random.getstate()`` -> ``[version, [625 ints], gauss_next]``."""
    version, internal, gauss_next = state
    return [version, list(internal), gauss_next]


def python_state_from_json(data: list) -> tuple:
    version, internal, gauss_next = data
    return (int(version), tuple(int(x) for x in internal), gauss_next)


def numpy_state_to_json(state: tuple) -> list:
    """``np.random.get_state()`` -> ``[name, [624 uint32], pos, has_gauss, cached_gaussian]``."""
    name, keys, pos, has_gauss, cached = state
    return [str(name), [int(k) for k in keys], int(pos), int(has_gauss), float(cached)]


def numpy_state_from_json(data: list) -> tuple:
    name, keys, pos, has_gauss, cached = data
    return (name, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached))


def capture_rng() -> tuple[dict, dict[str, Tensor]]:
    """The state of every generator: ``(json_part, tensors)`` (torch states are uint8 tensors)."""
    json_part = {
        "python": python_state_to_json(random.getstate()),
        "numpy": numpy_state_to_json(np.random.get_state()),
    }
    tensors = {"torch_cpu": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s.cpu().clone()
    return json_part, tensors


def restore_rng(json_part: dict, tensors: dict[str, Tensor]) -> None:
    """Inverse of :func:`capture_rng` (CUDA states are restored for the devices that exist)."""
    random.setstate(python_state_from_json(json_part["python"]))
    np.random.set_state(numpy_state_from_json(json_part["numpy"]))
    torch.set_rng_state(tensors["torch_cpu"].to(torch.uint8).cpu())
    cuda = sorted(k for k in tensors if k.startswith("torch_cuda_"))
    if cuda and torch.cuda.is_available():
        for key in cuda:
            index = int(key.rsplit("_", 1)[1])
            if index < torch.cuda.device_count():
                torch.cuda.set_rng_state(tensors[key].to(torch.uint8).cpu(), index)
