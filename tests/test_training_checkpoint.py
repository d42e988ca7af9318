import json
import random

import numpy as np
import pytest
import torch
from torch import nn

from attnlab.training import CheckpointError, load_checkpoint, save_checkpoint
from attnlab.training.checkpoint import load_model_weights
from attnlab.training.run_folder import clean_temporaries, latest_checkpoint, set_latest, step_dir
from attnlab.training.seed import capture_rng, restore_rng


class Tied(nn.Module):
    """An embedding shared with the output projection, like the language models."""

    def __init__(self, vocab=11, d=6):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids):
        return self.head(self.norm(self.embed(ids)))


def trained(seed=0):
    torch.manual_seed(seed)
    model = Tied()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        ids = torch.randint(0, 11, (4, 5))
        loss = nn.functional.cross_entropy(model(ids).flatten(0, 1), ids.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, opt


def test_round_trip_restores_weights_optimizer_and_rng(tmp_path):
    model, opt = trained()
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    rng = capture_rng()
    save_checkpoint(tmp_path / "c", model, opt, {"step": 3, "data": {"step": 3}}, [rng], {"kind": "tied"})
    expect = (random.random(), np.random.rand(), torch.rand(1))
    assert not list(tmp_path.glob(".*")), "no temporary left behind"
    assert (tmp_path / "c" / "config.json").read_text().count("tied") == 1

    fresh, fresh_opt = trained(seed=1)
    ckpt = load_checkpoint(tmp_path / "c", fresh, fresh_opt)
    assert ckpt.state["step"] == 3
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), k
    assert fresh.head.weight is fresh.embed.weight  # still tied
    sa, sb = opt.state_dict(), fresh_opt.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for i in sa["state"]:
        for name, t in sa["state"][i].items():
            assert torch.equal(t, sb["state"][i][name]), (i, name)
    restore_rng(*ckpt.rng[0])
    assert (random.random(), np.random.rand(), torch.rand(1)) == expect


def test_weights_are_readable_as_plain_safetensors(tmp_path):
    from safetensors.torch import load_file

    model, opt = trained()
    save_checkpoint(tmp_path / "c", model, opt)
    names = set(load_file(str(tmp_path / "c" / "model.safetensors")))
    assert names < set(model.state_dict()) and len(names) == len(model.state_dict()) - 1  # tied: once


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "json"])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path, damage):
    model, opt = trained()
    folder = save_checkpoint(tmp_path / "c", model, opt, {"step": 3}, [capture_rng()])
    target = folder / ("trainer.json" if damage == "json" else "model.safetensors")
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        target.write_bytes(data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:])
    elif damage == "delete":
        target.unlink()
    else:
        target.write_text(data.decode()[:100])
    with pytest.raises(CheckpointError, match=target.name):
        load_checkpoint(folder, trained()[0])


def test_truncated_safetensors_without_manifest_is_a_clear_error(tmp_path):
    model, _ = trained()
    folder = save_checkpoint(tmp_path / "c", model)
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="model.safetensors.*(truncated|corrupt)"):
        load_model_weights(Tied(), path)


def test_mismatched_model_names_the_tensor(tmp_path):
    model, opt = trained()
    folder = save_checkpoint(tmp_path / "c", model, opt, {"step": 3})
    with pytest.raises(CheckpointError, match=r"shape mismatch.*embed.weight.*\(11, 6\)"):
        load_checkpoint(folder, Tied(vocab=12))
    other = nn.Sequential(nn.Linear(6, 6))
    with pytest.raises(CheckpointError, match="missing.*unexpected"):
        load_checkpoint(folder, other)
    small = Tied()
    small_opt = torch.optim.AdamW([small.embed.weight], lr=1e-2)
    with pytest.raises(CheckpointError, match="optimizer"):
        load_checkpoint(folder, small, small_opt)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing")
    (tmp_path / "half").mkdir()
    with pytest.raises(CheckpointError, match="trainer.json"):
        load_checkpoint(tmp_path / "half")
    (tmp_path / "half" / "trainer.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(CheckpointError, match="not an attnlab checkpoint"):
        load_checkpoint(tmp_path / "half")


def test_never_unpickles(tmp_path, monkeypatch):
    import pickle

    model, opt = trained()
    folder = save_checkpoint(tmp_path / "c", model, opt, {"step": 1}, [capture_rng()])

    def refuse(*a, **k):
        raise AssertionError("unpickling")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load_checkpoint(folder, trained()[0], trained()[1])


def test_latest_pointer_and_leftovers(tmp_path):
    model, _ = trained()
    assert latest_checkpoint(tmp_path) is None
    a = save_checkpoint(step_dir(tmp_path, 1), model, state={"step": 1})
    b = save_checkpoint(step_dir(tmp_path, 2), model, state={"step": 2})
    set_latest(tmp_path, a)
    assert latest_checkpoint(tmp_path) == a
    (tmp_path / "checkpoints" / "latest").unlink()
    assert latest_checkpoint(tmp_path) == b  # no pointer: the newest folder that verifies
    (b / "model.safetensors").write_bytes(b"garbage")
    assert latest_checkpoint(tmp_path) == a
    half = tmp_path / "checkpoints" / ".step-00000003.tmp-123"
    half.mkdir()
    (tmp_path / ".best.old-9").mkdir()  # killed while replacing best/: the old one comes back
    clean_temporaries(tmp_path)
    assert not half.exists() and (tmp_path / "best").is_dir()


def test_leftover_of_a_killed_file_write_is_removed(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    torn = [tmp_path / "checkpoints" / ".latest.k3j2x9.tmp", tmp_path / ".metrics.jsonl.a8f0q1.tmp"]
    for p in torn:
        p.write_text("half")
    keep = tmp_path / "notes.tmp"  # not hidden: not ours to delete
    keep.write_text("x")
    clean_temporaries(tmp_path)
    assert not any(p.exists() for p in torn) and keep.exists()
