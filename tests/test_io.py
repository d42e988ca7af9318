"""Atomic writes: round trips, a failed write leaves the old file and no temporary, usual permissions."""

import json
import os
import stat

import pytest
import torch

from attnlab._io import (
    atomic_save_tensors,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_round_trips_and_parent_folders(tmp_path):
    from safetensors.torch import load_file

    data = bytes(range(256))
    assert atomic_write_bytes(tmp_path / "a" / "b.bin", data) == tmp_path / "a" / "b.bin"
    assert (tmp_path / "a" / "b.bin").read_bytes() == data
    atomic_write_text(tmp_path / "t.txt", "咖啡店\nline two")
    assert (tmp_path / "t.txt").read_bytes() == "咖啡店\nline two".encode()
    record = {"name": "咖啡", "values": [1, 2.5, None], "nested": {"ok": True}}
    atomic_write_json(tmp_path / "r.json", record)
    text = (tmp_path / "r.json").read_text(encoding="utf-8")
    assert text == json.dumps(record, indent=2, ensure_ascii=False) and json.loads(text) == record
    atomic_write_json(tmp_path / "compact.json", record, indent=None, ensure_ascii=True)
    assert (tmp_path / "compact.json").read_text() == json.dumps(record)
    tensors = {"w": torch.randn(3, 4), "ids": torch.arange(5)}
    atomic_save_tensors(tmp_path / "t.safetensors", tensors, metadata={"kind": "demo"})
    loaded = load_file(str(tmp_path / "t.safetensors"))
    assert loaded.keys() == tensors.keys() and all(torch.equal(loaded[k], tensors[k]) for k in tensors)
    atomic_write_text(tmp_path / "t.txt", "replaced")  # an existing file is replaced whole
    assert (tmp_path / "t.txt").read_text() == "replaced"
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "a") == []


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "results.json"
    atomic_write_text(path, "old content")
    seen = []

    def crash(tmp):
        seen.append(tmp)
        with open(tmp, "w") as f:
            f.write("half of the new")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        atomic_write(path, crash)
    assert path.read_text() == "old content"
    assert seen and os.path.dirname(seen[0]) == str(tmp_path)  # the temporary was in the same folder
    assert leftovers(tmp_path) == []
    with pytest.raises(TypeError):  # a value JSON cannot encode fails before anything is written
        atomic_write_json(path, {"x": object()})
    assert path.read_text() == "old content" and leftovers(tmp_path) == []
    with pytest.raises(KeyboardInterrupt):  # an interrupt cleans up too

        def interrupted(tmp):
            raise KeyboardInterrupt

        atomic_write(tmp_path / "new.bin", interrupted)
    assert not (tmp_path / "new.bin").exists() and leftovers(tmp_path) == []


def test_permissions_are_those_of_a_plain_file(tmp_path):
    old = os.umask(0o027)
    try:
        with open(tmp_path / "plain", "w") as f:
            f.write("x")
        atomic_write_text(tmp_path / "atomic", "x")
        atomic_save_tensors(tmp_path / "t.safetensors", {"w": torch.zeros(2)})
    finally:
        os.umask(old)
    expected = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert expected == 0o640
    assert stat.S_IMODE((tmp_path / "atomic").stat().st_mode) == expected  # not mkstemp's 0600
    assert stat.S_IMODE((tmp_path / "t.safetensors").stat().st_mode) == expected
