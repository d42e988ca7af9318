"""Distributed data parallel: launching ``torchrun``, joining its process group, and small helpers.

``attnlab train ... --nproc 2`` calls :func:`launch`, which starts ``python -m torch.distributed.run
--nproc_per_node 2`` (a single-node rendezvous, like ``--standalone``) with the same command; each
worker process then finds ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in its environment and
:func:`setup` joins the process group (gloo on CPU, nccl on GPU). The rendezvous listens on
127.0.0.1 only.

Data parallel training is equal to single-process training on the same global batch because every
process takes a contiguous slice of that batch (:func:`shard_batch`) and DDP averages gradients: the
mean over processes of per-slice mean losses is the mean over the whole batch when slices are equal
in size. (A loss normalised by a per-slice token count is only approximately equal: the slices can
hold different numbers of real tokens.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

_TORCH_LOG = re.compile(r"^[IWEF]\d{4} ")  # torchrun's glog-style lines ("W1130 12:00:00.1 ...")


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def in_torchrun() -> bool:
    """True inside a worker started by ``torchrun`` (it sets these variables)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"``: the process's GPU if there is one, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return device


def setup(device: str = "auto", backend: str | None = None) -> DistInfo:
    """Join the process group when started by torchrun (else a single process); returns where we are."""
    if not in_torchrun():
        return DistInfo(device=resolve_device(device))
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    dev = resolve_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if dev.type == "cuda" else "gloo"))
    return DistInfo(rank, world, local, dev)


def teardown() -> None:
    """Leave the process group (safe to call when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def launch(nproc: int, argv: list[str], module: str | None = None, env: dict | None = None) -> int:
    """Run ``argv`` (a script and its arguments, or a ``module``'s arguments) in ``nproc`` processes.

    Returns torchrun's exit status. ``env`` adds environment variables for the workers.
    """
    if nproc < 1:
        raise ValueError(f"nproc: expected >= 1, got {nproc}")
    # What ``--standalone`` does, but bound to 127.0.0.1 rather than "localhost": port 0 lets the
    # rendezvous pick a free port, and nothing listens beyond the loopback device.
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={nproc}"]
    cmd += ["--rdzv-backend=c10d", "--rdzv-endpoint=127.0.0.1:0", f"--rdzv-id={uuid.uuid4()}"]
    cmd += ["-m", module, *argv] if module else list(argv)
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("MASTER_ADDR", "127.0.0.1")
    if sys.platform.startswith("linux") and not torch.cuda.is_available():
        full_env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # gloo would otherwise resolve the host name
    full_env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    proc = subprocess.Popen(cmd, env=full_env, stderr=subprocess.PIPE, text=True, errors="replace")
    return _relay_errors(proc)


def _relay_errors(proc: subprocess.Popen) -> int:
    """Pass the workers' stderr through (each distinct line once), but not torchrun's own report of
    a failed worker: a worker that stopped on a usage error has already said why in one line, and
    torchrun would add a 40-line traceback. Returns 2 when a worker exited with status 2 (a usage
    error), else torchrun's status. ``ATTNLAB_DEBUG=1`` passes everything through."""
    debug, swallowing, seen, usage = bool(os.environ.get("ATTNLAB_DEBUG")), False, set(), False
    for line in proc.stderr:
        usage = usage or "exitcode  : 2" in line or ": error: " in line
        if line.startswith("Traceback (most recent call last)") or "ChildFailedError" in line:
            swallowing = True  # torchrun's report runs to the end of its output
        if debug or not (swallowing or line.strip() in seen or _TORCH_LOG.match(line)):
            sys.stderr.write(line)
            sys.stderr.flush()
        seen.add(line.strip())  # every worker prints the same error line
    code = proc.wait()
    return 2 if code and usage else code


def to_device(batch, device: torch.device):
    """Move every tensor of a (nested) batch to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def shard_batch(batch, rank: int, world_size: int):
    """This process's contiguous slice of a global batch (tensors and lists split along dim 0).

    Dicts, tuples and lists are walked; other values (ints, strings) are shared unchanged. The batch
    size must divide evenly so every process computes its mean over the same number of examples.
    """
    if world_size == 1:
        return batch

    def cut(x):
        if isinstance(x, Tensor) and x.dim() > 0:
            n = x.shape[0]
        elif isinstance(x, dict):
            return {k: cut(v) for k, v in x.items()}
        elif isinstance(x, tuple) and hasattr(x, "_fields"):
            return type(x)(*(cut(v) for v in x))
        elif isinstance(x, (tuple, list)) and x and isinstance(x[0], (Tensor, dict, tuple, list)):
            return type(x)(cut(v) for v in x)
        elif isinstance(x, list):
            n = len(x)
        else:
            return x
        if n % world_size:
            raise ValueError(f"batch of {n} examples cannot be split evenly over {world_size} processes")
        per = n // world_size
        return x[rank * per : (rank + 1) * per]

    return cut(batch)


def all_mean(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average numbers over processes (for logging: every rank's loss, one line)."""
    if not info.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return {k: v / info.world_size for k, v in zip(keys, t.tolist())}


def gather_objects(obj, info: DistInfo) -> list:
    """Every process's ``obj`` (JSON-like values), in rank order, on every process."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)  # in-memory transfer between our own processes, never a file
    return out


def broadcast_object(obj, info: DistInfo):
    """Rank 0's ``obj`` on every process."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()
