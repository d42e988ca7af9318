"""Two processes (torchrun, gloo on CPU), each with half the global batch, train the same weights as
one process with the whole batch."""

import importlib.util
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from attnlab.training import latest_checkpoint, load_checkpoint, read_metrics
from attnlab.training.distributed import launch, shard_batch

HELPER = Path(__file__).parent / "training_helpers" / "tiny_run.py"
ARGS = [
    "--steps",
    "12",
    "--batch-size",
    "16",
    "--dropout",
    "0",
    "--eval-every",
    "4",
    "--checkpoint-every",
    "6",
]


def run_helper_here(argv: list[str]) -> None:
    """The helper's single-process run inside this process (saves a Python start-up)."""
    spec = importlib.util.spec_from_file_location("tiny_run", HELPER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    try:
        assert module.main(argv) == 0
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    code = launch(
        2, [str(HELPER), *ARGS, "--out", str(tmp_path / "ddp"), "--save-final", str(tmp_path / "ddp.st")]
    )
    assert code == 0
    run_helper_here([*ARGS, "--out", str(tmp_path / "one"), "--save-final", str(tmp_path / "one.st")])
    one, two = load_file(str(tmp_path / "one.st")), load_file(str(tmp_path / "ddp.st"))
    assert one.keys() == two.keys()
    for name in one:
        assert torch.allclose(one[name], two[name], atol=1e-6, rtol=0), name
    # The DDP run's checkpoint records both processes' generator states; its log matches too.
    ckpt = load_checkpoint(latest_checkpoint(tmp_path / "ddp"))
    assert ckpt.state["world_size"] == 2 and len(ckpt.rng) == 2 and ckpt.state["step"] == 12
    evals = [
        [r["loss"] for r in read_metrics(tmp_path / d / "metrics.jsonl") if r["split"] == "eval"]
        for d in ("one", "ddp")
    ]
    assert evals[0] == pytest.approx(evals[1], abs=1e-5)


def test_shard_batch_splits_every_tensor():
    batch = {"x": torch.arange(8).view(4, 2), "pair": (torch.arange(4), [1, 2, 3, 4]), "name": "t"}
    parts = [shard_batch(batch, r, 2) for r in range(2)]
    assert torch.equal(torch.cat([p["x"] for p in parts]), batch["x"])
    assert parts[1]["pair"][1] == [3, 4] and parts[0]["name"] == "t"
    with pytest.raises(ValueError, match="evenly"):
        shard_batch({"x": torch.zeros(3)}, 0, 2)
