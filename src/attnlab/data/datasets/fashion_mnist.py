"""Fashion-MNIST (Xiao et al., 2017): 70,000 28x28 greyscale clothing images in 10 classes.

Read from the IDX files of the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``; plain or gzipped
files both work). ``test`` is the official 10,000-image test set; ``valid`` is ``valid_size`` images of
the official training set chosen by a seeded permutation and ``train`` the rest.
"""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

import numpy as np
import torch

from ..base import DatasetUnavailable, Example, check_int, check_split
from ..cache import cached_tensors, source_signature
from ._common import ImageSplit, check_limit, missing_path_message

NAME = "fashion-mnist"
DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
INSTALL = "sudo apt-get install dataset-fashion-mnist"
CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (LeCun's MNIST format), gzipped or not, into an array of its stored shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    dtype = np.dtype(_DTYPES[data[2]])
    body = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says shape {dims} but the file holds {body.size} values")
    return body.reshape(dims).astype(dtype.newbyteorder("="))


def _file(root: Path, stem: str) -> Path:
    gz = root / f"{stem}.gz"
    return gz if gz.exists() else root / stem


def _files(root: Path, official: str) -> tuple[Path, Path]:
    return _file(root, f"{official}-images-idx3-ubyte"), _file(root, f"{official}-labels-idx1-ubyte")


def available(root: str | Path | None = None) -> tuple[bool, str]:
    """Whether the four IDX files exist under ``root``, and a message saying how to install them."""
    r = Path(root) if root is not None else DEFAULT_ROOT
    missing = [p for o in ("train", "t10k") for p in _files(r, o) if not p.exists()]
    if missing:
        return False, missing_path_message("Fashion-MNIST", missing[0], INSTALL)
    return True, f"found {r}"


def load(
    split: str = "train",
    *,
    root: str | Path | None = None,
    seed: int = 0,
    limit: int | None = None,
    valid_size: int = 5000,
    cache: bool = True,
) -> ImageSplit:
    """One split as an :class:`ImageSplit` (pixels scaled to [0, 1])."""
    check_split(split)
    check_limit(limit)
    check_int("valid_size", valid_size, 0)
    ok, message = available(root)
    if not ok:
        raise DatasetUnavailable(message)
    r = Path(root) if root is not None else DEFAULT_ROOT
    images_path, labels_path = _files(r, "t10k" if split == "test" else "train")

    def build() -> dict[str, torch.Tensor]:
        images, labels = read_idx(images_path), read_idx(labels_path)
        if len(images) != len(labels):
            raise ValueError(f"{images_path} has {len(images)} images but {labels_path} {len(labels)} labels")
        idx = list(range(len(labels)))
        if split != "test":
            if valid_size >= len(idx):
                raise ValueError(f"valid_size must be below the {len(idx)} training images, got {valid_size}")
            random.Random(f"attnlab/split/{seed}").shuffle(idx)
            idx = idx[:valid_size] if split == "valid" else idx[valid_size:]
        if limit is not None:
            idx = idx[:limit]
        return {
            "images": torch.from_numpy(images[idx].astype(np.uint8)),
            "labels": torch.from_numpy(labels[idx].astype(np.int64)),
        }

    key = {
        "images": source_signature(images_path),
        "labels": source_signature(labels_path),
        "split": split,
        "seed": seed,
        "limit": limit,
        "valid_size": valid_size,
    }
    t = cached_tensors(NAME, key, build, enabled=cache)
    return ImageSplit(t["images"].float().div(255.0).unsqueeze(1), t["labels"].long(), CLASSES)


def examples(n: int, *, seed: int = 0, split: str = "train", **options) -> list[Example]:
    """The first ``n`` images of a split as :class:`Example` records. ``options`` go to :func:`load`."""
    return load(split, seed=seed, limit=n, **options).examples()
